"""Loss terms that steer the depth dynamics: toward criticality, or (the baseline) toward order."""

from criticality.regularizers.criticality import CriticalityRegularizer as CriticalityRegularizer
from criticality.regularizers.jacobian import JacobianRegularizer as JacobianRegularizer
