"""The criticality measures: one file each, registered by name (see :mod:`._registry`)."""

from criticality.measures import ftle as _ftle
from criticality.measures import lyapunov as _lyapunov
from criticality.measures._registry import MeasureSpec as MeasureSpec
from criticality.measures._registry import get_measure as get_measure
from criticality.measures._registry import list_measures as list_measures
from criticality.measures._registry import register_measure as register_measure
from criticality.measures._result import Estimate as Estimate
from criticality.measures._result import Result as Result
from criticality.measures.ftle import FTLEResult as FTLEResult
from criticality.measures.ftle import ftle as ftle
from criticality.measures.lyapunov import LyapunovResult as LyapunovResult
from criticality.measures.lyapunov import lyapunov_spectrum as lyapunov_spectrum
from criticality.measures.meanfield import MeanFieldResult as MeanFieldResult
from criticality.measures.meanfield import critical_sigma_w as critical_sigma_w
from criticality.measures.meanfield import meanfield as meanfield

del _ftle, _lyapunov
