"""`criticality lm` on a local checkpoint folder; `criticality report --format/--tensorboard`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pandas as pd
import pytest
import torch

import criticality as cr
from criticality.cli.main import main

WORDS = "in the beginning god created the heaven and the earth and the earth was without form"


def test_lm_command_then_tables_and_tensorboard(
    transformers: ModuleType,
    gpt2_checkpoint: Callable[..., Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ckpt, out = tmp_path / "my-gpt2", tmp_path / "out"
    gpt2_checkpoint(ckpt, WORDS, n_positions=32)
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
    gpt2_checkpoint: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gpt2_checkpoint(tmp_path / "ckpt", WORDS, n_positions=32)
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
