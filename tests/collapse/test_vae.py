"""The VAE's ELBO and importance-weighted bound against a linear Gaussian VAE solved exactly."""

from __future__ import annotations

import math

import pytest
import torch

from criticality.collapse import VAE
from criticality.stages import compose, stages

D, K, S = 6, 2, 0.5  # data dim, latent dim, observation noise


def _linear_vae(exact: bool) -> tuple[VAE, torch.Tensor, torch.Tensor]:
    """A linear Gaussian VAE p(x|z) = N(Wz + b, s²I) with orthogonal-column W (so that the exact
    posterior has a diagonal covariance) and, with ``exact``, the exact posterior as encoder."""
    torch.manual_seed(0)
    vae = VAE((D,), latent=K, hidden=(), activation="identity", likelihood="gaussian", obs_std=S)
    vae = vae.double()
    q, _ = torch.linalg.qr(torch.randn(D, K, dtype=torch.float64))
    w = q * torch.tensor([2.0, 0.7], dtype=torch.float64)  # WᵀW = diag(4, 0.49)
    b = torch.randn(D, dtype=torch.float64)
    post_var = 1.0 / (1.0 + (w**2).sum(0) / S**2)  # diag of (I + WᵀW/s²)⁻¹
    a = post_var[:, None] * w.T / S**2  # posterior mean map, (K, D)
    with torch.no_grad():
        vae.decoder[0].weight.copy_(w)
        vae.decoder[0].bias.copy_(b)
        if exact:
            vae.mu.weight.copy_(a)
            vae.mu.bias.copy_(-a @ b)
            vae.logvar.weight.zero_()
            vae.logvar.bias.copy_(post_var.log())
        else:
            vae.mu.weight.copy_(0.5 * a)
            vae.logvar.weight.zero_()
            vae.logvar.bias.fill_(-1.0)
    return vae, w, b


def _log_marginal(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    cov = w @ w.T + S**2 * torch.eye(D, dtype=torch.float64)
    return torch.distributions.MultivariateNormal(b, cov).log_prob(x)


def _closed_form_elbo(vae: VAE, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """ELBO of the linear Gaussian VAE in closed form, shape ``(B,)``:
    E_q ln N(x; Wz + b, s²I) = −D/2 ln(2πs²) − (‖x − Wμ − b‖² + Σ_j ‖W_·j‖² σ_j²) / (2s²),
    minus KL(N(μ, σ²) ‖ N(0, I)) = ½ Σ_j (μ_j² + σ_j² − 1 − ln σ_j²)."""
    mu, logvar = vae.encode(x)
    var = logvar.exp()
    resid = ((x - mu @ w.T - b) ** 2).sum(1) + (var * (w**2).sum(0)).sum(1)
    rec = -0.5 * D * math.log(2 * math.pi * S**2) - resid / (2 * S**2)
    return rec - 0.5 * (mu**2 + var - 1 - logvar).sum(1)


def _mc_elbo(vae: VAE, x: torch.Tensor, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and standard error over ``n`` one-sample ELBO estimates of each input."""
    gen = torch.Generator().manual_seed(seed)
    est = vae.elbo(x.repeat_interleave(n, dim=0), generator=gen).reshape(len(x), n)
    return est.mean(1), est.std(1) / math.sqrt(n)


def test_exact_posterior_makes_the_bounds_equal_log_evidence() -> None:
    vae, w, b = _linear_vae(exact=True)
    x = torch.randn(8, D, dtype=torch.float64) * 2
    log_p = _log_marginal(x, w, b)
    # With q = p(z|x): ELBO = ln p(x) (closed form), and p(x, z)/q(z|x) = p(x) for every z, so
    # the importance-weighted bound has no Monte Carlo error at all.
    torch.testing.assert_close(_closed_form_elbo(vae, x, w, b), log_p, rtol=1e-10, atol=1e-10)
    gen = torch.Generator().manual_seed(1)
    torch.testing.assert_close(vae.iwae(x, k=5, generator=gen), log_p, rtol=1e-10, atol=1e-10)
    mean, se = _mc_elbo(vae, x, 20_000, seed=2)
    assert ((mean - log_p).abs() < 4.5 * se).all()


def test_elbo_matches_its_closed_form_and_bounds_are_ordered() -> None:
    vae, w, b = _linear_vae(exact=False)
    x = torch.randn(4, D, dtype=torch.float64)
    exact = _closed_form_elbo(vae, x, w, b)
    mean, se = _mc_elbo(vae, x, 20_000, seed=3)
    assert ((mean - exact).abs() < 4.5 * se).all()
    torch.manual_seed(5)
    loss = vae(x)  # the training loss: the one-sample negative ELBO from the global generator
    torch.manual_seed(5)
    torch.testing.assert_close(loss, -vae.elbo(x))
    iw = torch.stack(
        [vae.iwae(x, k=64, generator=torch.Generator().manual_seed(i)) for i in range(20)]
    ).mean(0)
    log_p = _log_marginal(x, w, b)
    assert (exact < iw).all() and (iw <= log_p + 1e-3).all()


def test_stages_are_the_autoencoder_chain() -> None:
    vae = VAE((1, 8, 8), latent=4, hidden=(16, 12)).double()
    chain = stages(vae)
    assert [s.name for s in chain] == ["1", "3", "mu", "decoder.0", "decoder.2", "decoder.4"]
    x = torch.rand(3, 1, 8, 8, dtype=torch.float64)
    torch.testing.assert_close(compose(chain, x), vae.decode(vae.encode(x)[0]))


def test_sample_shape_range_and_seed() -> None:
    vae = VAE((1, 8, 8), latent=4, hidden=(16,))
    a = vae.sample(5, generator=torch.Generator().manual_seed(3))
    b = vae.sample(5, generator=torch.Generator().manual_seed(3))
    assert a.shape == (5, 1, 8, 8) and torch.equal(a, b)
    assert float(a.min()) >= 0 and float(a.max()) <= 1


def test_bad_options() -> None:
    with pytest.raises(ValueError, match="activation"):
        VAE((4,), activation="swish")
    with pytest.raises(ValueError, match="likelihood"):
        VAE((4,), likelihood="poisson")  # type: ignore[arg-type]
