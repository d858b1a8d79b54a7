"""The public API: every measure verb at the top level, names that agree with the registry."""

from __future__ import annotations

from importlib.metadata import version

import criticality as cr
from criticality.measures import get_measure, list_measures

# registry key -> top-level function, where the names differ (documented in criticality's
# docstring and the README)
ALIASES = {"lyapunov": "lyapunov_spectrum", "branching": "branching_ratio"}


def test_every_registered_measure_is_a_top_level_verb() -> None:
    for name in list_measures():
        fn = getattr(cr, ALIASES.get(name, name))
        assert fn is get_measure(name).run, name
    for alias in ALIASES:
        assert alias in cr.__doc__ and ALIASES[alias] in cr.__doc__  # type: ignore[operator]


def test_fit_and_version() -> None:
    from criticality.training import fit

    assert cr.fit is fit
    assert cr.__version__ == version("criticality")
