"""A Gaussian mixture (scikit-learn, fitted by EM) refitted to its own samples.

Shumailov et al. (2024) fit mixtures by EM to their own samples and watch the fit lose the
structure of the data. The real distribution here is a fixed 2-D mixture whose components have
unequal weights (:data:`TRUE_WEIGHTS`), so that its rarest component is a tail that can vanish.
Scores: the log of the squared L2 distance between the fit and the real mixture (lower is
better; closed form, :func:`mixture_l2`; the reference plots this distance to generation 0 on a
log scale), the mean log-likelihood of held-out real points under the fit (higher is better, but
heavy-tailed once a component has collapsed: one point far from a needle-thin component costs
thousands of nats), the mass the samples put in the rarest real component, and the mass they
put in the real tails (where the real density is below its 5 % quantile; 0.05 for real data).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import stats
from scipy.special import logsumexp

TRUE_WEIGHTS = np.array([0.35, 0.25, 0.2, 0.12, 0.06, 0.02])
"""Weights of the real mixture's components (the last one is the rarest tail)."""
TRUE_MEANS = np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 4.0], [4.0, 4.0], [-4.0, 2.0], [2.0, -4.0]])
TRUE_SCALES = np.array([1.0, 0.8, 0.8, 0.6, 0.5, 0.4])
"""Isotropic standard deviation of each real component."""


def true_log_density(x: np.ndarray) -> np.ndarray:
    """Log-density of the real mixture at points ``x`` (shape ``(N, 2)``), shape ``(N,)``."""
    parts = np.stack(
        [
            np.log(w) + stats.multivariate_normal(m, s**2 * np.eye(2)).logpdf(x)
            for w, m, s in zip(TRUE_WEIGHTS, TRUE_MEANS, TRUE_SCALES, strict=True)
        ],
        axis=-1,
    )  # (N, K)
    return np.asarray(logsumexp(parts, axis=-1))


def true_component(x: np.ndarray) -> np.ndarray:
    """Most probable real component of each point, shape ``(N,)``."""
    parts = np.stack(
        [
            np.log(w) + stats.multivariate_normal(m, s**2 * np.eye(2)).logpdf(x)
            for w, m, s in zip(TRUE_WEIGHTS, TRUE_MEANS, TRUE_SCALES, strict=True)
        ],
        axis=-1,
    )
    return np.asarray(parts.argmax(axis=-1))


def sample_true_mixture(n: int, *, seed: int = 0) -> torch.Tensor:
    """``n`` points of the real mixture, float64 tensor of shape ``(n, 2)`` (seeded)."""
    rng = np.random.default_rng(seed)
    comp = rng.choice(len(TRUE_WEIGHTS), size=n, p=TRUE_WEIGHTS)
    x = TRUE_MEANS[comp] + TRUE_SCALES[comp, None] * rng.standard_normal((n, 2))
    return torch.from_numpy(x)


Params = tuple[np.ndarray, np.ndarray, np.ndarray]


def _cross(a: Params, b: Params) -> float:
    """``∫ p_a p_b = Σ_ij w_i v_j N(μ_i − ν_j; 0, Σ_i + Λ_j)``."""
    total = 0.0
    for wi, mi, ci in zip(*a, strict=True):
        for wj, mj, cj in zip(*b, strict=True):
            total += wi * wj * stats.multivariate_normal(np.zeros(len(mi)), ci + cj).pdf(mi - mj)
    return float(total)


def mixture_l2(a: Params, b: Params) -> float:
    """Squared L2 distance ``∫ (p_a − p_b)²`` of two Gaussian mixtures, in closed form.

    The reference notebook's divergence from generation 0 (``curse_recurse``,
    ``Normals_GMM_experiments.ipynb``, ``L2_of_gmms``), plotted over 2,050 refits.
    """
    return _cross(a, a) + _cross(b, b) - 2.0 * _cross(a, b)


