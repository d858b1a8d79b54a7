"""Datasets against known facts: MNIST counts and mean, Fashion-MNIST balance, shapes, splits."""

from __future__ import annotations

import gzip
import shutil

import pytest
import torch

from criticality.data import load_dataset, load_tensors
from criticality.data.datasets import Split

MNIST_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


def test_mnist_train_matches_known_facts(need) -> None:
    need("mnist")
    X, y = load_tensors("mnist", "train")
    assert X.shape == (60_000, 1, 28, 28) and X.dtype == torch.float32
    assert y.dtype == torch.int64
    assert torch.bincount(y).tolist() == MNIST_COUNTS
    assert X.double().mean().item() * 255 == pytest.approx(33.318, abs=5e-4)
    assert X.min().item() >= 0.0 and X.max().item() == 1.0


def test_mnist_test_split(need) -> None:
    need("mnist")
    data = load_dataset("mnist", "test")
    x, y = data[0]
    assert len(data) == 10_000 and x.shape == (1, 28, 28) and y.dtype == torch.int64


def test_fashion_mnist_is_balanced(need) -> None:
    need("fashion_mnist")
    splits: tuple[tuple[Split, int], ...] = (("train", 6000), ("test", 1000))
    for split, n in splits:
        X, y = load_tensors("fashion_mnist", split)
        assert X.shape == (10 * n, 1, 28, 28)
        assert torch.bincount(y).tolist() == [n] * 10


def test_root_reads_your_own_gzipped_copy(need, tmp_path) -> None:
    folder = need("mnist")
    for path in folder.glob("t10k-*"):
        with open(path, "rb") as src, gzip.open(tmp_path / f"{path.name}.gz", "wb") as out:
            shutil.copyfileobj(src, out)
    X, y = load_tensors("mnist", "test", root=tmp_path)
    X_ref, y_ref = load_tensors("mnist", "test")
    assert torch.equal(X, X_ref) and torch.equal(y, y_ref)


def test_digits_shape_and_fixed_split() -> None:
    X, y = load_tensors("digits", "train")
    X_test, y_test = load_tensors("digits", "test")
    assert X.shape == (1438, 1, 8, 8) and X_test.shape == (359, 1, 8, 8)
    assert X.min().item() == 0.0 and X.max().item() == 1.0
    assert torch.bincount(torch.cat([y, y_test])).sum().item() == 1797
    assert torch.equal(load_tensors("digits", "test")[0], X_test)  # fixed seed


def test_mnist1d_shape() -> None:
    X, y = load_tensors("mnist1d", "train")
    X_test, _ = load_tensors("mnist1d", "test")
    assert X.shape == (4000, 1, 40) and X_test.shape == (1000, 1, 40)
    assert X.dtype == torch.float32 and set(y.unique().tolist()) == set(range(10))


@pytest.mark.parametrize(
    ("name", "split", "root", "match"),
    [
        ("cifar10", "train", None, "unknown dataset"),
        ("mnist", "val", None, "split must be"),
        ("digits", "train", "/tmp", "omit root"),
        ("mnist1d", "train", "/tmp", "without root"),
    ],
)
def test_bad_arguments_are_value_errors(name, split, root, match) -> None:
    with pytest.raises(ValueError, match=match):
        load_tensors(name, split, root=root)
