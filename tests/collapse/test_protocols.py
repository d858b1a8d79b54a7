"""The references' protocols: conditioned decoding with selection on real validation text,
the VAE's fresh-sample stream with its latent drift, nested configs and named presets."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from criticality.collapse import CharLMLearner, CharLMSpec, Recursion, TrainSpec
from criticality.collapse._train import BestOnValidation
from criticality.collapse.charlm import text_windows, window_nll
from criticality.collapse.learners import Decoding, VAELearner, VAESpec
from criticality.collapse.textstats import text_reference
from criticality.experiments import get_experiment
from criticality.experiments.collapse import CollapseConfig, with_changes

V = 96


def _text() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, 8, (3000,), generator=g)  # an 8-letter language
    return text_windows(ids[:2400], 17, stride=8), text_windows(ids[2400:], 17)


def _lm(**kw: object) -> CharLMLearner:
    train, _ = _text()
    ref = text_reference(train.flatten(), "abc def")
    spec = CharLMSpec(arch="gru", width=16, window=16, context=34)
    ts = TrainSpec(steps=30, batch_size=16, lr=1e-2)
    return CharLMLearner(spec, ts, init_seed=0, reference_text=ref, decode=str, **kw)  # type: ignore[arg-type]


def test_beam_decoding_continues_prompts_of_the_pool() -> None:
    train, _ = _text()
    lm = _lm(decoding=Decoding(kind="beam", beams=3, repetition_penalty=3.0))
    with pytest.raises(ValueError, match="prompts"):
        lm.sample(4, seed=0)  # no pool yet
    lm.fit(train, seed=0)
    out = lm.sample(len(train) + 5, seed=1)  # more than the pool: every prompt, then again
    assert out.shape == (len(train) + 5, 17) and out.dtype == torch.int64
    assert torch.equal(out, lm.sample(len(train) + 5, seed=1))  # seeded
    # the continuation of one prompt is the beam search of that prompt
    from criticality.collapse.charlm import beam_search

    g = torch.Generator().manual_seed(1)
    first = torch.randperm(len(train), generator=g)[0]
    direct = beam_search(lm.net, train[first : first + 1], 17, beams=3, repetition_penalty=3.0)
    assert torch.equal(out[0], direct[0])


def test_selection_on_validation_keeps_the_best_weights() -> None:
    train, valid = _text()
    lm = _lm(validation=valid, select_every=5)
    lm.train_spec = dataclasses.replace(lm.train_spec, lr=0.3)  # unstable: late weights worse
    lm.fit(train, seed=0)
    final = float(window_nll(lm.net, valid).mean())
    # a fit without selection ends elsewhere, and the kept weights score the best check
    plain = _lm()
    plain.train_spec = lm.train_spec
    plain.fit(train, seed=0)
    last = float(window_nll(plain.net, valid).mean())
    assert final <= last + 1e-9
    cb = BestOnValidation(valid, every=5)
    assert cb.every == 5
    with pytest.raises(ValueError, match="every"):
        BestOnValidation(valid, every=0)


def test_the_best_on_validation_callback_restores_the_minimum(tmp_path: Path) -> None:
    train, valid = _text()
    lm = _lm(validation=valid, select_every=3)
    lm.train_spec = dataclasses.replace(lm.train_spec, lr=0.3, steps=12)
    seen: list[float] = []
    original = BestOnValidation._check

    def spy(self: BestOnValidation, state: object) -> None:
        original(self, state)  # type: ignore[arg-type]
        seen.append(self.history[-1]["val_loss"])

    BestOnValidation._check = spy  # type: ignore[method-assign]
    try:
        lm.fit(train, seed=0)
    finally:
        BestOnValidation._check = original  # type: ignore[method-assign]
    assert len(seen) == 4  # steps 3, 6, 9 and the end
    assert float(window_nll(lm.net, valid).mean()) == pytest.approx(min(seen), rel=1e-9)


def test_a_fresh_stream_trains_on_new_samples_every_step() -> None:
    from criticality.collapse.judge import Judge

    class _Judge(Judge):  # no classifier needed here
        def __init__(self) -> None:
            pass

    seeds: list[int] = []

    def draw(n: int, seed: int) -> torch.Tensor:
        seeds.append(seed)
        return torch.rand((n, 1, 4, 4), generator=torch.Generator().manual_seed(seed))

    spec = VAESpec(latent=2, hidden=(8,), n_eval=8, n_drift=8)
    vae = VAELearner(spec, TrainSpec(steps=6, batch_size=5), in_shape=(1, 4, 4), init_seed=0,
                     judge=_Judge())  # fmt: skip
    vae.fit(draw, seed=3)
    assert len(seeds) == 6 and len(set(seeds)) == 6  # one fresh batch per step, none reused
    with pytest.raises(ValueError, match="replace"):
        Recursion(generations=2, n_samples=10, mode="accumulate", fresh_samples=True)


def test_latent_drift_is_generation_0s_encoder_on_the_samples() -> None:
    from criticality.collapse.judge import Diversity

    class _Judge:
        def diversity(self, samples: torch.Tensor) -> Diversity:
            return Diversity(1.0, (0.1,) * 10, (1.0,) * 10, 1.0, 0.9, 0.3, 3)

    spec = VAESpec(latent=2, hidden=(8,), n_eval=8, n_drift=16, n_probe=4)
    a = VAELearner(spec, TrainSpec(steps=1), in_shape=(1, 4, 4), init_seed=0, judge=_Judge())  # type: ignore[arg-type]
    b = VAELearner(spec, TrainSpec(steps=1), in_shape=(1, 4, 4), init_seed=1, judge=_Judge())  # type: ignore[arg-type]
    x = torch.rand((16, 1, 4, 4), generator=torch.Generator().manual_seed(0))
    out = b.evaluate(x, x, a)
    with torch.no_grad():
        mu = a.net.eval().encode(x)[0]
    assert out["latent_mean_gen0"] == pytest.approx(float(mu.mean()), rel=1e-6)
    assert out["latent_std_gen0"] == pytest.approx(float(mu.std()), rel=1e-6)


def test_nested_changes_and_old_flat_configs() -> None:
    cfg = with_changes(CollapseConfig.tiny(), {"vae.latent": 8, "seeds": (0, 1, 2)})
    assert cfg.vae.latent == 8 and cfg.seeds == (0, 1, 2)
    assert cfg.vae.dataset == CollapseConfig.tiny().vae.dataset  # the rest of the block kept
    with pytest.raises(ValueError, match=r"has no field '?vae\.latnet"):
        with_changes(cfg, {"vae.latnet": 8})
    with pytest.raises(ValueError, match="seed has no fields"):
        with_changes(cfg, {"seed.x": 1})
    with pytest.raises(TypeError, match=r"vae\.latent"):
        with_changes(cfg, {"vae.latent": "eight"})
    assert CollapseConfig.from_dict(cfg.to_dict()) == cfg
    flat = {"models": ["vae"], "vae_latent": 5, "vae_hidden": [8], "charlm_archs": ["gru"],
            "gmm_n": 50, "seeds": [0, 1, 2]}  # fmt: skip
    old = CollapseConfig.from_dict(flat)
    assert (old.vae.latent, old.vae.hidden, old.charlm.archs, old.gmm.n) == (5, (8,), ("gru",), 50)
    with pytest.raises(ValueError, match="distinct"):
        dataclasses.replace(cfg, seeds=(0, 0)).validate()


def test_named_presets_reach_the_registry() -> None:
    spec = get_experiment("collapse")
    sh = spec.preset("shumailov")
    assert (sh.charlm.decoding, sh.charlm.beams, sh.charlm.repetition_penalty) == ("beam", 5, 3.0)
    assert sh.charlm.window + 1 == 64 and sh.charlm.pretrain_steps > 0
    assert sh.charlm.select_every is not None
    doc = CollapseConfig.shumailov.__doc__ or ""
    for cite in ("main.py`` line 305", "lines 231–238", "dataset.py`` line 31", "lines 187–188"):
        assert cite in doc
    ref = spec.preset("reference")
    assert ref.vae.stream == "fresh" and ref.conditions("vae") == [
        "replace/plain",
        "replace/critical_global",
    ]
    ref.validate()
    with pytest.raises(ValueError, match="shumailov"):
        spec.preset("nonesuch")


def test_results_round_trip_upgrade_and_refuse_unknown_schemas() -> None:
    from criticality.experiments.collapse.results import SCHEMA, CollapseResults, VariantResults

    cfg = CollapseConfig.tiny()
    runs = {"replace/plain": [[{"generation": 0, "q": 1.0}]]}
    gmm = {"gmm": VariantResults(runs, {}, {"quality": "q"})}
    res = CollapseResults(cfg, gaussian={"n": 10}, recursions={"gmm": gmm})
    data = res.to_dict()
    assert data["schema"] == SCHEMA and CollapseResults.from_dict(data) == res
    assert CollapseResults.from_dict(data).recursions["gmm"]["gmm"].seeds == 1
    # results written before the schema: flat config fields, no "schema"
    old = {k: v for k, v in data.items() if k != "schema"}
    flat = dict(cfg.to_dict())
    for block in ("gmm", "vae", "charlm"):
        flat.update({f"{block}_{k}": v for k, v in flat.pop(block).items()})
    old["config"] = flat
    assert CollapseResults.from_dict(old).config == cfg
    with pytest.raises(ValueError, match="schema 99"):
        CollapseResults.from_dict({**data, "schema": 99})
