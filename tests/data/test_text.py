"""The character corpus: exact round trip of the KJV bytes, fixed vocabulary."""

from __future__ import annotations

import pytest
import torch

from criticality.data import CharCorpus, load_text
from criticality.data.text import VOCAB


def test_kjv_decodes_back_to_the_original_bytes(need) -> None:
    raw = (need("kjv") / "kjv.txt").read_bytes()
    corpus = load_text("kjv")
    ids = corpus.encode(corpus.text)
    assert ids.shape == (len(raw),) and ids.dtype == torch.int64
    assert corpus.decode(ids).encode("ascii") == raw
    assert corpus.text.lstrip().startswith("Genesis 1")
    assert 4_000_000 < len(raw) < 4_600_000
    assert int(ids.max()) < len(corpus.vocab) == 96


def test_vocabulary_is_fixed() -> None:
    assert CharCorpus("ab").vocab == CharCorpus("xyz\n").vocab == VOCAB
    assert VOCAB[0] == "\n" and VOCAB[1] == " " and VOCAB[-1] == "~"
    corpus = CharCorpus("Hello, world!\n")
    assert corpus.decode(corpus.encode("dlrow")) == "dlrow"


def test_own_file(tmp_path) -> None:
    path = tmp_path / "mine.txt"
    path.write_bytes(b"line one\nline two\n")
    assert load_text(path=path).text == "line one\nline two\n"
    path.write_bytes(b"windows\r\n")  # newline="": a CR is kept, and is outside the vocabulary
    with pytest.raises(ValueError, match=r"\['\\r'\]"):
        load_text(path=path)


@pytest.mark.parametrize("text", ["caf\u00e9", "tab\there"])
def test_characters_outside_the_vocabulary_are_rejected(text) -> None:
    with pytest.raises(ValueError, match="vocabulary"):
        CharCorpus(text)
    with pytest.raises(ValueError, match="vocabulary"):
        CharCorpus("x").encode(text)
