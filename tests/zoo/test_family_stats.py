"""Statistics that respect families (criticality.stats cluster functions): known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from criticality.stats import (
    cluster_spearman,
    partial_spearman,
    spearman,
    within_cluster_spearman,
)


def _clustered(seed: int, n_clusters: int = 10, size: int = 5, noise: float = 0.05):
    """Clusters whose members are nearly copies of one another; x and y independent across
    clusters (true ρ = 0)."""
    rng = np.random.default_rng(seed)
    cx, cy = rng.normal(size=n_clusters), rng.normal(size=n_clusters)
    x = np.repeat(cx, size) + noise * rng.normal(size=n_clusters * size)
    y = np.repeat(cy, size) + noise * rng.normal(size=n_clusters * size)
    return x, y, np.repeat(np.arange(n_clusters), size)


def test_cluster_bootstrap_keeps_its_level_where_the_naive_one_does_not() -> None:
    """Under ρ = 0 with near-duplicate members, the pair bootstrap's 95 % CI excludes 0 far more
    often than 5 % (it counts 50 observations where there are 10 clusters); the cluster
    bootstrap's stays near its level."""
    naive = clustered = 0
    trials = 60
    for s in range(trials):
        x, y, g = _clustered(s)
        a = spearman(x, y, n_boot=400, seed=s)
        b = cluster_spearman(x, y, g, n_boot=400, seed=s)
        assert b.rho == pytest.approx(a.rho)
        naive += not (a.ci_low <= 0 <= a.ci_high)
        clustered += not (b.ci_low <= 0 <= b.ci_high)
        assert b.ci_high - b.ci_low > a.ci_high - a.ci_low
    assert naive / trials > 0.3
    assert clustered / trials < 0.15


