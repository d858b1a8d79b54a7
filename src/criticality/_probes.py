"""Probe inputs for a model, by source name: random, photos, a file or a folder of images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from criticality.zoo import ModelInfo

PROBE_SOURCES = ("gaussian", "photos", "sklearn")


def make_probes(
    source: str,
    info: ModelInfo,
    *,
    n: int = 8,
    seed: int = 0,
    input_shape: tuple[int, ...] | None = None,
) -> torch.Tensor:
    """Probe inputs of shape ``(n, *input_shape)`` for the model described by ``info``.

    Args:
        source: ``"gaussian"`` (i.i.d. N(0, 1), the scale of normalised images), ``"photos"``
            or ``"sklearn"`` (bundled natural photos with the model's own preprocessing; image
            models only), a ``.pt``/``.npy`` file holding a tensor ``(B, ...)``, or a folder
            of images.
        info: the model's zoo entry (its name and input shape).
        n: number of probe inputs (photos are augmented with seeded crops when ``n`` exceeds
            their number; a file's first ``n`` rows are used).
        seed: seed of the random draw or the augmentation.
        input_shape: override of ``info.input_shape`` (e.g. a smaller image size).
    """
    if n < 1:
        raise ValueError(f"need at least one probe input, got n={n}")
    shape = tuple(input_shape or info.input_shape)
    if source == "gaussian":
        gen = torch.Generator().manual_seed(seed)
        return torch.randn((n, *shape), generator=gen)
    path = Path(source)
    if path.suffix in (".pt", ".npy"):
        return _load_tensor(path)[:n]
    if source in ("photos", "sklearn") or path.is_dir():
        if len(shape) != 3:
            raise ValueError(
                f"{source!r} probes are images; {info.name} takes inputs of shape {shape}"
            )
        from criticality.data import probe_images

        return probe_images(info.name, n=n, seed=seed, source=source)
    raise ValueError(
        f"unknown probe source {source!r}: use one of {', '.join(PROBE_SOURCES)}, "
        "a .pt/.npy file with a tensor of shape (B, ...), or a folder of images"
    )


def _load_tensor(path: Path) -> torch.Tensor:
    if not path.is_file():
        raise FileNotFoundError(f"probe file {path} does not exist")
    if path.suffix == ".npy":
        return torch.from_numpy(np.load(path)).float()
    value = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{path} holds a {type(value).__name__}, not a tensor of shape (B, ...)")
    return value.float()
