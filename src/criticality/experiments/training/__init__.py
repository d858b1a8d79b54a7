"""The training experiment (PAPER claim 2), one package: ``criticality experiment training``.

* :mod:`.experiment`: the config (:class:`TrainingConfig` with its presets), one run's work
  (:func:`train_and_evaluate`), the fan-out and resume (:func:`run`), the statistics
  (:func:`aggregate`) and the registration;
* :mod:`.results`: the typed results (:class:`TrainingResults`) written to ``results.json``;
* :mod:`.report`: the report's sections and scorecard rows;
* :mod:`.energy`: the cost section (FLOPs, seconds, active units, cost to a target accuracy).
"""

from criticality.experiments.training.experiment import METRICS as METRICS
from criticality.experiments.training.experiment import TITLE as TITLE
from criticality.experiments.training.experiment import RunSpec as RunSpec
from criticality.experiments.training.experiment import TrainingConfig as TrainingConfig
from criticality.experiments.training.experiment import aggregate as aggregate
from criticality.experiments.training.experiment import build_model as build_model
from criticality.experiments.training.experiment import build_options as build_options
from criticality.experiments.training.experiment import contrasts as contrasts
from criticality.experiments.training.experiment import effect_sentences as effect_sentences
from criticality.experiments.training.experiment import load_data as load_data
from criticality.experiments.training.experiment import run as run
from criticality.experiments.training.experiment import run_job as run_job
from criticality.experiments.training.experiment import run_specs as run_specs
from criticality.experiments.training.experiment import sections as sections
from criticality.experiments.training.experiment import train_and_evaluate as train_and_evaluate
from criticality.experiments.training.experiment import write_outputs as write_outputs
from criticality.experiments.training.report import scorecard as scorecard
