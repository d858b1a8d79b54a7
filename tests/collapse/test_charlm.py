"""Character LMs: a uniform model's perplexity is the alphabet size; sampling; stages."""

from __future__ import annotations

import math

import pytest
import torch

from criticality.collapse import CharGRU, CharTransformer, generate, perplexity
from criticality.collapse.charlm import sequence_loss, text_windows, window_nll
from criticality.stages import compose, stages

V = 96


def _models() -> list[torch.nn.Module]:
    torch.manual_seed(0)
    return [CharGRU(embed=8, hidden=16), CharTransformer(width=16, heads=2, layers=2, context=32)]


@pytest.mark.parametrize("index", [0, 1])
def test_uniform_model_has_perplexity_equal_to_the_alphabet_size(index: int) -> None:
    model = _models()[index]
    head = model.head if isinstance(model, CharGRU) else model.head[1]
    with torch.no_grad():
        head.weight.zero_()
        head.bias.zero_()
    windows = torch.randint(0, V, (10, 33), generator=torch.Generator().manual_seed(1))
    assert perplexity(model, windows) == pytest.approx(V, rel=1e-6)
    torch.testing.assert_close(window_nll(model, windows), torch.full((10,), math.log(V)).double())


@pytest.mark.parametrize("index", [0, 1])
def test_window_nll_is_the_training_loss(index: int) -> None:
    model = _models()[index].eval()
    w = torch.randint(0, V, (4, 17), generator=torch.Generator().manual_seed(2))
    loss = sequence_loss(model(w[:, :-1]), w[:, 1:])
    torch.testing.assert_close(window_nll(model, w).mean().float(), loss)


@pytest.mark.parametrize("index", [0, 1])
def test_stages_compose_to_the_model(index: int) -> None:
    model = _models()[index].eval()
    w = torch.randint(0, V, (3, 12))
    chain = stages(model)
    assert chain[0].name == "embed" and chain[-1].name == "head"
    torch.testing.assert_close(compose(chain, w), model(w))


@pytest.mark.parametrize("index", [0, 1])
def test_generate_is_seeded_and_follows_the_model(index: int) -> None:
    model = _models()[index]
    a = generate(model, 4, 20, generator=torch.Generator().manual_seed(3), burn_in=5)
    b = generate(model, 4, 20, generator=torch.Generator().manual_seed(3), burn_in=5)
    assert a.shape == (4, 20) and a.dtype == torch.int64 and torch.equal(a, b)
    # A model that always predicts token 7 generates only 7s.
    head = model.head if isinstance(model, CharGRU) else model.head[1]
    with torch.no_grad():
        head.weight.zero_()
        head.bias.fill_(-1e4)
        head.bias[7] = 1e4
    c = generate(model, 2, 50, generator=torch.Generator().manual_seed(4))
    assert (c == 7).all()


def test_gru_generation_with_state_equals_running_the_whole_sequence() -> None:
    model = _models()[0].eval()
    w = torch.randint(0, V, (2, 10))
    full = model(w)
    state, steps = None, []
    for t in range(10):
        logits, state = model.run(w[:, t : t + 1], state)
        steps.append(logits)
    torch.testing.assert_close(torch.cat(steps, dim=1), full)


def test_text_windows() -> None:
    ids = torch.arange(10)
    assert text_windows(ids, 4).tolist() == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert text_windows(ids, 4, stride=3).shape == (3, 4)
    with pytest.raises(ValueError, match="at least"):
        text_windows(ids, 11)


def test_transformer_incremental_decoding_equals_the_full_forward() -> None:
    model = _models()[1].eval()
    w = torch.randint(0, V, (3, 32))
    full = model(w)
    caches: list[object] = [None] * len(model.blocks)
    steps = []
    with torch.no_grad():
        for t in range(32):
            logits, caches = model.step(w[:, t], t, caches)
            steps.append(logits)
    torch.testing.assert_close(torch.stack(steps, dim=1), full, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="beyond the context"):
        model.step(w[:, 0], 32, caches)


@pytest.mark.parametrize("index", [0, 1])
def test_measure_starts_after_the_embedding(index: int) -> None:
    from criticality import measure

    model = _models()[index]
    w = torch.randint(0, V, (2, 12), generator=torch.Generator().manual_seed(5))
    rep = measure(model, w, measures="lyapunov", start_after="embed")
    names = [s.name for s in stages(model)][1:]
    assert list(rep.stage_names) == names and math.isfinite(rep.lambda_max)
