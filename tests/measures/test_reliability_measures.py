"""Measures never give confident numbers from broken models, and refuse bad input clearly.

Issue 16: a NaN weight, activations overflowing float32 or a stage that annihilates its input
stop every measure with an error that names the stage; a model whose forward returns a tuple or a
dict, a float16 model, a model on the ``meta`` device or a non-integer count get a one-line
``TypeError``/``ValueError`` that says what to do; a susceptibility peak at the edge of its gain
grid is reported as a bound.
"""

from __future__ import annotations

import logging
import math
import sys
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from criticality import measure
from criticality.measures import get_measure, list_measures
from criticality.measures.prepared import DegenerateStageError, NonFiniteError
from criticality.measures.susceptibility import susceptibility
from criticality.zoo import mlp

#: Cheap options per measure (as in test_common_table.py).
FAST: dict[str, dict[str, Any]] = {
    "avalanches": {"n_trials": 16, "n_boot": 5},
    "dynamic_range": {"n_stimuli": 13, "n_dirs": 2},
    "ftle": {"n_iter": 10},
    "susceptibility": {"n_gains": 9, "n_boot": 20},
    "weight_alpha": {"min_evals": 10},
}

#: Measures that run the model forward (weight_alpha reads the weights only, meanfield a formula).
FORWARD = [n for n in list_measures() if n not in ("weight_alpha", "meanfield")]


def _run(name: str, model: Any, x: torch.Tensor, **extra: Any) -> Any:
    return get_measure(name).run(model, x, seed=0, **{**FAST.get(name, {}), **extra})


def _model(dtype: torch.dtype = torch.float32) -> nn.Sequential:
    return mlp(6, 32, in_dim=16, sigma_w=1.4, sigma_b=0.3, seed=0, dtype=dtype)


def _x(dtype: torch.dtype = torch.float32, b: int = 6) -> torch.Tensor:
    return torch.randn(b, 16, generator=torch.Generator().manual_seed(1), dtype=dtype)


@pytest.mark.parametrize("name", [*FORWARD, "weight_alpha"])
def test_nan_weight_is_refused_naming_the_stage(name: str) -> None:
    model = _model()
    with torch.no_grad():
        model[6].weight[3, 5] = float("nan")  # the 4th Linear: stage 3
    stage = "weight" if name == "weight_alpha" else r"stage 3 \('6'\)"
    with pytest.raises(NonFiniteError, match=f"NaN or inf.*{stage}|{stage}.*NaN or inf"):
        _run(name, model, _x())


@pytest.mark.parametrize("name", FORWARD)
def test_overflow_to_inf_is_refused_naming_the_stage(name: str) -> None:
    # A linear chain (no saturation) whose second and third stages multiply by 1e30: float32
    # overflows at the third (values ~1e60), float64 would not.
    chain = [nn.Linear(16, 16, bias=False) for _ in range(4)]
    with torch.no_grad():
        for i, lin in enumerate(chain):
            nn.init.eye_(lin.weight)
            lin.weight.mul_(1e30 if i in (1, 2) else 1.0)
    with pytest.raises(NonFiniteError, match=r"stage 2 .*float64|float64.*stage 2|stage 2"):
        _run(name, chain, _x())


@pytest.mark.parametrize("name", ["lyapunov", "branching", "ftle"])
def test_annihilating_stage_is_reported_as_degenerate(name: str) -> None:
    model = _model()
    with torch.no_grad():
        model[4].weight.zero_()  # stage 2 maps everything to tanh(bias): J = 0 there
    with pytest.raises(DegenerateStageError, match=r"exactly zero.*-inf|-inf"):
        _run(name, model, _x())


def test_degenerate_stage_is_named_by_lyapunov_for_any_dtype() -> None:
    for dtype in (torch.float32, torch.float64):
        model = _model(dtype)
        with torch.no_grad():
            model[4].weight.zero_()
        with pytest.raises(DegenerateStageError, match=r"stage 2 \('4'\).*ln g = -inf"):
            _run("lyapunov", model, _x(dtype))


def test_a_stage_dead_for_some_inputs_is_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    # ReLU stage 1 cut off for the first input only (its pre-activations all negative): that
    # input counts with the floor, the others are measured as usual, and a warning says so.
    lin0, lin1 = nn.Linear(4, 4, bias=False), nn.Linear(4, 4, bias=False)
    with torch.no_grad():
        nn.init.eye_(lin0.weight)
        nn.init.eye_(lin1.weight)
    chain = [lin0, nn.Sequential(lin1, nn.ReLU())]
    x = torch.tensor([[-1.0, -2.0, -0.5, -1.0], [1.0, 2.0, 0.5, 1.0]])
    with caplog.at_level(logging.WARNING):
        res = _run("lyapunov", chain, x)
    assert "stage 1 ('1') maps every perturbation to exactly zero for 1 of 2" in caplog.text
    floor = torch.log(torch.tensor(torch.finfo(torch.float32).tiny)).item()  # as before
    assert res.local[0, 1, 0] == floor
    assert res.local[1, 1, 0] == pytest.approx(0.0, abs=1e-12)