def test_cluster_bootstrap_equals_the_pair_bootstrap_for_singletons() -> None:
    """One observation per cluster: the two bootstraps are the same resampling, so their
    intervals agree within Monte-Carlo error."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=40)
    y = 0.6 * x + rng.normal(size=40)
    a = spearman(x, y, n_boot=4000, seed=0)
    b = cluster_spearman(x, y, np.arange(40), n_boot=4000, seed=1)
    assert b.n_clusters == 40
    assert b.ci_low == pytest.approx(a.ci_low, abs=0.05)
    assert b.ci_high == pytest.approx(a.ci_high, abs=0.05)
    assert b.p_value < 0.01


def test_cluster_spearman_too_few_clusters_is_nan_with_a_reason() -> None:
    r = cluster_spearman([1.0, 2.0, 3.0], [3.0, 1.0, 2.0], ["a", "a", "a"])
    assert math.isnan(r.rho) and r.n_clusters == 1 and "clusters" in r.note
    with pytest.raises(ValueError, match="same length"):
        cluster_spearman([1.0, 2.0], [1.0, 2.0], ["a"])


def test_within_cluster_relation_ignores_differences_between_clusters() -> None:
    """Between clusters y falls with x, inside each it rises: the pooled ρ is negative, the
    within-cluster ρ is exactly +1."""
    x, y, g = [], [], []
    for c in range(6):
        for j in range(4):
            x.append(10.0 * c + j)
            y.append(-10.0 * c + j)
            g.append(f"f{c}")
    assert spearman(x, y).rho < -0.8
    w = within_cluster_spearman(x, y, g, n_boot=300)
    assert w.rho == pytest.approx(1.0)
    assert w.ci_low == pytest.approx(1.0) and w.ci_high == pytest.approx(1.0)
    shuffled = within_cluster_spearman(x, [-v for v in y], g, n_boot=300)
    assert shuffled.rho == pytest.approx(-1.0)


def test_within_cluster_is_zero_when_clusters_carry_everything() -> None:
    """y is a function of the cluster only (tied inside): no within-cluster variation."""
    x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    y = [1.0, 1.0, 5.0, 5.0, 9.0, 9.0]
    w = within_cluster_spearman(x, y, ["a", "a", "b", "b", "c", "c"])
    assert math.isnan(w.rho) and "vary" in w.note


def test_partial_spearman_matches_the_closed_form_with_one_covariate() -> None:
    rng = np.random.default_rng(3)
    z = rng.normal(size=60)
    x = z + 0.7 * rng.normal(size=60)
    y = z + 0.7 * rng.normal(size=60)
    rxy = sps.spearmanr(x, y)[0]
    rxz = sps.spearmanr(x, z)[0]
    ryz = sps.spearmanr(y, z)[0]
    closed = (rxy - rxz * ryz) / math.sqrt((1 - rxz**2) * (1 - ryz**2))
    r = partial_spearman(x, y, [z], n_boot=200)
    assert r.rho == pytest.approx(closed, abs=1e-12)
    assert rxy > 0.4 and abs(r.rho) < rxy  # the shared cause explains most of it


def test_partial_spearman_without_covariates_is_spearman() -> None:
    rng = np.random.default_rng(4)
    x = rng.normal(size=30)
    y = x + rng.normal(size=30)
    assert partial_spearman(x, y, [], n_boot=100).rho == pytest.approx(
        sps.spearmanr(x, y)[0], abs=1e-12
    )


def test_partial_spearman_two_covariates_removes_a_confounder() -> None:
    """x and y both depend on parameter count; given it (and an irrelevant depth) they are
    independent: the partial ρ is near 0 while the plain one is large."""
    rng = np.random.default_rng(5)
    params = rng.lognormal(size=200)
    depth = rng.integers(5, 50, size=200).astype(float)
    x = np.log(params) + 0.3 * rng.normal(size=200)
    y = np.log(params) + 0.3 * rng.normal(size=200)
    r = partial_spearman(x, y, [params, depth], clusters=np.arange(200) // 4, n_boot=300)
    assert sps.spearmanr(x, y)[0] > 0.8
    assert abs(r.rho) < 0.15
    assert r.ci_low < 0 < r.ci_high
    assert r.n_clusters == 50


def test_weighted_ranks_equal_ranks_of_the_expanded_sample() -> None:
    from criticality.stats import _weighted_ranks

    rng = np.random.default_rng(6)
    a = rng.integers(0, 5, size=12).astype(float)  # many ties
    w = rng.integers(0, 3, size=(7, 12)).astype(float)
    ranks = _weighted_ranks(a, w)
    for k in range(7):
        expanded = np.repeat(a, w[k].astype(int))
        want = sps.rankdata(expanded)
        got = np.repeat(ranks[k], w[k].astype(int))
        np.testing.assert_allclose(got, want)


def test_cluster_mean_interval_widens_with_shared_cluster_effects() -> None:
    """Paired differences that share a family effect: the family bootstrap's interval is wider
    than the t interval over networks, and centred on the mean."""
    from criticality.stats import cluster_mean, mean_ci

    rng = np.random.default_rng(7)
    fam = np.repeat(np.arange(8), 4)
    d = np.repeat(rng.normal(size=8), 4) + 0.05 * rng.normal(size=32)
    c = cluster_mean(d, fam, n_boot=2000)
    t = mean_ci(d)
    assert c.mean == pytest.approx(float(d.mean()))
    assert c.ci_low < c.mean < c.ci_high
    assert c.ci_high - c.ci_low > 1.5 * (t.ci_high - t.ci_low)
    assert c.n == 32 and c.n_clusters == 8
    one = cluster_mean([1.0, 2.0], ["a", "a"])
    assert one.mean == 1.5 and math.isnan(one.ci_low) and "clusters" in one.note


def _cs(rho: float, lo: float, hi: float, n: int = 20, k: int = 8):
    from criticality.stats import ClusteredSpearman

    return ClusteredSpearman(rho, lo, hi, 0.01, n, k)


def test_family_verdict_rule() -> None:
    """Each branch of docs/report.md's M1 rule."""
    from criticality.experiments.zoo.m1 import family_verdict

    neg, pos, zero = _cs(-0.6, -0.8, -0.3), _cs(0.6, 0.3, 0.8), _cs(-0.2, -0.5, 0.2)
    assert family_verdict(neg, neg) == "supported"
    assert family_verdict(pos, pos) == "not supported"
    v = family_verdict(zero, neg)
    assert v == "inconclusive" and "contains 0" in v.reason
    v = family_verdict(neg, zero)
    assert v == "inconclusive" and "floor carry it" in v.reason
    v = family_verdict(_cs(-0.6, -0.8, -0.3, k=2), neg)
    assert v == "inconclusive" and "2 families" in v.reason
    v = family_verdict(neg, _cs(-0.9, -0.95, -0.8, n=4, k=2))
    assert v == "inconclusive" and "learned-only" in v.reason
    v = family_verdict(_cs(-0.5, -0.5, -0.5), neg)
    assert v == "inconclusive" and "zero width" in v.reason
    assert family_verdict(pos, pos, direction=1) == "supported"
    assert "claimed side" in family_verdict(neg, neg).reason


