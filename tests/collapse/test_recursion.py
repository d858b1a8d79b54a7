"""The recursion's data modes (pool sizes and contents) and resume after an interruption."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import torch

from criticality.collapse import (
    GMMLearner,
    Recursion,
    TrainSpec,
    run_generations,
    training_pool,
)
from criticality.collapse.gmm import sample_true_mixture

REAL = torch.arange(1000, dtype=torch.float64)[:, None]  # real points are >= 0


def _samples(g: int, n: int) -> torch.Tensor:
    return torch.full((n, 1), -float(g + 1))  # generation g's samples are -(g+1)


@pytest.mark.parametrize("mode", ["replace", "accumulate", "mixed"])
def test_pool_sizes_and_contents(mode: str) -> None:
    rec = Recursion(generations=5, n_samples=200, mode=mode, real_fraction=0.1, n_real=300)
    samples = [_samples(g, 200) for g in range(5)]
    for g in range(6):
        pool = training_pool(rec, g, REAL, samples[:g])
        n_real, n_syn = rec.pool_size(g, 300)
        assert len(pool) == n_real + n_syn
        assert int((pool >= 0).sum()) == n_real
        expected = {
            "replace": (300, 0) if g == 0 else (0, 200),
            "accumulate": (300, 200 * g),
            "mixed": (300, 0) if g == 0 else (20, 180),
        }[mode]
        assert (n_real, n_syn) == expected
        if g > 0 and mode != "accumulate":  # only the newest generation's samples
            assert set(pool[pool < 0].tolist()) == {-float(g)}
        if g > 0 and mode == "accumulate":  # every earlier generation, 200 each
            for k in range(g):
                assert int((pool == -(k + 1)).sum()) == 200


def test_real_subset_is_fixed_and_mixed_keeps_generation_0s_data() -> None:
    acc = Recursion(generations=3, n_samples=50, mode="accumulate", n_real=100, seed=7)
    samples = [_samples(g, 50) for g in range(3)]
    base = training_pool(acc, 0, REAL, [])
    for g in (1, 2, 3):  # accumulate keeps the same real points
        pool = training_pool(acc, g, REAL, samples[:g])
        assert torch.equal(pool[:100], base)
    # mixed: the real share comes from generation 0's subset only, drawn anew each generation
    mixed = Recursion(generations=3, n_samples=500, mode="mixed", real_fraction=0.2, n_real=300)
    base = set(training_pool(mixed, 0, REAL, [])[:, 0].tolist())
    real = [set(training_pool(mixed, g, REAL, samples[:g])[:100, 0].tolist()) for g in (1, 2)]
    assert real[0] <= base and real[1] <= base and real[0] != real[1]
    # mixed_fresh (the named old behaviour): real points the other modes never see
    fresh = dataclasses.replace(mixed, mode="mixed_fresh")
    seen = set().union(*(set(training_pool(fresh, g, REAL, samples[:g])[:100, 0].tolist())
                         for g in (1, 2, 3)))  # fmt: skip
    assert seen - base  # P(all 300 draws inside the 300 of 1000) is 0.3**300
    too_many = Recursion(generations=1, n_samples=500, mode="mixed", real_fraction=0.5, n_real=50)
    with pytest.raises(ValueError, match="generation 0 has 50"):
        training_pool(too_many, 1, REAL, samples[:1])


def test_an_epoch_over_the_pool_trains_more_steps_as_the_pool_grows() -> None:
    spec = TrainSpec(steps=7, batch_size=64, epochs=1.0)
    rec = Recursion(generations=4, n_samples=100, mode="accumulate", n_real=100)
    steps = [spec.steps_for(sum(rec.pool_size(g, 100))) for g in range(5)]
    assert steps == [2, 4, 5, 7, 8]  # ceil((g + 1) * 100 / 64)
    assert TrainSpec(steps=7).steps_for(10_000) == 7
    with pytest.raises(ValueError, match="epochs"):
        TrainSpec(epochs=0.0)


def test_options_are_checked() -> None:
    with pytest.raises(ValueError, match="mode"):
        Recursion(generations=2, n_samples=10, mode="keep")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="real_fraction"):
        Recursion(generations=2, n_samples=10, mode="mixed", real_fraction=1.5)
    rec = Recursion(generations=2, n_samples=10, n_real=5000)
    with pytest.raises(ValueError, match="exceeds"):
        training_pool(rec, 0, REAL, [])


class _Killed(Exception):
    pass


def _run(out: Path | None, kill_after: int | None = None, warm: bool = False) -> list[Any]:
    real, test = sample_true_mixture(600, seed=0), sample_true_mixture(400, seed=1)
    rec = Recursion(generations=4, n_samples=300, mode="accumulate", warm_start=warm, seed=3)

    def stop(r: Any) -> None:
        if kill_after is not None and r.generation == kill_after:
            raise _Killed

    return run_generations(
        lambda g, s: GMMLearner(4, init_seed=s), real, test, rec, out_dir=out, on_generation=stop
    )


@pytest.mark.parametrize("warm", [False, True])
def test_resume_after_an_interruption_gives_the_same_records(tmp_path: Path, warm: bool) -> None:
    whole = _run(None, warm=warm)
    with pytest.raises(_Killed):
        _run(tmp_path, kill_after=1, warm=warm)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gen_000", "gen_001"]
    resumed = _run(tmp_path, warm=warm)
    assert [r.scores for r in resumed] == [r.scores for r in whole]
    assert [r.n_synthetic for r in resumed] == [0, 300, 600, 900, 1200]


def test_warm_start_loads_the_previous_generation() -> None:
    seen: list[Mapping[str, Any] | None] = []

    class Spy(GMMLearner):
        def fit(self, data: torch.Tensor, *, seed: int, checkpoint_dir: Path | None = None) -> None:
            seen.append(getattr(self.model, "means_init", None))
            super().fit(data, seed=seed)

    real, test = sample_true_mixture(400, seed=0), sample_true_mixture(100, seed=1)
    rec = Recursion(generations=2, n_samples=200, warm_start=True)
    out = run_generations(lambda g, s: Spy(3, init_seed=s), real, test, rec)
    assert seen[0] is None and seen[1] is not None and len(out) == 3


class _Payload:
    """A pickle whose loading would create a marker file (stands for any code)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.marker), "w"))


