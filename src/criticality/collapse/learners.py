"""The neural generative models behind the recursion's learner protocol: VAE and char-LM.

Each learner owns one generation's network, trains it with a training method
(:class:`TrainSpec`), draws samples, and evaluates: quality on held-out real data, diversity
and tails of its samples, and the criticality of its networks (:mod:`.dynamics`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from criticality.collapse._train import BestOnValidation, TrainSpec, train, train_stream
from criticality.collapse.charlm import (
    CharGRU,
    CharTransformer,
    beam_search,
    generate,
    perplexity,
    sequence_loss,
    window_nll,
)
from criticality.collapse.dynamics import chain_record, lyapunov_record
from criticality.collapse.intime import GRUStackStep, lyapunov_in_time
from criticality.collapse.judge import Judge
from criticality.collapse.textstats import TextReference, ppl_histogram, text_stats
from criticality.collapse.vae import VAE
from criticality.stages import split_after, stages


@dataclasses.dataclass(frozen=True)
class VAESpec:
    """The VAE of every generation.

    Attributes:
        latent: latent dimension.
        hidden: encoder hidden widths (the decoder mirrors them).
        activation: ``"tanh"``, ``"relu"``, ``"elu"``.
        n_eval: real test images scored per generation.
        iwae_k: importance samples of the bound.
        n_probe: probe images (and prior latents) for the criticality measures.
        n_drift: generated images encoded by generation 0's encoder for the latent drift.
    """

    latent: int = 16
    hidden: tuple[int, ...] = (256, 256, 256)
    activation: str = "tanh"
    n_eval: int = 2000
    iwae_k: int = 64
    n_probe: int = 64
    n_drift: int = 1000


#: ``draw(n, seed) -> (n, ...)`` images: a stream of fresh samples of the previous generation.
SampleStream = Callable[[int, int], torch.Tensor]


class VAELearner:
    """One generation's VAE.

    Args:
        spec: architecture and evaluation sizes.
        train_spec: training of the generation.
        in_shape: image shape, e.g. ``(1, 28, 28)``.
        init_seed: seed of the initial weights.
        judge: the fixed classifier of sample diversity.
    """

    def __init__(
        self,
        spec: VAESpec,
        train_spec: TrainSpec,
        *,
        in_shape: tuple[int, ...],
        init_seed: int,
        judge: Judge,
    ) -> None:
        torch.manual_seed(init_seed)
        self.net = VAE(in_shape, latent=spec.latent, hidden=spec.hidden, activation=spec.activation)
        self.spec, self.train_spec, self.judge = spec, train_spec, judge

    def fit(
        self,
        data: torch.Tensor | SampleStream,
        *,
        seed: int,
        checkpoint_dir: Path | None = None,
    ) -> None:
        """Train on a pool of images ``(M, ...)``, or on a stream: ``data(n, seed)`` decodes a
        fresh batch of the previous generation at every step, none reused (the reference
        notebook's ``train_vae_gen(vae, sample_vae=True, ...)``)."""
        if callable(data):
            draw = data
            batch = self.train_spec.batch_size

            def step(i: int) -> tuple[torch.Tensor, torch.Tensor]:
                x = draw(batch, _step_seed(seed, i)).float()
                return x, torch.zeros(len(x))

            train_stream(
                self.net, step, self.train_spec, loss_fn=lambda out, _: out.mean(), seed=seed,
                checkpoint_dir=checkpoint_dir,
            )  # fmt: skip
            return
        dummy = torch.zeros(len(data))
        train(
            self.net,
            data.float(),
            dummy,
            self.train_spec,
            loss_fn=lambda out, _: out.mean(),
            seed=seed,
            checkpoint_dir=checkpoint_dir,
        )

    def sample(self, n: int, *, seed: int) -> torch.Tensor:
        return self.net.sample(n, generator=torch.Generator().manual_seed(seed))

    @torch.no_grad()
    def evaluate(
        self, real_test: torch.Tensor, samples: torch.Tensor, reference: Any
    ) -> dict[str, Any]:
        net, spec = self.net.eval(), self.spec
        x = real_test[: spec.n_eval].float()
        gen = torch.Generator().manual_seed(0)
        elbo = torch.cat([net.elbo(b, generator=gen) for b in x.split(500)])
        iw = torch.cat([net.iwae(b, k=spec.iwae_k, generator=gen) for b in x.split(500)])
        div = self.judge.diversity(samples)
        probe = real_test[: spec.n_probe].float()
        z = torch.randn((spec.n_probe, spec.latent), generator=torch.Generator().manual_seed(1))
        # The reference's drift: generation 0's encoder means of this generation's samples
        # (VAE_experiments.ipynb cells 9 and 13: mean and spread of the flattened means).
        first = (reference or self).net.eval()
        mu0 = first.encode(samples[: spec.n_drift].float())[0]
        return {
            "latent_mean_gen0": float(mu0.mean()),
            "latent_std_gen0": float(mu0.std()),
            "neg_elbo": float(-elbo.mean()),
            "neg_iwae": float(-iw.mean()),
            "entropy": div.entropy,
            "min_coverage": div.min_coverage,
            "confidence": div.confidence,
            "tail_mass": div.tail_mass,
            "histogram": list(div.histogram),
            "sample_mean_pixel": float(samples.mean()),
            "criticality": {
                "encoder": chain_record(net.encoder_stages(), probe),
                "decoder": chain_record(net.decoder_stages(), z),
                "autoencoder": chain_record(stages(net), probe),
            },
        }

    def state_dict(self) -> dict[str, Any]:
        return self.net.state_dict()

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.net.load_state_dict(state)


@dataclasses.dataclass(frozen=True)
class CharLMSpec:
    """The language model of every generation.

    Attributes:
        arch: ``"gru"`` or ``"transformer"``.
        width: GRU hidden width, or transformer model width.
        layers: GRU layers or transformer blocks.
        embed: GRU embedding width (the transformer embeds at ``width``).
        heads: transformer heads.
        window: characters per training window ``T`` (windows hold ``T + 1`` ids).
        n_eval: real test windows scored per generation.
        n_probe: probe windows for the criticality measures.
        burn_in: time steps before the in-time exponents are averaged (GRU).
        time_exponents: how many of the largest in-time Lyapunov exponents to record (GRU;
            at most the state size).
        context: the transformer's longest window (``None``: ``window``; conditioned decoding
            needs room for prompt and continuation).
    """

    arch: str = "gru"
    width: int = 128
    layers: int = 2
    embed: int = 32
    heads: int = 4
    window: int = 64
    n_eval: int = 256
    n_probe: int = 16
    burn_in: int = 16
    time_exponents: int = 4
    context: int | None = None

    def build(self) -> nn.Module:
        if self.arch == "gru":
            return CharGRU(embed=self.embed, hidden=self.width, layers=self.layers)
        if self.arch == "transformer":
            return CharTransformer(
                width=self.width,
                heads=self.heads,
                layers=self.layers,
                context=self.context or self.window,
            )
        raise ValueError(f"arch must be 'gru' or 'transformer', got {self.arch!r}")


def after_embedding(model: nn.Module, tokens: torch.Tensor) -> tuple[list[nn.Module], torch.Tensor]:
    """The stages after a language model's embedding and the embedded tokens ``(B, T, D)``."""
    chain: list[nn.Module] = list(stages(model))
    return chain[1:], chain[0](tokens)


@dataclasses.dataclass(frozen=True)
class Decoding:
    """How a language model writes the next generation's data.

    Attributes:
        kind: ``"sample"`` (unconditional ancestral sampling at ``temperature``, the regime of
            Kazdan, Schaeffer et al. 2024) or ``"beam"`` (beam search from prompts, Shumailov
            et al. 2024).
        temperature: of ``"sample"``.
        beams: of ``"beam"``.
        repetition_penalty: of ``"beam"`` (``transformers``' rule, :func:`.penalise_repeats`).
        prompts: where ``"beam"``'s prompts come from: ``"pool"`` (windows of the generation's
            own training pool, as the reference's data loader, real text for generation 0) or
            ``"real"`` (real training windows at every generation).
    """

    kind: str = "sample"
    temperature: float = 1.0
    beams: int = 5
    repetition_penalty: float = 3.0
    prompts: str = "pool"

    def __post_init__(self) -> None:
        if self.kind not in ("sample", "beam"):
            raise ValueError(f"decoding kind must be 'sample' or 'beam', got {self.kind!r}")
        if self.prompts not in ("pool", "real"):
            raise ValueError(f"prompts must be 'pool' or 'real', got {self.prompts!r}")


class CharLMLearner:
    """One generation's character-level language model.

    Args:
        spec: architecture and evaluation sizes.
        train_spec: training of the generation.
        init_seed: seed of the initial weights.
        reference_text: statistics of the real text (:func:`.textstats.text_reference`).
        decode: token ids ``(T,)`` -> string.
        decoding: how samples are written (default: temperature 1).
        real_prompts: real training windows ``(M, T + 1)`` for ``decoding.prompts == "real"``.
        validation: real validation windows ``(M, T + 1)``: keep the weights with the lowest
            loss on them, checked every ``select_every`` steps and at the end (the reference
            keeps the checkpoint with the best real validation loss).
        select_every: see ``validation``.
        base_state: weights every generation starts from (a model trained on real text: the
            reference fine-tunes a pretrained model each generation); ``None``: fresh.
    """

    def __init__(
        self,
        spec: CharLMSpec,
        train_spec: TrainSpec,
        *,
        init_seed: int,
        reference_text: TextReference,
        decode: Any,
        decoding: Decoding | None = None,
        real_prompts: torch.Tensor | None = None,
        validation: torch.Tensor | None = None,
        select_every: int = 50,
        base_state: Mapping[str, Any] | None = None,
    ) -> None:
        torch.manual_seed(init_seed)
        self.net = spec.build()
        if base_state is not None:
            self.net.load_state_dict(base_state)
        self.spec, self.train_spec = spec, train_spec
        self.reference_text, self.decode = reference_text, decode
        self.decoding = decoding or Decoding()
        self.real_prompts, self.validation = real_prompts, validation
        self.select_every = select_every
        self.pool: torch.Tensor | None = None

    def fit(self, data: torch.Tensor, *, seed: int, checkpoint_dir: Path | None = None) -> None:
        self.pool = data
        callbacks = []
        if self.validation is not None:
            callbacks.append(BestOnValidation(self.validation, every=self.select_every))
        train(
            self.net,
            data[:, :-1],
            data[:, 1:],
            self.train_spec,
            loss_fn=sequence_loss,
            seed=seed,
            checkpoint_dir=checkpoint_dir,
            stages_of=after_embedding,
            callbacks=callbacks,
        )

    def sample(self, n: int, *, seed: int) -> torch.Tensor:
        gen = torch.Generator().manual_seed(seed)
        d = self.decoding
        if d.kind == "sample":
            return generate(
                self.net, n, self.spec.window + 1, generator=gen, temperature=d.temperature
            )
        source = self.real_prompts if d.prompts == "real" else self.pool
        if source is None:
            raise ValueError(
                "beam decoding needs prompts: fit the learner first (pool prompts) or give "
                "real_prompts"
            )
        # every window of the source once in a random order (more if n exceeds them)
        order = torch.cat([torch.randperm(len(source), generator=gen)
                           for _ in range(-(-n // len(source)))])[:n]  # fmt: skip
        return beam_search(
            self.net,
            source[order],
            self.spec.window + 1,
            beams=d.beams,
            repetition_penalty=d.repetition_penalty,
        )

    @torch.no_grad()
    def evaluate(
        self, real_test: torch.Tensor, samples: torch.Tensor, reference: Any
    ) -> dict[str, Any]:
        spec = self.spec
        ref_net = (reference or self).net
        texts = [self.decode(w) for w in samples]
        nll_ref = window_nll(ref_net, samples)
        out: dict[str, Any] = {
            "test_ppl": perplexity(self.net, real_test[: spec.n_eval]),
            "sample_ppl_gen0": float(nll_ref.mean().exp()),
            "sample_ppl_hist": ppl_histogram(nll_ref),
            **text_stats(samples, texts, self.reference_text),
        }
        probe = real_test[: spec.n_probe, :-1]
        chain, h = split_after(stages(self.net), "embed", probe)
        crit = {"depth": chain_record(chain, h)}
        if isinstance(self.net, CharGRU):
            emb = self.net.embed(probe)  # (B, T, E)
            size = self.net.hidden * self.net.layers
            h0 = torch.zeros(len(probe), size)
            k = min(spec.time_exponents, size)
            res = lyapunov_in_time(
                GRUStackStep(self.net.rnn), emb, h0, k=k, burn_in=spec.burn_in, seed=0
            )
            rec = lyapunov_record(res)
            crit["time"] = {k: rec[k] for k in ("lambda_1", "lambda_1_ci")}
            # finite-time exponents: ordered only as the number of steps grows
            crit["time"]["exponents"] = [float(e) for e in res.exponents]
        out["criticality"] = crit
        return out

    def state_dict(self) -> dict[str, Any]:
        return self.net.state_dict()

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.net.load_state_dict(state)


def _step_seed(seed: int, step: int) -> int:
    """A seed per training step of a sample stream."""
    return int(np.random.SeedSequence([seed, step]).generate_state(1)[0])
