"""Every training method trains a tiny model for a few steps and leaves finite weights; the
registry's rules (options, kinds, contrasts) hold."""

from __future__ import annotations

import pytest
import torch

from criticality.experiments.training import contrasts
from criticality.regularizers import CriticalityRegularizer
from criticality.training import fit
from criticality.training.methods import (
    KINDS,
    MethodParts,
    build_method,
    get_method,
    list_methods,
    method_options,
    register_method,
)
from criticality.zoo import mlp_classifier


def _data(n: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return torch.randn(n, 1, 4, 4, generator=gen), torch.randint(0, 3, (n,), generator=gen)


@pytest.mark.parametrize("name", list_methods())
def test_every_method_trains_and_leaves_finite_weights(name: str) -> None:
    model = mlp_classifier((1, 4, 4), 3, depth=2, width=16, seed=0)
    before = [p.detach().clone() for p in model.parameters()]
    result = fit(model, _data(), steps=5, batch_size=16, method=name, seed=0, progress=False)
    assert result.steps == 5 and torch.isfinite(torch.as_tensor(result.loss)).all()
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    spec = get_method(name)
    assert spec.kind in KINDS and spec.summary


def test_options_defaults_shared_and_overrides() -> None:
    assert method_options("critical_global")["weight"] == 5.0
    shared = {"norm": "l2", "sub_batch": 8, "unrelated": 1}
    opts = method_options("critical_global", shared, {"weight": 2.0})
    assert (opts["norm"], opts["sub_batch"], opts["weight"]) == ("l2", 8, 2.0)
    assert "unrelated" not in opts
    assert method_options("jacobian", shared) == {"weight": 0.01, "sub_batch": 8}
    with pytest.raises(ValueError, match="'weight_decay' has no option norm; its options: weight"):
        method_options("weight_decay", overrides={"norm": "l2"})
    with pytest.raises(ValueError, match="unknown training method 'dropout'; known methods: "):
        get_method("dropout")


def test_built_parts_are_what_the_method_says() -> None:
    model = mlp_classifier((1, 4, 4), 3, depth=2, width=8)
    (term,) = build_method("critical_stagewise", model, seed=7, weight=2.0).loss_terms
    assert isinstance(term, CriticalityRegularizer)
    assert (term.mode, term.weight, term.seed, term.norm) == ("stagewise", 2.0, 7, "rms")
    assert build_method("weight_decay", model).optimizer == {"weight_decay": 1e-3}
    assert build_method("plain", model) == MethodParts()


def test_weight_decay_method_is_the_optimizer_option() -> None:
    # the method's optimizer setting gives bit-identical training to passing weight_decay=
    runs = []
    for kwargs in ({"method": "weight_decay"}, {"weight_decay": 1e-3}):
        model = mlp_classifier((1, 4, 4), 3, depth=2, width=8, seed=1)
        fit(model, _data(), steps=4, batch_size=16, seed=0, progress=False, **kwargs)  # type: ignore[arg-type]
        runs.append([p.detach().clone() for p in model.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*runs, strict=True))


def test_contrasts_follow_the_kinds() -> None:
    methods = ["plain", "critical_global", "jacobian", "weight_decay"]
    assert contrasts(methods) == [
        ("critical_global", "plain"),
        ("jacobian", "plain"),
        ("weight_decay", "plain"),
        ("critical_global", "jacobian"),
        ("critical_global", "weight_decay"),
    ]
    assert contrasts(["critical_global", "jacobian"], baseline="jacobian") == [
        ("critical_global", "jacobian")
    ]


def test_registration_is_one_decorator() -> None:
    @register_method("_test_noise", summary="adds nothing", defaults={"scale": 1.0})
    def _build(ctx, *, scale):  # type: ignore[no-untyped-def]
        return MethodParts(optimizer={"lr": scale})

    try:
        assert build_method("_test_noise", torch.nn.Linear(2, 2), scale=0.5).optimizer == {
            "lr": 0.5
        }
        with pytest.raises(ValueError, match="registered twice"):
            register_method("_test_noise", summary="again")(_build)
    finally:
        from criticality.training.methods import _registry

        del _registry._REGISTRY["_test_noise"]
