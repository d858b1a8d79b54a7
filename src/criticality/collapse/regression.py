"""Linear regression fitted to its predecessor's labels (Gerstgrasser et al. 2024, §2).

The set-up of Dohmatob et al. (2024) that Gerstgrasser et al. analyse: a design ``X`` of ``T``
rows drawn from ``N(0, I_d)``, true weights ``w*``, labels with Gaussian noise of variance
``σ²``. Generation 0 is ordinary least squares on real labels ``y_0 = X w* + ε_0``; generation
``g`` relabels the design with the previous fit, ``y_g = X ŵ_{g−1} + ε_g``, and fits either the
newest labels (``"replace"``) or all labelled copies so far (``"accumulate"``). The test error
on fresh isotropic inputs is ``‖ŵ_g − w*‖²`` (the excess over the noise floor σ²).

With a fixed design the fits telescope: replace gives ``ŵ_g − w* = Σ_{k≤g} (XᵀX)⁻¹Xᵀε_k``,
accumulate gives ``ŵ_g − w* = Σ_{k≤g} (XᵀX)⁻¹Xᵀε_k / (k + 1)``, so

* ``E[‖ŵ_g − w*‖² | X] = σ² tr((XᵀX)⁻¹) Σ_{k≤g} c_k`` with ``c_k = 1`` (replace: linear growth)
  or ``c_k = 1/(k + 1)²`` (accumulate: bounded by ``π²/6`` times generation 0's error);
* ``E tr((XᵀX)⁻¹) = d / (T − d − 1)`` (mean of an inverse Wishart matrix).

With ``design="fresh"`` every generation draws a new ``X``; replace then keeps the same expected
error (independent terms), accumulate has no simple closed form and is only simulated.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

import numpy as np

Mode = Literal["replace", "accumulate"]
Design = Literal["fixed", "fresh"]


@dataclasses.dataclass(frozen=True)
class RegressionGenerations:
    """Per-run, per-generation least-squares fits.

    Attributes:
        weights: fitted ``ŵ_g``, shape ``(runs, generations + 1, dim)``.
        true_weights: ``w*`` of each run, shape ``(runs, dim)``.
        trace_inv: ``tr((XᵀX)⁻¹)`` of generation 0's design, shape ``(runs,)``.
        n_train: rows ``T`` per generation.
        noise: label noise standard deviation ``σ``.
        mode: ``"replace"`` or ``"accumulate"``.
        design: ``"fixed"`` or ``"fresh"``.
        seed: seed of all draws.
    """

    weights: np.ndarray
    true_weights: np.ndarray
    trace_inv: np.ndarray
    n_train: int
    noise: float
    mode: str
    design: str
    seed: int

    @property
    def test_error(self) -> np.ndarray:
        """``‖ŵ_g − w*‖²``: excess test error on isotropic inputs, shape ``(runs, G + 1)``."""
        return ((self.weights - self.true_weights[:, None, :]) ** 2).sum(axis=-1)


def regression_generations(
    n_train: int,
    generations: int,
    *,
    dim: int = 10,
    noise: float = 1.0,
    mode: Mode = "replace",
    design: Design = "fixed",
    runs: int = 1,
    seed: int = 0,
) -> RegressionGenerations:
    """Refit least squares to the previous fit's noisy labels, ``runs`` times (vectorised).

    Args:
        n_train: rows ``T`` of each generation's design; more than ``dim + 1``.
        generations: refits after generation 0.
        dim: input dimension ``d``.
        noise: label noise ``σ`` of every generation.
        mode: ``"replace"`` or ``"accumulate"``.
        design: ``"fixed"`` (the same ``X`` every generation, as analysed by Gerstgrasser et
            al.) or ``"fresh"`` (a new ``X`` each generation).
        runs: independent repetitions.
        seed: seed of all draws.

    Returns:
        A :class:`RegressionGenerations`.
    """
    if n_train <= dim + 1:
        raise ValueError(f"n_train={n_train} must exceed dim + 1 = {dim + 1} for finite errors")
    if mode not in ("replace", "accumulate") or design not in ("fixed", "fresh"):
        raise ValueError(
            f"mode must be 'replace' or 'accumulate' and design 'fixed' or 'fresh', got "
            f"mode={mode!r}, design={design!r}"
        )
    if generations < 0 or runs < 1 or noise < 0:
        raise ValueError("need generations >= 0, runs >= 1 and noise >= 0")
    rng = np.random.default_rng(seed)
    w_true = rng.standard_normal((runs, dim)) / math.sqrt(dim)
    x = rng.standard_normal((runs, n_train, dim))
    trace_inv = np.trace(np.linalg.inv(_gram(x)), axis1=-2, axis2=-1)
    weights = np.zeros((runs, generations + 1, dim))
    gram, moment, w = np.zeros((runs, dim, dim)), np.zeros((runs, dim)), w_true
    for g in range(generations + 1):
        if design == "fresh" and g > 0:
            x = rng.standard_normal((runs, n_train, dim))
        y = np.einsum("rtd,rd->rt", x, w) + noise * rng.standard_normal((runs, n_train))
        if mode == "replace":
            gram, moment = np.zeros_like(gram), np.zeros_like(moment)
        gram = gram + _gram(x)
        moment = moment + np.einsum("rtd,rt->rd", x, y)
        w = np.linalg.solve(gram, moment[..., None])[..., 0]  # OLS on the pooled rows
        weights[:, g] = w
    return RegressionGenerations(
        weights, w_true, trace_inv, n_train, float(noise), mode, design, seed
    )


def _gram(x: np.ndarray) -> np.ndarray:
    return np.einsum("rti,rtj->rij", x, x)  # (R, d, d)


def expected_test_error(
    n_train: int,
    generations: int,
    *,
    dim: int = 10,
    noise: float = 1.0,
    mode: Mode = "replace",
    trace_inv: float | None = None,
) -> np.ndarray:
    """``E ‖ŵ_g − w*‖²`` for a fixed design, shape ``(G + 1,)``.

    Args:
        n_train: rows ``T``.
        generations: refits after generation 0.
        dim: input dimension ``d``.
        noise: label noise ``σ``.
        mode: ``"replace"`` (``σ² τ (g + 1)``) or ``"accumulate"`` (``σ² τ Σ_{k≤g} 1/(k+1)²``).
        trace_inv: ``τ = tr((XᵀX)⁻¹)`` of a given design (the conditional expectation); default
            its mean over Gaussian designs, ``d / (T − d − 1)``.
    """
    tau = dim / (n_train - dim - 1) if trace_inv is None else trace_inv
    k = np.arange(generations + 1, dtype=np.float64)
    c = np.ones_like(k) if mode == "replace" else 1.0 / (k + 1.0) ** 2
    return noise**2 * tau * np.cumsum(c)
