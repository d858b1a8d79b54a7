"""One number format for every report: significant digits by quantity, signs only where a
quantity has one, tiny values as ``<1e-6``, intervals and search-grid bounds in words.

Every number a report shows goes through :func:`fmt` (one value), :func:`fmt_ci` (a value with
its interval) or :func:`fmt_bound` (a value at the edge of a search grid), so that the same
quantity reads the same everywhere. A *kind* names the quantity and fixes its format:

====================  =========================================================================
kind                  format
====================  =========================================================================
``"exponent"``        signed, 3 decimals (λ_1, ln g, FTLE, differences of them): ``−0.042``
``"diff"``            signed, 3 significant digits (paired differences): ``+0.0123``
``"corr"``            signed, 2 decimals (Spearman ρ, effect sizes): ``−0.42``
``"p"``               p-value, 2 significant digits, ``<0.001`` below 0.001
``"ratio"``           unsigned, 3 significant digits (σ, gains, χ): ``1.03``
``"db"``              unsigned, 1 decimal (dynamic range in dB): ``12.4``
``"fraction"``        unsigned, 3 decimals (accuracy as a fraction): ``0.912``
``"percent"``         unsigned, 1 decimal (accuracy in %): ``69.8``
``"points"``          signed, 1 decimal (differences in percentage points): ``−19.4``
``"int"``             an integer: ``80``
``"seconds"``         unsigned, 2 significant digits, at least whole seconds above 10: ``42``
``"plain"``           unsigned, 3 significant digits (anything else)
====================  =========================================================================

Non-finite values read ``nan``, ``+inf`` / ``−inf`` (``∞`` with a sign for signed kinds).
The minus sign is U+2212 (typographic), as in print.

>>> fmt(2.165e-23)
'<1e-6'
>>> fmt(-0.04231, "exponent")
'−0.042'
>>> fmt_ci(-0.42, -0.93, 0.40, "corr")
'−0.42 [−0.93, +0.40]'
>>> fmt_bound(2.0, "above", "ratio")
'≥ 2.00 (the grid’s edge)'
"""

from __future__ import annotations

import math
from typing import Literal

Kind = Literal[
    "exponent",
    "diff",
    "corr",
    "p",
    "ratio",
    "db",
    "fraction",
    "percent",
    "points",
    "int",
    "seconds",
    "plain",
]

#: Below this magnitude a value is shown as ``<1e-6`` (``≈0`` for signed kinds).
TINY = 1e-6
MINUS = "\u2212"

#: kind -> (signed, significant digits or None, fixed decimals or None)
_KINDS: dict[str, tuple[bool, int | None, int | None]] = {
    "exponent": (True, None, 3),
    "diff": (True, 3, None),
    "corr": (True, None, 2),
    "p": (False, 2, None),
    "ratio": (False, 3, None),
    "db": (False, None, 1),
    "fraction": (False, None, 3),
    "percent": (False, None, 1),
    "points": (True, None, 1),
    "int": (False, None, 0),
    "seconds": (False, 2, None),
    "plain": (False, 3, None),
}

#: Column names whose kind is known wherever they appear (a table may override them).
COLUMN_KINDS: dict[str, Kind] = {
    "p": "p",
    "p_value": "p",
    "p_t": "p",
    "p_wilcoxon": "p",
    "p_slope": "p",
    "rho": "corr",
    "effect": "corr",
    "effect_dz": "corr",
    "rank_biserial": "corr",
    "ci_low": "plain",
    "ci_high": "plain",
    "n": "int",
    "n_groups": "int",
    "stages": "int",
    "seconds": "seconds",
    "mean_diff": "diff",
    "median_diff": "diff",
    "slope": "diff",
    "λ_1": "exponent",
    "lyapunov": "exponent",
    "ftle": "exponent",
    "median ln g_l": "exponent",
    "ln g_l": "exponent",
    "branching": "ratio",
    "susceptibility": "ratio",
    "dynamic_range": "db",
    "avalanches": "ratio",
    "weight_alpha": "ratio",
    "accuracy": "percent",
}


def _decimals(value: float, sig: int) -> int:
    """Decimals that show ``sig`` significant digits of ``value`` (0 for large values)."""
    if value == 0:
        return sig - 1
    return max(0, sig - 1 - math.floor(math.log10(abs(value))))


