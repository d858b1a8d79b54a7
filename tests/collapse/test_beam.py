"""Beam search with a repetition penalty: exact on a tiny vocabulary, as transformers does it."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from criticality.collapse import CharGRU, CharTransformer
from criticality.collapse.charlm import beam_search, penalise_repeats

V, L = 3, 4  # vocabulary and new tokens: 81 continuations per prompt


def _gru() -> CharGRU:
    torch.manual_seed(0)
    model = CharGRU(vocab=V, embed=4, hidden=6, layers=2).double()
    with torch.no_grad():  # sharper predictions: greedy and beam search disagree on most prompts
        model.head.weight.mul_(2.0)
    return model


@torch.no_grad()
def _score(model: nn.Module, prompt: torch.Tensor, cont: tuple[int, ...], penalty: float) -> float:
    """The summed penalised log-probability of one continuation, from whole-prefix forwards."""
    seq, total = prompt.tolist(), 0.0
    for tok in cont:
        logits = model(torch.tensor([seq]))[0, -1].double()
        seen = torch.zeros(V, dtype=torch.bool)
        seen[torch.tensor(seq)] = True
        total += float(
            penalise_repeats(torch.log_softmax(logits, -1)[None], seen[None], penalty)[0, tok]
        )
        seq.append(tok)
    return total


def _naive_beams(model: nn.Module, prompt: torch.Tensor, beams: int, penalty: float) -> list[int]:
    """Beam search written out with lists: keep the `beams` best prefixes at every length."""
    hyps: list[tuple[float, tuple[int, ...]]] = [(0.0, ())]
    for _ in range(L):
        cand = []
        for _, cont in hyps:
            for tok in range(V):
                new = (*cont, tok)
                cand.append((_score(model, prompt, new, penalty), new))
        cand.sort(key=lambda c: -c[0])
        hyps = cand[:beams]
    return list(hyps[0][1])


PROMPTS = torch.tensor([[0, 1, 1], [2, 2, 2], [1, 0, 2], [0, 0, 0]])


@pytest.mark.parametrize("penalty", [1.0, 3.0])
def test_enough_beams_find_the_best_continuation_of_an_exhaustive_search(penalty: float) -> None:
    model = _gru()
    got = beam_search(model, PROMPTS, L, beams=V ** (L - 1), repetition_penalty=penalty)
    for prompt, row in zip(PROMPTS, got, strict=True):
        conts = list(itertools.product(range(V), repeat=L))
        scores = [_score(model, prompt, c, penalty) for c in conts]
        best = max(range(len(conts)), key=scores.__getitem__)
        assert row.tolist() == list(conts[best])
        assert sorted(scores)[-1] - sorted(scores)[-2] > 1e-9  # a unique optimum


@pytest.mark.parametrize(("beams", "penalty"), [(1, 1.0), (2, 3.0), (5, 3.0)])
def test_few_beams_match_the_written_out_beam_search(beams: int, penalty: float) -> None:
    model = _gru()
    got = beam_search(model, PROMPTS, L, beams=beams, repetition_penalty=penalty)
    for prompt, row in zip(PROMPTS, got, strict=True):
        assert row.tolist() == _naive_beams(model, prompt, beams, penalty)


@pytest.mark.parametrize("penalty", [1.0, 3.0])
def test_greedy_and_beam_search_differ_somewhere(penalty: float) -> None:
    model = _gru()
    greedy = beam_search(model, PROMPTS, L, beams=1, repetition_penalty=penalty)
    exact = beam_search(model, PROMPTS, L, beams=V ** (L - 1), repetition_penalty=penalty)
    assert not torch.equal(greedy, exact)  # else the tests above could not tell them apart
    assert len(exact.unique()) > 1


def test_the_penalty_divides_positive_and_multiplies_negative_scores() -> None:
    scores = torch.tensor([[2.0, -2.0, 1.0, -1.0]], dtype=torch.float64)
    seen = torch.tensor([[True, True, False, False]])
    assert penalise_repeats(scores, seen, 3.0).tolist() == [[2 / 3, -6.0, 1.0, -1.0]]


class _Opaque(nn.Module):
    """Hides the model's class, so that beam search recomputes the whole prefix each step."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.context = getattr(inner, "context", 10**9)  # the transformer's window

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.inner(tokens)


@pytest.mark.parametrize("arch", ["gru", "transformer"])
def test_incremental_decoding_equals_whole_prefix_decoding(arch: str) -> None:
    torch.manual_seed(0)
    model: nn.Module = (
        CharGRU(embed=8, hidden=16) if arch == "gru"
        else CharTransformer(width=16, heads=2, layers=2, context=24)
    ).double()  # fmt: skip
    prompts = torch.randint(0, 96, (6, 10), generator=torch.Generator().manual_seed(1))
    fast = beam_search(model, prompts, 20, beams=3, repetition_penalty=3.0)  # beyond the context
    slow = beam_search(_Opaque(model), prompts, 20, beams=3, repetition_penalty=3.0)
    assert torch.equal(fast, slow) and fast.shape == (6, 20)


def test_bad_options_are_refused() -> None:
    with pytest.raises(ValueError, match="beams"):
        beam_search(_gru(), PROMPTS, 3, beams=0)
    with pytest.raises(ValueError, match="repetition_penalty"):
        beam_search(_gru(), PROMPTS, 3, repetition_penalty=0.5)
