"""``criticality experiment continual``: is loss of plasticity a loss of criticality?

One package owns the experiment's vertical (the shape of loss-of-plasticity's
``lop/<experiment>/``):

* :mod:`~criticality.experiments.continual.config`: :class:`ContinualConfig` and its presets
  (``tiny``, ``demo``, ``dohare-small``, the full defaults), the arms and units of work, and
  the stamp that decides when a finished unit is reused;
* :mod:`~criticality.experiments.continual.units`: the work of one unit (train one method on
  one or more seeds over the tasks, recording each task as it finishes);
* :mod:`~criticality.experiments.continual.results`: the typed results (schema-versioned);
* :mod:`~criticality.experiments.continual.report`: the verdict in words, figures, tables and
  scorecard rows, from ``results.json`` alone;
* :mod:`~criticality.experiments.continual.experiment`: ``run`` (registered), ``finish`` and
  ``export`` (a partial run's finished tasks into a committable folder).

Imports run one way: config ← units ← experiment → report → results; nothing imports the
experiment module back.
"""

from criticality.experiments.continual.config import METHODS as METHODS
from criticality.experiments.continual.config import SWEEP as SWEEP
from criticality.experiments.continual.config import Arm as Arm
from criticality.experiments.continual.config import ContinualConfig as ContinualConfig
from criticality.experiments.continual.config import Unit as Unit
from criticality.experiments.continual.config import arms as arms
from criticality.experiments.continual.config import config_from_dict as config_from_dict
from criticality.experiments.continual.config import plan as plan
from criticality.experiments.continual.config import unit_stamp as unit_stamp
from criticality.experiments.continual.experiment import RUN_CONFIG as RUN_CONFIG
from criticality.experiments.continual.experiment import class_incremental as class_incremental
from criticality.experiments.continual.experiment import export as export
from criticality.experiments.continual.experiment import finish as finish
from criticality.experiments.continual.experiment import run as run
from criticality.experiments.continual.experiment import throughput as throughput
from criticality.experiments.continual.units import TaskTracker as TaskTracker
