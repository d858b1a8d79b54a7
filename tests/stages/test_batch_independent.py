"""Which stages let a measure stack extra entries along the batch: declarations and inference.

The property itself (a batch-independent stage maps stacked rows as it maps each row alone) is
checked on every case the inference accepts, so that a wrong ``True`` cannot pass."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from criticality.collapse.intime import time_stages
from criticality.stages import Stage, batch_independent, stages
from criticality.zoo import mlp


class _Custom(nn.Module):
    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h * 2


def _bn_without_stats() -> nn.Module:
    return nn.BatchNorm1d(4, track_running_stats=False).eval()


CASES: list[tuple[str, nn.Module, bool]] = [
    ("linear", nn.Linear(4, 4), True),
    ("sequential", nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4), nn.GELU()), True),
    ("batchnorm-eval", nn.BatchNorm1d(4).eval(), True),
    ("batchnorm-train", nn.BatchNorm1d(4).train(), False),
    ("batchnorm-batch-stats", _bn_without_stats(), False),
    ("dropout-train", nn.Dropout(0.5).train(), False),
    ("dropout-eval", nn.Dropout(0.5).eval(), True),
    ("softmax-dim0", nn.Softmax(dim=0), False),
    ("softmax-implicit-dim", nn.Softmax(), False),
    ("softmax-dim1", nn.Softmax(dim=1), True),
    ("flatten-batch", nn.Flatten(start_dim=0), False),
    ("attention-batch-second", nn.MultiheadAttention(4, 2), False),
    ("custom-module", _Custom(), False),
    ("custom-inside-sequential", nn.Sequential(nn.Linear(4, 4), _Custom()), False),
    ("declared-stage", Stage("s", _Custom(), batch_independent=True), True),
    ("declared-dependent", Stage("s", nn.Linear(4, 4), batch_independent=False), False),
    ("inferred-stage", Stage("s", nn.Linear(4, 4)), True),
]


@pytest.mark.parametrize(("module", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_inference_and_declarations(module: nn.Module, expected: bool) -> None:
    assert batch_independent(module) is expected
    if expected and not isinstance(module, nn.MultiheadAttention):
        torch.manual_seed(0)
        h = torch.randn(6, 4)
        with torch.no_grad():
            rows = torch.cat([module(h[i : i + 1]) for i in range(6)])
            torch.testing.assert_close(module(h), rows)


def test_family_adapters_declare_and_other_splits_infer() -> None:
    torchvision = pytest.importorskip("torchvision")
    resnet = torchvision.models.resnet18(num_classes=10)
    assert all(s.batch_independent for s in stages(resnet))  # adapter: declared
    assert all(s.batch_independent for s in stages(mlp(depth=3, width=8)))  # inferred
    taps = stages(resnet, taps=["layer1", "layer2"])  # runs the whole model: unknown
    assert not any(s.batch_independent for s in taps)


def test_time_step_stages_hold_per_sample_inputs_and_refuse() -> None:
    step = nn.GRUCell(3, 4)
    stage_list = time_stages(_Step(step), torch.randn(2, 5, 3))
    assert not any(batch_independent(s) for s in stage_list)


class _Step(nn.Module):
    def __init__(self, cell: nn.GRUCell) -> None:
        super().__init__()
        self.cell = cell

    def forward(self, x_t: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.cell(x_t, h)
        return out
