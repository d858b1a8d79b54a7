"""``Registry[T]``, the one registry behind measures, training methods and experiments."""

from __future__ import annotations

import pytest

from criticality._registry import Registry, UnknownNameError
from criticality.experiments import _registry as experiments
from criticality.measures import _registry as measures
from criticality.training.methods import _registry as methods


def test_add_get_names_and_duplicates() -> None:
    reg = Registry[int]("shape")
    reg.add("square", 4)
    reg.add("triangle", 3)
    reg.add("pentagon", 5)
    assert reg.get("triangle") == 3
    assert reg.names() == ["pentagon", "square", "triangle"] == list(reg)
    assert reg.names("*a*") == ["pentagon", "square", "triangle"]
    assert reg.names("p*") == ["pentagon"] and reg.names("x*") == []
    assert reg.values() == [5, 4, 3] and len(reg) == 3 and "square" in reg
    with pytest.raises(ValueError, match="shape 'square' is registered twice"):
        reg.add("square", 44)
    assert reg.get("square") == 4  # the first registration stands
    with pytest.raises(ValueError, match="non-empty name"):
        reg.add("", 0)
    del reg["pentagon"]
    assert "pentagon" not in reg


def test_an_unknown_name_lists_the_known_ones_and_the_closest() -> None:
    reg = Registry[int]("training method", "methods")
    reg.add("plain", 0)
    reg.add("jacobian", 1)
    with pytest.raises(UnknownNameError) as err:
        reg.get("jacobain")
    assert str(err.value) == (
        "unknown training method 'jacobain'; known methods: jacobian, plain "
        "(did you mean jacobian?)"
    )
    # both a ValueError (bad input) and a KeyError (a failed lookup): old callers keep working
    assert isinstance(err.value, ValueError) and isinstance(err.value, KeyError)
    assert str(Registry[int]("x").names()) == "[]"
    with pytest.raises(UnknownNameError, match=r"known xs: none$"):
        Registry[int]("x").get("y")


def test_the_three_registries_are_registries() -> None:
    from criticality.experiments import list_experiments
    from criticality.measures import list_measures
    from criticality.training.methods import list_methods

    for module, names in (
        (measures, list_measures()),
        (methods, list_methods()),
        (experiments, list_experiments()),
    ):
        assert isinstance(module._REGISTRY, Registry)
        assert names == module._REGISTRY.names() and names
