"""Character-level language models (a small GRU and a small transformer), sampling, perplexity.

Both map token ids ``(B, T)`` to next-token logits ``(B, T, V)`` over the fixed vocabulary of
:mod:`criticality.data.text` (``V = 96``). Perplexity of a text window is
``exp(mean_t −ln p(c_{t+1} | c_{≤t}))``; a model that predicts the uniform distribution has
perplexity ``V`` on any text.

Two ways to generate the next generation's data:

* :func:`generate`: unconditional ancestral sampling at a temperature (1 by default): the regime
  of Kazdan, Schaeffer et al. (2024, "Collapse or Thrive?"), whose language models sample at
  temperature 1;
* :func:`beam_search`: conditioned on prompts, 5 beams with a repetition penalty of 3.0 and
  exactly 64 new tokens after 64-token prompts from the training set: Shumailov et al.'s
  protocol (``Zakahler/curse_recurse``, ``main.py`` line 305,
  ``model.generate(input_ids, num_beams=5, max_new_tokens=64, min_new_tokens=64,
  repetition_penalty=3.0)``, prompts the 64-token blocks of ``dataset.py`` line 31).
  Beam search makes samples *more* probable under the model, temperature sampling does not:
  the two regimes collapse differently.

Stages (depth is time): the embedding, then each recurrent layer (GRU) or transformer block,
then the output head. Measures start after the embedding (token ids are not a space to perturb);
for the GRU, :mod:`.intime` also measures the dynamics across time steps.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from criticality.stages import Stage, register_adapter


class CharGRU(nn.Module):
    """Embedding, a stack of single-layer GRUs, a linear head.

    Args:
        vocab: vocabulary size ``V``.
        embed: embedding width.
        hidden: GRU width ``H``.
        layers: stacked GRU layers.
    """

    def __init__(self, vocab: int = 96, *, embed: int = 32, hidden: int = 128, layers: int = 2):
        super().__init__()
        self.vocab, self.hidden, self.layers = vocab, hidden, layers
        self.embed = nn.Embedding(vocab, embed)
        self.rnn = nn.ModuleList(
            nn.GRU(embed if i == 0 else hidden, hidden, batch_first=True) for i in range(layers)
        )
        self.head = nn.Linear(hidden, vocab)

    def forward(
        self, tokens: torch.Tensor, state: list[torch.Tensor] | None = None
    ) -> torch.Tensor:
        """Logits ``(B, T, V)`` of token ids ``(B, T)`` from zero (or the given) states."""
        return self.run(tokens, state)[0]

    def run(
        self, tokens: torch.Tensor, state: list[torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Logits ``(B, T, V)`` and the final state of each layer, ``(1, B, H)`` each."""
        h = self.embed(tokens)
        new_state = []
        for i, gru in enumerate(self.rnn):
            h, s = gru(h, None if state is None else state[i])
            new_state.append(s)
        return self.head(h), new_state


