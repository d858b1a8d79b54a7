"""The report's number format: digits by quantity, signs, tiny values, intervals, bounds."""

from __future__ import annotations

import math

import pytest

from criticality.numbers import fmt, fmt_bound, fmt_ci, kind_of


@pytest.mark.parametrize(
    ("value", "kind", "text"),
    [
        (2.165e-23, "plain", "<1e-6"),  # the old report printed +2.165e-23
        (-2.165e-23, "exponent", "≈0"),  # a signed quantity that is zero to float precision
        (0.0, "exponent", "0"),
        (0.0, "plain", "0"),
        (2.0, "plain", "2.00"),  # no "+" on an unsigned quantity (the old report printed +2)
        (2.0, "exponent", "+2.000"),
        (-0.04231, "exponent", "−0.042"),  # U+2212, as in print
        (-0.0004, "exponent", "−0.00040"),  # below the kind's 3 decimals: 2 significant digits
        (-0.42, "corr", "−0.42"),
        (0.0004, "p", "<0.001"),
        (0.0123, "p", "0.012"),
        (0.25, "p", "0.25"),
        (1.0, "p", "1.0"),
        (69.758, "percent", "69.8"),
        (12.44, "db", "12.4"),
        (80, "int", "80"),
        (0.000123, "plain", "1.23e−4"),
        (123456.0, "plain", "1.23e5"),
        (1234.6, "plain", "1235"),
        (42.3, "seconds", "42"),
        (3.14, "seconds", "3.1"),
        (math.nan, "plain", "nan"),
        (math.inf, "exponent", "+∞"),
        (-math.inf, "exponent", "−∞"),
        (None, "plain", "–"),
        (True, "plain", "yes"),
    ],
)
def test_fmt(value: float, kind: str, text: str) -> None:
    assert fmt(value, kind) == text  # type: ignore[arg-type]


def test_unknown_kind_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown number kind 'furlongs'.*exponent"):
        fmt(1.0, "furlongs")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("args", "text"),
    [
        ((-0.04231, -0.0512, -0.0334, "exponent"), "−0.042 [−0.051, −0.033]"),
        ((-0.42, -0.93, 0.40, "corr"), "−0.42 [−0.93, +0.40]"),
        ((1.0012, 1.0008, 1.0016, "ratio"), "1.0012 [1.0008, 1.0016]"),  # narrow: more digits
        ((-0.0075, -0.2934, 0.2784, "diff"), "−0.01 [−0.29, +0.28]"),  # wide: fewer digits
        ((-0.24, -0.249, -0.228, "exponent"), "−0.240 [−0.249, −0.228]"),
        ((0.5, 0.5, 0.5, "ratio"), "0.500 [0.500, 0.500]"),  # a degenerate interval
        ((0.0001, -0.0004, 0.0006, "exponent"), "+0.0001 [−0.0004, +0.0006]"),
        ((math.nan, math.nan, math.nan, "corr"), "nan [nan, nan]"),
        ((0.01, 0.004, 0.02, "p"), "0.010 [0.0040, 0.020]"),
    ],
)
def test_fmt_ci(args: tuple, text: str) -> None:
    assert fmt_ci(*args) == text


def test_interval_ends_share_the_precision() -> None:
    text = fmt_ci(0.123456, 0.1, 0.15, "plain")
    mean, lo, hi = text.replace("[", "").replace("]", "").replace(",", "").split()
    assert len({len(x.split(".")[1]) for x in (mean, lo, hi)}) == 1


def test_bounds_say_they_are_bounds() -> None:
    assert fmt_bound(2.0, "above", "ratio") == "≥ 2.00 (the grid’s edge)"
    assert fmt_bound(0.5, "below", "ratio") == "≤ 0.500 (the grid’s edge)"


def test_column_kinds() -> None:
    assert kind_of("p_value") == "p" and kind_of("rho") == "corr" and kind_of("n") == "int"
    assert kind_of("lyapunov") == "exponent" and kind_of("something else") == "plain"
