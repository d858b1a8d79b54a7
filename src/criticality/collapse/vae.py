"""A small fully connected VAE (Kingma & Welling 2014) with its ELBO and importance-weighted bound.

Encoder ``q(z|x) = N(μ(x), diag σ²(x))``, prior ``p(z) = N(0, I)``, decoder ``p(x|z)``: Bernoulli
with logits ``f(z)`` (grey levels in ``[0, 1]`` used as targets, the usual practice on MNIST; a
bound on a normalised density only for binary images) or Gaussian ``N(f(z), s² I)``. Per image,
in nats:

* ``ELBO(x) = E_q[ln p(x|z)] − KL(q(z|x) ‖ p(z))``, estimated with reparameterised samples and
  the KL term in closed form, ``KL = ½ Σ_j (μ_j² + σ_j² − 1 − ln σ_j²)``;
* the importance-weighted bound (Burda et al. 2016) ``L_K(x) = E[ln (1/K) Σ_k p(x, z_k)/q(z_k|x)]``,
  ``ELBO ≤ L_K ≤ ln p(x)``, tighter as ``K`` grows.

Depth is time here as everywhere: the stages (:func:`vae_stages`) run the deterministic chain
``x → μ(x)`` (encoder) and ``z → f(z)`` (decoder), each a list of ``Linear`` + activation stages.
"""

from __future__ import annotations

import itertools
import math
from typing import Literal

import torch
from torch import nn

from criticality.stages import Stage, register_adapter
from criticality.stages import stages as split_stages

Likelihood = Literal["bernoulli", "gaussian"]
_ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "elu": nn.ELU, "identity": nn.Identity}


class VAE(nn.Module):
    """A VAE with ``Linear`` + activation stacks for encoder and decoder.

    Args:
        in_shape: shape of one input, e.g. ``(1, 28, 28)``.
        latent: latent dimension.
        hidden: widths of the hidden layers of the encoder (the decoder mirrors them).
        activation: ``"tanh"``, ``"relu"``, ``"elu"`` or ``"identity"`` (a linear VAE).
        likelihood: ``"bernoulli"`` (logits) or ``"gaussian"`` (mean, fixed ``obs_std``).
        obs_std: ``s`` of the Gaussian likelihood.

    Calling the model, ``vae(x)``, returns the one-sample negative ELBO of each input, shape
    ``(B,)``: the training loss (``fit(..., loss_fn=lambda out, y: out.mean())``).
    """

    def __init__(
        self,
        in_shape: tuple[int, ...] = (1, 28, 28),
        *,
        latent: int = 16,
        hidden: tuple[int, ...] = (256, 256),
        activation: str = "tanh",
        likelihood: Likelihood = "bernoulli",
        obs_std: float = 1.0,
    ) -> None:
        super().__init__()
        if activation not in _ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}"
            )
        if likelihood not in ("bernoulli", "gaussian"):
            raise ValueError(f"likelihood must be 'bernoulli' or 'gaussian', got {likelihood!r}")
        self.in_shape, self.latent, self.likelihood = tuple(in_shape), latent, likelihood
        self.obs_std = float(obs_std)
        dim = math.prod(in_shape)
        act = _ACTIVATIONS[activation]
        widths = [dim, *hidden]
        enc: list[nn.Module] = [nn.Flatten()]
        for a, b in itertools.pairwise(widths):
            enc += [nn.Linear(a, b), act()]
        self.encoder = nn.Sequential(*enc)
        self.mu = nn.Linear(widths[-1], latent)
        self.logvar = nn.Linear(widths[-1], latent)
        dec: list[nn.Module] = []
        back = [latent, *reversed(hidden)]
        for a, b in itertools.pairwise(back):
            dec += [nn.Linear(a, b), act()]
        dec.append(nn.Linear(back[-1], dim))
        self.decoder = nn.Sequential(*dec)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(μ, ln σ²)`` of ``q(z|x)`` for inputs ``(B, *in_shape)``; shapes ``(B, latent)``."""
        h = self.encoder(x)
        return self.mu(h), self.logvar(h)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Decoder output ``f(z)`` (logits or Gaussian mean), shape ``(B, D)``."""
        return self.decoder(z)

    def log_likelihood(self, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """``ln p(x|z)`` per input from decoder outputs; ``x`` ``(B, ...)``, ``out`` ``(B, D)``."""
        target = x.flatten(1)
        if self.likelihood == "bernoulli":
            return -nn.functional.binary_cross_entropy_with_logits(
                out, target, reduction="none"
            ).sum(dim=1)
        s2 = self.obs_std**2
        d = target.shape[1]
        return -0.5 * ((target - out) ** 2).sum(dim=1) / s2 - 0.5 * d * math.log(2 * math.pi * s2)

    def elbo(
        self, x: torch.Tensor, *, n_samples: int = 1, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """ELBO of each input (nats), shape ``(B,)``, averaged over ``n_samples`` draws of z."""
        mu, logvar = self.encode(x)
        kl = 0.5 * (mu**2 + logvar.exp() - 1.0 - logvar).sum(dim=1)  # (B,)
        rec = torch.stack(
            [
                self.log_likelihood(x, self.decode(_reparam(mu, logvar, generator)))
                for _ in range(n_samples)
            ]
        ).mean(dim=0)
        return rec - kl

    def iwae(
        self, x: torch.Tensor, *, k: int = 16, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Importance-weighted bound ``L_K`` of each input (nats), shape ``(B,)``."""
        mu, logvar = self.encode(x)
        logw = []
        for _ in range(k):
            z = _reparam(mu, logvar, generator)
            log_q = _log_normal(z, mu, logvar)
            log_prior = _log_normal(z, torch.zeros_like(z), torch.zeros_like(z))
            logw.append(self.log_likelihood(x, self.decode(z)) + log_prior - log_q)
        return torch.logsumexp(torch.stack(logw), dim=0) - math.log(k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return -self.elbo(x)

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` images: decoder means at prior draws ``z ~ N(0, I)``, shape ``(n, *in_shape)``."""
        p = next(self.parameters())
        z = torch.randn((n, self.latent), generator=generator, dtype=p.dtype).to(p.device)
        out = self.decode(z)
        mean = torch.sigmoid(out) if self.likelihood == "bernoulli" else out
        return mean.reshape(n, *self.in_shape)

    def encoder_stages(self) -> list[Stage]:
        """The chain ``x → μ(x)``: the encoder's stages, then the ``μ`` head."""
        return [*split_stages(self.encoder), Stage("mu", self.mu)]

    def decoder_stages(self) -> list[Stage]:
        """The chain ``z → f(z)``, named ``decoder.<i>``."""
        return [Stage(f"decoder.{s.name}", s.body) for s in split_stages(self.decoder)]


@register_adapter(f"{VAE.__module__}.{VAE.__qualname__}")
def vae_stages(model: VAE) -> list[Stage]:
    """The deterministic autoencoder chain ``x → μ(x) → f(μ(x))``: encoder then decoder stages."""
    return [*model.encoder_stages(), *model.decoder_stages()]


def _reparam(
    mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None
) -> torch.Tensor:
    eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype).to(mu.device)
    return mu + (0.5 * logvar).exp() * eps


def _log_normal(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """``ln N(z; μ, diag e^{logvar})`` summed over the last dimension, shape ``(B,)``."""
    return -0.5 * (((z - mu) ** 2) / logvar.exp() + logvar + math.log(2 * math.pi)).sum(dim=1)
