"""``criticality experiment collapse``: model collapse and the loss of critical dynamics.

The package holds the whole experiment: its configuration (:mod:`.config`, nested per model),
its unit of work (:mod:`.units`), the run and its analysis (:mod:`.run`, which registers the
experiment), and the report with the verdicts in words (:mod:`.report`). The numbers come from
the library, :mod:`criticality.collapse`.
"""

from criticality.experiments.collapse.config import CharLMSettings as CharLMSettings
from criticality.experiments.collapse.config import CollapseConfig as CollapseConfig
from criticality.experiments.collapse.config import GMMSettings as GMMSettings
from criticality.experiments.collapse.config import VAESettings as VAESettings
from criticality.experiments.collapse.config import with_changes as with_changes
from criticality.experiments.collapse.report import scorecard as scorecard
from criticality.experiments.collapse.run import run as run
