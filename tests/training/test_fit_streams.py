"""fit() over streams and task sequences: batch sources, carried state, resume across tasks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader, Dataset, TensorDataset

from criticality.training import Callback, CriticalityMonitor, TrainState, fit
from criticality.training._data import TensorBatches
from criticality.zoo import mlp_classifier


def _task(task: int, n: int = 96) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(100 + task)
    return torch.randn(n, 1, 4, 4, generator=gen), torch.randint(0, 3, (n,), generator=gen)


def _model() -> torch.nn.Module:
    return mlp_classifier((1, 4, 4), 3, depth=3, width=16, seed=0)


def _params(model: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def _same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


class Crash(Callback):
    """Stops the run after global step ``at`` (a simulated kill)."""

    name = "crash"

    def __init__(self, at: int) -> None:
        self.at = at

    def on_step_end(self, state: TrainState) -> None:
        if state.step == self.at:
            raise KeyboardInterrupt


class Counting(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """A map-style dataset that counts the items read."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.x, self.y, self.reads = x, y, 0

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        self.reads += 1
        return self.x[i], self.y[i]


def test_every_batch_source_trains_like_the_tensors() -> None:
    x, y = _task(0)
    source = TensorBatches(x, y, 16, seed=3, device=torch.device("cpu"))
    batches = [source(i) for i in range(6)]
    runs = {}
    for label, data in {
        "tensors": (x, y),
        "TensorDataset": TensorDataset(x, y),
        "Dataset": Counting(x, y),
        "callable": lambda i: batches[i],
        "iterable": batches,
        "DataLoader": DataLoader(
            TensorDataset(*(torch.cat(t) for t in zip(*batches, strict=True))), batch_size=16
        ),
    }.items():
        model = _model()
        fit(model, data, steps=6, batch_size=16, seed=3, progress=False)
        runs[label] = _params(model)
    for label, params in runs.items():
        assert _same(params, runs["tensors"]), label


def test_a_dataset_is_read_one_batch_at_a_time() -> None:
    data = Counting(*_task(0, n=1000))
    fit(_model(), data, steps=3, batch_size=8, progress=False)
    assert data.reads == 24  # never the whole dataset


def test_streams_without_length_need_steps_and_enough_batches() -> None:
    x, y = _task(0)
    with pytest.raises(ValueError, match="epochs= needs data of known length"):
        fit(_model(), lambda i: (x[:4], y[:4]), epochs=1, progress=False)
    with pytest.raises(ValueError, match="ran out at step 2"):
        fit(_model(), iter([(x[:4], y[:4])] * 2), steps=3, progress=False)
    with pytest.raises(TypeError, match=r"pair \(x, y\)"):
        fit(_model(), lambda i: x[:4], steps=1, progress=False)


def test_a_run_spans_tasks_with_its_optimizer_and_monitor() -> None:
    model = _model()
    probe = _task(9)[0][:4]
    monitor = CriticalityMonitor(probe, every=4)
    first = fit(model, _task(0), steps=6, batch_size=16, callbacks=[monitor], progress=False)
    opt = first.state.optimizer
    second = fit(model, _task(1), steps=5, batch_size=16, callbacks=[monitor], state=first.state)
    assert (first.task, second.task) == (0, 1)
    assert (first.steps, second.steps, second.first_step) == (6, 11, 6)
    assert second.state.optimizer is opt and len(second.loss) == 5
    assert max(s["step"] for s in opt.state.values()) == 11  # Adam's count went on: carried
    records = [(r["task"], r["step"]) for r in second.logs["criticality"]]
    assert records == [(0, 0), (0, 4), (0, 6), (1, 8), (1, 11)]  # task boundaries measured
    fit(model, _task(2), steps=1, state=second.state, method="plain")  # the same method: fine
    with pytest.raises(ValueError, match="keeps its method 'plain'"):
        fit(model, _task(3), steps=1, state=second.state, method="weight_decay")


def _two_tasks(ckpt: Path, callbacks: list[Callback] | None = None) -> tuple[Any, list[Any]]:
    model = _model()
    monitor = CriticalityMonitor(_task(9)[0][:4], every=3)
    state, losses = None, []
    for task in range(2):
        result = fit(model, _task(task), steps=7, batch_size=16, method="weight_decay",
                     callbacks=[monitor, *(callbacks or [])], checkpoint_dir=ckpt,
                     checkpoint_every=2, state=state, task=task, seed=4,
                     progress=False)  # fmt: skip
        state, losses = result.state, [*losses, *result.loss.tolist()]
    return model, [losses, monitor.records()]


def test_resume_across_a_task_boundary_and_within_a_task(tmp_path: Path) -> None:
    ref_model, ref = _two_tasks(tmp_path / "ref")
    # killed in task 1 (global step 11, last checkpoint at 10), then restarted from scratch
    with pytest.raises(KeyboardInterrupt):
        _two_tasks(tmp_path / "cut", [Crash(11)])
    model, out = _two_tasks(tmp_path / "cut")
    assert _same(_params(model), _params(ref_model))
    assert out[1] == ref[1]  # the criticality trajectory, task and step of every record
    # a fresh process that starts at task 1 picks the run up from task 0's final checkpoint
    fresh = _model()
    monitor = CriticalityMonitor(_task(9)[0][:4], every=3)
    for task in (0, 1):
        fit(fresh, _task(task), steps=7, batch_size=16, method="weight_decay",
            callbacks=[monitor], checkpoint_dir=tmp_path / "ref", task=task, seed=4,
            progress=False)  # fmt: skip
    assert _same(_params(fresh), _params(ref_model))


def test_a_task_behind_the_checkpoint_is_not_trained_again(tmp_path: Path) -> None:
    ref_model, _ = _two_tasks(tmp_path)
    model = _model()
    # the run's own settings: a checkpoint made with others is refused (test_reliability_resume)
    done = fit(model, _task(0), steps=7, batch_size=16, method="weight_decay", seed=4,
               checkpoint_dir=tmp_path, task=0)  # fmt: skip
    assert done.loss.size == 0 and done.steps == 14 and done.state.task == 1
    assert _same(_params(model), _params(ref_model))  # brought to the checkpoint


def test_an_unfinished_earlier_task_is_refused(tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt):
        _two_tasks(tmp_path, [Crash(3)])
    with pytest.raises(ValueError, match="middle of task 0; this call trains task 1"):
        fit(_model(), _task(1), steps=7, batch_size=16, method="weight_decay", seed=4,
            checkpoint_dir=tmp_path, task=1)  # fmt: skip
