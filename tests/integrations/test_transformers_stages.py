"""Stages of transformers language models: composition equals the model bit for bit."""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

import pytest
import torch
from torch import nn

import criticality as cr
from criticality.stages import compose, language_model_stages

V, T = 97, 9  # vocabulary, sequence length


def build(tf: ModuleType, family: str, attn: str = "sdpa") -> Any:
    """A tiny model of ``family`` at random initialisation, from a config (nothing downloads)."""
    small: dict[str, Any] = {
        "vocab_size": V,
        "bos_token_id": 0,
        "eos_token_id": 0,
        "pad_token_id": 0,
    }
    if family == "gpt2":
        config = tf.GPT2Config(n_layer=3, n_embd=32, n_head=4, n_positions=32, **small)
        model = tf.GPT2LMHeadModel
    elif family == "bert":
        config = tf.BertConfig(
            num_hidden_layers=3,
            hidden_size=32,
            num_attention_heads=4,
            intermediate_size=64,
            max_position_embeddings=32,
            **small,
        )
        model = tf.BertForMaskedLM
    else:
        config = tf.LlamaConfig(
            num_hidden_layers=3,
            hidden_size=32,
            num_attention_heads=4,
            num_key_value_heads=2,
            intermediate_size=64,
            max_position_embeddings=32,
            **small,
        )
        model = tf.LlamaForCausalLM
    config._attn_implementation = attn
    torch.manual_seed(0)
    return model(config).eval()


def padded_ids() -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids ``(3, T)`` and a mask with left padding (row 1) and right padding (row 2)."""
    ids = torch.randint(1, V, (3, T), generator=torch.Generator().manual_seed(1))
    mask = torch.ones(3, T, dtype=torch.long)
    mask[1, :3] = 0
    mask[2, 5:] = 0
    return ids, mask


FAMILIES = ["gpt2", "bert", "llama"]


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
@pytest.mark.parametrize("family", FAMILIES)
def test_stages_compose_to_the_logits_bit_for_bit(
    transformers: ModuleType, family: str, attn: str
) -> None:
    model = build(transformers, family, attn)
    ids, mask = padded_ids()
    with torch.no_grad():
        for attention_mask in (None, mask):
            stage_list = language_model_stages(model, attention_mask)
            # The key-value cache (for generation) copies keys into a new layout, which moves
            # eager attention's matmuls by rounding; the depth map is the forward without it.
            out = model(
                ids, attention_mask=attention_mask, output_hidden_states=True, use_cache=False
            )
            assert torch.equal(compose(stage_list, ids), out.logits)
            # every block's output is the model's hidden state after that block
            states = [ids]
            for stage in stage_list:
                states.append(stage(states[-1]))
            n_blocks = len(stage_list) - 2
            for i in range(n_blocks):  # hidden_states[0] is the embedding output
                assert torch.equal(states[i + 1], out.hidden_states[i])
            last = out.hidden_states[n_blocks]  # after the final norm for decoders
            final = states[n_blocks + 1]
            if family != "bert":
                final = stage_list[-1].body[0](final)
            assert torch.equal(final, last)


@pytest.mark.parametrize("family", FAMILIES)
def test_the_padding_mask_changes_what_real_tokens_see(
    transformers: ModuleType, family: str
) -> None:
    model = build(transformers, family)
    ids, mask = padded_ids()
    with torch.no_grad():
        free = compose(cr.stages(model), ids)
        masked = compose(language_model_stages(model, mask), ids)
    # row 1 is left-padded: its real tokens no longer attend to the first three positions
    assert not torch.allclose(free[1, 3:], masked[1, 3:])
    assert torch.equal(free[0], masked[0])  # an unpadded row is untouched


def test_stage_names_and_plain_stages(transformers: ModuleType) -> None:
    names = {f: [s.name for s in cr.stages(build(transformers, f))] for f in FAMILIES}
    assert names["gpt2"] == [
        "embed",
        "transformer.h.0",
        "transformer.h.1",
        "transformer.h.2",
        "head",
    ]
    assert names["bert"][1] == "bert.encoder.layer.0"
    assert names["llama"][1:4] == ["model.layers.0", "model.layers.1", "model.layers.2"]
    bare = transformers.GPT2Model(
        transformers.GPT2Config(n_layer=2, n_embd=16, n_head=2, vocab_size=V)
    )
    ids = torch.randint(0, V, (2, 5))
    with torch.no_grad():
        assert torch.equal(compose(cr.stages(bare.eval()), ids), bare(ids).last_hidden_state)


@pytest.mark.parametrize("family", FAMILIES)
def test_measure_from_the_embedding_output(transformers: ModuleType, family: str) -> None:
    model = build(transformers, family)
    ids = torch.randint(1, V, (4, T), generator=torch.Generator().manual_seed(2))
    report = cr.measure(
        model, ids, start_after="embed", measures=["lyapunov", "branching"], lyapunov={"k": 2}
    )
    assert report.stage_names[0] != "embed" and report.stage_names[-1] == "head"
    assert report.metadata["start_after"] == "embed"
    assert all(torch.isfinite(torch.tensor(report.lyapunov.exponents)))
    # the same numbers from the stages after "embed", given the embedding output
    stage_list = cr.stages(model)
    with torch.no_grad():
        h = stage_list[0](ids)
    again = cr.measure(stage_list[1:], h, measures=["lyapunov"], lyapunov={"k": 2})
    assert again.lambda_max == report.lambda_max


FIRST_BLOCK = {"gpt2": "transformer.h.0", "bert": "bert.encoder.layer.0", "llama": "model.layers.0"}


@pytest.mark.parametrize("family", FAMILIES)
def test_token_ids_are_measured_after_the_embedding_without_arguments(
    transformers: ModuleType, family: str
) -> None:
    """``measure(lm, ids)``: integer ids and an embedding first: the measures start after it."""
    model = build(transformers, family)
    ids = torch.randint(1, V, (4, T), generator=torch.Generator().manual_seed(3))
    report = cr.measure(model, ids, measures=["lyapunov", "branching"], lyapunov={"k": 2})
    assert math.isfinite(report.lambda_max)
    assert report.stage_names[0] == FIRST_BLOCK[family] and "embed" not in report.stage_names
    assert report.stage_names == tuple(s.name for s in cr.stages(model)[1:])
    assert report.metadata["start_after"] == "embed" and report.metadata["start_after_auto"]
    assert "Measured from the output of stage 'embed' on (the inputs are token ids)" in (
        report.interpretation()
    )
    # exactly what the explicit argument gives, and what a single measure gives on its own
    explicit = cr.measure(
        model, ids, start_after="embed", measures=["lyapunov", "branching"], lyapunov={"k": 2}
    )
    assert explicit.lambda_max == report.lambda_max
    assert explicit.metadata["start_after_auto"] is False
    alone = cr.lyapunov_spectrum(model, ids, k=2)
    assert alone.stage_names == report.stage_names
    assert alone.lambda_max.mean == report.lambda_max


def test_gpt2_lm_head_model_from_token_ids(transformers: ModuleType) -> None:
    """The issue's bar: ``cr.measure(GPT2LMHeadModel(...), ids)`` gives a finite λ_1."""
    config = transformers.GPT2Config(n_layer=4, n_embd=64, n_head=4, vocab_size=1000)
    torch.manual_seed(0)
    model = transformers.GPT2LMHeadModel(config)
    ids = torch.randint(0, 1000, (8, 32), generator=torch.Generator().manual_seed(0))
    report = cr.measure(model, ids)
    assert math.isfinite(report.lambda_max)
    assert list(report.stage_names) == [f"transformer.h.{i}" for i in range(4)] + ["head"]