def _fixed(value: float, decimals: int, signed: bool) -> str:
    text = f"{value:+.{decimals}f}" if signed else f"{value:.{decimals}f}"
    if float(text) == 0:  # "-0.000" and "+0.000" read as 0
        return f"{0:.{decimals}f}"
    return text.replace("-", MINUS)


def fmt(value: float | int | None, kind: Kind = "plain") -> str:
    """``value`` as the report shows it (see the module docstring for each ``kind``).

    >>> fmt(0.000123), fmt(1234.6), fmt(3.0, "exponent"), fmt(0.0004, "p")
    ('1.23e−4', '1235', '+3.000', '<0.001')
    """
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if kind not in _KINDS:
        raise ValueError(f"unknown number kind {kind!r}; use one of {', '.join(_KINDS)}")
    signed, sig, decimals = _KINDS[kind]
    x = float(value)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return ("+∞" if x > 0 else f"{MINUS}∞") if signed else ("inf" if x > 0 else f"{MINUS}inf")
    if kind == "p":
        return "<0.001" if x < 0.001 else _fixed(x, _decimals(x, 2), False)
    if kind == "int":
        return f"{round(x):d}".replace("-", MINUS)
    if x == 0:
        return "0"
    if abs(x) < TINY:
        return "≈0" if signed else "<1e-6"
    if abs(x) >= 1e5 or (sig is not None and abs(x) < 1e-3):
        mantissa, exp = f"{x:.{(sig or 3) - 1}e}".split("e")
        sign = "+" if signed and x > 0 else ""
        return f"{sign}{mantissa}e{int(exp)}".replace("-", MINUS)
    if sig is not None:
        places = _decimals(x, sig)
        if kind == "seconds" and abs(x) >= 10:
            places = 0
        return _fixed(x, places, signed)
    assert decimals is not None
    if abs(x) < 10.0 ** (-decimals):  # would print as 0 at this precision: keep 2 digits
        return _fixed(x, _decimals(x, 2), signed)
    return _fixed(x, decimals, signed)


def fmt_ci(mean: float, low: float, high: float, kind: Kind = "plain") -> str:
    """``mean [low, high]``, all three at the same precision.

    The precision comes from the interval (a mean is not known better than its interval): the
    half-width to two significant digits when its leading digits are below 355, else to one
    (the Particle Data Group's rule), and never fewer decimals than a fixed-decimal kind has
    (``"exponent"``: 3, ``"corr"``: 2, ...).

    >>> fmt_ci(-0.04231, -0.0512, -0.0334, "exponent")
    '−0.042 [−0.051, −0.033]'
    >>> fmt_ci(1.0012, 1.0008, 1.0016, "ratio")
    '1.0012 [1.0008, 1.0016]'
    >>> fmt_ci(-0.0075, -0.2934, 0.2784, "diff")
    '−0.01 [−0.29, +0.28]'
    """
    if not all(map(math.isfinite, (mean, low, high))) or kind in ("p", "int"):
        return f"{fmt(mean, kind)} [{fmt(low, kind)}, {fmt(high, kind)}]"
    if any(abs(v) >= 1e5 for v in (mean, low, high)) or max(map(abs, (mean, low, high))) < TINY:
        return f"{fmt(mean, kind)} [{fmt(low, kind)}, {fmt(high, kind)}]"
    signed, sig, decimals = _KINDS[kind]
    half = (high - low) / 2
    if half > 0:
        lead = half / 10 ** math.floor(math.log10(half))  # in [1, 10)
        places = min(_decimals(half, 2 if lead < 3.55 else 1), 6)
    else:  # a degenerate interval: the value's own precision
        places = _decimals(max(abs(mean), 1e-300), sig or 3) if decimals is None else decimals
    places = max(places, decimals or 0)
    ends = (_fixed(v, places, signed) for v in (mean, low, high))
    return "{} [{}, {}]".format(*ends)


def fmt_bound(value: float, side: Literal["above", "below"], kind: Kind = "plain") -> str:
    """A value at the edge of a search grid: the true value lies beyond it, so it is a bound.

    ``side="above"``: the peak is at the grid's largest point (the true peak is at or above
    it); ``"below"``: at the smallest.

    >>> fmt_bound(0.5, "below", "ratio")
    '≤ 0.500 (the grid’s edge)'
    """
    sign = "≥" if side == "above" else "≤"
    return f"{sign} {fmt(value, kind)} (the grid’s edge)"


def kind_of(column: str) -> Kind:
    """The kind of a table column from its name (``"plain"`` when unknown)."""
    return COLUMN_KINDS.get(column, "plain")
