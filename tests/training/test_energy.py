"""Energy accounting: FLOP counts equal the analytic count, counting leaves training unchanged,
step times, active units, energy counters, resume, cost to a target accuracy."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import torch
from torch import nn

from criticality.training import Callback, TrainState, energy, fit
from criticality.training.energy import (
    AccuracyTrace,
    EnergyCounter,
    RaplCounter,
    active_fraction,
    cost_to_target,
)


def _mlp(dims: list[int]) -> nn.Sequential:
    torch.manual_seed(0)
    layers: list[nn.Module] = []
    for a, b in itertools.pairwise(dims):
        layers += [nn.Linear(a, b), nn.Tanh()]
    return nn.Sequential(*layers[:-1])


def _data(n: int = 64, d: int = 12, classes: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return torch.randn(n, d, generator=gen), torch.randint(0, classes, (n,), generator=gen)


def test_flops_per_step_equal_the_analytic_count_of_an_mlp() -> None:
    dims, b = [12, 32, 16, 5], 16
    result = fit(_mlp(dims), _data(), steps=10, batch_size=b, progress=False)
    pairs = list(itertools.pairwise(dims))
    forward = sum(2 * b * i * o for i, o in pairs)  # x W^T: 2 B d_in d_out per layer
    weight_grads = forward  # dL/dW = δ^T h: the same product sizes
    input_grads = sum(2 * b * i * o for i, o in pairs[1:])  # not needed for the data itself
    e = result.energy
    assert e is not None and e.flop_steps == energy.FLOP_WINDOW
    assert e.flops_per_step == forward + weight_grads + input_grads
    assert e.flops == e.flops_per_step * 10 and e.labels["flops_per_step"] == "counted"
    assert len(e.step_seconds) == 10 and e.seconds > 0 and e.seconds_per_step > 0


def test_counting_flops_does_not_change_training(monkeypatch: pytest.MonkeyPatch) -> None:
    params = []
    for window in (energy.FLOP_WINDOW, 0):
        monkeypatch.setattr(energy, "FLOP_WINDOW", window)
        model = _mlp([12, 16, 16, 5])
        result = fit(model, _data(), steps=6, batch_size=16, method="critical_global",
                     seed=0, progress=False)  # fmt: skip
        assert result.energy is not None and result.energy.flop_steps == min(window, 6)
        params.append([p.detach().clone() for p in model.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*params, strict=True))


def test_active_fraction_counts_units_above_a_tenth_of_the_rms() -> None:
    net = nn.Sequential(nn.Linear(4, 4, bias=False), nn.ReLU(), nn.Linear(4, 2))
    with torch.no_grad():
        net[0].weight.copy_(torch.eye(4))
    x = torch.tensor([[1.0, -1.0, 1e-4, 2.0]])  # hidden: 1, 0, 1e-4, 2; RMS 1.118
    assert active_fraction(net, x) == 0.5
    assert active_fraction(nn.Linear(4, 2), x) is None  # one stage: no hidden units


class _Fake(EnergyCounter):
    source = "fake"

    def __init__(self) -> None:
        self.value = 100.0

    def read(self) -> float | None:
        self.value += 2.5
        return self.value


def test_a_counter_gives_measured_joules(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(energy, "energy_counters", lambda device: [_Fake()])
    result = fit(_mlp([12, 8, 5]), _data(), steps=3, batch_size=16, progress=False)
    assert result.energy is not None
    assert (result.energy.joules, result.energy.energy_source) == (2.5, "fake")
    assert result.energy.labels["joules"] == "measured"


def test_rapl_reads_package_zones_and_unwraps(tmp_path: Path) -> None:
    zone = tmp_path / "intel-rapl:0"
    zone.mkdir()
    (zone / "energy_uj").write_text("9000000\n")
    (zone / "max_energy_range_uj").write_text("10000000\n")
    (tmp_path / "intel-rapl:0:0").mkdir()  # a sub-zone (core), not counted
    counter = RaplCounter.open(tmp_path)
    assert counter is not None and counter.zones == [zone]
    start = counter.read()
    (zone / "energy_uj").write_text("1000000\n")  # wrapped past 10 J
    end = counter.read()
    assert start is not None and end is not None
    assert counter.difference(start, end) == pytest.approx(2.0)
    assert RaplCounter.open(tmp_path / "none") is None


class _Crash(Callback):
    def on_step_end(self, state: TrainState) -> None:
        if state.step == 5:
            raise KeyboardInterrupt


def test_a_resumed_call_reports_the_whole_call(tmp_path: Path) -> None:
    kwargs = {"steps": 12, "batch_size": 16, "checkpoint_dir": tmp_path, "checkpoint_every": 4,
              "progress": False}  # fmt: skip
    with pytest.raises(KeyboardInterrupt):
        fit(_mlp([12, 8, 5]), _data(), callbacks=[_Crash()], **kwargs)  # type: ignore[arg-type]
    result = fit(_mlp([12, 8, 5]), _data(), **kwargs)  # type: ignore[arg-type]
    assert result.resumed_from == 4 and result.energy is not None
    assert result.energy.steps == 12 and result.energy.flop_steps == energy.FLOP_WINDOW
    assert result.to_dict()["energy"]["flops_per_step"] == result.energy.flops_per_step


def test_cost_to_target_and_the_accuracy_trace() -> None:
    times = [0.1] * 100
    cost = cost_to_target([0, 50, 100], [0.1, 0.8, 0.9], 0.75, times, 1e6)
    assert cost == {"steps": 50.0, "seconds": pytest.approx(5.0), "flops": 5e7}
    assert cost_to_target([0, 50], [0.1, 0.2], 0.75, times, 1e6)["steps"] is None
    x, y = _data()
    trace = AccuracyTrace(x, y, every=4)
    result = fit(_mlp([12, 8, 5]), (x, y), steps=10, batch_size=16, callbacks=[trace],
                 progress=False)  # fmt: skip
    assert [r["step"] for r in result.logs["accuracy"]] == [0, 4, 8, 10]
    assert all(0.0 <= r["accuracy"] <= 1.0 for r in result.logs["accuracy"])


def test_the_counter_agrees_with_torch_flop_counter_mode() -> None:
    from torch.utils.flop_counter import FlopCounterMode

    conv = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 6 * 6, 4))
    x = torch.randn(5, 3, 8, 8)

    def step() -> None:
        conv(x).square().sum().backward()

    with FlopCounterMode(display=False) as reference:
        step()
    counted, _ = energy.count_flops(step)
    assert counted == reference.get_total_flops() > 0


def test_the_training_experiment_reports_cost_per_method(tmp_path: Path) -> None:
    import dataclasses
    import json

    from criticality.experiments.training import TrainingConfig, run

    cfg = dataclasses.replace(TrainingConfig.tiny(), models=("mlp",), init_study=(),
                              methods=("plain", "homeostatic"), target_accuracy=0.3)  # fmt: skip
    run(cfg, tmp_path)
    data = json.loads((tmp_path / "results.json").read_text())["data"]
    (group,) = data["energy"]
    assert group["target"] == 0.3 and set(group["methods"]) == {"plain", "homeostatic"}
    home = group["methods"]["homeostatic"]
    # the controller probes 8 inputs (×3 rows) every 4th step: 6 rows per 96 of a step
    assert 1.0 < home["flops_ratio"]["mean"] < 1.1
    assert [t["step"] for t in home["trace"]] == [0, 10, 20]
    run_record = next(r for r in data["runs"] if r["method"] == "homeostatic")
    assert run_record["energy"]["labels"]["flops_per_step"] == "counted"
    assert run_record["energy"]["trace"][-1]["flops"] == 20 * run_record["energy"]["flops_per_step"]
    html = (tmp_path / "report.html").read_text()
    assert "Compute and energy" in html and "homeostatic" in html


def test_codecarbon_tracker_records_each_call(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys
    import types

    class Tracker:  # stands in for codecarbon's OfflineEmissionsTracker (an optional extra)
        def __init__(self, **kwargs: object) -> None:
            assert kwargs["save_to_file"] is False and kwargs["country_iso_code"] == "DEU"

        def start(self) -> None:
            pass

        def stop(self) -> None:
            self.final_emissions_data = types.SimpleNamespace(
                energy_consumed=1e-6, cpu_energy=6e-7, gpu_energy=0.0
            )

    monkeypatch.setitem(sys.modules, "codecarbon", types.SimpleNamespace(
        OfflineEmissionsTracker=Tracker))  # fmt: skip
    tracker = energy.CodecarbonTracker()
    result = fit(_mlp([12, 8, 5]), _data(), steps=2, batch_size=16, callbacks=[tracker],
                 progress=False)  # fmt: skip
    (call,) = result.logs["codecarbon"]
    assert call["joules"] == pytest.approx(3.6) and call["label"].startswith("estimated")
    monkeypatch.setitem(sys.modules, "codecarbon", None)
    with pytest.raises(ImportError, match=r"criticality\[energy\]"):
        energy.CodecarbonTracker()
