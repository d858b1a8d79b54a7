"""Diversity and tail statistics of generated text against a real reference text.

* distinct-``n``: unique character ``n``-grams over all ``n``-grams of the samples (within each
  window), the usual diversity ratio; compare it only between equal sample sizes;
* rare-character mass: the share of generated characters among the characters that are rare in
  the real text (real frequency below ``rare_char``, default 0.1 %);
* rare-word mass: the share of generated words (maximal runs of letters, lower-cased) that are
  real words seen at most ``rare_word`` times in the real text; non-word rate: the share of
  generated words never seen in the real text;
* a histogram of per-window perplexities on fixed bins of ``ln`` perplexity (Shumailov et al.'s
  Fig. 3 shape: generations concentrate on low-perplexity text, the tails go).
"""

from __future__ import annotations

import collections
import dataclasses
import math
import re

import numpy as np
import torch

_WORD = re.compile(r"[A-Za-z]+")
PPL_BINS = np.linspace(0.0, math.log(96.0), 41)
"""Bin edges of ``ln`` perplexity for the histograms (0 to ``ln V``)."""


@dataclasses.dataclass(frozen=True)
class TextReference:
    """What the statistics need to know of the real text.

    Attributes:
        char_freq: frequency of each vocabulary id in the real text, ``V`` entries.
        word_count: count of each real word (lower-cased).
        rare_chars: vocabulary ids rarer than the threshold (but present).
        rare_word: a real word is rare when seen at most this many times.
    """

    char_freq: tuple[float, ...]
    word_count: dict[str, int]
    rare_chars: tuple[int, ...]
    rare_word: int


def text_reference(
    ids: torch.Tensor, text: str, *, vocab: int = 96, rare_char: float = 1e-3, rare_word: int = 5
) -> TextReference:
    """Build a :class:`TextReference` from the real token ids ``(L,)`` and the same text."""
    freq = torch.bincount(ids.reshape(-1), minlength=vocab).double() / ids.numel()
    rare = tuple(int(i) for i in torch.nonzero((freq > 0) & (freq < rare_char)).flatten())
    words = collections.Counter(w.lower() for w in _WORD.findall(text))
    return TextReference(tuple(freq.tolist()), dict(words), rare, rare_word)


def distinct_ngrams(windows: torch.Tensor, n: int) -> float:
    """Unique ``n``-grams over all ``n``-grams within the windows ``(N, T)``."""
    if windows.shape[1] < n:
        return float("nan")
    grams = windows.unfold(1, n, 1).reshape(-1, n)  # (N·(T−n+1), n)
    return torch.unique(grams, dim=0).shape[0] / grams.shape[0]


def text_stats(
    windows: torch.Tensor, texts: list[str], ref: TextReference, *, ns: tuple[int, ...] = (3, 6)
) -> dict[str, float]:
    """Diversity and tail statistics of generated windows ``(N, T)`` (ids) and their texts."""
    ids = windows.reshape(-1)
    rare = torch.tensor(ref.rare_chars, dtype=torch.int64)
    out = {f"distinct_{n}": distinct_ngrams(windows, n) for n in ns}
    out["rare_char_mass"] = float(torch.isin(ids, rare).double().mean()) if len(rare) else 0.0
    words = [w.lower() for t in texts for w in _WORD.findall(t)]
    counts = [ref.word_count.get(w, 0) for w in words]
    total = max(len(words), 1)
    out["rare_word_mass"] = sum(1 for c in counts if 0 < c <= ref.rare_word) / total
    out["nonword_rate"] = sum(1 for c in counts if c == 0) / total
    out["distinct_words"] = len(set(words)) / total
    return out


def ppl_histogram(nll: torch.Tensor) -> dict[str, list[float]]:
    """Histogram (densities on :data:`PPL_BINS`) and quantiles of per-window ``ln`` perplexity."""
    x = nll.double().numpy()
    dens, _ = np.histogram(np.clip(x, PPL_BINS[0], PPL_BINS[-1]), bins=PPL_BINS, density=True)
    q = np.quantile(x, [0.05, 0.25, 0.5, 0.75, 0.95])
    return {"density": dens.tolist(), "edges": PPL_BINS.tolist(), "quantiles": q.tolist()}
