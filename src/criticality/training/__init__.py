"""Training that watches criticality: the ``fit`` loop, its callbacks, the training methods,
robustness evaluation."""

from criticality.training import energy as energy
from criticality.training import methods as methods
from criticality.training.callbacks import Callback as Callback
from criticality.training.callbacks import CriticalityMonitor as CriticalityMonitor
from criticality.training.callbacks import MeasurementSink as MeasurementSink
from criticality.training.callbacks import TrainState as TrainState
from criticality.training.corruptions import CORRUPTIONS as CORRUPTIONS
from criticality.training.corruptions import corrupt as corrupt
from criticality.training.fit import FitOptions as FitOptions
from criticality.training.fit import FitResult as FitResult
from criticality.training.fit import Method as Method
from criticality.training.fit import fit as fit
from criticality.training.methods import build_method as build_method
from criticality.training.methods import list_methods as list_methods
from criticality.training.methods import register_method as register_method
from criticality.training.robustness import RobustnessResult as RobustnessResult
from criticality.training.robustness import accuracy as accuracy
from criticality.training.robustness import evaluate_robustness as evaluate_robustness
from criticality.training.robustness import fgsm as fgsm
from criticality.training.robustness import pgd as pgd