def test_an_explicit_start_after_wins(transformers: ModuleType) -> None:
    model = build(transformers, "gpt2")
    ids = torch.randint(1, V, (2, T), generator=torch.Generator().manual_seed(4))
    report = cr.measure(model, ids, start_after="transformer.h.0", measures="lyapunov")
    assert report.stage_names == ("transformer.h.1", "transformer.h.2", "head")
    assert report.metadata["start_after"] == "transformer.h.0"
    assert "(the inputs are token ids)" not in report.interpretation()
    assert "Measured from the output of stage 'transformer.h.0' on." in report.interpretation()
    only_sigma = cr.measure(model, ids, measures="branching")  # the reading without λ_1
    assert only_sigma.interpretation().endswith(
        "Measured from the output of stage 'embed' on (the inputs are token ids)."
    )


def test_token_ids_outside_the_vocabulary_are_a_clear_error(transformers: ModuleType) -> None:
    model = build(transformers, "llama")
    ids = torch.full((2, T), V + 3)
    with pytest.raises(ValueError, match=rf"vocabulary.*{V} rows.*\[0, vocab_size\)"):
        cr.measure(model, ids)


def test_a_plain_sequential_with_an_embedding_takes_token_ids() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Embedding(50, 16), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 16))
    ids = torch.randint(0, 50, (3, 5), generator=torch.Generator().manual_seed(0))
    report = cr.measure(model, ids, measures="lyapunov", dtype=torch.float64)
    assert report.stage_names == ("1", "3")
    with torch.no_grad():
        h = model[0](ids).double()  # (3, 5, 16)
    expected = cr.lyapunov_spectrum(cr.stages(model.double())[1:], h)
    assert report.lambda_max == pytest.approx(expected.lambda_max.mean, abs=1e-12)


def test_integer_inputs_without_an_embedding_say_what_to_do() -> None:
    model = nn.Sequential(nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 8))
    ids = torch.randint(0, 8, (4, 8))
    for call in (lambda: cr.measure(model, ids), lambda: cr.ftle(model, ids)):
        with pytest.raises(TypeError) as err:
            call()
        message = str(err.value)
        assert "holds no embedding" in message and "'0'" in message
        assert "start_after=NAME" in message  # token ids embedded elsewhere
        assert "inputs.float() / 255" in message  # integer-valued data
        assert "use inputs.float()" not in message  # the old advice, wrong for token ids


def test_only_an_embedding_leaves_nothing_to_measure() -> None:
    with pytest.raises(ValueError, match="nothing after it to measure"):
        cr.measure(nn.Sequential(nn.Embedding(10, 4)), torch.randint(0, 10, (2, 3)))


def test_masked_stages_refuse_a_regrouped_batch(transformers: ModuleType) -> None:
    model = build(transformers, "gpt2")
    ids, mask = padded_ids()
    with pytest.raises(ValueError, match="unpadded"):
        cr.measure(language_model_stages(model, mask), ids, start_after="embed")
    same = torch.ones_like(mask)  # rows all alike: any batch is fine
    report = cr.measure(language_model_stages(model, same), ids, start_after="embed")
    assert report.lambda_max == cr.measure(model, ids, start_after="embed").lambda_max


def test_unknown_model_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="supported"):
        language_model_stages(torch.nn.Linear(2, 2))


def test_the_embedding_runs_in_eval_mode_like_the_rest(transformers: ModuleType) -> None:
    """A model left in training mode (GPT-2 has embedding dropout) measures as in eval mode."""
    model = build(transformers, "gpt2")
    ids = torch.randint(1, V, (4, T), generator=torch.Generator().manual_seed(2))
    expected = cr.measure(model, ids, start_after="embed").lambda_max
    model.train()
    assert cr.measure(model, ids, start_after="embed").lambda_max == expected
    assert model.training and model.transformer.drop.training  # flags restored
