"""Name → model resolution for built-in, torchvision and timm models."""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from torch import nn

from criticality.zoo._builtin import cnn, mlp


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """What the zoo knows about a model name.

    Attributes:
        name: the name as the user gives it.
        source: ``"builtin"``, ``"torchvision"`` or ``"timm"``.
        input_shape: shape of one input without the batch dimension, e.g. ``(3, 224, 224)``.
    """

    name: str
    source: str
    input_shape: tuple[int, ...]


_BUILTIN: dict[str, tuple[Callable[..., nn.Module], tuple[int, ...]]] = {
    "mlp": (mlp, (256,)),
    "mlp_relu": (functools.partial(mlp, activation="relu", sigma_w=2**0.5), (256,)),
    "mnist_mlp": (functools.partial(mlp, depth=4, width=256, in_dim=784, out_dim=10), (784,)),
    "mnist_cnn": (cnn, (1, 28, 28)),
}

# torchvision builders that warn unless told how to initialise (their default is kept).
_TV_INIT_KW = {"googlenet": {"init_weights": True}, "inception_v3": {"init_weights": True}}


@functools.lru_cache(maxsize=1)
def _torchvision_names() -> tuple[str, ...]:
    import torchvision

    return tuple(torchvision.models.list_models(module=torchvision.models))


@functools.lru_cache(maxsize=1)
def _timm_names() -> tuple[str, ...]:
    import timm

    return tuple(timm.list_models())


def model_info(name: str) -> ModelInfo:
    """Resolve ``name``; unknown names get a ``ValueError`` with close matches."""
    if name in _BUILTIN:
        return ModelInfo(name, "builtin", _BUILTIN[name][1])
    if not name.startswith("timm/") and name in _torchvision_names():
        size = 299 if name == "inception_v3" else 224
        return ModelInfo(name, "torchvision", (3, size, size))
    bare = name.removeprefix("timm/")
    if bare in _timm_names():
        return ModelInfo(name, "timm", _timm_input_shape(bare))
    known = list(dict.fromkeys([*_BUILTIN, *_torchvision_names(), *_timm_names()]))
    close = difflib.get_close_matches(bare, known, n=5, cutoff=0.6)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    raise ValueError(f"unknown model {name!r}.{hint} `criticality list models` lists all names.")


def _timm_input_shape(name: str) -> tuple[int, ...]:
    import timm

    cfg = timm.models.get_pretrained_cfg(name)
    size = getattr(cfg, "input_size", None) if cfg is not None else None
    return tuple(size) if size else (3, 224, 224)


def create_model(
    name: str, *, pretrained: bool = False, weights: str | Path | None = None, **kwargs: Any
) -> nn.Module:
    """Build a model by name, in ``eval()`` mode.

    Args:
        name: a built-in name (``mlp``, ``mnist_cnn``, ...), a torchvision classification
            builder (``resnet18``) or a timm architecture (``tf_efficientnet_lite0``,
            ``timm/resnet18``).
        pretrained: load pretrained weights via :func:`criticality.data.load_pretrained`.
        weights: a local state-dict file to load (implies ``pretrained``).
        **kwargs: passed to the builder (e.g. ``sigma_w`` for built-in MLPs).

    Raises:
        ValueError: unknown name (with suggestions).
    """
    info = model_info(name)
    if info.source == "builtin":
        model = _BUILTIN[name][0](**kwargs)
    elif info.source == "torchvision":
        import torchvision

        model = torchvision.models.get_model(
            name, weights=None, **{**_TV_INIT_KW.get(name, {}), **kwargs}
        )
    else:
        import timm

        model = timm.create_model(name.removeprefix("timm/"), pretrained=False, **kwargs)
    if pretrained or weights is not None:
        from criticality.data import load_pretrained

        model = load_pretrained(model, name, weights=weights)
    return model.eval()


def list_models(pattern: str = "*", *, source: str | None = None) -> list[str]:
    """Model names matching the shell-style ``pattern``, optionally from one ``source``.

    timm names are listed with the ``timm/`` prefix where torchvision has the same name.
    """
    sources = {
        "builtin": list(_BUILTIN),
        "torchvision": list(_torchvision_names()),
        "timm": [f"timm/{n}" if n in _torchvision_names() else n for n in _timm_names()],
    }
    if source is not None and source not in sources:
        raise ValueError(f"unknown source {source!r}; choose one of {', '.join(sources)}")
    names = [n for s, ns in sources.items() if source in (None, s) for n in ns]
    return [n for n in names if fnmatch.fnmatch(n, pattern)]
