"""The criticality measures: one file each, registered by name (see :mod:`._registry`).

Besides the measure verbs re-exported here, four public modules hold what other packages
(reports, regularizers, training, experiments) build on:

* :mod:`criticality.measures.prepared`: the shared opening of every measure
  (:func:`~criticality.measures.prepared.prepared` yields stages in ``eval()`` mode and checked
  probe inputs), with ``as_stages``, ``check_inputs``, ``infer_dtype``, ``eval_mode``;
* :mod:`criticality.measures.tangents`: JVPs with the cheaper layer rules, ``push_tangents``,
  ``orthonormalise``, ``Linearized`` (repeated JVPs at one point);
* :mod:`criticality.measures.results`: ``Result``, ``Estimate``, ``bootstrap_ci``;
* :mod:`criticality.measures.words`: the sign of a log-gain in words (``regime``,
  ``log_gain_in_words``, ``CRITICAL_BAND``).

Modules starting with ``_`` are used by the measures only.
"""

from criticality.measures import avalanches as _avalanches
from criticality.measures import branching as _branching
from criticality.measures import dynamic_range as _dynamic_range
from criticality.measures import ftle as _ftle
from criticality.measures import lyapunov as _lyapunov
from criticality.measures import susceptibility as _susceptibility
from criticality.measures import weight_alpha as _weight_alpha
from criticality.measures._registry import MeasureSpec as MeasureSpec
from criticality.measures._registry import get_measure as get_measure
from criticality.measures._registry import list_measures as list_measures
from criticality.measures._registry import register_measure as register_measure
from criticality.measures._registry import run_measure as run_measure
from criticality.measures.avalanches import AvalancheResult as AvalancheResult
from criticality.measures.avalanches import PowerLawFit as PowerLawFit
from criticality.measures.avalanches import avalanches as avalanches
from criticality.measures.avalanches import fit_avalanches as fit_avalanches
from criticality.measures.branching import BranchingResult as BranchingResult
from criticality.measures.branching import branching_ratio as branching_ratio
from criticality.measures.dynamic_range import DynamicRangeResult as DynamicRangeResult
from criticality.measures.dynamic_range import dynamic_range as dynamic_range
from criticality.measures.ftle import FTLEResult as FTLEResult
from criticality.measures.ftle import ftle as ftle
from criticality.measures.lyapunov import LyapunovResult as LyapunovResult
from criticality.measures.lyapunov import lyapunov_spectrum as lyapunov_spectrum
from criticality.measures.meanfield import MeanFieldResult as MeanFieldResult
from criticality.measures.meanfield import critical_sigma_w as critical_sigma_w
from criticality.measures.meanfield import meanfield as meanfield
from criticality.measures.prepared import DegenerateStageError as DegenerateStageError
from criticality.measures.prepared import NonFiniteError as NonFiniteError
from criticality.measures.results import Estimate as Estimate
from criticality.measures.results import Result as Result
from criticality.measures.susceptibility import SusceptibilityResult as SusceptibilityResult
from criticality.measures.susceptibility import susceptibility as susceptibility
from criticality.measures.weight_alpha import WeightAlphaResult as WeightAlphaResult
from criticality.measures.weight_alpha import weight_alpha as weight_alpha

del _avalanches, _branching, _dynamic_range, _ftle, _lyapunov, _susceptibility, _weight_alpha
