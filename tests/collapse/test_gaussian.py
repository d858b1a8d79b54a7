"""The exact Gaussian case against its closed forms (module docstring of collapse.gaussian)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from scipy import special

from criticality.collapse import (
    accumulate_bound,
    accumulate_variance_limit,
    expected_log_det,
    expected_mean_error,
    expected_variance,
    gaussian_generations,
)

RUNS = 20_000
N, G = 10, 20


def _z(samples: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """z-scores of the per-generation means of ``samples`` (runs, G+1) against ``expected``."""
    se = samples.std(axis=0, ddof=1) / math.sqrt(samples.shape[0])
    return (samples.mean(axis=0) - expected) / se


@pytest.mark.parametrize("estimator", ["mle", "unbiased"])
def test_expected_log_variance_per_generation(estimator: str) -> None:
    res = gaussian_generations(N, G, estimator=estimator, runs=RUNS, seed=1)
    mean, var = expected_log_det(N, G, estimator=estimator)
    # By hand: E ln(χ²_{N−1}/D) = ψ((N−1)/2) + ln 2 − ln D per generation, D = N or N − 1.
    d = N if estimator == "mle" else N - 1
    step = special.digamma((N - 1) / 2) + math.log(2) - math.log(d)
    np.testing.assert_allclose(mean, step * np.arange(1, G + 2), rtol=1e-12)
    assert step < 0  # the log-variance drifts down for both estimators
    z = (res.log_det.mean(axis=0) - mean) / np.sqrt(var / RUNS)
    assert np.abs(z).max() < 4.5, z
    # The spread matches too: Var ln v_g = (g + 1) ψ'((N − 1)/2).
    np.testing.assert_allclose(res.log_det.var(axis=0), var, rtol=0.05)
    # Tight: the standard error of the last generation is under 2 % of its drift.
    assert math.sqrt(var[-1] / RUNS) < 0.02 * abs(mean[-1])


@pytest.mark.parametrize("estimator", ["mle", "unbiased"])
@pytest.mark.parametrize("mode", ["replace", "accumulate"])
def test_expected_variance_and_mean_drift(estimator: str, mode: str) -> None:
    res = gaussian_generations(N, G, estimator=estimator, mode=mode, runs=RUNS, seed=2)
    ev = expected_variance(N, G, estimator=estimator, mode=mode)
    assert np.abs(_z(res.variance, ev)).max() < 4.5
    em = expected_mean_error(N, G, estimator=estimator, mode=mode)
    assert np.abs(_z(res.mean_error, em)).max() < 4.5
    if mode == "replace":
        c = (N - 1) / (N if estimator == "mle" else N - 1)
        np.testing.assert_allclose(ev, c ** np.arange(1, G + 2))
        # The mean is a random walk: E μ_g² = Σ_{i≤g} c^i / N (unbounded for c = 1).
        np.testing.assert_allclose(em, np.cumsum(c ** np.arange(G + 1)) / N)


def test_multivariate_log_det_and_variance() -> None:
    res = gaussian_generations(20, 8, dim=3, runs=5000, seed=3)
    mean, var = expected_log_det(20, 8, dim=3)
    assert np.abs((res.log_det.mean(axis=0) - mean) / np.sqrt(var / 5000)).max() < 4.5
    assert np.abs(_z(res.variance, expected_variance(20, 8))).max() < 4.5
    assert np.abs(_z(res.mean_error, expected_mean_error(20, 8, dim=3))).max() < 4.5
    # Off-diagonal entries have mean 0.
    off = res.cov[..., 0, 1]
    assert abs(off.mean()) < 4.5 * off.std() / math.sqrt(off.size)


@pytest.mark.parametrize("estimator", ["mle", "unbiased"])
def test_accumulate_keeps_the_mean_error_bounded(estimator: str) -> None:
    g = 200
    em = expected_mean_error(N, g, estimator=estimator, mode="accumulate")
    assert (em < accumulate_bound(N)).all()
    # E v_g <= 1 under accumulation for both estimators (the condition of the bound) ...
    assert (expected_variance(N, g, estimator=estimator, mode="accumulate") <= 1 + 1e-12).all()
    # ... while replacing with the unbiased estimator grows linearly without bound.
    replace = expected_mean_error(N, g, estimator="unbiased", mode="replace")
    assert replace[-1] == pytest.approx((g + 1) / N)
    res = gaussian_generations(N, 60, estimator=estimator, mode="accumulate", runs=4000, seed=4)
    upper = res.mean_error.mean(axis=0) + 4.5 * res.mean_error.std(axis=0) / math.sqrt(4000)
    assert (res.mean_error.mean(axis=0) < accumulate_bound(N) * 1.1).all()
    assert (upper > em[:61]).all()


def test_tail_mass_exact_in_one_dimension() -> None:
    res = gaussian_generations(10, 4, runs=3, seed=5)
    exact = res.tail_mass(0.05)
    # Monte Carlo through the general path (a 1-D result read as its own cov) agrees.
    rng = np.random.default_rng(0)
    x = res.mean[..., 0, None] + np.sqrt(res.cov[..., 0, 0, None]) * rng.standard_normal(200_000)
    mc = (np.abs(x) > 1.959963984540054).mean(axis=-1)
    np.testing.assert_allclose(exact, mc, atol=4e-3)
    # A fit equal to the real distribution puts exactly 5 % there.
    res0 = dataclasses.replace(res, mean=np.zeros_like(res.mean), cov=np.ones_like(res.cov))
    np.testing.assert_allclose(res0.tail_mass(0.05), 0.05)
    res0_2d = gaussian_generations(10, 1, dim=2, runs=2, seed=0)
    res0_2d = dataclasses.replace(
        res0_2d, mean=np.zeros_like(res0_2d.mean), cov=np.broadcast_to(np.eye(2), res0_2d.cov.shape)
    )
    np.testing.assert_allclose(res0_2d.tail_mass(0.05, n_draws=100_000), 0.05, atol=3e-3)


def test_bad_options_say_what_to_do() -> None:
    with pytest.raises(ValueError, match="must exceed dim"):
        gaussian_generations(3, 2, dim=3)
    with pytest.raises(ValueError, match="estimator"):
        gaussian_generations(10, 2, estimator="bayes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="mixed"):
        gaussian_generations(10, 2, mode="mixed")  # type: ignore[arg-type]


@pytest.mark.parametrize("n", [2, 10, 100])
def test_accumulate_variance_converges_to_eulers_product(n: int) -> None:
    limit = accumulate_variance_limit(n)
    g = 2000
    ev = expected_variance(n, g, estimator="mle", mode="accumulate")
    # the closed form's recursion telescopes to the partial product up to k = g + 1
    k = np.arange(1, 21)
    assert ev[19] == pytest.approx(np.prod(1 - 1 / (n * k**2)), rel=1e-12)
    # the rest of the product beyond K = g + 1 is about exp(-1/(N K)): it converges
    assert ev[-1] / limit - 1 == pytest.approx(1 / (n * (g + 1)), rel=0.01)
    assert limit < ev[-1] < ev[-2]
    if n == 10:
        assert limit == pytest.approx(0.8434, abs=5e-5)
    sim = gaussian_generations(n, 60, estimator="mle", mode="accumulate", runs=4000, seed=1)
    v = sim.variance[:, -1]
    # the simulated mean at generation 60 against the closed form (5 standard errors)
    assert abs(v.mean() - ev[60]) < 5 * v.std() / np.sqrt(len(v))


def test_hundreds_of_generations_keep_their_precision() -> None:
    # N = 10 for 200 generations: variances near 1e-20 beside means near 0.3, where
    # Σ xxᵀ − M μμᵀ would cancel to nonsense (and Cholesky fail); ln v follows its closed form
    res = gaussian_generations(10, 200, runs=2000, seed=0)
    expected, var = expected_log_det(10, 200)
    z = (res.log_det.mean(axis=0) - expected) / np.sqrt(var / 2000)
    assert np.abs(z).max() < 4.5
    acc = gaussian_generations(10, 200, mode="accumulate", runs=500, seed=0)
    assert np.isfinite(acc.log_det).all()
