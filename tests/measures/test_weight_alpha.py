"""weight_alpha: the powerlaw fit of the same eigenvalues, conv pooling, and WeightWatcher."""

from __future__ import annotations

import contextlib
import io
import logging
import warnings

import numpy as np
import powerlaw
import pytest
import torch
from torch import nn

from criticality.measures import weight_alpha
from criticality.measures.weight_alpha import eigenvalues


def heavy_tailed_mlp(seed: int = 0) -> nn.Sequential:
    """Linear layers with Student-t (ν = 2.5) weights: power-law tailed spectra."""
    gen = torch.Generator().manual_seed(seed)
    t = torch.distributions.StudentT(torch.tensor(2.5, dtype=torch.float64))
    layers: list[nn.Module] = []
    for out, inp in [(300, 200), (200, 200), (400, 100), (200, 300)]:
        lin = nn.Linear(inp, out, dtype=torch.float64)
        torch.manual_seed(int(torch.randint(0, 2**31, (1,), generator=gen)))
        lin.weight.data = t.sample((out, inp)) / inp**0.5
        layers += [lin, nn.Tanh()]
    return nn.Sequential(*layers)


def _powerlaw_fit(evals: np.ndarray) -> tuple[float, float]:
    """``(α, λ_min)`` straight from ``powerlaw`` (its fits are lazy: read them inside)."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        fit = powerlaw.Fit(evals, verbose=False)
        return float(fit.power_law.alpha), float(fit.xmin)


def test_alpha_is_the_powerlaw_fit_of_the_same_eigenvalues() -> None:
    net = heavy_tailed_mlp()
    res = weight_alpha(net)
    linears = [m for m in net if isinstance(m, nn.Linear)]
    assert res.layer_names == ("0.weight", "2.weight", "4.weight", "6.weight")
    for i, lin in enumerate(linears):
        evals = np.linalg.svd(lin.weight.detach().numpy(), compute_uv=False) ** 2
        alpha, xmin = _powerlaw_fit(np.sort(evals))
        assert res.layer_alpha[i] == pytest.approx(alpha, rel=1e-9)
        assert res.layer_xmin[i] == pytest.approx(xmin, rel=1e-9)
        assert res.layer_n_evals[i] == min(lin.weight.shape)
    assert 1.5 < res.alpha.mean < 6.0
    assert res.stage_profile() is None


def test_conv_kernels_pool_one_matrix_per_kernel_position() -> None:
    w = torch.randn(8, 5, 3, 2, dtype=torch.float64)
    expected = np.sort(
        np.concatenate(
            [
                np.linalg.svd(w[:, :, i, j].numpy(), compute_uv=False) ** 2
                for i in range(3)
                for j in range(2)
            ]
        )
    )
    assert np.allclose(eigenvalues(w), expected, rtol=1e-12)


def test_small_layers_are_skipped_with_a_reason() -> None:
    net = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 200), nn.Linear(200, 100))
    res = weight_alpha(net, min_evals=50)
    assert res.layer_names == ("2.weight",)
    assert len(res.skipped) == 2 and "min_evals=50" in res.skipped[0]
    with pytest.raises(ValueError, match="min_evals"):
        weight_alpha(nn.Sequential(nn.Linear(4, 3)), min_evals=50)


def test_against_weightwatcher() -> None:
    """Same α where both pick the same λ_min; otherwise WeightWatcher's α is the MLE at its own
    λ_min, which our fit reproduces when given that λ_min: the two differ only in λ_min."""
    ww = pytest.importorskip("weightwatcher")
    logging.getLogger("weightwatcher").setLevel(logging.ERROR)
    net = heavy_tailed_mlp()
    ours = weight_alpha(net)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        details = ww.WeightWatcher(model=net).analyze()
    assert len(details) == len(ours.layer_names)
    linears = [m for m in net if isinstance(m, nn.Linear)]
    same_xmin = 0
    for i, row in enumerate(details.itertuples()):
        evals = eigenvalues(linears[i].weight)
        # WeightWatcher's SVD runs in float32: its eigenvalues differ from ours by ~1e-7
        # relative, so its λ_min is matched to the nearest of our eigenvalues
        xmin = evals[np.argmin(np.abs(evals - row.xmin))]
        assert xmin == pytest.approx(row.xmin, rel=1e-6)
        tail = evals[evals >= xmin]
        mle = 1 + tail.size / np.log(tail / xmin).sum()  # Clauset et al. (3.1), both use it
        assert mle == pytest.approx(row.alpha, rel=1e-5)
        if ours.layer_xmin[i] == xmin:
            same_xmin += 1
            assert ours.layer_alpha[i] == pytest.approx(row.alpha, rel=1e-6)
    assert same_xmin >= 1