class _Block(nn.Module):
    """Pre-norm transformer block with causal self-attention and a GELU MLP."""

    def __init__(self, width: int, heads: int, mlp_ratio: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.qkv, self.proj = nn.Linear(width, 3 * width), nn.Linear(width, width)
        self.mlp = nn.Sequential(
            nn.Linear(width, mlp_ratio * width), nn.GELU(), nn.Linear(mlp_ratio * width, width)
        )

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        b, t, d = h.shape
        q, k, v = self.qkv(self.norm1(h)).split(d, dim=2)
        q, k, v = (a.reshape(b, t, self.heads, d // self.heads).transpose(1, 2) for a in (q, k, v))
        att = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, heads, T, d/heads)
        h = h + self.proj(att.transpose(1, 2).reshape(b, t, d))
        return h + self.mlp(self.norm2(h))

    def step(
        self, h: torch.Tensor, cache: tuple[torch.Tensor, torch.Tensor] | None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """One new position ``h`` ``(B, D)`` attending to the cached keys and values
        ``(B, heads, t, D/heads)`` of the earlier positions; returns the output and the cache."""
        b, d = h.shape
        q, k, v = (a.reshape(b, self.heads, 1, d // self.heads)
                   for a in self.qkv(self.norm1(h)).split(d, dim=1))  # fmt: skip
        if cache is not None:
            k, v = torch.cat([cache[0], k], dim=2), torch.cat([cache[1], v], dim=2)
        att = F.scaled_dot_product_attention(q, k, v)  # every cached position is in the past
        h = h + self.proj(att.reshape(b, d))
        return h + self.mlp(self.norm2(h)), (k, v)


class _Embed(nn.Module):
    """Token plus learned position embedding: ids ``(B, T)`` -> ``(B, T, D)``."""

    def __init__(self, vocab: int, width: int, context: int) -> None:
        super().__init__()
        self.tok, self.pos = nn.Embedding(vocab, width), nn.Embedding(context, width)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.tok(tokens) + self.pos(torch.arange(tokens.shape[1], device=tokens.device))


class CharTransformer(nn.Module):
    """A small causal transformer (GPT-style, pre-norm) over characters.

    Args:
        vocab: vocabulary size ``V``.
        width: model width.
        heads: attention heads (divide ``width``).
        layers: blocks.
        context: longest window (learned positions).
        mlp_ratio: MLP width over model width.
    """

    def __init__(
        self,
        vocab: int = 96,
        *,
        width: int = 64,
        heads: int = 4,
        layers: int = 4,
        context: int = 128,
        mlp_ratio: int = 4,
    ) -> None:
        super().__init__()
        if width % heads:
            raise ValueError(f"width={width} must be a multiple of heads={heads}")
        self.vocab, self.context = vocab, context
        self.embed = _Embed(vocab, width, context)
        self.blocks = nn.ModuleList(_Block(width, heads, mlp_ratio) for _ in range(layers))
        self.head = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, vocab))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, T, V)`` of token ids ``(B, T)``, ``T <= context``."""
        if tokens.shape[1] > self.context:
            raise ValueError(f"windows of {tokens.shape[1]} exceed the context {self.context}")
        h = self.embed(tokens)
        for block in self.blocks:
            h = block(h)
        return self.head(h)

    def step(
        self, token: torch.Tensor, position: int, caches: list[Any]
    ) -> tuple[torch.Tensor, list[Any]]:
        """Logits ``(B, V)`` of the token ids ``(B,)`` at ``position`` given the key-value
        caches of the earlier positions (``[None] * layers`` at position 0): incremental
        decoding, equal to ``forward`` on the whole prefix."""
        if position >= self.context:
            raise ValueError(f"position {position} is beyond the context {self.context}")
        h = self.embed.tok(token) + self.embed.pos.weight[position]
        new = []
        for block, cache in zip(self.blocks, caches, strict=True):
            assert isinstance(block, _Block)
            h, c = block.step(h, cache)
            new.append(c)
        return self.head(h), new


class _GRULayer(nn.Module):
    """One GRU layer as a stage: ``(B, T, in) -> (B, T, H)`` from a zero state."""

    def __init__(self, gru: nn.GRU) -> None:
        super().__init__()
        self.gru = gru

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.gru(h)[0]


@register_adapter(f"{CharGRU.__module__}.{CharGRU.__qualname__}")
def _gru_stages(model: CharGRU) -> list[Stage]:
    return [
        Stage("embed", model.embed),
        *(Stage(f"rnn.{i}", _GRULayer(g)) for i, g in enumerate(model.rnn)),  # type: ignore[arg-type]
        Stage("head", model.head),
    ]


@register_adapter(f"{CharTransformer.__module__}.{CharTransformer.__qualname__}")
def _transformer_stages(model: CharTransformer) -> list[Stage]:
    return [
        Stage("embed", model.embed),
        *(Stage(f"blocks.{i}", b) for i, b in enumerate(model.blocks)),
        Stage("head", model.head),
    ]


def sequence_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy (nats) of logits ``(B, T, V)`` and targets ``(B, T)``."""
    return F.cross_entropy(logits.flatten(0, 1), targets.flatten())


@torch.no_grad()
def window_nll(model: nn.Module, windows: torch.Tensor, *, batch_size: int = 256) -> torch.Tensor:
    """Mean negative log-likelihood per predicted token of each window, shape ``(N,)``.

    Args:
        model: a character LM (ids ``(B, T)`` -> logits ``(B, T, V)``).
        windows: token ids ``(N, T + 1)``; tokens ``1..T`` are predicted from their prefixes.
    """
    was = model.training
    model.eval()
    try:
        out = []
        for w in windows.split(batch_size):
            logits = model(w[:, :-1])
            nll = F.cross_entropy(logits.transpose(1, 2), w[:, 1:], reduction="none")
            out.append(nll.double().mean(dim=1))
    finally:
        model.train(was)
    return torch.cat(out)


def perplexity(model: nn.Module, windows: torch.Tensor, *, batch_size: int = 256) -> float:
    """``exp`` of the mean per-token negative log-likelihood over all windows ``(N, T + 1)``."""
    return math.exp(float(window_nll(model, windows, batch_size=batch_size).mean()))


@torch.no_grad()
def generate(
    model: nn.Module,
    n: int,
    length: int,
    *,
    generator: torch.Generator,
    temperature: float = 1.0,
    start: int = 0,
    burn_in: int = 32,
) -> torch.Tensor:
    """Sample ``n`` sequences of ``length`` tokens by ancestral sampling at ``temperature``.

    Each sequence starts from token ``start`` (newline) and its first ``burn_in`` sampled tokens
    are dropped, so that windows start anywhere in a line, as real windows do. The GRU carries
    its state; the transformer decodes incrementally with a key-value cache while the sequence
    fits its context, then conditions on its last ``context`` tokens.

    Returns:
        int64 token ids, shape ``(n, length)``.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    was = model.training
    model.eval()
    device = next(model.parameters()).device
    seq = torch.full((n, 1), start, dtype=torch.int64, device=device)
    state: Any = None
    caches: list[Any] = [None] * len(getattr(model, "blocks", []))
    try:
        for _ in range(burn_in + length):
            if isinstance(model, CharGRU):
                logits, state = model.run(seq[:, -1:], state)
            elif isinstance(model, CharTransformer) and seq.shape[1] <= model.context:
                step_logits, caches = model.step(seq[:, -1], seq.shape[1] - 1, caches)
                logits = step_logits[:, None]
            else:
                logits = model(seq[:, -getattr(model, "context", seq.shape[1]) :])
            probs = torch.softmax(logits[:, -1].double() / temperature, dim=-1).cpu()
            nxt = torch.multinomial(probs, 1, generator=generator).to(device)
            seq = torch.cat([seq, nxt], dim=1)
    finally:
        model.train(was)
    return seq[:, 1 + burn_in :].cpu()


def text_windows(ids: torch.Tensor, length: int, *, stride: int | None = None) -> torch.Tensor:
    """Cut a token stream ``(L,)`` into windows ``(N, length)`` every ``stride`` tokens."""
    stride = stride or length
    if ids.ndim != 1 or len(ids) < length:
        raise ValueError(f"need a 1-D stream of at least {length} tokens, got {tuple(ids.shape)}")
    return ids.unfold(0, length, stride).contiguous()


def penalise_repeats(scores: torch.Tensor, seen: torch.Tensor, penalty: float) -> torch.Tensor:
    """The repetition penalty of Keskar et al. (2019) as ``transformers`` applies it.

    A token already in the sequence has its score divided by ``penalty`` where the score is
    positive and multiplied by it where negative (``RepetitionPenaltyLogitsProcessor``). In
    ``transformers``' beam search the scores are log-probabilities (all negative), so a seen
    token's log-probability is multiplied by ``penalty``.

    Args:
        scores: ``(B, V)``.
        seen: ``(B, V)`` booleans, the tokens present in each sequence so far (prompt included).
        penalty: ``>= 1``; 1 changes nothing.
    """
    if penalty == 1.0:
        return scores
    hit = torch.where(scores < 0, scores * penalty, scores / penalty)
    return torch.where(seen, hit, scores)


@torch.no_grad()
def beam_search(
    model: nn.Module,
    prompts: torch.Tensor,
    new_tokens: int,
    *,
    beams: int = 5,
    repetition_penalty: float = 1.0,
    batch_size: int = 256,
) -> torch.Tensor:
    """The most probable continuation of each prompt found by beam search.

    As ``transformers``' ``generate(num_beams=beams, repetition_penalty=...,
    min_new_tokens=max_new_tokens=new_tokens)`` for a vocabulary without an end token: at every
    step each beam's next-token log-probabilities (``log_softmax`` of the logits) are penalised
    for repeats (:func:`penalise_repeats`), added to the beam's score, and the ``beams`` best of
    all ``beams × V`` extensions are kept (at the first step only the prompt's own beam
    extends, so the beams start distinct). All hypotheses have the same length, so the result
    is the beam with the highest summed (penalised) score.

    Args:
        model: a :class:`CharGRU` or :class:`CharTransformer` (any model mapping ids ``(B, T)``
            to logits ``(B, T, V)`` works, recomputed over the whole prefix each step).
        prompts: token ids ``(N, P)``.
        new_tokens: tokens to add to each prompt.
        beams: beams per prompt (1: greedy decoding).
        repetition_penalty: ``>= 1``.
        batch_size: prompts decoded together.

    Returns:
        int64 ids of the new tokens only, shape ``(N, new_tokens)``.
    """
    if beams < 1 or new_tokens < 1 or repetition_penalty < 1.0:
        raise ValueError(
            f"need beams >= 1, new_tokens >= 1 and repetition_penalty >= 1, got {beams}, "
            f"{new_tokens} and {repetition_penalty}"
        )
    if prompts.ndim != 2 or prompts.shape[1] < 1:
        raise ValueError(
            f"prompts must be token ids (N, P) with P >= 1, got {tuple(prompts.shape)}"
        )
    was = model.training
    model.eval()
    try:
        out = [
            _beam_batch(model, p, new_tokens, beams, repetition_penalty)
            for p in prompts.split(batch_size)
        ]
    finally:
        model.train(was)
    return torch.cat(out)


def _beam_batch(
    model: nn.Module, prompts: torch.Tensor, new_tokens: int, beams: int, penalty: float
) -> torch.Tensor:
    n, p = prompts.shape
    device = next(model.parameters()).device
    seq = prompts.to(device).repeat_interleave(beams, dim=0)  # (n·beams, P)
    vocab = getattr(model, "vocab", None)
    decoder = _Decoder(model)
    logits = decoder.start(seq)  # (n·beams, V)
    vocab = logits.shape[-1] if vocab is None else vocab
    seen = torch.zeros(n * beams, vocab, dtype=torch.bool, device=device)
    seen.scatter_(1, seq, True)
    score = torch.full((n, beams), -1e9, dtype=torch.float64, device=device)
    score[:, 0] = 0.0  # only the first copy of each prompt extends at the first step
    rows = torch.arange(n, device=device)[:, None] * beams  # (n, 1)
    for _ in range(new_tokens):
        logp = torch.log_softmax(logits.double(), dim=-1)
        logp = penalise_repeats(logp, seen, penalty)
        cand = (score[:, :, None] + logp.view(n, beams, vocab)).view(n, beams * vocab)
        score, idx = cand.topk(beams, dim=1)  # sorted, best first
        origin = (rows + idx // vocab).view(-1)  # (n·beams,) the beam each one extends
        token = (idx % vocab).view(-1, 1)
        seq = torch.cat([seq[origin], token], dim=1)
        seen = seen[origin].scatter_(1, token, True)
        logits = decoder.step(origin, token[:, 0], seq)
    best = seq.view(n, beams, -1)[:, 0, p:]  # topk sorted: beam 0 holds the best score
    return best.cpu()


class _Decoder:
    """Incremental next-token logits with beam reordering: the GRU's states, the transformer's
    key-value caches, or (any other model) the whole prefix again."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.state: Any = None

    def start(self, seq: torch.Tensor) -> torch.Tensor:
        m = self.model
        if isinstance(m, CharGRU):
            logits, self.state = m.run(seq)
            return logits[:, -1]
        if isinstance(m, CharTransformer) and seq.shape[1] <= m.context:
            caches: list[Any] = [None] * len(m.blocks)
            for t in range(seq.shape[1]):
                logits, caches = m.step(seq[:, t], t, caches)
            self.state = caches
            return logits
        return m(seq)[:, -1]

    def step(self, origin: torch.Tensor, token: torch.Tensor, seq: torch.Tensor) -> torch.Tensor:
        m = self.model
        if isinstance(m, CharGRU):
            state = [s[:, origin] for s in self.state]  # (1, B, H) each
            logits, self.state = m.run(token[:, None], state)
            return logits[:, -1]
        if isinstance(m, CharTransformer) and self.state is not None and seq.shape[1] <= m.context:
            caches = [(k[origin], v[origin]) for k, v in self.state]
            logits, self.state = m.step(token, seq.shape[1] - 1, caches)
            return logits
        self.state = None
        context = getattr(m, "context", seq.shape[1])
        return m(seq[:, -context:])[:, -1]
