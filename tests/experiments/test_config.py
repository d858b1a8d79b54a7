"""Config introspection and ``--set``: every field documented, values checked by type."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

from criticality.cli.experiment import build_config
from criticality.cli.main import main
from criticality.experiments import get_experiment, list_experiments
from criticality.experiments._config import apply_overrides, check_value, describe, field_docs


@pytest.mark.parametrize("name", list_experiments())
def test_every_field_of_every_experiment_has_a_doc(name: str) -> None:
    spec = get_experiment(name)
    rows = describe(spec.preset("tiny"))
    fields = {f.name for f in dataclasses.fields(spec.config)}
    assert {r.name.split(".")[0] for r in rows} == fields
    undocumented = [r.name for r in rows if not r.doc]
    assert not undocumented, f"{spec.config.__name__}: no entry under Attributes: {undocumented}"
    assert set(field_docs(spec.config)) <= fields, "a doc entry names no field"


@dataclasses.dataclass(frozen=True)
class Inner:
    """A nested spec.

    Attributes:
        latent: latent units.
        beta: KL weight.
    """

    latent: int = 4
    beta: float = 1.0


@dataclasses.dataclass(frozen=True)
class Outer:
    """A config with a nested spec.

    Attributes:
        steps: optimizer steps.
        seeds: the replicates.
        vae: the nested spec.
        mode: how.
        scale: an optional scale.
    """

    steps: int = 10
    seeds: tuple[int, ...] = (0, 1, 2)
    vae: Inner = Inner()
    mode: str = "a"
    scale: float | None = None


def test_dotted_keys_replace_a_field_of_a_nested_config() -> None:
    cfg = apply_overrides(Outer(), {"vae.latent": 8, "steps": 3.0, "seeds": (4, 5, 6)})
    assert cfg == Outer(steps=3, seeds=(4, 5, 6), vae=Inner(latent=8))
    assert isinstance(cfg.steps, int)
    assert apply_overrides(Outer(), {"vae": {"beta": 0.5}}).vae == Inner(beta=0.5)
    assert [r.name for r in describe(Outer())] == [
        "steps", "seeds", "vae.latent", "vae.beta", "mode", "scale",
    ]  # fmt: skip
    with pytest.raises(
        ValueError, match=r"Inner has no field vae.size; its fields: vae.beta, vae.latent$"
    ):
        apply_overrides(Outer(), {"vae.size": 3})
    with pytest.raises(ValueError, match="steps has no fields"):
        apply_overrides(Outer(), {"steps.x": 3})


@pytest.mark.parametrize(
    ("key", "value", "error", "match"),
    [
        ("steps", 2.5, ValueError, r"steps=2.5: steps must be a whole number \(int\), got 2.5"),
        ("steps", "many", TypeError, "steps must be an int, got str"),
        ("steps", True, TypeError, "steps must be an int, got bool"),
        ("scale", math.nan, ValueError, "scale must be a finite number, got nan"),
        ("scale", math.inf, ValueError, "scale must be a finite number, got inf"),
        ("scale", "inf", TypeError, "scale must be"),
        ("mode", 3, TypeError, "mode must be a string, got int"),
        ("seeds", (), ValueError, r"seeds \(the replicates\) needs at least one seed"),
        ("seeds", (0, 0, 1), ValueError, r"each must appear once \(repeated: 0\)"),
        ("seeds", 3, TypeError, "seeds must be a list"),
        ("seeds", (0, 1.5), ValueError, "seeds must be a whole number"),
        ("vae.latent", 0.5, ValueError, r"--set vae.latent=0.5: vae.latent must be a whole number"),
    ],
)
def test_bad_values_are_refused_naming_the_field(
    key: str, value: object, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        apply_overrides(Outer(), {key: value})


def test_check_value_known_answers() -> None:
    assert check_value("scale", None, float | None) is None
    assert check_value("scale", 2, float | None) == 2.0
    assert check_value("pair", [1, 2], tuple[int, int]) == (1, 2)
    with pytest.raises(ValueError, match="must have 2 entries"):
        check_value("pair", [1, 2, 3], tuple[int, int])


def test_cli_set_is_checked_against_the_real_configs() -> None:
    cfg = build_config("training", "tiny", ["steps=5", "seeds=[3,4,5]", "lr=0.01"], None)
    assert (cfg.steps, cfg.seeds, cfg.lr) == (5, (3, 4, 5), 0.01)
    with pytest.raises(ValueError, match="lr must be a finite number, got nan"):
        build_config("training", "tiny", ["lr=NaN"], None)
    with pytest.raises(ValueError, match="steps must be a whole number"):
        build_config("training", "tiny", ["steps=2.5"], None)
    with pytest.raises(ValueError, match="repeated: 0"):
        build_config("phase", "tiny", ["seeds=[0,0]"], None)
    with pytest.raises(ValueError, match="needs at least one seed"):
        build_config("training", "tiny", ["seeds=[]"], None)


def test_experiment_help_lists_every_field(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["experiment", "training", "--preset", "tiny", "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "--set FIELD=VALUE" in out  # the usual help first
    assert "  steps: int = 20\n      optimizer steps of every run (the matched budget)." in out
    for f in dataclasses.fields(get_experiment("training").config):
        assert f"\n  {f.name}: " in out


def test_a_list_of_records_is_built_from_json_objects_field_by_field() -> None:
    """``--set specs=[{...}]`` builds each entry as its dataclass (``NetSpec``), every field
    checked by its type; anything else is refused naming the field and the entry's fields."""
    from criticality.zoo import NetSpec

    spec = {"name": "m", "kind": "mlp", "depth": 2, "width": 8, "activation": "tanh",
            "sigma_w": 1.5}  # fmt: skip
    cfg = build_config("zoo", "tiny", ["specs=[" + json.dumps(spec) + "]"], None)
    assert cfg.specs == (NetSpec("m", "mlp", 2, 8, "tanh", 1.5),)
    with pytest.raises(TypeError, match="specs takes JSON objects with the fields of NetSpec"):
        build_config("zoo", "tiny", ["specs=[3]"], None)
    with pytest.raises(ValueError, match="missing kind, depth, width, activation, sigma_w"):
        build_config("zoo", "tiny", ['specs=[{"name": "m"}]'], None)
    with pytest.raises(ValueError, match="unknown colour"):
        build_config("zoo", "tiny", ["specs=[" + json.dumps({**spec, "colour": 1}) + "]"], None)
    with pytest.raises(ValueError, match=r"specs\.depth must be a whole number"):
        build_config("zoo", "tiny", ["specs=[" + json.dumps({**spec, "depth": 2.5}) + "]"], None)
