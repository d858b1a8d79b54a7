"""Continual learning: learners, plasticity metrics and the loss-of-plasticity baselines.

The library behind ``criticality experiment continual`` (DESIGN §8): the networks of Dohare et
al. (2024) alone or as a vectorised ensemble of seeds, the hidden units they consist of, the
plasticity metrics measured on a probe batch, and the operations of the baselines (Shrink &
Perturb, L2-init, continual backprop, ReDo). The task streams are in
:mod:`criticality.data.streams`; the method rows in :mod:`criticality.training.methods`.
"""

from criticality.continual.algorithms import ContinualBackprop as ContinualBackprop
from criticality.continual.algorithms import L2Init as L2Init
from criticality.continual.algorithms import ReDo as ReDo
from criticality.continual.algorithms import perturb_ as perturb_
from criticality.continual.metrics import PlasticityMetrics as PlasticityMetrics
from criticality.continual.metrics import approximate_rank as approximate_rank
from criticality.continual.metrics import backward_transfer as backward_transfer
from criticality.continual.metrics import effective_rank as effective_rank
from criticality.continual.metrics import forgetting as forgetting
from criticality.continual.metrics import plasticity_metrics as plasticity_metrics
from criticality.continual.networks import member as member
from criticality.continual.networks import mlp as mlp
from criticality.continual.networks import stack as stack
from criticality.continual.units import HiddenLayer as HiddenLayer
from criticality.continual.units import hidden_layers as hidden_layers
