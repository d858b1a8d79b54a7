"""Static baseline: power-law exponent ``α`` of each layer's weight eigenvalue spectrum.

For a layer with weight matrix ``W`` (``N × M``), the empirical spectral density of
``X = Wᵀ W`` (eigenvalues ``λ_i = s_i²``, ``s_i`` the singular values of ``W``) has a heavy
tail ``p(λ) ∝ λ^{-α}`` for ``λ ≥ λ_min`` in well-trained layers. Heavy-Tailed
Self-Regularization (Martin & Mahoney 2021, J. Mach. Learn. Res. 22(165); Nat. Commun. 12:4122)
reads ``α ≈ 2`` as the best-trained, ``2 ≤ α ≤ 6`` as well trained, ``α > 6`` as random-like
and ``α < 2`` as over-fit. ``α`` and ``λ_min`` are fitted by continuous maximum likelihood with
``λ_min`` chosen to minimise the Kolmogorov–Smirnov distance (Clauset, Shalizi & Newman 2009,
SIAM Rev. 51:661), using the ``powerlaw`` package (Alstott et al. 2014). Convolution kernels
``(out, in, k_1, ...)`` are read as ``k_1 · ...`` matrices ``out × in`` whose eigenvalues are
pooled, as WeightWatcher does. This needs no inputs: it is the static view beside the
dynamical measures.

Differences from WeightWatcher (``weightwatcher`` 0.7, ``analyze()`` defaults), which reports the
same quantity, checked in ``tests/measures/test_weight_alpha.py``: (1) both use the same MLE
``α = 1 + n / Σ ln(λ_i / λ_min)`` and pick ``λ_min`` by the smallest KS distance, but
WeightWatcher's own fitter (``pl_package="ww"``) compares with the empirical CDF ``i/n`` while
``powerlaw`` uses its own convention; the KS curve is often flat, and the shift of up to ``1/n``
then moves the chosen ``λ_min``, and ``α`` with it by about its sampling error
``(α − 1)/√n_tail`` or more (on the four heavy-tailed test layers: equal on the one where the
two ``λ_min`` agree, 0.03–0.54 apart on the others); (2) WeightWatcher's SVD runs in float32, so its
eigenvalues differ from ours (float64) by about ``1e-7`` relative, which can move one
eigenvalue across ``λ_min``; (3) below 20 eigenvalues in the tail WeightWatcher switches to a
bias-corrected small-sample estimator; (4) it drops eigenvalues below ``1e-5`` (we drop those
below ``1e-12 · λ_max``) and skips layers with fewer than its ``min_evals``; (5) for
convolutions it rescales the pooled matrices (``conv2d_norm``), which leaves ``α`` unchanged.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import warnings

import numpy as np
import powerlaw
import torch
from torch import nn

from criticality.measures._perturb import check_count
from criticality.measures._registry import register_measure
from criticality.measures.prepared import ModelOrStages, NonFiniteError, check_inputs
from criticality.measures.results import Estimate, Result


@dataclasses.dataclass(frozen=True)
class WeightAlphaResult(Result):
    """Power-law exponents of the weight eigenvalue spectra, one per layer.

    Attributes:
        alpha: ``α`` summarised over the ``M`` fitted layers (mean, median, spread, CI).
        layer_alpha: ``α`` of each layer, shape ``(M,)``.
        layer_xmin: fitted ``λ_min`` of each layer, shape ``(M,)``.
        layer_ks: Kolmogorov–Smirnov distance of each fit, shape ``(M,)``.
        layer_n_tail: eigenvalues at or above ``λ_min``, shape ``(M,)``.
        layer_n_evals: eigenvalues of each layer, shape ``(M,)``.
        layer_names: names of the ``M`` layers.
        skipped: ``"name: reason"`` for each weight that was not fitted.
        min_evals: layers with fewer eigenvalues are skipped.
    """

    alpha: Estimate
    layer_alpha: np.ndarray
    layer_xmin: np.ndarray
    layer_ks: np.ndarray
    layer_n_tail: np.ndarray
    layer_n_evals: np.ndarray
    layer_names: tuple[str, ...]
    skipped: tuple[str, ...]
    min_evals: int

    def headline(self) -> Estimate:
        return self.alpha

    def describe(self) -> str:
        a = self.alpha.mean
        if a < 2:
            words = "heavier than the well-trained range (over-fit, in WeightWatcher's reading)"
        elif a <= 6:
            words = "in the well-trained range 2–6 of WeightWatcher's reading"
        else:
            words = "light-tailed, like random weights (under-trained, in WeightWatcher's reading)"
        n = len(self.layer_names)
        return f"mean weight-spectrum exponent α = {a:.2f} over {n} layers: {words}"


@register_measure(
    "weight_alpha",
    result_type=WeightAlphaResult,
    critical_value=2.0,
    summary="power-law exponent α of the weight eigenvalue spectra (static; α ≈ 2 read as best)",
)
def weight_alpha(
    model_or_stages: ModelOrStages,
    inputs: torch.Tensor | None = None,
    *,
    min_evals: int = 10,
    dtype: torch.dtype | None = None,
    seed: int = 0,
) -> WeightAlphaResult:
    """Per-layer power-law exponent ``α`` of the eigenvalues of ``WᵀW``.

    Args:
        model_or_stages: a model or a list of stages; every parameter named ``weight`` with two
            or more dimensions is a layer.
        inputs: not used (the measure is static); validated when given so that every measure
            accepts the same arguments.
        min_evals: skip layers with fewer eigenvalues than this (at least 3).
            The ``λ_min`` search of ``powerlaw`` tries every eigenvalue, O(n²): about 0.4 s
            at n = 200 and 4 s at n = 4,000 per layer on one core (≈ 50 s for ResNet-18).
        dtype: ignored: eigenvalues are always computed in float64.
        seed: seed of the bootstrap over layers.

    Returns:
        A :class:`WeightAlphaResult`; ``headline()`` is ``α`` over layers.

    Raises:
        TypeError: ``model_or_stages`` is not a module or a list of modules.
        ValueError: bad inputs, or no layer has ``min_evals`` eigenvalues.
    """
    del dtype  # eigenvalues are computed in float64 whatever the model's dtype
    check_count("min_evals", min_evals, 3)
    if inputs is not None:
        check_inputs(inputs)
    fits, skipped = [], []
    for name, w in _weights(model_or_stages):
        if w.device.type == "meta":
            raise ValueError(
                f"weight_alpha: {name} is on the meta device (no values); materialise the "
                "model first (model.to_empty(device='cpu'), then load its weights)"
            )
        if not bool(torch.isfinite(w).all()):
            raise NonFiniteError(
                f"weight_alpha: the weight {name} holds NaN or inf; the spectrum would be "
                "meaningless: check how the model was trained or loaded"
            )
        evals = eigenvalues(w)
        if evals.size < min_evals:
            skipped.append(f"{name}: {evals.size} eigenvalues < min_evals={min_evals}")
            continue
        fits.append((name, evals.size, *fit_alpha(evals)))
    if not fits:
        raise ValueError(
            f"no layer has at least min_evals={min_evals} eigenvalues; lower min_evals "
            f"(skipped: {'; '.join(skipped) or 'no weight matrices found'})"
        )
    names, n_evals, alphas, xmins, ks, n_tail = (np.array(c) for c in zip(*fits, strict=True))
    return WeightAlphaResult(
        alpha=Estimate.from_samples(alphas, seed=seed),
        layer_alpha=alphas.astype(np.float64),
        layer_xmin=xmins.astype(np.float64),
        layer_ks=ks.astype(np.float64),
        layer_n_tail=n_tail.astype(np.float64),
        layer_n_evals=n_evals.astype(np.float64),
        layer_names=tuple(str(n) for n in names),
        skipped=tuple(skipped),
        min_evals=min_evals,
    )


def eigenvalues(weight: torch.Tensor) -> np.ndarray:
    """Eigenvalues of ``WᵀW`` of a weight ``(out, in, *kernel)``, pooled over kernel positions.

    Returns the non-zero ones (above ``1e-12`` times the largest), sorted, float64.
    """
    w = weight.detach().to("cpu", torch.float64)
    mats = w.reshape(w.shape[0], w.shape[1], -1).permute(2, 0, 1)  # (K, out, in)
    evals = torch.linalg.svdvals(mats).pow(2).reshape(-1).numpy()
    evals = np.sort(evals)
    return evals[evals > 1e-12 * evals[-1]] if evals.size and evals[-1] > 0 else evals[:0]


def fit_alpha(evals: np.ndarray) -> tuple[float, float, float, int]:
    """``(α, λ_min, KS distance, n_tail)`` of a continuous power-law fit (``powerlaw``)."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        fit = powerlaw.Fit(evals, discrete=False, verbose=False)
        alpha, xmin, ks = float(fit.alpha), float(fit.xmin), float(fit.D)
    return alpha, xmin, ks, int(np.sum(evals >= xmin))


def _weights(model_or_stages: ModelOrStages) -> list[tuple[str, torch.Tensor]]:
    """``(name, weight)`` of every weight with two or more dimensions, without duplicates."""
    if isinstance(model_or_stages, nn.Module):
        named = [("", model_or_stages)]
    elif (
        isinstance(model_or_stages, (list, tuple))
        and all(isinstance(s, nn.Module) for s in model_or_stages)
        and model_or_stages
    ):
        named = [(getattr(s, "name", str(i)), s) for i, s in enumerate(model_or_stages)]
    else:
        raise TypeError(
            f"expected an nn.Module or a list of stages, got {type(model_or_stages).__name__}"
        )
    seen: set[int] = set()
    out: list[tuple[str, torch.Tensor]] = []
    for prefix, module in named:
        for name, p in module.named_parameters():
            if name.split(".")[-1] == "weight" and p.ndim >= 2 and id(p) not in seen:
                seen.add(id(p))
                out.append((f"{prefix}.{name}" if prefix else name, p))
    return out
