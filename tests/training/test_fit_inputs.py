"""fit() refuses bad settings and data before the first step, with the right advice (issue 28),
and says its method one way that keeps the method's name (issue 22 item 7)."""

from __future__ import annotations

import inspect
import math
from pathlib import Path

import pytest
import torch
from torch import nn

from criticality.training import fit
from criticality.training._checkpoint import load
from criticality.training.fit import FitOptions, Method
from criticality.training.methods import build_method


def _net(seed: int = 0, outputs: int = 3) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, outputs))


def _data(n: int = 24, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, 5, generator=gen), torch.randint(0, 3, (n,), generator=gen)


def _unchanged(model: nn.Module, before: dict[str, torch.Tensor]) -> bool:
    return all(torch.equal(before[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"steps": 2.5}, TypeError, "whole number"),
        ({"steps": True}, TypeError, "whole number"),
        ({"steps": "3"}, TypeError, "whole number"),
        ({"steps": -1}, ValueError, ">= 0"),
        ({"epochs": math.nan}, ValueError, "finite"),
        ({"steps": 2, "lr": math.nan}, ValueError, "lr must be a positive finite"),
        ({"steps": 2, "lr": math.inf}, ValueError, "lr must be a positive finite"),
        ({"steps": 2, "lr": 0.0}, ValueError, "lr must be a positive finite"),
        ({"steps": 2, "lr": -0.1}, ValueError, "lr must be a positive finite"),
        ({"steps": 2, "weight_decay": math.nan}, ValueError, "weight_decay"),
        ({"steps": 2, "weight_decay": -1.0}, ValueError, "weight_decay"),
        ({"steps": 2, "batch_size": 2.0}, TypeError, "batch_size"),
        ({"steps": 2, "checkpoint_every": 0}, ValueError, "checkpoint_every"),
        ({"steps": 2, "device": "banana"}, ValueError, "is not a device"),
        ({"steps": 2, "device": "cuda:99"}, ValueError, "CUDA GPU"),
        ({"steps": 2, "bogus": 1}, TypeError, "unexpected keyword.*bogus"),
        ({"steps": 2, "options": {"batch_size": 4}}, TypeError, "FitOptions"),
    ],
)
def test_bad_settings_are_refused_before_any_step(kwargs, error, match) -> None:
    model = _net()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(error, match=match):
        fit(model, _data(), **kwargs)
    assert _unchanged(model, before)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="no CUDA GPU is available here; pass device='cpu'"):
        fit(_net(), _data(), steps=1, device="cuda")


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_inputs_are_refused_with_the_right_advice(bad: float) -> None:
    x, y = _data()
    x[[3, 7], 1] = bad
    model = _net()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match=r"NaN or inf values in 2 of 24 rows .*\[3, 7\]") as err:
        fit(model, (x, y), steps=2)
    assert "learning rate" not in str(err.value) and _unchanged(model, before)

    def stream(step: int) -> tuple[torch.Tensor, torch.Tensor]:  # a stream: found at its step
        return (x[8:12] if step == 0 else x[4:8]), y[:4]  # row 7 at step 1

    with pytest.raises(ValueError, match="inputs of step 1 hold NaN or inf") as err:
        fit(_net(), stream, steps=3)
    assert "learning rate" not in str(err.value)


@pytest.mark.parametrize(
    ("labels", "error", "match"),
    [
        (torch.tensor([0.0, 1.0, 2.0, 1.0]), TypeError, r"float32.*y\.long\(\)"),
        (torch.tensor([True, False, True, False]), TypeError, r"torch\.bool.*y\.long\(\)"),
        (torch.tensor([0, 1, 3, 1]), ValueError, r"range over 0 \.\. 3.*3 outputs"),
        (torch.tensor([0, -1, 2, 1]), ValueError, "class indices start at 0|range over -1"),
    ],
)
def test_labels_that_are_no_class_indices_are_refused(labels, error, match) -> None:
    x = torch.randn(4, 5)
    with pytest.raises(error, match=match):
        fit(_net(), (x, labels), steps=2, batch_size=4)
    with pytest.raises(error, match=match):  # and in a stream, at its first batch
        fit(_net(), lambda step: (x, labels), steps=2)


def test_integer_labels_of_any_width_train_as_class_indices() -> None:
    x, y = _data()
    ref = fit(_net(), (x, y), steps=3, batch_size=8)
    for dtype in (torch.int32, torch.int16, torch.uint8):
        other = fit(_net(), (x, y.to(dtype)), steps=3, batch_size=8)
        assert other.loss.tolist() == ref.loss.tolist()


def test_class_probabilities_are_still_accepted() -> None:
    x, y = _data()
    probs = nn.functional.one_hot(y, 3).float()
    a = fit(_net(), (x, y), steps=3, batch_size=8)
    b = fit(_net(), (x, probs), steps=3, batch_size=8)
    assert torch.allclose(torch.tensor(a.loss), torch.tensor(b.loss), atol=1e-6)


def test_method_parts_keep_their_name_in_the_checkpoint(tmp_path: Path) -> None:
    model = _net()
    parts = build_method("weight_decay", model, seed=0)
    result = fit(model, _data(), steps=2, method=Method("weight_decay", parts=parts),
                 checkpoint_dir=tmp_path)  # fmt: skip
    assert result.state is not None and result.state.method == "weight_decay"
    ckpt = load(tmp_path)
    assert ckpt is not None and ckpt["settings"]["method"] == "weight_decay"
    bare = fit(_net(), _data(), steps=1, method=build_method("plain", _net()))
    assert bare.state is not None and bare.state.method == "custom"  # bare parts: no name


def test_one_method_said_three_ways_trains_the_same() -> None:
    options = {"weight": 0.01}
    runs = [
        fit(_net(), _data(), steps=4, batch_size=8, method=Method("weight_decay", options)),
        fit(_net(), _data(), steps=4, batch_size=8, method="weight_decay", method_options=options),
        fit(
            _net(),
            _data(),
            steps=4,
            method=Method(
                "weight_decay", parts=build_method("weight_decay", _net(), seed=0, **options)
            ),
            options=FitOptions(batch_size=8),
        ),
    ]
    assert runs[0].loss.tolist() == runs[1].loss.tolist() == runs[2].loss.tolist()
    plain = fit(_net(), _data(), steps=4, batch_size=8)
    assert plain.loss.tolist()[1:] != runs[0].loss.tolist()[1:]  # the method did something
    with pytest.raises(ValueError, match="options apply to a method built by name"):
        Method("x", {"a": 1}, parts=build_method("plain", _net()))


def test_options_object_and_old_keywords_agree() -> None:
    a = fit(_net(), _data(), steps=4, options=FitOptions(batch_size=6, optimizer="sgd",
            optimizer_options={"momentum": 0.5}, weight_decay=1e-3))  # fmt: skip
    b = fit(_net(), _data(), steps=4, batch_size=6, optimizer="sgd",
            optimizer_options={"momentum": 0.5}, weight_decay=1e-3)  # fmt: skip
    assert a.loss.tolist() == b.loss.tolist()


def test_fit_has_a_small_surface() -> None:
    named = [p for p in inspect.signature(fit).parameters.values() if p.kind != p.VAR_KEYWORD]
    assert len(named) <= 13, [p.name for p in named]
