"""A fixed digit classifier that judges the diversity of generated images.

The judge is trained once per dataset on the real training split (seed 0) and cached in
``cache_dir()/collapse/judge_<dataset>_v1.pt`` with its test accuracy, so every generation, run
and machine scores samples with the same network. Diversity of ``N`` samples with predicted
class probabilities ``P`` (shape ``(N, C)``) and hard labels ``ĉ_n = argmax_c P_nc``:

* class histogram ``h_c = #{n: ĉ_n = c} / N`` and its entropy ``H = −Σ_c h_c ln h_c``
  (``ln C`` when uniform);
* per-class coverage ``h_c / r_c`` with ``r_c`` the real class shares (1 for a model that
  matches the real classes); ``min_coverage = min_c h_c / r_c``;
* mean confidence ``mean_n max_c P_nc``;
* tail mass: the summed share of the ``k`` rarest classes of the histogram, ``Σ_{k smallest} h_c``
  (``k/C`` when uniform, 0 when ``k`` classes have vanished): tails vanish first.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from pathlib import Path

import numpy as np
import torch
from torch import nn

log = logging.getLogger(__name__)

JUDGE_VERSION = 1


@dataclasses.dataclass(frozen=True)
class Diversity:
    """Diversity of a set of generated images as seen by the judge.

    Attributes:
        entropy: entropy of the class histogram, nats (``ln C`` at most).
        histogram: class shares ``h_c``, ``C`` entries.
        coverage: ``h_c / r_c`` per class, ``C`` entries.
        min_coverage: ``min_c h_c / r_c``.
        confidence: mean of the judge's top class probability.
        tail_mass: summed share of the ``k`` rarest classes.
        k: classes in the tail.
    """

    entropy: float
    histogram: tuple[float, ...]
    coverage: tuple[float, ...]
    min_coverage: float
    confidence: float
    tail_mass: float
    k: int


def diversity(probs: torch.Tensor, real_share: torch.Tensor, *, k: int = 3) -> Diversity:
    """Diversity scores from class probabilities ``(N, C)`` and real class shares ``(C,)``."""
    if probs.ndim != 2 or real_share.shape != (probs.shape[1],):
        raise ValueError(
            f"probs must be (N, C) and real_share (C,), got {tuple(probs.shape)} and "
            f"{tuple(real_share.shape)}"
        )
    c = probs.shape[1]
    hist = torch.bincount(probs.argmax(dim=1), minlength=c).double() / probs.shape[0]
    nz = hist[hist > 0]
    coverage = hist / real_share.double()
    return Diversity(
        entropy=float(-(nz * nz.log()).sum()),
        histogram=tuple(hist.tolist()),
        coverage=tuple(coverage.tolist()),
        min_coverage=float(coverage.min()),
        confidence=float(probs.max(dim=1).values.double().mean()),
        tail_mass=float(hist.sort().values[:k].sum()),
        k=k,
    )


def _judge_net(in_shape: tuple[int, ...], n_classes: int) -> nn.Module:
    if in_shape[-1] >= 28:
        return nn.Sequential(
            nn.Conv2d(1, 16, 5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(32 * (in_shape[-2] // 4) * (in_shape[-1] // 4), 128),
            nn.ReLU(),
            nn.Linear(128, n_classes),
        )
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(math.prod(in_shape), 128),
        nn.ReLU(),
        nn.Linear(128, n_classes),
    )


@dataclasses.dataclass(frozen=True)
class Judge:
    """The cached classifier and what it knows of the real data.

    Attributes:
        net: the classifier (eval mode, frozen).
        real_share: class shares of the real training labels, shape ``(C,)``.
        test_accuracy: its accuracy on the real test split.
        dataset: the dataset it was trained on.
    """

    net: nn.Module
    real_share: torch.Tensor
    test_accuracy: float
    dataset: str

    @torch.no_grad()
    def probs(self, images: torch.Tensor, *, batch_size: int = 1024) -> torch.Tensor:
        """Class probabilities of ``images`` ``(N, 1, H, W)``, shape ``(N, C)``."""
        out = [torch.softmax(self.net(b.float()), dim=1) for b in images.split(batch_size)]
        return torch.cat(out)

    def diversity(self, images: torch.Tensor, *, k: int = 3) -> Diversity:
        """:func:`diversity` of ``images`` under this judge."""
        return diversity(self.probs(images), self.real_share, k=k)


def load_judge(
    dataset: str = "mnist", *, epochs: float | None = None, cache: str | Path | None = None
) -> Judge:
    """The judge for ``dataset`` (``"mnist"`` or ``"digits"``), trained on first use and cached.

    Args:
        dataset: a dataset of :func:`criticality.data.load_tensors` with 10 classes.
        epochs: training epochs on first use (Adam, lr 1e-3, batch 128, seed 0); default
            about 1,400 steps (3 epochs of MNIST, 120 of digits).
        cache: folder of the cached judges; default ``cache_dir()/collapse``.
    """
    from criticality.data import cache_dir, load_tensors
    from criticality.training import accuracy, fit

    folder = Path(cache) if cache is not None else cache_dir() / "collapse"
    path = folder / f"judge_{dataset}_v{JUDGE_VERSION}.pt"
    x, y = load_tensors(dataset, "train")
    n_classes = int(y.max()) + 1
    net = _judge_net(tuple(x.shape[1:]), n_classes)
    share = torch.bincount(y, minlength=n_classes).double() / len(y)
    if path.exists():
        saved = torch.load(path, weights_only=True)
        net.load_state_dict(saved["state"])
        acc = float(saved["test_accuracy"])
    else:
        log.info("training the %s judge once (cached at %s)", dataset, path)
        torch.manual_seed(0)
        n_epochs = epochs if epochs is not None else 1400 * 128 / len(x)
        fit(net, (x, y), epochs=n_epochs, batch_size=128, lr=1e-3, seed=0, progress=False)
        xt, yt = load_tensors(dataset, "test")
        acc = float(accuracy(net, xt, yt))
        folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{np.random.default_rng().integers(1 << 30)}")
        torch.save({"state": net.state_dict(), "test_accuracy": acc}, tmp)
        tmp.replace(path)  # atomic: concurrent sessions never read a half-written judge
    net.eval().requires_grad_(False)
    return Judge(net, share, acc, dataset)
