"""Training that watches criticality: the ``fit`` loop, its callbacks, robustness evaluation."""

from criticality.training.callbacks import Callback as Callback
from criticality.training.callbacks import CriticalityMonitor as CriticalityMonitor
from criticality.training.callbacks import TrainState as TrainState
from criticality.training.corruptions import CORRUPTIONS as CORRUPTIONS
from criticality.training.corruptions import corrupt as corrupt
from criticality.training.fit import FitResult as FitResult
from criticality.training.fit import fit as fit
from criticality.training.robustness import RobustnessResult as RobustnessResult
from criticality.training.robustness import accuracy as accuracy
from criticality.training.robustness import evaluate_robustness as evaluate_robustness
from criticality.training.robustness import fgsm as fgsm
from criticality.training.robustness import pgd as pgd
from criticality.training.stats import mean_ci as mean_ci
from criticality.training.stats import paired_comparison as paired_comparison
