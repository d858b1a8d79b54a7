"""The Lightning callback with the real ``lightning`` package: a tiny model, a few CPU steps."""

from __future__ import annotations

import copy
import csv
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch
from torch import nn

import criticality as cr

pytestmark = [
    # Lightning's advice for real runs (more dataloader workers, a bigger log interval)
    pytest.mark.filterwarnings("ignore:The '.*dataloader' does not have many workers"),
    pytest.mark.filterwarnings("ignore:The number of training batches"),
    # lightning 2.6 still uses a torch pytree API that torch 2.14 deprecates
    pytest.mark.filterwarnings(
        "ignore:`isinstance\\(treespec, LeafSpec\\)` is deprecated:FutureWarning"
    ),
]


def make_module(L: ModuleType) -> Any:
    class Tiny(L.LightningModule):
        """A user's module: the network is ``self.net``; nothing criticality-specific."""

        def __init__(self) -> None:
            super().__init__()
            torch.manual_seed(0)
            self.net = nn.Sequential(
                nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 3)
            )
            self.task_losses: list[float] = []

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            x, y = batch
            loss = nn.functional.cross_entropy(self.net(x), y)
            self.task_losses.append(float(loss.detach()))
            return loss

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.SGD(self.parameters(), lr=0.1)

    return Tiny()


class Snapshots:
    """Keeps the network's weights at every step (a second real Lightning callback)."""

    def __init__(self, L: ModuleType) -> None:
        outer = self
        self.weights: dict[int, dict[str, torch.Tensor]] = {}

        class Keep(L.Callback):
            def on_train_start(self, trainer: Any, pl_module: Any) -> None:
                outer.weights[trainer.global_step] = copy.deepcopy(pl_module.net.state_dict())

            def on_train_batch_end(self, trainer: Any, pl_module: Any, *args: Any) -> None:
                outer.weights[trainer.global_step] = copy.deepcopy(pl_module.net.state_dict())

        self.callback = Keep()


def loader() -> torch.utils.data.DataLoader:
    g = torch.Generator().manual_seed(3)
    data = torch.utils.data.TensorDataset(
        torch.randn(24, 8, generator=g), torch.randint(0, 3, (24,), generator=g)
    )
    return torch.utils.data.DataLoader(data, batch_size=4, shuffle=False)


def fit(L: ModuleType, tmp_path: Path, callback: Any, steps: int = 6) -> tuple[Any, Snapshots]:
    module, snaps = make_module(L), Snapshots(L)
    trainer = L.Trainer(
        max_steps=steps,
        accelerator="cpu",
        devices=1,
        logger=L.pytorch.loggers.CSVLogger(tmp_path),
        callbacks=[callback, snaps.callback],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        log_every_n_steps=1,
    )
    trainer.fit(module, loader())
    return module, snaps


PROBE = torch.randn(6, 8, generator=torch.Generator().manual_seed(7))


def callback(probe: torch.Tensor, **options: Any) -> Any:
    from criticality.integrations.lightning import CriticalityCallback  # needs lightning

    return CriticalityCallback(probe, **options)


def logged(tmp_path: Path) -> list[dict[str, str]]:
    (path,) = tmp_path.glob("lightning_logs/version_*/metrics.csv")
    with path.open() as f:
        return [r for r in csv.DictReader(f) if r.get("criticality/lambda_1")]


def test_logged_values_equal_measure_on_the_same_weights(
    lightning: ModuleType, tmp_path: Path
) -> None:
    cb = callback(PROBE, module="net", every_n_steps=3, at_epoch_end=False)
    module, snaps = fit(lightning, tmp_path, cb)
    assert [r["step"] for r in cb.records] == [0, 3, 6]
    rows = logged(tmp_path)
    assert [int(r["step"]) for r in rows] == [0, 3, 6]
    for row, record in zip(rows, cb.records, strict=True):
        net = copy.deepcopy(module.net)
        net.load_state_dict(snaps.weights[record["step"]])
        report = cr.measure(net, PROBE, measures=["lyapunov", "branching"])
        assert record["criticality/lambda_1"] == report.lambda_max
        assert float(row["criticality/lambda_1"]) == report.lambda_max  # through the CSV logger
        assert float(row["criticality/sigma"]) == report.results["branching"].sigma.mean
        for stage, est in zip(report.stage_names, report.lyapunov.stage_log_gain, strict=True):
            assert float(row[f"criticality/ln_g/{stage}"]) == est.mean
    # the weights moved between measurements, and so did λ_1
    assert len({r["criticality/lambda_1"] for r in cb.records}) == 3


def test_a_method_row_joins_the_loss_without_changing_the_module(
    lightning: ModuleType, tmp_path: Path
) -> None:
    cb = callback(
        PROBE,
        module="net",
        every_n_steps=100,
        method="critical_global",
        method_options={"weight": 2.0, "sub_batch": 4},
    )
    module, snaps = fit(lightning, tmp_path, cb, steps=3)
    assert "training_step" not in module.__dict__  # restored after fit
    # replay the first step by hand: task loss + the method's penalty, one SGD step
    net = make_module(lightning).net
    x, y = next(iter(loader()))
    reg = cr.training.build_method(
        "critical_global", net, seed=0, weight=2.0, sub_batch=4
    ).loss_terms[0]
    loss = nn.functional.cross_entropy(net(x), y) + reg(net, x)
    loss.backward()
    with torch.no_grad():
        for p in net.parameters():
            p -= 0.1 * p.grad
    for name, value in net.state_dict().items():
        torch.testing.assert_close(snaps.weights[1][name], value, rtol=1e-6, atol=1e-7)
    # and plain training (no method) lands elsewhere
    _, plain_snaps = fit(
        lightning,
        tmp_path / "plain",
        callback(PROBE, module="net", every_n_steps=100),
        steps=1,
    )
    assert not torch.equal(plain_snaps.weights[1]["0.weight"], snaps.weights[1]["0.weight"])


def test_optimizer_settings_of_a_method(lightning: ModuleType, tmp_path: Path) -> None:
    cb = callback(
        PROBE,
        module="net",
        every_n_steps=100,
        method="weight_decay",
        method_options={"weight": 0.01},
    )
    captured = {}

    class Look(lightning.Callback):
        def on_train_batch_end(self, trainer: Any, *args: Any) -> None:
            captured["wd"] = trainer.optimizers[0].param_groups[0]["weight_decay"]

    module = make_module(lightning)
    trainer = lightning.Trainer(
        max_steps=1,
        accelerator="cpu",
        logger=False,
        callbacks=[cb, Look()],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(module, loader())
    assert captured["wd"] == 0.01


def test_bad_arguments() -> None:
    pytest.importorskip("lightning")
    from criticality.integrations.lightning import CriticalityCallback, first_tensor

    with pytest.raises(ValueError, match="every_n_steps"):
        CriticalityCallback(PROBE, every_n_steps=0)
    with pytest.raises(ValueError, match="unknown measure"):
        CriticalityCallback(PROBE, measures=["nope"])
    assert first_tensor({"input_ids": PROBE, "labels": 1}) is PROBE
    assert first_tensor((PROBE, 0)) is PROBE
