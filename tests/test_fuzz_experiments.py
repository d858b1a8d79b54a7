"""Damaged files in an experiment's output folder (issue 28): every file cut short, overwritten
with random bytes or deleted gives either a clear error naming that file, or a completed rerun
whose numbers equal an undamaged run's. A crafted pickle in a folder runs nothing.

Each row of :data:`CASES` is one file of one experiment: every experiment keeps its units with
:func:`criticality.experiments._units.cached_unit` (or its read and write halves), so every row
is expected to pass.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from criticality.experiments import get_experiment

Damage = Callable[[Path], None]


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _random(path: Path) -> None:
    path.write_bytes(os.urandom(max(path.stat().st_size, 16)))


def _delete(path: Path) -> None:
    path.unlink()


DAMAGES: dict[str, Damage] = {"truncate": _truncate, "random": _random, "delete": _delete}

#: Seconds-long configs: the tiny preset made smaller still.
CONFIGS: dict[str, dict[str, Any]] = {
    "phase": {"activations": ("tanh",), "seeds": (0,), "sigma_w": (1.0, 1.6), "depth": 3,
              "width": 8, "n_inputs": 2, "measures": ("lyapunov",)},
    "measure": {},
    "training": {"models": ("mlp",), "methods": ("plain", "critical_global"),
                 "init_study": (), "steps": 10, "n_test": 100, "n_robust": 20},
}  # fmt: skip


def _config(name: str) -> Any:
    spec = get_experiment(name)
    return dataclasses.replace(spec.preset("tiny"), **CONFIGS.get(name, {}))


_VOLATILE = {"created", "elapsed", "throughput", "command", "timestamp", "time_ratio", "joules"}


def _stable(value: Any) -> Any:
    """The numbers of a run, without wall times (``*seconds*``, their ratios, energy from them)
    and dates; NaN as a string, so that two NaNs compare equal."""
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items()
                if k not in _VOLATILE and "seconds" not in k}  # fmt: skip
    if isinstance(value, list):
        return [_stable(v) for v in value]
    if isinstance(value, float) and value != value:
        return "nan"
    return value


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """A finished, undamaged run of each experiment (made once per module)."""
    runs: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in runs:
            out = tmp_path_factory.mktemp(name) / "run"
            get_experiment(name).run(_config(name), out)
            runs[name] = out
        return runs[name]

    return get


#: (experiment, file in its folder, damage).
CASES: list[Any] = [
    *[pytest.param("phase", "parts/phase_tanh.json", d) for d in DAMAGES],
    *[pytest.param("phase", "parts/config.json", d) for d in DAMAGES],
    *[pytest.param("phase", ".criticality-run.json", d) for d in DAMAGES],
    *[pytest.param("phase", "results.json", d) for d in DAMAGES],
    *[pytest.param("measure", "results.json", d) for d in DAMAGES],
    *[
        pytest.param(name, path, d)
        for name, path in [
            ("training", "runs/<run>.json"),
            ("training", "runs/config.json"),
            ("continual", "units/plain-s0_1/runs.json"),
            ("continual", "units/plain-s0_1/config.json"),
            ("continual", "units/plain-s0_1/checkpoint/last.pt"),
            ("collapse", "units/gmm/replace-plain/seed0/gen_001/model.pt"),
            ("collapse", "units/gmm/replace-plain/seed0/gen_001/samples.pt"),
            ("collapse", "units/gmm/replace-plain/seed0/gen_001/record.json"),
        ]
        for d in DAMAGES
    ],
    *[
        pytest.param(name, path, d)
        for name, path in [
            ("zoo", "zoo_parts/mnist_mlp4-tanh-σ1.json"),
            ("architectures", "parts/arch_resnet18.json"),
            # the tiny preset's store key (a change of its settings renames the folder)
            (
                "zoo-train",
                "zoo_train_work/7ef4ead1de414c7b/fashion_mnist/densenet_g12_2222/"
                "seed0/point_4.json",
            ),
        ]
        for d in DAMAGES
    ],
]


@pytest.mark.parametrize(("name", "relative", "damage"), CASES)
def test_damaged_file_is_named_or_recovered(
    finished: Callable[[str], Path], tmp_path: Path, name: str, relative: str, damage: str
) -> None:
    reference = finished(name)
    out = tmp_path / "run"
    shutil.copytree(reference, out)
    path = _resolve(out, relative)
    assert path.is_file(), f"the case names no file of a {name} run: {relative}"
    DAMAGES[damage](path)
    try:
        get_experiment(name).run(_config(name), out)
    except ValueError as err:  # a clear error: it names the damaged file, in one line
        assert str(path) in str(err) or path.name in str(err), err
        assert "\n" not in str(err).strip() and "weights_only=False" not in str(err)
        return
    got = json.loads((out / "results.json").read_text())["data"]
    want = json.loads((reference / "results.json").read_text())["data"]
    assert _stable(got) == _stable(want)


def _resolve(out: Path, relative: str) -> Path:
    """``out / relative``; a ``<name>`` in it stands for any name: the first such file (other
    than a folder's ``config.json`` stamp, a case of its own)."""
    if "<" not in relative:
        return out / relative
    pattern = re.sub(r"<[^>]+>", "*", relative)
    found = sorted(p for p in out.glob(pattern) if p.name != "config.json")
    return found[0] if found else out / relative


class _Payload:
    """Unpickling this creates a marker file: the attack of issue 28."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))


def test_a_crafted_checkpoint_runs_nothing_and_training_recovers(tmp_path: Path) -> None:
    """``last.pt`` replaced by a crafted pickle: fit falls back to ``previous.pt``; with both
    crafted, the error names the folder; the payload never runs."""
    from criticality.training import fit
    from criticality.training._checkpoint import DamagedCheckpointError

    gen = torch.Generator().manual_seed(0)
    data = torch.randn(32, 4, generator=gen), torch.randint(0, 2, (32,), generator=gen)

    def net() -> torch.nn.Module:
        torch.manual_seed(0)
        return torch.nn.Linear(4, 2)

    ckpt, marker = tmp_path / "ckpt", tmp_path / "pwned"
    fit(net(), data, steps=4, batch_size=8, checkpoint_dir=ckpt, checkpoint_every=3)
    torch.save({"step": _Payload(marker)}, ckpt / "last.pt")
    result = fit(net(), data, steps=4, batch_size=8, checkpoint_dir=ckpt)
    assert result.resumed_from == 3 and not marker.exists()  # previous.pt: step 3
    torch.save({"step": _Payload(marker)}, ckpt / "last.pt")
    torch.save({"step": _Payload(marker)}, ckpt / "previous.pt")
    with pytest.raises(DamagedCheckpointError, match=re.escape(str(ckpt))):
        fit(net(), data, steps=4, batch_size=8, checkpoint_dir=ckpt)
    assert not marker.exists()


#: Every experiment with a finished folder in this module (the zoo family's runs take longest).
EXPERIMENTS = ("phase", "measure", "training", "continual", "collapse", "zoo", "architectures",
               "zoo-train")  # fmt: skip


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_a_crafted_pickle_in_any_file_of_a_folder_runs_nothing(
    finished: Callable[[str], Path], tmp_path: Path, name: str
) -> None:
    """Every file of a finished folder that a run could read back as a tensor file (each
    ``.pt``, and each unit ``.json`` too) replaced by a pickle whose unpickling would create a
    marker file: the rerun names a damaged file or completes, and the payload never runs."""
    out = tmp_path / "run"
    shutil.copytree(finished(name), out)
    marker = tmp_path / "pwned"
    targets = sorted(p for p in out.rglob("*") if p.is_file() and p.suffix in (".pt", ".json"))
    targets = [p for p in targets if p.name != ".criticality-run.json"]
    assert targets, f"{name}: no file to replace"
    for path in targets:
        torch.save({"value": _Payload(marker)}, path)
    try:
        get_experiment(name).run(_config(name), out)
    except ValueError as err:  # a clear error naming a file of the folder
        assert str(out) in str(err) or any(p.name in str(err) for p in targets), err
    assert not marker.exists(), f"{name}: a crafted pickle in its folder ran"