def _damage(path: Path, how: str, marker: Path) -> None:
    if how == "pickle":
        torch.save({"weights_": _Payload(marker)}, path)
    elif how == "cut":
        path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    elif how == "random":
        path.write_bytes(bytes(range(256)) * 4)
    elif how == "missing":
        path.unlink()


def _run_mode(out: Path | None, mode: Any) -> list[Any]:
    real, test = sample_true_mixture(600, seed=0), sample_true_mixture(400, seed=1)
    rec = Recursion(generations=4, n_samples=300, mode=mode, seed=3)
    return run_generations(lambda g, s: GMMLearner(4, init_seed=s), real, test, rec, out_dir=out)


@pytest.mark.parametrize(
    ("file", "how", "mode"),
    [
        ("model.pt", "pickle", "accumulate"),
        ("samples.pt", "pickle", "accumulate"),
        ("model.pt", "cut", "accumulate"),
        ("record.json", "cut", "accumulate"),
        ("samples.pt", "random", "accumulate"),
        ("model.pt", "missing", "accumulate"),
        ("model.pt", "pickle", "replace"),  # the samples it needs were removed: drawn again
        ("record.json", "cut", "replace"),
    ],
)
def test_a_damaged_generation_runs_nothing_and_is_recomputed(
    tmp_path: Path, file: str, how: str, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    whole = _run_mode(tmp_path / "run", mode)
    marker = tmp_path / "marker"
    gen2 = tmp_path / "run" / "gen_002"
    if file == "samples.pt" and not (gen2 / file).exists():
        pytest.skip("replace removes used samples")
    _damage(gen2 / file, how, marker)
    with caplog.at_level("WARNING", logger="criticality.collapse.recursion"):
        resumed = _run_mode(tmp_path / "run", mode)
    assert not marker.exists()  # nothing in the file ran
    assert [r.scores for r in resumed] == [r.scores for r in whole]
    assert str(gen2 / file) in caplog.text  # the damaged file is named
    names = sorted(p.name for p in (tmp_path / "run").iterdir())
    # this generation and the later ones (built on it) are set aside, not deleted
    assert names == [
        "gen_000", "gen_001", "gen_002", "gen_002.damaged-1", "gen_003", "gen_003.damaged-1",
        "gen_004", "gen_004.damaged-1",
    ]  # fmt: skip


def test_an_intact_resume_loads_without_unpickling(tmp_path: Path) -> None:
    _run_mode(tmp_path, "accumulate")
    # every file the recursion reads back loads as plain tensors
    for path in tmp_path.glob("gen_*/*.pt"):
        torch.load(path, weights_only=True)
