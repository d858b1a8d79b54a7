"""Measure inputs (issue 28): buffers written in a forward, non-standard strides, stochastic
stages and NaN inputs are measured correctly or refused with the stage (or rows) named."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

import criticality as cr
from criticality.measures import get_measure, list_measures

FAST: dict[str, dict[str, Any]] = {
    "avalanches": {"n_trials": 16, "n_boot": 5},
    "dynamic_range": {"n_stimuli": 13, "n_dirs": 2},
    "ftle": {"n_iter": 10},
    "susceptibility": {"n_gains": 9, "n_boot": 20},
}
#: Measures that run the model forward (weight_alpha reads the weights, meanfield a formula).
FORWARD = [n for n in list_measures() if n not in ("weight_alpha", "meanfield")]
#: Measures that differentiate through torch.func transforms, which cannot follow a buffer write
#: (ftle back-propagates with plain autograd since issue 25: it measures and warns).
TRANSFORMS = {"branching"}
#: Measures whose torch.func.vmap refuses a random operation inside a stage.
RANDOM_REFUSED = {"branching"}
LOGGER = "criticality.measures._stage_checks"


def run(name: str, model: Any, x: torch.Tensor) -> Any:
    return get_measure(name).run(model, x, seed=0, **FAST.get(name, {}))


def numbers(result: Any) -> np.ndarray:
    """Every float of a result, flattened (to compare two results exactly)."""
    out = [result.headline().mean]
    for value in vars(result).values():
        if isinstance(value, np.ndarray) and value.dtype.kind == "f":
            out.extend(value.ravel().tolist())
    return np.asarray(out)


class Counter(nn.Module):
    """``tanh(W h)``, counting its calls and keeping a running mean in buffers, in any mode."""

    def __init__(self, width: int, *, write: bool = True) -> None:
        super().__init__()
        self.lin = nn.Linear(width, width)
        self.write = write
        self.register_buffer("calls", torch.zeros(()))
        self.register_buffer("running", torch.zeros(width))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        if self.write:
            self.calls += 1
            self.running.mul_(0.9).add_(0.1 * h.detach().mean(0))
        return torch.tanh(self.lin(h))


class TrainNorm(nn.Module):
    """A batch norm called with ``training=True`` whatever the module's mode."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.lin = nn.Linear(width, width)
        self.bn = nn.BatchNorm1d(width)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        bn = self.bn
        out = F.batch_norm(self.lin(h), bn.running_mean, bn.running_var, bn.weight, bn.bias, True)
        return torch.tanh(out)


class Noisy(nn.Module):
    """Dropout applied whatever the mode: two forward passes differ."""

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return F.dropout(h, 0.2, training=True)


def chain(middle: Callable[[], nn.Module], width: int = 16) -> nn.Sequential:
    """``Linear, Tanh, middle(), Linear``, the same weights for the same ``middle``."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(width, width), nn.Tanh(), middle(), nn.Linear(width, width))


def probes(b: int = 6, width: int = 16) -> torch.Tensor:
    return torch.randn(b, width, generator=torch.Generator().manual_seed(1))


def state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("name", FORWARD)
def test_a_stage_writing_buffers_leaves_the_model_unchanged(
    name: str, caplog: pytest.LogCaptureFixture
) -> None:
    model = chain(lambda: Counter(16))
    before = state(model)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        if name in TRANSFORMS:  # refused, with the stage and its buffers named
            with pytest.raises(ValueError, match=r"stage 1 \('2'\) updates its buffers"):
                run(name, model, probes())
        else:  # measured: the same numbers as without the writes, and a warning
            got = run(name, model, probes())
            quiet = chain(lambda: Counter(16, write=False))
            np.testing.assert_array_equal(numbers(got), numbers(run(name, quiet, probes())))
            assert "stage 1 ('2') updates its buffers (calls, running)" in caplog.text
    after = state(model)
    assert all(torch.equal(before[k], after[k]) for k in before), "the model was changed"


@pytest.mark.parametrize("name", FORWARD)
def test_a_batch_norm_forced_into_train_mode_is_put_back(name: str) -> None:
    model = chain(lambda: TrainNorm(16))
    before = state(model)
    result = run(name, model, probes())
    assert math.isfinite(result.headline().mean)
    after = state(model)
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_a_model_left_in_train_mode_is_measured_in_eval_mode_silently(
    caplog: pytest.LogCaptureFixture,
) -> None:
    model = chain(lambda: nn.BatchNorm1d(16)).train()
    with torch.no_grad():
        model[2].running_mean.uniform_(-1, 1)
    before = state(model)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        report = cr.measure(model, probes(), measures=["lyapunov", "ftle", "branching"])
    assert math.isfinite(report.lambda_max) and caplog.text == ""
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert model.training and model[2].training  # flags restored


@pytest.mark.parametrize("name", FORWARD)
@pytest.mark.parametrize("layout", ["expand", "transpose"])
def test_non_standard_strides_are_made_contiguous(name: str, layout: str) -> None:
    model = chain(lambda: nn.Tanh())
    if layout == "expand":  # stride 0: every row is the same memory
        x = probes(1).expand(6, 16)
        assert x.stride(0) == 0
    else:
        x = probes(16, 6).t()
        assert not x.is_contiguous()
    got = run(name, model, x)
    np.testing.assert_array_equal(numbers(got), numbers(run(name, model, x.contiguous())))


def test_expanded_inputs_through_measure_and_the_regularizer() -> None:
    model = chain(lambda: nn.Tanh())
    x = probes(1).expand(4, 16)
    report = cr.measure(model, x, measures=["lyapunov", "ftle", "branching"])
    assert report.lambda_max == cr.measure(model, x.clone(), measures="lyapunov").lambda_max


@pytest.mark.parametrize("name", FORWARD)
def test_a_stochastic_stage_is_named(name: str, caplog: pytest.LogCaptureFixture) -> None:
    """Measured with a warning naming it, or refused naming it where vmap refuses randomness."""
    model = chain(lambda: Noisy())  # Linear, Tanh, Noisy: one stage, '0'
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        try:
            result = run(name, model, probes())
        except ValueError as err:
            assert name in RANDOM_REFUSED
            assert f"{name}: stage 0 ('0') draws random numbers in eval mode" in str(err)
        else:
            assert name not in RANDOM_REFUSED
            # one stage has no avalanche to count: avalanches reports NaN and says why
            assert name == "avalanches" or math.isfinite(result.headline().mean)
            assert f"{name}: stage 0 ('0') is stochastic" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        run(name, chain(lambda: nn.Dropout(0.2)), probes())
    assert caplog.text == ""  # nn.Dropout follows eval(): deterministic, no warning


@pytest.mark.parametrize("name", [*FORWARD, "weight_alpha"])
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_nan_and_inf_inputs_are_refused_naming_the_rows(name: str, bad: float) -> None:
    x = probes()
    x[2, 3] = bad
    x[4, 0] = bad
    with pytest.raises(ValueError) as err:
        run(name, chain(lambda: nn.Tanh()), x)
    message = str(err.value)
    assert "2 of 6 probe inputs (rows 2, 4)" in message
    assert "Drop those rows" in message and "the model is not at fault" in message
    assert "learning rate" not in message and "float64" not in message


def test_nan_in_inputs_before_a_named_start_is_refused_before_any_stage_runs() -> None:
    x = probes()
    x[0, 0] = float("nan")
    with pytest.raises(ValueError, match=r"1 of 6 probe inputs \(rows 0\)"):
        cr.measure(chain(lambda: nn.Tanh()), x, start_after="0")