def test_m1_test_reads_the_learned_only_sensitivity_and_round_trips() -> None:
    """A headline carried by the networks at chance: accuracy falls with distance only because
    the far networks never learned; among those that learned the relation is reversed."""
    from criticality.experiments.zoo.m1 import M1Test, m1_test

    fam = [f"f{i // 2}" for i in range(40)]
    dist = np.arange(40, dtype=float)
    acc = np.where(dist < 20, 60.0 + dist, 10.0 - 0.01 * dist)  # far half stays at chance
    t = m1_test(dist, acc, fam, acc, params=dist[::-1] + 1, depth=np.ones(40) + dist % 3,
                x_name="|λ_1|", y_name="accuracy")  # fmt: skip
    assert t.headline.rho < 0 and t.headline.ci_high < 0
    assert t.learned.rho == pytest.approx(1.0) and t.n_learned == 20
    assert t.verdict == "inconclusive" and "floor" in t.reason
    again = M1Test.from_dict(t.to_dict())
    assert again == t
    old = t.to_dict()
    old["schema"] = 0
    with pytest.raises(ValueError, match="schema"):
        M1Test.from_dict(old)


def test_bootstraps_of_within_and_partial_equal_the_expanded_resamples() -> None:
    """The vectorised bootstraps (cluster sums; weighted ranks and least squares) give, draw
    for draw, what the expanded resample gives: one draw per seed (its interval is the draw)
    against a direct computation on the concatenated clusters."""
    from criticality.stats import _cluster_counts

    rng = np.random.default_rng(8)
    g = np.repeat(np.arange(6), 3).astype(str)
    x, y, z = rng.normal(size=18), rng.normal(size=18), rng.normal(size=18)
    labels = np.unique(g)
    for seed in range(5):
        counts = _cluster_counts(g, 1, seed)[0][0]
        copies = [np.flatnonzero(g == labels[c]) for c in range(6) for _ in range(int(counts[c]))]
        num = sa = sb = 0.0
        for m in copies:  # within: each copy of a cluster is ranked on its own
            ra, rb = sps.rankdata(x[m]), sps.rankdata(y[m])
            ra, rb = ra - ra.mean(), rb - rb.mean()
            num, sa, sb = num + (ra * rb).sum(), sa + (ra**2).sum(), sb + (rb**2).sum()
        w = within_cluster_spearman(x, y, g, n_boot=1, seed=seed)
        assert w.ci_low == pytest.approx(num / np.sqrt(sa * sb), abs=1e-12)
        idx = np.concatenate(copies)  # partial: ranks and OLS of the expanded sample
        rx, ry, rz = (sps.rankdata(v[idx]) for v in (x, y, z))
        d = np.column_stack([np.ones(idx.size), rz])
        ea = rx - d @ np.linalg.lstsq(d, rx, rcond=None)[0]
        eb = ry - d @ np.linalg.lstsq(d, ry, rcond=None)[0]
        want = (ea * eb).sum() / np.sqrt((ea**2).sum() * (eb**2).sum())
        p = partial_spearman(x, y, [z], clusters=g, n_boot=1, seed=seed)
        assert p.ci_low == pytest.approx(want, abs=1e-10)
