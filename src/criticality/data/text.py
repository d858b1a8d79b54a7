"""A character-level text corpus with a fixed vocabulary, for small language models."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from criticality.data._registry import fetch

VOCAB: tuple[str, ...] = ("\n", *(chr(c) for c in range(32, 127)))
"""The fixed vocabulary: newline and the 95 printable ASCII characters (token ids 0..95)."""

CORPORA = {"kjv": "kjv.txt"}
"""Text corpora by name: the file inside the fetched item of the same name."""


@dataclass(frozen=True)
class CharCorpus:
    """A text and its character tokenizer.

    Attributes:
        text: the whole corpus.
        vocab: the fixed vocabulary; token id ``i`` is ``vocab[i]``.
    """

    text: str
    vocab: tuple[str, ...] = VOCAB
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {ch: i for i, ch in enumerate(self.vocab)})
        unknown = sorted(set(self.text) - set(self.vocab))
        if unknown:
            raise ValueError(f"text holds characters outside the vocabulary: {unknown[:10]}")

    def __len__(self) -> int:
        return len(self.text)

    def encode(self, text: str) -> torch.Tensor:
        """Map a string to token ids.

        Args:
            text: characters from :attr:`vocab`.

        Returns:
            int64 tensor of shape ``(len(text),)``.
        """
        try:
            ids = [self._index[ch] for ch in text]
        except KeyError as err:
            raise ValueError(f"character {err.args[0]!r} is not in the vocabulary") from None
        return torch.tensor(ids, dtype=torch.int64)

    def decode(self, ids: torch.Tensor) -> str:
        """Map token ids of shape ``(T,)`` back to a string of length ``T``."""
        flat = ids.reshape(-1).tolist()
        if flat and (min(flat) < 0 or max(flat) >= len(self.vocab)):
            raise ValueError(f"token ids must lie in [0, {len(self.vocab)})")
        return "".join(self.vocab[i] for i in flat)


def load_text(name: str = "kjv", *, path: str | Path | None = None) -> CharCorpus:
    """Load a text corpus, fetching it on first use.

    Args:
        name: a key of :data:`CORPORA` (``"kjv"``: the King James Bible, 4.3 MB of ASCII from
            Debian's ``bible-kjv`` packages).
        path: your own plain-text file instead (ASCII; newline and printable characters).

    Returns:
        The corpus with the fixed vocabulary :data:`VOCAB`.
    """
    if path is None:
        if name not in CORPORA:
            raise ValueError(f"unknown corpus {name!r}; choose one of {sorted(CORPORA)}")
        path = fetch(name) / CORPORA[name]
    with open(path, encoding="ascii", newline="") as fh:  # newline="": keep the bytes as they are
        return CharCorpus(fh.read())
