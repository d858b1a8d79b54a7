"""What the claim needs from the per-generation curves: bands, contrasts, and who moves first.

All functions take curves of one quantity over generations, one row per seed: shape
``(S, G + 1)``.

* :func:`band`: mean and 95 % Student-t interval over seeds at every generation;
* :func:`contrast`: a method against the control on the same seeds at one generation (paired
  differences, t interval, Wilcoxon);
* :func:`halfway_generation`: the first generation at which a curve has covered half of its
  largest excursion from generation 0 (scale-free, so that a quality curve and a ``λ_1`` curve can
  be compared: the one that gets there first moves first);
* :func:`lead_lag`: correlations of the generation-to-generation increments ``Δλ_1(g)`` with
  ``Δquality(g + lag)``, pooled over seeds; a peak at a positive lag means the drift of ``λ_1``
  precedes the change in quality, at a negative lag that it follows, at lag 0 that they move
  together;
* :func:`tracking`: Spearman's ``ρ`` of quality against ``λ_1`` over all (seed, generation)
  points, and of each against the generation index;
* :func:`claim_tests`: the claim's two halves as paired tests over seeds (does quality fall
  under the control, does ``|λ_1|``, the distance from criticality, grow with it; does each
  remedy keep quality, and at what cost at generation 0); the experiment's report turns their
  intervals into verdicts in words (:mod:`criticality.experiments.collapse.report`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy import stats

from criticality.stats import mean_ci, paired_comparison


def _curves(x: Any) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] < 2:
        raise ValueError(f"curves must have shape (seeds, generations + 1 >= 2), got {a.shape}")
    return a


def band(curves: Any, *, level: float = 0.95) -> dict[str, list[float]]:
    """``mean``, ``ci_low``, ``ci_high`` per generation (``G + 1`` entries each) over seeds."""
    a = _curves(curves)
    cis = [mean_ci(a[:, g], level=level) for g in range(a.shape[1])]
    return {k: [getattr(c, k) for c in cis] for k in ("mean", "ci_low", "ci_high")}


def contrast(
    treatment: Any, control: Any, *, generation: int = -1, level: float = 0.95
) -> dict[str, Any]:
    """Paired comparison at ``generation`` of two sets of curves run on the same seeds."""
    t, c = _curves(treatment), _curves(control)
    if t.shape != c.shape:
        raise ValueError(f"treatment {t.shape} and control {c.shape} must match (same seeds)")
    return paired_comparison(t[:, generation], c[:, generation], level=level).to_dict()


def halfway_generation(curve: Any, *, fraction: float = 0.5) -> float:
    """First ``g`` with ``|c_g − c_0| ≥ fraction · max_h |c_h − c_0|`` (NaN for a flat curve)."""
    c = np.asarray(curve, dtype=np.float64)
    dev = np.abs(c - c[0])
    top = float(dev.max())
    if not math.isfinite(top) or top == 0:
        return float("nan")
    return float(np.argmax(dev >= fraction * top))


def lead_lag(lam: Any, quality: Any, *, max_lag: int = 2) -> dict[str, Any]:
    """Pearson correlation of ``Δλ_1(g)`` with ``Δquality(g + lag)`` for ``|lag| <= max_lag``.

    Returns:
        ``lags`` and ``r`` (NaN where fewer than 3 pairs), ``n`` pairs per lag, and ``best_lag``
        (the lag of the largest ``|r|``; NaN if none).
    """
    dl, dq = np.diff(_curves(lam), axis=1), np.diff(_curves(quality), axis=1)  # (S, G)
    lags, rs, ns = list(range(-max_lag, max_lag + 1)), [], []
    for lag in lags:
        if lag >= 0:
            a, b = dl[:, : dl.shape[1] - lag], dq[:, lag:]
        else:
            a, b = dl[:, -lag:], dq[:, : dq.shape[1] + lag]
        a, b = a.reshape(-1), b.reshape(-1)
        ok = np.isfinite(a) & np.isfinite(b)
        ns.append(int(ok.sum()))
        if ok.sum() < 3 or np.ptp(a[ok]) == 0 or np.ptp(b[ok]) == 0:
            rs.append(float("nan"))
        else:
            rs.append(float(np.corrcoef(a[ok], b[ok])[0, 1]))
    finite = [i for i, r in enumerate(rs) if math.isfinite(r)]
    best = float(lags[max(finite, key=lambda i: abs(rs[i]))]) if finite else float("nan")
    return {"lags": lags, "r": rs, "n": ns, "best_lag": best}


def tracking(lam: Any, quality: Any) -> dict[str, float]:
    """Spearman ``ρ`` (and p) of quality vs ``λ_1``, and of each vs generation, pooled."""
    lam_a, q_a = _curves(lam), _curves(quality)
    gen = np.broadcast_to(np.arange(lam_a.shape[1]), lam_a.shape)
    out: dict[str, float] = {}
    for name, (a, b) in {
        "quality_vs_lambda": (q_a, lam_a),
        "lambda_vs_generation": (lam_a, gen),
        "quality_vs_generation": (q_a, gen),
    }.items():
        x, y = a.reshape(-1), b.reshape(-1)
        ok = np.isfinite(x) & np.isfinite(y)
        if ok.sum() < 3 or np.ptp(x[ok]) == 0 or np.ptp(y[ok]) == 0:
            out[f"rho_{name}"], out[f"p_{name}"] = float("nan"), float("nan")
            continue
        res = stats.spearmanr(x[ok], y[ok])
        out[f"rho_{name}"], out[f"p_{name}"] = float(res.statistic), float(res.pvalue)
    return out


def _key(rows: Sequence[Sequence[Mapping[str, Any]]], key: str) -> np.ndarray:
    """``(seeds, G + 1)`` values of ``key`` from per-seed, per-generation rows (NaN if absent)."""
    return np.array([[float(r.get(key, np.nan)) for r in seed_rows] for seed_rows in rows])


def _pc(treatment: np.ndarray, control: np.ndarray) -> dict[str, Any]:
    ok = np.isfinite(treatment) & np.isfinite(control)
    return paired_comparison(treatment[ok], control[ok]).to_dict()


def claim_tests(
    runs: Mapping[str, Sequence[Sequence[Mapping[str, Any]]]],
    quality: str,
    *,
    higher_is_better: bool,
    lambda_keys: Sequence[str] = (),
    control: str = "replace/plain",
) -> dict[str, Any]:
    """The claim's two halves as paired tests over seeds, every one oriented so that a positive
    difference is the direction the claim (or the remedy) predicts.

    Args:
        runs: ``condition -> seeds -> generations -> {metric: value}`` (the experiment's rows);
            every condition has the same seeds in the same order.
        quality: the headline quality metric.
        higher_is_better: whether a larger ``quality`` is better.
        lambda_keys: the ``λ_1`` metrics (one per network part); ``|λ_1|`` is the distance from
            criticality.
        control: the condition that collapses (``replace`` with plain training).

    Returns:
        ``collapse``: paired ``quality`` loss of the control, generation 0 minus the last
        generation (oriented: positive = quality fell); ``distance``: per ``λ_1`` key, the
        control's ``|λ_1|`` at the last generation minus at generation 0 (positive = farther
        from criticality); ``remedies``: per other condition, ``slowing`` (its change of quality
        from generation 0 to the last minus the control's, oriented: positive = it lost less,
        a difference in differences that a better or worse start does not move), ``gain`` (its
        quality minus the control's at the last generation, oriented: positive = better),
        ``cost`` (the same at
        generation 0, where no generated data has been used yet) and ``distance`` (its
        ``|λ_1|`` minus the control's at the last generation, positive = farther). Each entry is
        a :class:`criticality.stats.PairedComparison` as a dict.
    """
    if control not in runs:
        raise ValueError(f"the control {control!r} is not among the conditions {sorted(runs)}")
    sign = 1.0 if higher_is_better else -1.0
    ctrl = runs[control]
    q = sign * _key(ctrl, quality)
    out: dict[str, Any] = {
        "quality": quality,
        "higher_is_better": higher_is_better,
        "generations": int(q.shape[1] - 1),
        "collapse": _pc(q[:, 0], q[:, -1]),
        "distance": {
            k: _pc(np.abs(_key(ctrl, k))[:, -1], np.abs(_key(ctrl, k))[:, 0]) for k in lambda_keys
        },
        "remedies": {},
    }
    for cond, rows in runs.items():
        if cond == control:
            continue
        if len(rows) != len(ctrl):
            raise ValueError(f"{cond!r} has {len(rows)} seeds, the control {len(ctrl)}")
        qc = sign * _key(rows, quality)
        out["remedies"][cond] = {
            "slowing": _pc(qc[:, -1] - qc[:, 0], q[:, -1] - q[:, 0]),
            "gain": _pc(qc[:, -1], q[:, -1]),
            "cost": _pc(qc[:, 0], q[:, 0]),
            "distance": {
                k: _pc(np.abs(_key(rows, k))[:, -1], np.abs(_key(ctrl, k))[:, -1])
                for k in lambda_keys
            },
        }
    return out
