"""Shared pieces of every measure's result: summary statistics and JSON round trips."""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T", bound="Result")


@dataclasses.dataclass(frozen=True)
class Estimate:
    """A scalar measured on each probe input, summarised over inputs.

    Attributes:
        mean: mean over inputs.
        median: median over inputs.
        std: standard deviation over inputs (spread; ``ddof=1``, 0 for one input).
        ci_low: lower end of the bootstrap confidence interval of the mean.
        ci_high: upper end of the bootstrap confidence interval of the mean.
        n: number of inputs.
    """

    mean: float
    median: float
    std: float
    ci_low: float
    ci_high: float
    n: int

    @classmethod
    def from_samples(
        cls, samples: np.ndarray, *, seed: int = 0, n_boot: int = 1000, level: float = 0.95
    ) -> Estimate:
        """Summarise per-input values ``samples`` (shape ``(n,)``) with a percentile bootstrap."""
        x = np.asarray(samples, dtype=np.float64).reshape(-1)
        if x.size == 0:
            raise ValueError("cannot summarise zero samples; pass at least one probe input")
        lo, hi = bootstrap_ci(x, seed=seed, n_boot=n_boot, level=level)
        std = float(x.std(ddof=1)) if x.size > 1 else 0.0
        return cls(float(x.mean()), float(np.median(x)), std, lo, hi, int(x.size))

    @classmethod
    def from_columns(
        cls, samples: np.ndarray, *, seed: int = 0, n_boot: int = 1000, level: float = 0.95
    ) -> tuple[Estimate, ...]:
        """One :class:`Estimate` per column of ``samples`` (shape ``(n, m)``), in one pass.

        Equal to ``from_samples`` on each column (the same bootstrap draws), without ``m``
        separate bootstraps (a per-stage profile of a deep network has hundreds of columns).
        """
        x = np.asarray(samples, dtype=np.float64)
        if x.ndim != 2 or x.shape[0] == 0:
            raise ValueError(f"samples must have shape (n, m) with n >= 1, got {x.shape}")
        lo, hi = _bootstrap_bounds(x, seed, n_boot, level)
        std = x.std(axis=0, ddof=1) if x.shape[0] > 1 else np.zeros(x.shape[1])
        mean, median, n = x.mean(axis=0), np.median(x, axis=0), x.shape[0]
        return tuple(
            cls(float(mean[j]), float(median[j]), float(std[j]), float(lo[j]), float(hi[j]), n)
            for j in range(x.shape[1])
        )


def bootstrap_ci(
    samples: np.ndarray, *, seed: int = 0, n_boot: int = 1000, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of the mean of ``samples`` (shape ``(n,)``)."""
    x = np.asarray(samples, dtype=np.float64).reshape(-1, 1)
    lo, hi = _bootstrap_bounds(x, seed, n_boot, level)
    return float(lo[0]), float(hi[0])


def _bootstrap_bounds(
    x: np.ndarray, seed: int, n_boot: int, level: float
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap bounds of the column means of ``x`` (shape ``(n, m)``), ``(m,)``."""
    if x.shape[0] == 1:
        return x[0], x[0]
    n = x.shape[0]
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))  # the same draws for every column
    counts = (idx[:, :, None] == np.arange(n)).sum(axis=1)  # (n_boot, n) draws of each input
    means = counts @ x / n  # (n_boot, m) resampled means
    alpha = (1.0 - level) / 2.0
    ordered = np.sort(means.T, axis=1)  # (m, n_boot)
    return _quantile(ordered, alpha), _quantile(ordered, 1.0 - alpha)


def _quantile(ordered: np.ndarray, q: float) -> np.ndarray:
    """The ``q`` quantile of each sorted row of ``ordered`` (numpy's default linear rule)."""
    pos = q * (ordered.shape[1] - 1)
    i = min(int(np.floor(pos)), ordered.shape[1] - 2)
    t = pos - i
    return ordered[:, i] + t * (ordered[:, i + 1] - ordered[:, i])


class Result:
    """Base of frozen result dataclasses: the headline number, words, and JSON round trips.

    Fields may be numbers, strings, tuples, ``numpy`` arrays, :class:`Estimate`, other
    :class:`Result` dataclasses, or tuples of those; the field annotations drive decoding.
    Each measure's result overrides :meth:`headline` and :meth:`describe`, and
    :meth:`stage_profile` where it has per-stage values.
    """

    def headline(self) -> Estimate:
        """The single number compared with the measure's critical value, over inputs."""
        raise NotImplementedError

    def describe(self) -> str:
        """One sentence on what the value means, in words (no numbers without their meaning)."""
        raise NotImplementedError

    def stage_profile(self) -> tuple[tuple[str, ...], np.ndarray] | None:
        """Stage names and one value per stage (shape ``(L,)``), or ``None``."""
        return None

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _encode(getattr(self, f.name)) for f in dataclasses.fields(self)}  # type: ignore[arg-type]

    @classmethod
    def from_dict(cls: type[T], data: dict[str, Any]) -> T:
        hints = typing.get_type_hints(cls)
        fields = dataclasses.fields(cls)  # type: ignore[arg-type]
        return cls(
            **{f.name: _decode(data[f.name], hints[f.name]) for f in fields if f.name in data}
        )


def _encode(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (tuple, list)):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    return value


def _decode(value: Any, hint: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        return _decode(value, options[0])
    if hint is np.ndarray:
        return np.asarray(value, dtype=np.float64)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        sub = typing.get_type_hints(hint)
        return hint(**{k: _decode(v, sub[k]) for k, v in value.items()})
    if origin is tuple:
        args = typing.get_args(hint)
        item = args[0] if args else Any
        return tuple(_decode(v, item) for v in value)
    if origin is dict:
        _, item = typing.get_args(hint)
        return {k: _decode(v, item) for k, v in value.items()}
    return value
