"""The statistics of every experiment (PAPER.md): Spearman with a bootstrap CI, a mixed-effects
model, Mann–Whitney U between groups, Wilcoxon signed-rank for paired models, paired comparisons
of methods across seeds and a mean with its t interval.

Each is a small function on plain arrays returning a frozen dataclass (``to_dict()`` for JSON);
``p`` values come from scipy / statsmodels. With fewer observations than a test needs, the result
holds NaNs and a ``note`` says why, instead of raising: a scan of three models still gets a
report. Warnings of scipy or statsmodels (small samples, ties, convergence) are recorded in
``note``, never printed.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Sequence
from typing import Any, TypeVar

import numpy as np
from scipy import stats as sps

_NAN = float("nan")


@dataclasses.dataclass(frozen=True)
class SpearmanResult:
    """Spearman's rank correlation with a percentile bootstrap CI over pairs.

    Attributes:
        rho: rank correlation in ``[-1, 1]``.
        p_value: two-sided p value of ``rho = 0`` (scipy, t approximation).
        ci_low: lower end of the bootstrap CI of ``rho``.
        ci_high: upper end.
        n: number of pairs used (pairs with a NaN are dropped).
        note: why a value is NaN, else ``""``.
    """

    rho: float
    p_value: float
    ci_low: float
    ci_high: float
    n: int
    note: str = ""


def spearman(
    x: Sequence[float] | np.ndarray,
    y: Sequence[float] | np.ndarray,
    *,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> SpearmanResult:
    """Spearman's ``ρ`` of ``x`` and ``y`` (shape ``(n,)`` each), with a bootstrap CI.

    ``ρ`` is the Pearson correlation of the ranks (ties get average ranks). The CI resamples
    pairs with replacement ``n_boot`` times; resamples whose ranks are constant are dropped.
    """
    a, b = _paired(x, y)
    if a.size < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return SpearmanResult(_NAN, _NAN, _NAN, _NAN, int(a.size), "needs ≥ 3 pairs, not constant")
    rho, p = sps.spearmanr(a, b)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, a.size, size=(n_boot, a.size))  # (n_boot, n)
    ra = sps.rankdata(a[idx], axis=1)
    rb = sps.rankdata(b[idx], axis=1)
    ra -= ra.mean(axis=1, keepdims=True)
    rb -= rb.mean(axis=1, keepdims=True)
    denom = np.sqrt((ra**2).sum(axis=1) * (rb**2).sum(axis=1))
    ok = denom > 0
    boot = (ra * rb).sum(axis=1)[ok] / denom[ok]
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(boot, [alpha, 1.0 - alpha]) if boot.size else (_NAN, _NAN)
    return SpearmanResult(float(rho), float(p), float(lo), float(hi), int(a.size))


@dataclasses.dataclass(frozen=True)
class MixedEffectsResult:
    """``y ~ x + (1 | group)``: a fixed slope and a random intercept per group.

    Attributes:
        slope: fixed-effect coefficient of ``x``.
        slope_se: its standard error.
        p_value: Wald test of ``slope = 0``.
        ci_low: lower end of the 95 % Wald CI of the slope.
        ci_high: upper end.
        intercept: fixed intercept.
        group_var: variance of the random intercepts.
        residual_var: residual variance.
        n: observations.
        n_groups: groups.
        converged: whether the REML fit converged (statsmodels).
        note: why values are NaN or the fit is doubtful, else ``""``.
    """

    slope: float
    slope_se: float
    p_value: float
    ci_low: float
    ci_high: float
    intercept: float
    group_var: float
    residual_var: float
    n: int
    n_groups: int
    converged: bool
    note: str = ""


def mixed_effects(
    y: Sequence[float] | np.ndarray,
    x: Sequence[float] | np.ndarray,
    groups: Sequence[str],
) -> MixedEffectsResult:
    """Fit ``y ~ x + (1 | groups)`` by REML with statsmodels ``MixedLM``.

    Args:
        y: responses, shape ``(n,)`` (e.g. top-1 accuracy).
        x: the predictor, shape ``(n,)`` (e.g. distance to criticality).
        groups: group label per observation (e.g. the model family).
    """
    import statsmodels.api as sm
    from statsmodels.tools.sm_exceptions import ConvergenceWarning

    yy, xx = _paired(y, x)
    keep = np.isfinite(np.asarray(y, float)) & np.isfinite(np.asarray(x, float))
    g = np.asarray(groups, dtype=object)[keep]
    n_groups = len(set(g.tolist()))
    if yy.size < 4 or n_groups < 2 or np.ptp(xx) == 0:
        nan = _NAN
        return MixedEffectsResult(
            nan,
            nan,
            nan,
            nan,
            nan,
            nan,
            nan,
            nan,
            int(yy.size),
            n_groups,
            False,
            "needs ≥ 4 observations in ≥ 2 groups",
        )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = sm.MixedLM(yy, sm.add_constant(xx), groups=g).fit(reml=True)
        # statsmodels computes these lazily and may warn (singular covariance) on access
        params, bse = np.asarray(fit.fe_params), np.asarray(fit.bse_fe)
        group_var = float(np.asarray(fit.cov_re).reshape(-1)[0])
        scale, converged = float(fit.scale), bool(fit.converged)
    kinds = (ConvergenceWarning, RuntimeWarning, UserWarning)
    notes = [str(w.message).split("\n")[0] for w in caught if issubclass(w.category, kinds)]
    z = params[1] / bse[1] if bse[1] > 0 else _NAN
    p = float(2 * sps.norm.sf(abs(z))) if math.isfinite(z) else _NAN
    half = 1.959963984540054 * bse[1]
    return MixedEffectsResult(
        float(params[1]),
        float(bse[1]),
        p,
        float(params[1] - half),
        float(params[1] + half),
        float(params[0]),
        group_var,
        scale,
        int(yy.size),
        n_groups,
        converged,
        "; ".join(dict.fromkeys(notes)),
    )


@dataclasses.dataclass(frozen=True)
class MannWhitneyResult:
    """Mann–Whitney U test between two independent groups.

    Attributes:
        u: the U statistic of group ``a``.
        p_value: two-sided p value (scipy; exact for small samples without ties).
        effect: rank-biserial correlation ``2U / (n_a n_b) − 1`` in ``[-1, 1]`` (> 0: ``a``
            tends to be larger).
        median_a: median of ``a``.
        median_b: median of ``b``.
        n_a: size of ``a``.
        n_b: size of ``b``.
        note: why values are NaN, else ``""``.
    """

    u: float
    p_value: float
    effect: float
    median_a: float
    median_b: float
    n_a: int
    n_b: int
    note: str = ""


def mann_whitney(
    a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray
) -> MannWhitneyResult:
    """Do values in ``a`` (shape ``(n_a,)``) tend to differ from those in ``b``?"""
    xa, xb = _finite(a), _finite(b)
    if xa.size == 0 or xb.size == 0:
        return MannWhitneyResult(
            _NAN,
            _NAN,
            _NAN,
            _median(xa),
            _median(xb),
            int(xa.size),
            int(xb.size),
            "needs ≥ 1 value in each group",
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # scipy's small-sample notices
        res = sps.mannwhitneyu(xa, xb, alternative="two-sided")
    u = float(res.statistic)
    effect = 2.0 * u / (xa.size * xb.size) - 1.0
    return MannWhitneyResult(
        u, float(res.pvalue), effect, _median(xa), _median(xb), int(xa.size), int(xb.size)
    )


@dataclasses.dataclass(frozen=True)
class WilcoxonResult:
    """Wilcoxon signed-rank test of paired differences ``x − y``.

    Attributes:
        statistic: scipy's statistic (the smaller of the signed-rank sums, two-sided).
        p_value: two-sided p value (exact for small samples without ties or zeros).
        median_diff: median of ``x − y``.
        n: pairs used.
        note: why values are NaN or what limits the test (e.g. the smallest possible p), else
            ``""``.
    """

    statistic: float
    p_value: float
    median_diff: float
    n: int
    note: str = ""


def wilcoxon(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> WilcoxonResult:
    """Signed-rank test of ``x`` against ``y`` paired by position (shape ``(n,)`` each)."""
    a, b = _paired(x, y)
    d = a - b
    if d.size == 0 or np.all(d == 0):
        return WilcoxonResult(_NAN, _NAN, _median(d), int(d.size), "needs ≥ 1 non-zero difference")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = sps.wilcoxon(a, b, alternative="two-sided")
    notes = [str(w.message).split("\n")[0] for w in caught]
    if d.size < 6:
        notes.append(
            f"with {d.size} pairs the smallest possible two-sided p is {2 / 2**d.size:.3g}"
        )
    note = "; ".join(notes)
    return WilcoxonResult(float(res.statistic), float(res.pvalue), _median(d), int(d.size), note)


Array = Sequence[float] | np.ndarray


def _paired(x: Array, y: Array) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"need two 1-d arrays of the same length, got shapes {a.shape}, {b.shape}")
    keep = np.isfinite(a) & np.isfinite(b)
    return a[keep], b[keep]


def _finite(x: Sequence[float] | np.ndarray) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64).reshape(-1)
    return a[np.isfinite(a)]


def _median(x: np.ndarray) -> float:
    return float(np.median(x)) if x.size else _NAN


@dataclasses.dataclass(frozen=True)
class PairedComparison:
    """Two methods run on the same seeds: differences ``d_i = treatment_i − control_i``.

    Attributes:
        n: number of pairs.
        mean_diff: ``d̄``.
        ci_low: lower end of the Student-t interval ``d̄ ± t_{n−1} s_d / √n``.
        ci_high: upper end.
        t: paired t statistic.
        p_t: two-sided p value of the paired t test.
        p_wilcoxon: two-sided p value of the Wilcoxon signed-rank test (exact for small ``n``;
            1 when every ``d_i = 0``).
        effect_dz: Cohen's ``d_z = d̄ / s_d``.
        note: warnings of the tests (ties, small samples), else ``""``.
    """

    n: int
    mean_diff: float
    ci_low: float
    ci_high: float
    t: float
    p_t: float
    p_wilcoxon: float
    effect_dz: float
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def paired_comparison(
    treatment: Sequence[float] | np.ndarray,
    control: Sequence[float] | np.ndarray,
    *,
    level: float = 0.95,
) -> PairedComparison:
    """Compare two methods run on the same seeds (``n`` values each, same seed order).

    Undefined entries are NaN (``n < 2``; ``s_d = 0`` leaves ``t``, ``p_t`` and ``d_z`` NaN and
    the interval ``[d̄, d̄]``).
    """
    a, b = np.asarray(treatment, dtype=float), np.asarray(control, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"need two equal-length 1-D sequences, got shapes {a.shape} and {b.shape}")
    d = a - b
    n = int(d.size)
    mean = float(d.mean()) if n else _NAN
    if n < 2:
        return PairedComparison(n, mean, _NAN, _NAN, _NAN, _NAN, _NAN, _NAN, "needs ≥ 2 pairs")
    lo, hi, t, p_t, dz = mean, mean, _NAN, _NAN, _NAN
    sd = float(d.std(ddof=1))
    if sd > 0:
        half = float(sps.t.ppf(0.5 + level / 2, n - 1)) * sd / math.sqrt(n)
        lo, hi, t, dz = mean - half, mean + half, mean / (sd / math.sqrt(n)), mean / sd
        p_t = float(2 * sps.t.sf(abs(t), n - 1))
    p_w, note = 1.0, ""
    if not np.all(d == 0):
        with warnings.catch_warnings(record=True) as caught:  # small n / ties: scipy falls back
            warnings.simplefilter("always")
            p_w = float(sps.wilcoxon(d).pvalue)
        note = "; ".join(dict.fromkeys(str(w.message).split("\n")[0] for w in caught))
    return PairedComparison(n, mean, lo, hi, t, p_t, p_w, dz, note)


@dataclasses.dataclass(frozen=True)
class MeanCI:
    """A mean with its Student-t interval (NaN interval for fewer than 2 values).

    Attributes:
        mean: the sample mean.
        ci_low: lower end of ``mean ± t_{n−1} s / √n``.
        ci_high: upper end.
        n: number of values.
    """

    mean: float
    ci_low: float
    ci_high: float
    n: int

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def mean_ci(values: Sequence[float] | np.ndarray, *, level: float = 0.95) -> MeanCI:
    """Mean of ``values`` (shape ``(n,)``) with a Student-t interval at ``level``."""
    x = np.asarray(values, dtype=float)
    mean = float(x.mean()) if x.size else _NAN
    if x.size < 2:
        return MeanCI(mean, _NAN, _NAN, int(x.size))
    half = float(sps.t.ppf(0.5 + level / 2, x.size - 1)) * float(x.std(ddof=1)) / math.sqrt(x.size)
    return MeanCI(mean, mean - half, mean + half, int(x.size))


def detectable_correlation(
    n: int, *, alpha: float = 0.05, power: float = 0.8, spearman: bool = True
) -> float:
    """The smallest ``|ρ|`` that a two-sided test at level ``alpha`` detects with probability
    ``power`` among ``n`` pairs (NaN for ``n ≤ 3``).

    Fisher's ``z = artanh(ρ̂)`` is about normal with variance ``1/(n − 3)`` for Pearson's ``r``
    and ``1.06/(n − 3)`` for Spearman's ``ρ`` (Fieller, Hartley & Pearson 1957), so
    ``ρ_min = tanh((z_{1−α/2} + z_{power}) · sqrt(v/(n − 3)))``. For Pearson, ``n = 29`` gives
    about 0.5 (Cohen's table: 28 pairs for ``r = 0.5``).
    """
    if not (0 < alpha < 1 and 0 < power < 1):
        raise ValueError(f"need 0 < alpha < 1 and 0 < power < 1, got {alpha}, {power}")
    if n <= 3:
        return _NAN
    v = 1.06 if spearman else 1.0
    z = float(sps.norm.ppf(1 - alpha / 2) + sps.norm.ppf(power))
    return float(np.tanh(z * math.sqrt(v / (n - 3))))


# ---- statistics that respect clusters (families of architectures) ---------------------------


_R = TypeVar("_R", bound="_Record")


class _Record:
    """JSON round trip of a result dataclass: ``to_dict`` and ``from_dict`` (keys the class
    does not know are ignored, so a newer file still loads)."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls: type[_R], data: dict[str, Any]) -> _R:
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclasses.dataclass(frozen=True)
class ClusteredSpearman(_Record):
    """Spearman's ``ρ`` with a CI from a bootstrap that resamples clusters, not observations.

    Observations of one cluster (the architectures of one family) are not independent; the
    percentile interval of :func:`spearman` treats them as if they were and is too narrow when
    clusters are alike inside. Here each bootstrap draw takes ``n_clusters`` clusters with
    replacement and all their observations.

    Attributes:
        rho: ``ρ`` of all observations (the same as :func:`spearman`'s).
        ci_low: lower end of the cluster-bootstrap percentile CI.
        ci_high: upper end.
        p_value: two-sided bootstrap p value, ``2 · min(P*(ρ* ≤ 0), P*(ρ* ≥ 0))`` (at least
            ``1 / n_boot``); a test of ``ρ = 0`` that respects the clusters.
        n: observations used.
        n_clusters: distinct clusters among them.
        note: why values are NaN, else ``""``.
    """

    rho: float
    ci_low: float
    ci_high: float
    p_value: float
    n: int
    n_clusters: int
    note: str = ""


def _ranks_corr(a: np.ndarray, b: np.ndarray) -> float:
    ra, rb = sps.rankdata(a), sps.rankdata(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denom = math.sqrt(float((ra**2).sum() * (rb**2).sum()))
    return float((ra * rb).sum() / denom) if denom > 0 else _NAN


def _clusters(
    x: Array, y: Array, clusters: Sequence[Any]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    a, b = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    g = np.asarray([str(c) for c in clusters], dtype=object)
    if a.shape != b.shape or a.ndim != 1 or g.shape != a.shape:
        raise ValueError(
            f"need x, y and clusters of the same length, got {a.shape}, {b.shape}, {g.shape}"
        )
    keep = np.isfinite(a) & np.isfinite(b)
    return a[keep], b[keep], g[keep]


def _boot_summary(boot: np.ndarray, level: float) -> tuple[float, float, float]:
    if boot.size == 0:
        return _NAN, _NAN, _NAN
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(boot, [alpha, 1.0 - alpha])
    p = 2.0 * min(float(np.mean(boot <= 0)), float(np.mean(boot >= 0)))
    return float(lo), float(hi), min(1.0, max(p, 1.0 / boot.size))


def cluster_spearman(
    x: Array,
    y: Array,
    clusters: Sequence[Any],
    *,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> ClusteredSpearman:
    """Spearman's ``ρ`` of ``x`` and ``y`` with a cluster-bootstrap CI (see
    :class:`ClusteredSpearman`). ``clusters`` labels each observation (e.g. its family).

    Raises:
        ValueError: the three sequences differ in length.
    """
    a, b, g = _clusters(x, y, clusters)
    n_c = len(set(g.tolist()))
    if a.size < 3 or np.ptp(a) == 0 or np.ptp(b) == 0 or n_c < 2:
        return ClusteredSpearman(
            _NAN,
            _NAN,
            _NAN,
            _NAN,
            int(a.size),
            n_c,
            "needs ≥ 3 observations in ≥ 2 clusters, not constant",
        )
    rho = _ranks_corr(a, b)
    counts, cluster_of = _cluster_counts(g, n_boot, seed)
    w = counts[:, cluster_of]  # (n_boot, n): how often each observation is drawn
    ra, rb = _weighted_ranks(a, w), _weighted_ranks(b, w)
    total = w.sum(axis=1, keepdims=True)
    ra -= (w * ra).sum(axis=1, keepdims=True) / total
    rb -= (w * rb).sum(axis=1, keepdims=True) / total
    denom = np.sqrt((w * ra**2).sum(axis=1) * (w * rb**2).sum(axis=1))
    ok = denom > 1e-12
    boot = (w * ra * rb).sum(axis=1)[ok] / denom[ok]
    lo, hi, p = _boot_summary(boot, level)
    return ClusteredSpearman(rho, lo, hi, p, int(a.size), n_c)


def _weighted_ranks(a: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Average ranks of ``a`` (shape ``(n,)``) in each resample that repeats observation ``i``
    ``w[k, i]`` times (shape ``(B, n)``): what :func:`scipy.stats.rankdata` gives on the
    expanded sample, without expanding it."""
    values, inv = np.unique(a, return_inverse=True)
    onehot = np.zeros((a.size, values.size))
    onehot[np.arange(a.size), inv] = 1.0
    per_value = w @ onehot  # (B, U): copies of each distinct value
    below = np.cumsum(per_value, axis=1) - per_value
    return (below + (per_value + 1.0) / 2.0)[:, inv]


def _cluster_counts(g: np.ndarray, n_boot: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(counts, cluster_of)``: how often each cluster is drawn in each of ``n_boot`` cluster
    resamples (shape ``(n_boot, n_clusters)``), and each observation's cluster index."""
    labels, cluster_of = np.unique(g, return_inverse=True)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, labels.size, size=(n_boot, labels.size))
    counts = np.zeros((n_boot, labels.size))
    np.add.at(counts, (np.arange(n_boot)[:, None], draws), 1.0)
    return counts, cluster_of


def within_cluster_spearman(
    x: Array,
    y: Array,
    clusters: Sequence[Any],
    *,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> ClusteredSpearman:
    """The rank relation *inside* clusters: ``x`` and ``y`` are ranked within each cluster,
    the ranks centred on their cluster's mean, and ``ρ`` is the correlation of the pooled
    centred ranks (clusters of one observation carry no within-cluster information and drop
    out). Differences between clusters cannot move it: a relation that holds only between
    families reads 0 here. CI: cluster bootstrap, as :func:`cluster_spearman`; a cluster drawn
    twice counts twice (its within-cluster sums are unchanged by the copy).
    """
    a, b, g = _clusters(x, y, clusters)
    labels, cluster_of = np.unique(g, return_inverse=True)
    sums = np.zeros((labels.size, 3))  # per cluster: Σ ra·rb, Σ ra², Σ rb²
    for c in range(labels.size):
        members = cluster_of == c
        if members.sum() < 2:
            continue
        ra, rb = sps.rankdata(a[members]), sps.rankdata(b[members])
        ra, rb = ra - ra.mean(), rb - rb.mean()
        sums[c] = (ra * rb).sum(), (ra**2).sum(), (rb**2).sum()
    n_c = int(labels.size)
    usable = int((np.bincount(cluster_of) >= 2).sum()) if a.size else 0
    total = sums.sum(axis=0)
    if usable < 2 or total[1] <= 0 or total[2] <= 0:
        return ClusteredSpearman(
            _NAN,
            _NAN,
            _NAN,
            _NAN,
            int(a.size),
            n_c,
            "needs ≥ 2 clusters with ≥ 2 observations that vary",
        )
    rho = float(total[0] / math.sqrt(total[1] * total[2]))
    counts, _ = _cluster_counts(g, n_boot, seed)
    drawn = counts @ sums  # (n_boot, 3)
    ok = (drawn[:, 1] > 0) & (drawn[:, 2] > 0)
    boot = drawn[ok, 0] / np.sqrt(drawn[ok, 1] * drawn[ok, 2])
    lo, hi, p = _boot_summary(boot, level)
    return ClusteredSpearman(rho, lo, hi, p, int(a.size), n_c)


def partial_spearman(
    x: Array,
    y: Array,
    covariates: Sequence[Array],
    *,
    clusters: Sequence[Any] | None = None,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> ClusteredSpearman:
    """Spearman's ``ρ`` of ``x`` and ``y`` controlling for ``covariates`` (e.g. parameter count
    and depth): every variable is ranked, the ranks of ``x`` and of ``y`` are regressed on the
    ranks of the covariates (with an intercept), and ``ρ`` is the correlation of the residuals.
    With one covariate ``z`` this is the closed form
    ``(ρ_xy − ρ_xz ρ_yz) / sqrt((1 − ρ_xz²)(1 − ρ_yz²))``. The CI resamples ``clusters`` when
    given, else observations (each resample as the weighted least squares of the expanded
    sample, its ranks from :func:`_weighted_ranks`).

    Raises:
        ValueError: lengths differ.
    """
    a = np.asarray(x, dtype=np.float64)
    cols = [np.asarray(c, dtype=np.float64) for c in covariates]
    if any(c.shape != a.shape for c in cols):
        raise ValueError("every covariate needs one value per observation of x")
    groups = list(range(a.size)) if clusters is None else list(clusters)
    a2, b2, g = _clusters(a, y, groups)
    keep = np.isfinite(a) & np.isfinite(np.asarray(y, dtype=np.float64))
    z = np.stack([c[keep] for c in cols], axis=1) if cols else np.empty((a2.size, 0))
    ok = np.all(np.isfinite(z), axis=1)
    a2, b2, g, z = a2[ok], b2[ok], g[ok], z[ok]
    n_c = len(set(g.tolist()))
    if a2.size < z.shape[1] + 3 or n_c < 2:
        return ClusteredSpearman(
            _NAN,
            _NAN,
            _NAN,
            _NAN,
            int(a2.size),
            n_c,
            "needs ≥ covariates + 3 observations in ≥ 2 clusters",
        )

    def stat(w: np.ndarray) -> np.ndarray:
        """The partial ρ of each resample, ``w`` (shape ``(B, n)``) the copies drawn."""
        ra, rb = _weighted_ranks(a2, w), _weighted_ranks(b2, w)
        design = np.stack(
            [np.ones_like(w)] + [_weighted_ranks(z[:, j], w) for j in range(z.shape[1])], axis=2
        )  # (B, n, k + 1)
        dw = design * w[:, :, None]
        gram = np.einsum("bnk,bnl->bkl", dw, design)
        rhs = np.stack([np.einsum("bnk,bn->bk", dw, ra), np.einsum("bnk,bn->bk", dw, rb)], 2)
        good = np.linalg.matrix_rank(gram) == gram.shape[1]
        coef = np.zeros_like(rhs)
        coef[good] = np.linalg.solve(gram[good], rhs[good])
        fitted = np.einsum("bnk,bkm->bnm", design, coef)
        ea, eb = ra - fitted[:, :, 0], rb - fitted[:, :, 1]
        num = (w * ea * eb).sum(axis=1)
        denom = np.sqrt((w * ea**2).sum(axis=1) * (w * eb**2).sum(axis=1))
        out = np.full(w.shape[0], _NAN)
        fine = good & (denom > 1e-9)
        out[fine] = num[fine] / denom[fine]
        return out

    rho = float(stat(np.ones((1, a2.size)))[0])
    if math.isnan(rho):
        return ClusteredSpearman(
            _NAN, _NAN, _NAN, _NAN, int(a2.size), n_c, "the covariates explain x or y entirely"
        )
    counts, cluster_of = _cluster_counts(g, n_boot, seed)
    boot = stat(counts[:, cluster_of])
    lo, hi, p = _boot_summary(boot[np.isfinite(boot)], level)
    return ClusteredSpearman(rho, lo, hi, p, int(a2.size), n_c)


@dataclasses.dataclass(frozen=True)
class ClusteredMean(_Record):
    """A mean (e.g. of paired differences) with a CI from a bootstrap that resamples clusters.

    Attributes:
        mean: the mean of all observations.
        ci_low: lower end of the cluster-bootstrap percentile CI.
        ci_high: upper end.
        p_value: two-sided bootstrap p value of ``mean = 0`` (as :class:`ClusteredSpearman`).
        n: observations.
        n_clusters: distinct clusters.
        note: why values are NaN, else ``""``.
    """

    mean: float
    ci_low: float
    ci_high: float
    p_value: float
    n: int
    n_clusters: int
    note: str = ""


def cluster_mean(
    values: Array,
    clusters: Sequence[Any],
    *,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> ClusteredMean:
    """Mean of ``values`` (shape ``(n,)``; NaNs dropped) with a cluster-bootstrap CI: each draw
    takes as many clusters as there are, with replacement, and the mean of all their values.

    Raises:
        ValueError: ``values`` and ``clusters`` differ in length.
    """
    v = np.asarray(values, dtype=np.float64)
    a, _, g = _clusters(v, np.zeros_like(v), clusters)
    n_c = len(set(g.tolist()))
    if a.size == 0:
        return ClusteredMean(_NAN, _NAN, _NAN, _NAN, 0, 0, "no values")
    mean = float(a.mean())
    if n_c < 2:
        return ClusteredMean(mean, _NAN, _NAN, _NAN, int(a.size), n_c, "needs ≥ 2 clusters")
    counts, cluster_of = _cluster_counts(g, n_boot, seed)
    w = counts[:, cluster_of]
    boot = (w * a).sum(axis=1) / w.sum(axis=1)
    lo, hi, p = _boot_summary(boot, level)
    return ClusteredMean(mean, lo, hi, p, int(a.size), n_c)
