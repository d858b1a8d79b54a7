"""The zoo family: many architectures measured side by side, and claim 1 (more accurate
networks sit closer to criticality) tested on them.

One package owns the family's experiments; importing it registers all five:

* :mod:`~criticality.experiments.zoo.scan`: ``criticality experiment scan`` (and
  ``criticality scan``): a zoo of torchvision or timm models measured model by model into a
  resumable store; statistics and report in :mod:`~criticality.experiments.zoo.scan_report`,
  shared by the family;
* :mod:`~criticality.experiments.zoo.architectures`: ``criticality experiment architectures``:
  a few architectures at random initialisation, every measure side by side;
* :mod:`~criticality.experiments.zoo.zoo`: ``criticality experiment zoo``: the offline zoo
  analysis of the demo ((a) the architectures untrained, (b) EfficientNet-Lite pretrained
  against random, (c) the mini-zoo of :mod:`~criticality.experiments.zoo.minizoo`, trained
  here);
* :mod:`~criticality.experiments.zoo.train`: ``criticality experiment zoo-train``: the trained
  zoo of real architectures; statistics and report in
  :mod:`~criticality.experiments.zoo.train_report`, the family-aware rule of claim M1 in
  :mod:`~criticality.experiments.zoo.m1`;
* :mod:`~criticality.experiments.zoo.pairs`: ``criticality experiment zoo-pairs``: real
  pretrained networks against their random-initialisation twins.

The typed results of each (schema-versioned) are in
:mod:`~criticality.experiments.zoo.results`. Imports run one way: the report modules read
stored results only; the experiments import them, never the reverse.
"""

from criticality.experiments.zoo.architectures import ArchitecturesConfig as ArchitecturesConfig
from criticality.experiments.zoo.pairs import PairsConfig as PairsConfig
from criticality.experiments.zoo.scan import ScanConfig as ScanConfig
from criticality.experiments.zoo.train import ZooTrainConfig as ZooTrainConfig
from criticality.experiments.zoo.zoo import ZooConfig as ZooConfig