def mixture_covariance(weights: np.ndarray, means: np.ndarray, covs: np.ndarray) -> np.ndarray:
    """The covariance of a mixture, ``Σ_k w_k (Σ_k + μ_k μ_kᵀ) − μ̄ μ̄ᵀ``, shape ``(D, D)``."""
    mean = weights @ means
    second = np.einsum("k,kij->ij", weights, covs + np.einsum("ki,kj->kij", means, means))
    return np.asarray(second - np.outer(mean, mean))


class GMMLearner:
    """A ``GaussianMixture`` with full covariances behind the recursion's learner protocol.

    Args:
        n_components: mixture components of the fit (the real mixture has 6).
        init_seed: seed of EM's initialisation (k-means).
        tail_quantile: the real tails are where the real log-density is below this quantile.
    """

    def __init__(self, n_components: int = 6, *, init_seed: int = 0, tail_quantile: float = 0.05):
        from sklearn.mixture import GaussianMixture

        self.model = GaussianMixture(
            n_components, covariance_type="full", random_state=init_seed, max_iter=200
        )
        self.tail_quantile = tail_quantile

    def fit(self, data: torch.Tensor, *, seed: int, checkpoint_dir: Path | None = None) -> None:
        from sklearn.exceptions import ConvergenceWarning

        with warnings.catch_warnings():
            # Non-convergence is recorded in the scores ("converged"), not raised.
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.model.fit(data.double().numpy())

    def sample(self, n: int, *, seed: int) -> torch.Tensor:
        self.model.random_state = np.random.RandomState(seed % 2**32)
        x, _ = self.model.sample(n)  # grouped by component: shuffle
        order = np.random.default_rng(seed).permutation(n)
        return torch.from_numpy(np.ascontiguousarray(x[order]))

    def evaluate(
        self, real_test: torch.Tensor, samples: torch.Tensor, reference: Any | None
    ) -> dict[str, Any]:
        real, gen = real_test.double().numpy(), samples.double().numpy()
        real_logp = true_log_density(real)
        cut = float(np.quantile(real_logp, self.tail_quantile))
        rare = len(TRUE_WEIGHTS) - 1
        first = self if reference is None else reference
        truth = (TRUE_WEIGHTS, TRUE_MEANS, np.array([s**2 * np.eye(2) for s in TRUE_SCALES]))
        return {
            "test_loglik": float(self.model.score(real)),
            "log_l2_to_true": float(np.log(mixture_l2(self.params(), truth))),
            "l2_to_gen0": mixture_l2(self.params(), first.params()),
            "log_det_cov": float(np.linalg.slogdet(mixture_covariance(*self.params()))[1]),
            "tail_mass": float((true_log_density(gen) < cut).mean()),
            "rare_component_mass": float((true_component(gen) == rare).mean()),
            "sample_true_loglik": float(true_log_density(gen).mean()),
            "sample_std": float(gen.std(axis=0).mean()),
            "converged": bool(getattr(self.model, "converged_", True)),
        }

    def params(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(weights (K,), means (K, 2), covariances (K, 2, 2))`` of the fit."""
        m = self.model
        return m.weights_, m.means_, m.covariances_

    def state_dict(self) -> dict[str, Any]:
        # Tensors, so that a saved state loads with ``torch.load(weights_only=True)``.
        m = self.model
        return {
            k: torch.from_numpy(np.asarray(getattr(m, k)))
            for k in ("weights_", "means_", "covariances_")
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        m = self.model
        m.weights_, m.means_, m.covariances_ = (
            np.asarray(state[k], dtype=np.float64) for k in ("weights_", "means_", "covariances_")
        )
        m.precisions_cholesky_ = np.linalg.cholesky(np.linalg.inv(m.covariances_))
        # A warm start: EM of the next fit begins at these parameters instead of k-means.
        m.weights_init, m.means_init = m.weights_, m.means_
        m.precisions_init = np.linalg.inv(m.covariances_)
