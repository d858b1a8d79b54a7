"""The exactly solvable case of model collapse: a Gaussian refitted to its own samples.

Generation 0 fits ``N(μ_0, Σ_0)`` to ``N`` draws of the real distribution ``N(0, I_d)``;
generation ``g`` fits to ``N`` draws of generation ``g − 1`` (``"replace"``) or to the real
draws plus the draws of every earlier generation (``"accumulate"``, ``(g + 1) N`` points). The
fit is the sample mean and either the maximum-likelihood covariance (divide by the number of
points ``M``) or the unbiased one (divide by ``M − 1``). Shumailov et al. (Nature 631, 2024,
their Gaussian example) show that under replacement the variance goes to 0 and the mean wanders;
Gerstgrasser et al. (2024) show that accumulating keeps the error bounded.

Closed forms (``σ² = 1``; ``D = N`` for the MLE, ``N − 1`` for the unbiased estimator; ``ψ``, ``ψ'``
the digamma and trigamma functions; ``v_g`` any diagonal entry of ``Σ_g``, ``v_{−1} = 1``):

* replace: ``Σ_g = Σ_{g−1}^{½} W_g Σ_{g−1}^{½} / D`` with ``W_g ~ Wishart(N − 1, I)``, so
  ``E v_g = ((N − 1)/D)^{g+1}`` and
  ``E ln det Σ_g = (g + 1) (Σ_{i<d} ψ((N − 1 − i)/2) + d ln 2 − d ln D)``,
  ``Var ln det Σ_g = (g + 1) Σ_{i<d} ψ'((N − 1 − i)/2)``; the log-variance drifts down for both
  estimators (the unbiased one keeps ``E v_g = 1`` while ``v_g → 0`` almost surely).
  The mean is a random walk: ``E ‖μ_g‖² = (d/N) Σ_{i=0}^{g} E v_{i−1}`` (bounded by ``d`` for the
  MLE, ``d (g + 1)/N`` for the unbiased estimator).
* accumulate: with ``ε_i`` the deviation of batch ``i``'s mean from the mean that drew it,
  ``μ_g = Σ_{i≤g} ε_i/(i + 1)``, so ``E ‖μ_g‖² = (d/N) Σ_{i=0}^{g} E v_{i−1}/(i + 1)²
  < (π²/6) d/N`` (Gerstgrasser's bound: ``E v ≤ 1`` for both estimators), and the pooled sum of
  squares gives ``E v_g = Σ_{k=0}^{g} E v_{k−1} (N − 1/(k + 1)) / M_g`` with ``M_g = (g + 1) N``
  (MLE) or ``(g + 1) N − 1`` (unbiased). For the MLE this telescopes to
  ``E v_g = Π_{k=1}^{g+1} (1 − 1/(N k²))``, which converges (it does not keep decaying) to
  Euler's product ``sin(π/√N)/(π/√N)`` (0.8434 at ``N = 10``): :func:`accumulate_variance_limit`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

import numpy as np
from scipy import special, stats

Estimator = Literal["mle", "unbiased"]
Mode = Literal["replace", "accumulate"]


@dataclasses.dataclass(frozen=True)
class GaussianGenerations:
    """Per-run, per-generation Gaussian fits.

    Attributes:
        mean: fitted means ``μ_g``, shape ``(runs, generations + 1, dim)``; index 0 is the fit to
            the real data ``N(0, I)``.
        cov: fitted covariances ``Σ_g``, shape ``(runs, generations + 1, dim, dim)``.
        n_samples: points drawn per generation ``N``.
        estimator: ``"mle"`` or ``"unbiased"``.
        mode: ``"replace"`` or ``"accumulate"``.
        seed: seed of the draws.
    """

    mean: np.ndarray
    cov: np.ndarray
    n_samples: int
    estimator: str
    mode: str
    seed: int

    @property
    def variance(self) -> np.ndarray:
        """Mean diagonal entry ``tr Σ_g / d``, shape ``(runs, generations + 1)``."""
        return np.trace(self.cov, axis1=-2, axis2=-1) / self.cov.shape[-1]

    @property
    def log_det(self) -> np.ndarray:
        """``ln det Σ_g`` (``ln v_g`` in one dimension), shape ``(runs, generations + 1)``."""
        return np.linalg.slogdet(self.cov)[1]

    @property
    def mean_error(self) -> np.ndarray:
        """``‖μ_g − 0‖²``, the squared drift of the mean, shape ``(runs, generations + 1)``."""
        return (self.mean**2).sum(axis=-1)

    def tail_mass(self, q: float = 0.05, *, n_draws: int = 4096, seed: int = 0) -> np.ndarray:
        """Mass each fit puts where the real density is in its lowest ``q`` (the real tails).

        The region is ``‖x‖² > χ²_{d, 1−q}``; under the real ``N(0, I)`` it holds mass ``q``.
        Exact in one dimension (normal CDF); by ``n_draws`` seeded draws per fit otherwise.

        Returns:
            Shape ``(runs, generations + 1)``.
        """
        dim = self.mean.shape[-1]
        radius2 = float(stats.chi2.ppf(1.0 - q, dim))
        if dim == 1:
            mu, sd = self.mean[..., 0], np.sqrt(self.cov[..., 0, 0])
            r = math.sqrt(radius2)
            return np.asarray(stats.norm.sf((r - mu) / sd) + stats.norm.cdf((-r - mu) / sd))
        rng = np.random.default_rng(seed)
        z = rng.standard_normal((n_draws, dim))  # (n, d)
        chol = np.linalg.cholesky(self.cov)  # (R, G+1, d, d)
        x = self.mean[..., None, :] + np.einsum("rgij,nj->rgni", chol, z)  # (R, G+1, n, d)
        return np.asarray(((x**2).sum(axis=-1) > radius2).mean(axis=-1))


def gaussian_generations(
    n_samples: int,
    generations: int,
    *,
    dim: int = 1,
    estimator: Estimator = "mle",
    mode: Mode = "replace",
    runs: int = 1,
    seed: int = 0,
) -> GaussianGenerations:
    """Refit a Gaussian to its own samples for ``generations`` generations, ``runs`` times.

    Args:
        n_samples: points ``N`` drawn per generation (the real data of generation 0, too);
            more than ``dim``.
        generations: refits after generation 0.
        dim: dimension ``d`` of the real distribution ``N(0, I_d)``.
        estimator: ``"mle"`` (covariance divided by the number of points ``M``) or
            ``"unbiased"`` (by ``M − 1``).
        mode: ``"replace"`` (fit only the newest draws) or ``"accumulate"`` (the real draws and
            every generation's draws so far).
        runs: independent repetitions, vectorised.
        seed: seed of all draws.

    Returns:
        A :class:`GaussianGenerations`; see the module docstring for its closed forms.

    Example:
        >>> res = gaussian_generations(10, 3, runs=2)
        >>> res.mean.shape, res.cov.shape
        ((2, 4, 1), (2, 4, 1, 1))
    """
    _check(n_samples, generations, dim, estimator, mode, runs)
    rng = np.random.default_rng(seed)
    mean = np.zeros((runs, generations + 1, dim))
    cov = np.zeros((runs, generations + 1, dim, dim))
    mu, chol = np.zeros((runs, dim)), np.broadcast_to(np.eye(dim), (runs, dim, dim))
    pool_mean = np.zeros((runs, dim))  # mean of the pool so far (accumulate)
    scatter = np.zeros((runs, dim, dim))  # Σ (x − mean)(x − mean)ᵀ over the pool
    count = 0
    for g in range(generations + 1):
        z = rng.standard_normal((runs, n_samples, dim))
        x = mu[:, None, :] + np.einsum("rij,rnj->rni", chol, z)  # (R, N, d)
        # Centred sums (Chan et al.'s pooled update): a variance far below the mean's square
        # (hundreds of generations of collapse) loses no precision, as Σ xxᵀ − M μμᵀ would.
        batch_mean = x.mean(axis=1)
        dev = x - batch_mean[:, None, :]
        batch_scatter = np.einsum("rni,rnj->rij", dev, dev)
        if mode == "replace" or count == 0:
            pool_mean, scatter, count = batch_mean, batch_scatter, n_samples
        else:
            delta = batch_mean - pool_mean
            both = count + n_samples
            scatter = (
                scatter
                + batch_scatter
                + np.einsum("ri,rj->rij", delta, delta) * (count * n_samples / both)
            )
            pool_mean = pool_mean + delta * (n_samples / both)
            count = both
        mu = pool_mean  # (R, d)
        sigma = scatter / (count if estimator == "mle" else count - 1)
        sigma = 0.5 * (sigma + np.swapaxes(sigma, -1, -2))
        mean[:, g], cov[:, g] = mu, sigma
        chol = np.linalg.cholesky(sigma)
    return GaussianGenerations(mean, cov, n_samples, estimator, mode, seed)


def _check(n: int, generations: int, dim: int, estimator: str, mode: str, runs: int) -> None:
    if dim < 1 or runs < 1 or generations < 0:
        raise ValueError(
            f"need dim >= 1, runs >= 1 and generations >= 0; got dim={dim}, runs={runs}, "
            f"generations={generations}"
        )
    if n <= dim:
        raise ValueError(
            f"n_samples={n} must exceed dim={dim} for a full-rank covariance; draw more points"
        )
    if estimator not in ("mle", "unbiased"):
        raise ValueError(f"estimator must be 'mle' or 'unbiased', got {estimator!r}")
    if mode not in ("replace", "accumulate"):
        raise ValueError(
            f"mode must be 'replace' or 'accumulate' for the exact Gaussian, got {mode!r}; the "
            "'mixed' mode is offered by run_generations for the other models"
        )


def _divisor(n: int, g: int, estimator: str, mode: str) -> int:
    m = n if mode == "replace" else (g + 1) * n
    return m if estimator == "mle" else m - 1


def expected_variance(
    n_samples: int, generations: int, *, estimator: Estimator = "mle", mode: Mode = "replace"
) -> np.ndarray:
    """``E v_g``: expected diagonal entry of ``Σ_g`` (the real variance is 1), shape ``(G + 1,)``.

    Exact for both modes (see the module docstring); it does not depend on the dimension.
    """
    _check(n_samples, generations, 1, estimator, mode, 1)
    n, out, prev = n_samples, np.zeros(generations + 1), [1.0]  # prev[k] = E v_{k−1}
    for g in range(generations + 1):
        if mode == "replace":
            out[g] = prev[-1] * (n - 1) / _divisor(n, g, estimator, mode)
        else:
            ss = sum(prev[k] * (n - 1.0 / (k + 1)) for k in range(g + 1))
            out[g] = ss / _divisor(n, g, estimator, mode)
        prev.append(out[g])
    return out


def expected_log_det(
    n_samples: int, generations: int, *, dim: int = 1, estimator: Estimator = "mle"
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of ``ln det Σ_g`` under ``"replace"``, shapes ``(G + 1,)`` each.

    ``ln det Σ_g`` is a sum of ``g + 1`` independent terms ``ln det(W/D)``, ``W ~ Wishart(N − 1,
    I_d)``, each with mean ``Σ_{i<d} ψ((N − 1 − i)/2) + d ln(2/D)`` and variance
    ``Σ_{i<d} ψ'((N − 1 − i)/2)`` (Bartlett decomposition: independent ``χ²_{N−1−i}`` factors).
    """
    _check(n_samples, generations, dim, estimator, "replace", 1)
    half = (n_samples - 1 - np.arange(dim)) / 2.0
    d_ = _divisor(n_samples, 0, estimator, "replace")
    step_mean = float(special.digamma(half).sum() + dim * math.log(2.0 / d_))
    step_var = float(special.polygamma(1, half).sum())
    g1 = np.arange(1, generations + 2, dtype=np.float64)
    return g1 * step_mean, g1 * step_var


def expected_mean_error(
    n_samples: int,
    generations: int,
    *,
    dim: int = 1,
    estimator: Estimator = "mle",
    mode: Mode = "replace",
) -> np.ndarray:
    """``E ‖μ_g‖²``, the expected squared drift of the mean, shape ``(G + 1,)``."""
    v = expected_variance(n_samples, generations, estimator=estimator, mode=mode)
    v_prev = np.concatenate([[1.0], v[:-1]])  # E v_{i−1}: the variance that drew batch i
    i = np.arange(generations + 1)
    weight = np.ones_like(v_prev) if mode == "replace" else 1.0 / (i + 1.0) ** 2
    return dim * np.cumsum(weight * v_prev) / n_samples


def accumulate_bound(n_samples: int, *, dim: int = 1) -> float:
    """Gerstgrasser et al.'s bound under ``"accumulate"``: ``E ‖μ_g‖² < (π²/6) d / N`` for all g."""
    return math.pi**2 / 6.0 * dim / n_samples


def accumulate_variance_limit(n_samples: int) -> float:
    """``lim_{g→∞} E v_g`` under ``"accumulate"`` with the MLE: ``sin(π/√N)/(π/√N)``.

    ``E v_g = E v_{g−1} (1 − 1/(N (g + 1)²))`` (from the pooled sum of squares), so
    ``E v_g = Π_{k=1}^{g+1} (1 − 1/(N k²))`` and Euler's product
    ``Π_k (1 − x²/k²) = sin(πx)/(πx)`` at ``x = 1/√N`` gives the limit.

    >>> round(accumulate_variance_limit(10), 4)
    0.8434
    """
    if n_samples < 2:
        raise ValueError(f"n_samples must be at least 2, got {n_samples}")
    x = math.pi / math.sqrt(n_samples)
    return math.sin(x) / x
