"""Resuming never mixes settings, and a damaged checkpoint falls back to the one before (issue 16).

A rerun into a checkpoint folder with other settings (method, learning rate, fewer steps) is
refused with a message offering ``--fresh`` or another folder; more steps continue the run and
say so. Two checkpoints are kept; a cut or garbage ``last.pt`` is moved aside and the previous
one resumes the run; when none is readable the error says how to start over and never suggests
``weights_only=False``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
from torch import nn

from criticality.training import Callback, TrainState, fit
from criticality.training._checkpoint import DamagedCheckpointError


def _model(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 3))


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return torch.randn(64, 8, generator=gen), torch.randint(0, 3, (64,), generator=gen)


def _fit(ckpt: Path, steps: int = 6, **kw: object) -> object:
    options = {"batch_size": 16, "lr": 1e-2, "checkpoint_every": 2, "seed": 0, **kw}
    return fit(_model(), _data(), steps=steps, checkpoint_dir=ckpt, **options)  # type: ignore[arg-type]


class Crash(Callback):
    def __init__(self, at: int) -> None:
        self.at = at

    def on_step_end(self, state: TrainState) -> None:
        if state.step == self.at:
            raise KeyboardInterrupt


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"method": "weight_decay"}, "method"),
        ({"lr": 0.1}, "lr"),
        ({"batch_size": 8}, "batch_size"),
        ({"seed": 1}, "seed"),
        ({"optimizer": "sgd"}, "optimizer"),
    ],
)
def test_other_settings_are_refused(tmp_path: Path, change: dict, named: str) -> None:
    _fit(tmp_path)
    with pytest.raises(ValueError, match=f"other settings .*{named}.*--fresh"):
        _fit(tmp_path, **change)


def test_fewer_steps_are_refused(tmp_path: Path) -> None:
    _fit(tmp_path, steps=6)
    with pytest.raises(ValueError, match="trained 6 steps of task 0, more than the 4 asked"):
        _fit(tmp_path, steps=4)


def test_more_steps_continue_the_run_and_say_so(tmp_path: Path, caplog) -> None:
    _fit(tmp_path, steps=4)
    with caplog.at_level(logging.WARNING):
        resumed = _fit(tmp_path, steps=8)
    assert "continuing that run to 8 steps" in caplog.text
    straight = _fit(tmp_path / "straight", steps=8)
    assert resumed.steps == 8 and resumed.resumed_from == 4  # type: ignore[attr-defined]
    for a, b in zip(
        resumed.state.model.parameters(), straight.state.model.parameters(), strict=True
    ):  # type: ignore[attr-defined]
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_another_architecture_is_refused(tmp_path: Path) -> None:
    _fit(tmp_path)
    other = nn.Sequential(nn.Linear(8, 4), nn.Tanh(), nn.Linear(4, 3))
    with pytest.raises(ValueError, match=r"other settings|another model"):
        fit(other, _data(), steps=6, batch_size=16, lr=1e-2, checkpoint_dir=tmp_path)


def test_previous_checkpoint_is_kept(tmp_path: Path) -> None:
    _fit(tmp_path, steps=5)  # checkpoints at steps 2, 4 and the end, 5
    last = torch.load(tmp_path / "last.pt", weights_only=True)
    previous = torch.load(tmp_path / "previous.pt", weights_only=True)
    assert (last["step"], previous["step"]) == (5, 4)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "foreign"])
def test_damaged_last_checkpoint_falls_back_to_the_previous(
    tmp_path: Path, damage: str, caplog
) -> None:
    with pytest.raises(KeyboardInterrupt):
        _fit(tmp_path, steps=8, callbacks=[Crash(5)])  # checkpoints at 2 and 4
    last = tmp_path / "last.pt"
    if damage == "truncate":
        last.write_bytes(last.read_bytes()[:200])
    elif damage == "garbage":
        last.write_bytes(b"\x00\x13garbage" * 50)
    else:  # a valid torch file that is no checkpoint of ours
        torch.save({"weights": torch.ones(2)}, last)
    with caplog.at_level(logging.WARNING):
        result = _fit(tmp_path, steps=8)
    assert "fell back" in caplog.text
    assert (tmp_path / "last.pt.damaged").is_file()
    assert result.resumed_from == 2  # type: ignore[attr-defined]
    straight = _fit(tmp_path / "straight", steps=8)
    for a, b in zip(
        result.state.model.parameters(), straight.state.model.parameters(), strict=True
    ):  # type: ignore[attr-defined]
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_no_readable_checkpoint_says_how_to_start_over(tmp_path: Path) -> None:
    _fit(tmp_path, steps=6)
    (tmp_path / "last.pt").write_bytes(b"cut")
    (tmp_path / "previous.pt").write_bytes(b"garbage")
    with pytest.raises(DamagedCheckpointError, match=r"no readable checkpoint.*--fresh") as info:
        _fit(tmp_path, steps=6)
    assert "weights_only" not in str(info.value)
    assert info.value.__cause__ is None and info.value.__context__ is None  # torch's text hidden


def test_pickled_code_in_a_checkpoint_is_never_run(tmp_path: Path) -> None:
    # A file holding arbitrary objects: refused as not ours, the object never constructed.
    torch.save({"step": 1, "payload": Path("x")}, tmp_path / "last.pt")
    with pytest.raises(DamagedCheckpointError) as info:
        _fit(tmp_path)
    assert "weights_only" not in str(info.value)
