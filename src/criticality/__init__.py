"""criticality: how close does a deep network operate to a critical phase transition?

The verbs: :func:`stages` splits a model into its depth steps, :func:`measure` runs the
registered measures and returns a :class:`CriticalityReport`, :func:`fit` trains with a
registered training method, :func:`create_model` and :func:`list_models` reach the zoo.

Every measure is also a plain function here, returning a frozen dataclass. Registry keys (used by
``measure(measures=[...])`` and the command line) and function names agree, except two names
kept for what they compute: ``"lyapunov"`` is :func:`lyapunov_spectrum` and ``"branching"`` is
:func:`branching_ratio`. :func:`meanfield` and :func:`critical_sigma_w` are theory (no model).
"""

from criticality._measure import measure as measure
from criticality._meta import package_version as _package_version
from criticality.measures import avalanches as avalanches
from criticality.measures import branching_ratio as branching_ratio
from criticality.measures import critical_sigma_w as critical_sigma_w
from criticality.measures import dynamic_range as dynamic_range
from criticality.measures import ftle as ftle
from criticality.measures import list_measures as list_measures
from criticality.measures import lyapunov_spectrum as lyapunov_spectrum
from criticality.measures import meanfield as meanfield
from criticality.measures import susceptibility as susceptibility
from criticality.measures import weight_alpha as weight_alpha
from criticality.report import CriticalityReport as CriticalityReport
from criticality.stages import Stage as Stage
from criticality.stages import stages as stages
from criticality.stages import verify_stages as verify_stages
from criticality.training import fit as fit
from criticality.zoo import create_model as create_model
from criticality.zoo import list_models as list_models

__version__ = _package_version()
