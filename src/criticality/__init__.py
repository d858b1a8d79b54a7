"""criticality: how close does a deep network operate to a critical phase transition?"""

from criticality.stages import Stage as Stage
from criticality.stages import stages as stages

__version__ = "0.1.0"
