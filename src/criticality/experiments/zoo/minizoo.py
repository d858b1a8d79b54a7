"""A trained mini-zoo: small networks of varied architecture trained on MNIST-like data.

Each :class:`~criticality.zoo.NetSpec` names one architecture (MLP or CNN; depth, width,
residual or not, BatchNorm or not, activation, initialisation scale ``σ_w``).
:func:`train_and_measure` builds it
with a seed, measures it at initialisation, trains it briefly with
:func:`criticality.training.fit`, measures it again and records its test accuracy: the paper's
zoo analysis in miniature, on real data, with the training done by the package itself.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import torch

from criticality.zoo import NetSpec, build_net

MINI_ZOO: tuple[NetSpec, ...] = (
    NetSpec("mlp4-tanh-σ1", "mlp", 4, 128, "tanh", 1.0),
    NetSpec("mlp4-tanh-σ2.5", "mlp", 4, 128, "tanh", 2.5),
    NetSpec("mlp8-tanh-σ0.5", "mlp", 8, 128, "tanh", 0.5),
    NetSpec("mlp8-tanh-σ1.3", "mlp", 8, 128, "tanh", 1.3),
    NetSpec("mlp8-relu-σ1.41", "mlp", 8, 128, "relu", math.sqrt(2)),
    NetSpec("mlp8-relu-σ2.5", "mlp", 8, 128, "relu", 2.5),
    NetSpec("mlp8-relu-res", "mlp", 8, 128, "relu", 1.0, residual=True),
    NetSpec("mlp8-relu-bn", "mlp", 8, 128, "relu", math.sqrt(2), batchnorm=True),
    NetSpec("mlp8-tanh-res-bn", "mlp", 8, 128, "tanh", 1.0, residual=True, batchnorm=True),
    NetSpec("cnn3-relu-bn", "cnn", 3, 8, "relu", math.sqrt(2), batchnorm=True),
    NetSpec("cnn3-tanh-σ0.7", "cnn", 3, 8, "tanh", 0.7),
)


def train_and_measure(
    spec: NetSpec,
    data: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor],
    *,
    steps: int,
    n_probes: int,
    seed: int = 0,
    probe_seed: int = 0,
) -> dict[str, Any]:
    """Measure ``spec`` at initialisation, train it for ``steps``, measure it again.

    Args:
        spec: the architecture.
        data: ``(X_train, y_train, X_test, y_test)``, inputs of shape ``(N, 1, 28, 28)``.
        steps: Adam steps (batch 128, lr 1e-3).
        n_probes: test inputs used as probes.
        seed: seed of the initialisation and the batch order (the replicate).
        probe_seed: seed of the measures' random directions.

    Returns:
        ``{"spec", "init", "trained", "accuracy", "init_accuracy", "seconds"}``; ``init`` and
        ``trained`` are report dicts; accuracies in %.
    """
    import time

    from criticality import measure
    from criticality.training import accuracy, fit

    start = time.perf_counter()
    x_train, y_train, x_test, y_test = data
    model = build_net(spec, in_shape=tuple(x_train.shape[1:]), seed=seed).eval()
    probes = x_test[:n_probes]
    options: dict[str, Any] = {"lyapunov": {"k": 2}, "ftle": {"n_iter": 10}}
    init = measure(model, probes, seed=probe_seed, name=spec.name, **options)
    init_acc = 100 * accuracy(model, x_test, y_test)
    fit(model, (x_train, y_train), steps=steps, batch_size=128, lr=1e-3, seed=seed,
        progress=False)  # fmt: skip
    model.eval()
    trained = measure(model, probes, seed=probe_seed, name=spec.name, **options)
    return {"spec": dataclasses.asdict(spec), "family": spec.family,
            "init": init.to_dict(), "trained": trained.to_dict(),
            "accuracy": 100 * accuracy(model, x_test, y_test), "init_accuracy": init_acc,
            "seconds": time.perf_counter() - start}  # fmt: skip
