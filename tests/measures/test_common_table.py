"""Every registered measure through the same checks: determinism, dtype, JSON, bad inputs."""

from __future__ import annotations

import copy
import json
from typing import Any

import numpy as np
import pytest
import torch

from criticality.measures import get_measure, list_measures
from criticality.zoo import mlp

#: Cheap options per measure so the table stays fast; measures not listed run with defaults.
FAST: dict[str, dict[str, Any]] = {
    "avalanches": {"n_trials": 16, "n_boot": 5},
    "dynamic_range": {"n_stimuli": 13, "n_dirs": 2},
    "ftle": {"n_iter": 50, "tol": 1e-6},
    "susceptibility": {"n_gains": 9, "n_boot": 20},
    "weight_alpha": {"min_evals": 10},
}

#: |float32 − float64| allowed on the headline, relative to max(1, |value|).
DTYPE_TOL: dict[str, float] = {"avalanches": 0.1, "susceptibility": 0.1, "dynamic_range": 0.05}

MEASURES = list_measures()


def _model(dtype: torch.dtype = torch.float64) -> torch.nn.Module:
    return mlp(6, 32, in_dim=16, sigma_w=1.4, sigma_b=0.3, seed=0, dtype=dtype)


def _inputs(dtype: torch.dtype = torch.float64) -> torch.Tensor:
    return torch.randn(6, 16, generator=torch.Generator().manual_seed(1), dtype=dtype)


def _run(name: str, model: Any, x: Any, **extra: Any) -> Any:
    return get_measure(name).run(model, x, seed=3, **{**FAST.get(name, {}), **extra})


def _as_json(result: Any) -> str:
    return json.dumps(result.to_dict(), sort_keys=True)


def test_all_issue_measures_registered() -> None:
    expected = {"avalanches", "branching", "dynamic_range", "susceptibility", "weight_alpha"}
    assert expected <= set(MEASURES)


@pytest.mark.parametrize("name", MEASURES)
def test_same_seed_same_result(name: str) -> None:
    model = _model()
    assert _as_json(_run(name, model, _inputs())) == _as_json(_run(name, model, _inputs()))


@pytest.mark.parametrize("name", MEASURES)
def test_json_round_trip(name: str) -> None:
    result = _run(name, _model(), _inputs())
    spec = get_measure(name)
    assert isinstance(result, spec.result_type)
    back = spec.result_type.from_dict(json.loads(json.dumps(result.to_dict())))
    assert type(back) is type(result)
    assert _as_json(back) == _as_json(result)
    assert back.headline() == result.headline() or np.isnan(result.headline().mean)
    assert isinstance(result.describe(), str) and result.describe()


@pytest.mark.parametrize("name", MEASURES)
def test_float32_agrees_with_float64(name: str) -> None:
    model32 = _model(torch.float32)
    before = copy.deepcopy(model32.state_dict())
    r32 = _run(name, model32, _inputs(torch.float32))
    r64 = _run(name, model32, _inputs(torch.float32), dtype=torch.float64)
    # the dtype option computes on a copy: the caller's float32 model is untouched
    for key, value in model32.state_dict().items():
        assert value.dtype == torch.float32
        assert torch.equal(value, before[key])
    a, b = r32.headline().mean, r64.headline().mean
    assert abs(a - b) <= DTYPE_TOL.get(name, 1e-3) * max(1.0, abs(b))
    for field, value in r64.__dict__.items():
        if isinstance(value, np.ndarray):
            assert value.dtype == np.float64, field


@pytest.mark.parametrize("name", MEASURES)
@pytest.mark.parametrize(
    ("bad", "error"),
    [
        (torch.full((6, 16), float("nan"), dtype=torch.float64), ValueError),
        (torch.randn(16, dtype=torch.float64), ValueError),
        ([[0.0] * 16] * 6, TypeError),
        (torch.ones(6, 16, dtype=torch.long), TypeError),
    ],
    ids=["nan", "no-batch-dim", "list", "integer"],
)
def test_bad_inputs_raise(name: str, bad: Any, error: type[Exception]) -> None:
    with pytest.raises(error, match=r"\w"):
        _run(name, _model(), bad)


@pytest.mark.parametrize("name", [n for n in MEASURES if n != "weight_alpha"])
def test_wrong_feature_size_raises(name: str) -> None:
    with pytest.raises(ValueError, match="shape"):
        _run(name, _model(), torch.randn(6, 7, dtype=torch.float64))


def test_weight_alpha_accepts_no_inputs() -> None:
    assert get_measure("weight_alpha").run(_model(), None).headline().n == 6
