"""Readers for the raw file formats, and the facts a freshly fetched item must satisfy.

A check takes the folder of a fetched item and raises :class:`ValueError` when the content is not
what the item is known to be; it runs once, before the item's checksums are recorded.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

# Known facts (LeCun et al. 1998; Xiao et al. 2017).
MNIST_TRAIN_COUNTS = (5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949)
MNIST_TRAIN_MEAN = 33.318  # mean pixel of the 60,000 training images, 0..255 scale
FASHION_PER_CLASS = {"train": 6000, "t10k": 1000}
IDX_FILES = tuple(
    f"{split}-{kind}"
    for split in ("train", "t10k")
    for kind in ("images-idx3-ubyte", "labels-idx1-ubyte")
)
PHOTOS = ("dog", "eagle", "giraffe", "horses", "kite", "person", "scream")
IMAGENET_LISTS = ("imagenet.labels.list", "imagenet.shortnames.list")
_IDX_DTYPES = {0x08: np.uint8}


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (the MNIST format), plain or gzipped.

    Args:
        path: the file; ``path`` or ``path.gz`` must exist.

    Returns:
        uint8 array, shape ``(N,)`` for labels or ``(N, H, W)`` for images.
    """
    if not path.is_file() and path.with_name(path.name + ".gz").is_file():
        path = path.with_name(path.name + ".gz")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        raw = fh.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"{path} is not an unsigned-byte IDX file")
    ndim = raw[3]
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise ValueError(f"{path}: header says {dims} but holds {data.size} values (truncated?)")
    return data.reshape(dims)


def _idx_split(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    images = read_idx(folder / f"{split}-images-idx3-ubyte")
    labels = read_idx(folder / f"{split}-labels-idx1-ubyte")
    if images.shape[0] != labels.shape[0] or images.shape[1:] != (28, 28):
        raise ValueError(f"{folder}: {split} images {images.shape} vs labels {labels.shape}")
    return images, labels


def check_mnist(folder: Path) -> None:
    """MNIST: 60,000/10,000 images, the known training label counts and mean pixel 33.318."""
    images, labels = _idx_split(folder, "train")
    counts = tuple(int(c) for c in np.bincount(labels, minlength=10))
    if counts != MNIST_TRAIN_COUNTS:
        raise ValueError(f"MNIST train label counts {counts} != {MNIST_TRAIN_COUNTS}")
    mean = float(images.mean(dtype=np.float64))
    if round(mean, 3) != MNIST_TRAIN_MEAN:
        raise ValueError(f"MNIST train mean pixel {mean:.4f} != {MNIST_TRAIN_MEAN}")
    test_images, _ = _idx_split(folder, "t10k")
    if test_images.shape[0] != 10_000:
        raise ValueError(f"MNIST test set has {test_images.shape[0]} images, expected 10000")


def check_fashion_mnist(folder: Path) -> None:
    """Fashion-MNIST: 6,000 images per class in train and 1,000 in test."""
    for split, per_class in FASHION_PER_CLASS.items():
        _, labels = _idx_split(folder, split)
        counts = np.bincount(labels, minlength=10)
        if len(counts) != 10 or not (counts == per_class).all():
            raise ValueError(f"Fashion-MNIST {split} counts {counts.tolist()} != {per_class} each")


def check_kjv(folder: Path) -> None:
    """KJV text: plain ASCII from Genesis 1:1 to Revelation 22:21."""
    text = (folder / "kjv.txt").read_bytes()
    if not text.isascii():
        raise ValueError("KJV text is not plain ASCII")
    if b"In the beginning God created" not in text[:200] or not text.rstrip().endswith(b"Amen."):
        raise ValueError("KJV text does not run from Genesis 1:1 to Revelation 22:21")


def check_photos(folder: Path) -> None:
    """Darknet photos: every JPEG decodes, and the ImageNet label lists cover 1,000 classes."""
    from PIL import Image

    for name in PHOTOS:
        with Image.open(folder / f"{name}.jpg") as img:
            img.verify()
    lists = [(folder / name).read_text().splitlines() for name in IMAGENET_LISTS]
    if len(lists[0]) < 1000 or len(lists[0]) != len(lists[1]):
        raise ValueError("darknet ImageNet label lists are incomplete")


def check_state_dict(folder: Path) -> None:
    """Weights: a loadable PyTorch state dict of tensors."""
    import torch

    for path in folder.iterdir():
        state = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
            raise ValueError(f"{path.name} is not a state dict of tensors")


def check_bert_folder(folder: Path) -> None:
    """A BERT encoder folder: ``config.json`` of a ``bert`` model, ``model.safetensors`` whose
    tensors include the word embeddings of the config's vocabulary and width, and a
    ``tokenizer.json``."""
    import json

    from safetensors import safe_open

    config = json.loads((folder / "config.json").read_text())
    if config.get("model_type") != "bert":
        raise ValueError(f"config.json describes a {config.get('model_type')!r} model, not bert")
    with safe_open(str(folder / "model.safetensors"), framework="pt") as f:
        keys = list(f.keys())
        emb = next((k for k in keys if k.endswith("word_embeddings.weight")), None)
        if emb is None:
            raise ValueError("model.safetensors holds no word embeddings")
        shape = tuple(f.get_slice(emb).get_shape())
    if shape != (config["vocab_size"], config["hidden_size"]):
        raise ValueError(f"word embeddings {shape} do not match config.json")
    tok = json.loads((folder / "tokenizer.json").read_text())
    if "model" not in tok:
        raise ValueError("tokenizer.json is not a tokenizers file")
