"""The README's integration examples run as written (Python blocks in one namespace, in order;
``criticality ...`` lines of the shell blocks through the command line's ``main``)."""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch
from torch import nn

from criticality.cli.main import main

README = Path(__file__).resolve().parents[2] / "README.md"
WORDS = "in the beginning god created the heaven and the earth and darkness was upon the deep"

pytestmark = [
    pytest.mark.filterwarnings("ignore:The '.*dataloader' does not have many workers"),
    pytest.mark.filterwarnings(
        "ignore:`isinstance\\(treespec, LeafSpec\\)` is deprecated:FutureWarning"
    ),
]


def blocks() -> list[tuple[str, str]]:
    """``(language, code)`` of every fenced block in the integration section."""
    text = README.read_text()
    section = text.split("## Where you already work", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```(python|bash)\n(.*?)```", section, flags=re.S)


def user_module(L: ModuleType) -> Any:
    class Classifier(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Sequential(
                nn.Linear(8, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 4)
            )

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            x, y = batch
            return nn.functional.cross_entropy(self.net(x), y)

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.Adam(self.parameters(), lr=1e-3)

    return Classifier()


def test_readme_integration_examples_run(
    lightning: ModuleType,
    gpt2_checkpoint: Callable[..., Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("tensorboard")
    found = blocks()
    assert [lang for lang, _ in found].count("python") >= 3 and len(found) >= 5
    monkeypatch.chdir(tmp_path)
    gpt2_checkpoint(tmp_path / "path" / "to" / "checkpoint", WORDS)
    (tmp_path / "probe.txt").write_text(" ".join([WORDS] * 40))
    g = torch.Generator().manual_seed(0)
    data = torch.utils.data.TensorDataset(
        torch.randn(64, 8, generator=g), torch.randint(0, 4, (64,), generator=g)
    )
    namespace: dict[str, Any] = {
        "my_lightning_module": user_module(lightning),  # what the reader brings
        "train_loader": torch.utils.data.DataLoader(data, batch_size=16),
    }
    for lang, code in found:
        if lang == "python":
            exec(compile(code, str(README), "exec"), namespace)
            continue
        for line in code.splitlines():
            if line.startswith("criticality "):
                args = shlex.split(line.split("  #", 1)[0])[1:]
                assert main(args) == 0, line
    assert namespace["cb"].records[-1]["step"] == 20
    assert namespace["report"].stage_names[0] == "transformer.h.0"
    assert namespace["report"].metadata["start_after_auto"]  # token ids: after the embedding
    assert not namespace["frames"]["trajectories"].empty
    assert (tmp_path / "runs" / "lm" / "report.html").is_file()
    assert (tmp_path / "runs" / "training" / "tables" / "trajectories.parquet").is_file()
    assert any((tmp_path / "runs" / "tb").rglob("events.out.tfevents.*"))