def test_tiny_but_nonzero_gain_is_not_degenerate() -> None:
    # A stage scaled by 1e-30 is extremely ordered but not degenerate: a finite exponent.
    chain = [nn.Linear(8, 8, bias=False) for _ in range(3)]
    with torch.no_grad():
        for lin in chain:
            nn.init.orthogonal_(lin.weight)
        chain[1].weight.mul_(1e-30)
    res = _run("lyapunov", chain, torch.randn(3, 8, dtype=torch.float64), dtype=torch.float64)
    assert res.exponents[0] == pytest.approx(math.log(1e-30) / 3, rel=1e-6)


class _TupleHead(nn.Module):
    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return h, h.sum(dim=1)


class _DictHead(nn.Module):
    def forward(self, h: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"logits": h}


@pytest.mark.parametrize("head", [_TupleHead, _DictHead])
@pytest.mark.parametrize("name", FORWARD)
def test_tuple_or_dict_outputs_are_refused_clearly(name: str, head: type) -> None:
    model = nn.Sequential(nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 16), head())
    with pytest.raises(TypeError, match=r"stage 1 \('2'\) returns a (tuple|dict), not a tensor"):
        _run(name, model, _x())


def test_float16_model_gets_a_clear_error_or_float32_numbers() -> None:
    model = _model(torch.float16)
    for name in list_measures():
        if name == "meanfield":
            continue
        try:
            res = _run(name, model, _x(torch.float16))
        except ValueError as err:
            assert "float16" in str(err) and "dtype=" in str(err), (name, err)
        else:  # only measures that state they compute in float32 (weight_alpha: float64)
            assert name == "weight_alpha", name
            assert np.isfinite(res.headline().mean)


def test_bfloat16_lyapunov_computes_the_qr_in_float32() -> None:
    res = _run("lyapunov", _model(torch.bfloat16), _x(torch.bfloat16), k=2)
    ref = _run("lyapunov", _model(torch.float32), _x(torch.float32), k=2)
    assert np.isfinite(res.exponents).all()
    assert res.exponents[0] == pytest.approx(ref.exponents[0], abs=0.05)


@pytest.mark.parametrize("name", [*FORWARD, "weight_alpha"])
def test_meta_device_model_is_refused(name: str) -> None:
    with torch.device("meta"):
        model = nn.Sequential(nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 16))
    with pytest.raises(ValueError, match="meta device"):
        _run(name, model, _x())


def test_meta_device_model_is_refused_by_measure() -> None:
    with torch.device("meta"):
        model = nn.Sequential(nn.Linear(16, 16), nn.Tanh())
    with pytest.raises(ValueError, match=r"meta device.*to_empty"):
        measure(model, _x())


@pytest.mark.parametrize("k", [2.5, "2", None, True])
def test_non_integer_k_is_a_type_error_naming_k(k: object) -> None:
    with pytest.raises(TypeError, match="k must be an integer"):
        _run("lyapunov", _model(), _x(), k=k)


def test_susceptibility_peak_inside_the_grid_is_no_bound() -> None:
    res = _run("susceptibility", _model(), _x(b=8))
    assert res.bound == "" or res.peak_gain.mean in (res.gains[0], res.gains[-1])
    assert (res.bound == "") == (0 < int(np.argmax(res.chi)) < len(res.gains) - 1)


@pytest.mark.parametrize(
    ("rising", "bound", "sign"), [(True, "lower", ">="), (False, "upper", "<=")]
)
def test_susceptibility_peak_at_the_grid_edge_is_a_bound(
    monkeypatch: pytest.MonkeyPatch, rising: bool, bound: str, sign: str
) -> None:
    # Responses whose spread across inputs grows (or shrinks) along the whole grid: χ is
    # largest at its last (first) gain, and g* lies beyond the grid.
    module = sys.modules["criticality.measures.susceptibility"]

    def responses(stages: Any, x: torch.Tensor, gains: np.ndarray, *args: Any) -> tuple:
        spread = np.linspace(0.1, 0.4, len(gains))[:: 1 if rising else -1]  # (G,)
        rho = 0.5 + spread[:, None] * np.linspace(-1, 1, x.shape[0])[None, :]  # (G, B)
        return rho, 10

    monkeypatch.setattr(module, "_responses", responses)
    res = susceptibility(_model(), _x(b=8), g_min=0.8, g_max=1.25, n_gains=5, n_boot=20)
    edge = res.gains[-1] if bound == "lower" else res.gains[0]
    assert res.bound == bound
    assert res.peak_gain.mean == edge
    words = res.describe()
    assert f"g* {sign} {edge:.2f}" in words and "a bound, not a peak" in words
    assert type(res).from_dict(res.to_dict()).bound == bound


def test_susceptibility_of_a_scale_free_network_is_flat() -> None:
    # ReLU without biases: scaling every weight scales the output, the response fractions and
    # so χ stay the same at every gain: no peak, and the words say so.
    model = mlp(6, 32, in_dim=16, activation="relu", sigma_w=1.4, seed=0, dtype=torch.float64)
    res = susceptibility(model, _x(torch.float64, b=8), n_gains=5, n_boot=20)
    assert res.bound == "flat"
    assert "no peak" in res.describe()
