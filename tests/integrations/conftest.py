"""The integration tests use the real optional packages (``make test`` installs every extra)."""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
import torch


def require(module: str, extra: str) -> ModuleType:
    """Import ``module``; skip where the extra is not installed, fail on CI (which has it)."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        reason = f"{module} is not installed: pip install 'criticality[{extra}]' ({err})"
        if os.environ.get("CI"):
            pytest.fail(f"CI installs every extra; {reason}")
        pytest.skip(reason)


@pytest.fixture(scope="session")
def transformers() -> ModuleType:
    return require("transformers", "hf")


@pytest.fixture(scope="session")
def lightning() -> ModuleType:
    return require("lightning", "lightning")


@pytest.fixture(scope="session")
def gpt2_checkpoint(transformers: ModuleType) -> Callable[..., Path]:
    """``save(folder, words, n_positions=64)``: a random-init two-layer GPT-2 (seed 0) with a
    word-level tokenizer over ``words``, saved in ``folder`` as a user's checkpoint would be."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    def save(folder: Path, words: str, n_positions: int = 64) -> Path:
        vocab = {w: i for i, w in enumerate(["[UNK]", *dict.fromkeys(words.split())])}
        tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
        tok.pre_tokenizer = pre_tokenizers.Whitespace()
        fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]")
        fast.save_pretrained(folder)
        config = transformers.GPT2Config(
            n_layer=2, n_embd=16, n_head=2, n_positions=n_positions, vocab_size=len(vocab),
            bos_token_id=0, eos_token_id=0,
        )  # fmt: skip
        with torch.random.fork_rng():
            torch.manual_seed(0)
            transformers.GPT2LMHeadModel(config).save_pretrained(folder)
        return folder

    return save
