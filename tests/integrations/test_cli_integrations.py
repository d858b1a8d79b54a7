"""`criticality lm` on a local checkpoint folder; `criticality report --format/--tensorboard`."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import pandas as pd
import pytest
import torch

import criticality as cr
from criticality.cli.main import main

WORDS = "in the beginning god created the heaven and the earth and the earth was without form"


def save_checkpoint(tf: ModuleType, folder: Path) -> None:
    """A random-init GPT-2 with a word-level tokenizer, saved as a user's checkpoint would be."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {w: i for i, w in enumerate(["[UNK]", *dict.fromkeys(WORDS.split())])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tf.PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]").save_pretrained(folder)
    config = tf.GPT2Config(
        n_layer=2,
        n_embd=16,
        n_head=2,
        n_positions=32,
        vocab_size=len(vocab),
        bos_token_id=0,
        eos_token_id=0,
    )
    torch.manual_seed(0)
    tf.GPT2LMHeadModel(config).save_pretrained(folder)


def test_lm_command_then_tables_and_tensorboard(
    transformers: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ckpt, out = tmp_path / "my-gpt2", tmp_path / "out"
    save_checkpoint(transformers, ckpt)
    text = tmp_path / "probe.txt"
    text.write_text(" ".join([WORDS] * 4))
    assert (
        main(
            [
                "lm",
                str(ckpt),
                "--text",
                str(text),
                "--n-probes",
                "3",
                "--length",
                "8",
                "--measures",
                "lyapunov",
                "branching",
                "--k",
                "2",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "my-gpt2 operates in the" in printed and (out / "report.html").is_file()
    # the numbers are those of criticality.measure on the same model and token windows
    model = transformers.AutoModelForCausalLM.from_pretrained(ckpt, local_files_only=True)
    tok = transformers.AutoTokenizer.from_pretrained(ckpt, local_files_only=True)
    ids = torch.tensor(tok(text.read_text())["input_ids"][:24]).reshape(3, 8)
    expected = cr.measure(
        model, ids, start_after="embed", measures=["lyapunov", "branching"], lyapunov={"k": 2}
    )
    saved = json.loads((out / "results.json").read_text())["data"]["report"]
    assert saved["summary"][0]["value"] == expected.lambda_max

    assert (
        main(["report", str(out), "--format", "parquet", "--tensorboard", str(tmp_path / "tb")])
        == 0
    )
    measures = pd.read_parquet(out / "tables" / "measures.parquet").set_index("measure")
    assert measures.loc["lyapunov", "value"] == expected.lambda_max
    assert measures.loc["branching", "model"] == "my-gpt2"
    assert any((tmp_path / "tb").rglob("events.out.tfevents.*"))


def test_lm_command_with_random_probes(
    transformers: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    save_checkpoint(transformers, tmp_path / "ckpt")
    assert (
        main(
            [
                "lm",
                str(tmp_path / "ckpt"),
                "--n-probes",
                "2",
                "--length",
                "6",
                "--measures",
                "lyapunov",
            ]
        )
        == 0
    )
    assert "λ_1 = " in capsys.readouterr().out
