"""Image datasets as tensors: MNIST, Fashion-MNIST, scikit-learn's digits and MNIST-1D.

Every dataset has a ``"train"`` and a ``"test"`` split, fixed by the data or by a fixed seed, and
comes as float32 inputs with int64 labels:

========== ============== ============ =============================================
name       train / test   input shape  values
========== ============== ============ =============================================
mnist      60,000/10,000  (1, 28, 28)  pixel / 255, in [0, 1]
fashion_   60,000/10,000  (1, 28, 28)  pixel / 255, in [0, 1]
mnist
digits     1,438 / 359    (1, 8, 8)    pixel / 16, in [0, 1]; split seeded (seed 0)
mnist1d    4,000 / 1,000  (1, 40)      raw signal (about [-3, 3], not rescaled), mnist1d's
                                       default arguments (seed 42)
========== ============== ============ =============================================
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch.utils.data import TensorDataset

from criticality.data import _formats
from criticality.data._registry import fetch

Split = Literal["train", "test"]
DIGITS_TEST_FRACTION = 0.2
DIGITS_SEED = 0


def _idx(name: str, split: Split, root: Path | None) -> tuple[np.ndarray, np.ndarray]:
    folder = fetch(name) if root is None else Path(root)
    prefix = "train" if split == "train" else "t10k"
    images = _formats.read_idx(folder / f"{prefix}-images-idx3-ubyte")
    labels = _formats.read_idx(folder / f"{prefix}-labels-idx1-ubyte")
    return images[:, None].astype(np.float32) / 255.0, labels  # (N, 1, 28, 28), (N,)


def _digits(split: Split, root: Path | None) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    if root is not None:
        raise ValueError("digits ships with scikit-learn, not read from files: omit root=")
    bunch = load_digits()
    images = bunch.images.astype(np.float32)[:, None] / 16.0  # (1797, 1, 8, 8)
    order = np.random.default_rng(DIGITS_SEED).permutation(len(images))
    n_test = round(DIGITS_TEST_FRACTION * len(images))
    keep = order[n_test:] if split == "train" else order[:n_test]
    return images[keep], bunch.target[keep]


@functools.lru_cache(maxsize=1)
def _mnist1d_arrays() -> dict[str, np.ndarray]:
    from mnist1d.data import get_dataset_args, make_dataset

    # make_dataset works offline; mnist1d.get_dataset would try to download a pickle.
    data = make_dataset(get_dataset_args())
    return {key: np.asarray(data[key]) for key in ("x", "y", "x_test", "y_test")}


def _mnist1d(split: Split, root: Path | None) -> tuple[np.ndarray, np.ndarray]:
    if root is not None:
        raise ValueError("mnist1d is generated, not read from files: call it without root=")
    arrays = _mnist1d_arrays()
    x, y = (arrays["x"], arrays["y"]) if split == "train" else (arrays["x_test"], arrays["y_test"])
    return x.astype(np.float32)[:, None], y  # (N, 1, 40), (N,)


_Loader = Callable[[Split, "Path | None"], "tuple[np.ndarray, np.ndarray]"]
DATASETS: dict[str, _Loader] = {
    "mnist": functools.partial(_idx, "mnist"),
    "fashion_mnist": functools.partial(_idx, "fashion_mnist"),
    "digits": _digits,
    "mnist1d": _mnist1d,
}
"""Dataset loaders by name: ``(split, root) -> (inputs, labels)`` as NumPy arrays."""


def load_tensors(
    name: str, split: Split = "train", *, root: str | Path | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Load a whole split as two tensors (the fast path for small networks).

    Args:
        name: one of :data:`DATASETS` (``"mnist"``, ``"fashion_mnist"``, ``"digits"``,
            ``"mnist1d"``).
        split: ``"train"`` or ``"test"``.
        root: a folder with your own copy of the files (for MNIST and Fashion-MNIST the four
            ``*-ubyte`` IDX files, plain or ``.gz``), read in place; default: the verified cache,
            fetched on first use.

    Returns:
        ``(X, y)``: float32 inputs of shape ``(N, 1, H, W)`` (``(N, 1, 40)`` for mnist1d) and
        int64 labels of shape ``(N,)``; see the module table for value ranges.

    Raises:
        ValueError: unknown name or split.
        DataUnavailableError: the data could not be fetched.

    Example:
        >>> X, y = load_tensors("digits", "test")
        >>> tuple(X.shape), y.dtype
        ((359, 1, 8, 8), torch.int64)
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {sorted(DATASETS)}")
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    x, y = DATASETS[name](split, None if root is None else Path(root))
    return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y.astype(np.int64))


def load_dataset(
    name: str, split: Split = "train", *, root: str | Path | None = None
) -> TensorDataset:
    """Load a split as a PyTorch dataset of ``(input, label)`` pairs.

    Args:
        name: see :func:`load_tensors`.
        split: ``"train"`` or ``"test"``.
        root: see :func:`load_tensors`.

    Returns:
        A ``TensorDataset``; item ``i`` is ``(x, y)`` with ``x`` float32 of shape ``(1, H, W)``
        (``(1, 40)`` for mnist1d) and ``y`` an int64 scalar. ``.tensors`` holds ``(X, y)``.
    """
    return TensorDataset(*load_tensors(name, split, root=root))
