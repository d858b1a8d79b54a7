"""criticality: how close does a deep network operate to a critical phase transition?

The verbs: :func:`stages` splits a model into its depth steps, :func:`measure` runs the
registered measures and returns a :class:`CriticalityReport`, :func:`create_model` and
:func:`list_models` reach the zoo. Each measure is a plain function in
:mod:`criticality.measures`.
"""

from criticality._measure import measure as measure
from criticality.measures import critical_sigma_w as critical_sigma_w
from criticality.measures import ftle as ftle
from criticality.measures import list_measures as list_measures
from criticality.measures import lyapunov_spectrum as lyapunov_spectrum
from criticality.measures import meanfield as meanfield
from criticality.report import CriticalityReport as CriticalityReport
from criticality.stages import Stage as Stage
from criticality.stages import stages as stages
from criticality.stages import verify_stages as verify_stages
from criticality.zoo import create_model as create_model
from criticality.zoo import list_models as list_models

__version__ = "0.1.0"
