"""The Avalanche plugin's hooks (without Avalanche), and inside a real strategy when installed."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from criticality.continual.avalanche import CriticalityTracking
from criticality.continual.networks import mlp
from criticality.zoo import cnn_classifier


def fake_strategy(model, index):
    return SimpleNamespace(model=model, experience=SimpleNamespace(current_experience=index))


def test_hooks_record_start_and_end_of_each_experience():
    net = mlp(6, (8, 8), 3)
    tracker = CriticalityTracking(torch.rand(16, 6), every=2)
    for index in range(3):
        tracker.before_training_exp(fake_strategy(net, index))
        tracker.after_training_exp(fake_strategy(net, index))
    assert [(r["experience"], r["phase"]) for r in tracker.records] == [
        (0, "start"), (0, "end"), (2, "start"), (2, "end"),
    ]  # fmt: skip
    assert {"lambda_1", "stage_log_gain", "sigma", "dead", "effective_rank"} <= set(
        tracker.records[0]
    )
    assert net.training  # the model's mode is restored


def test_a_convolutional_model_gets_criticality_without_unit_metrics():
    net = cnn_classifier((1, 8, 8), 3, channels=(2, 4))
    tracker = CriticalityTracking(torch.rand(4, 1, 8, 8))
    tracker.after_training_exp(fake_strategy(net, 0))
    assert "lambda_1" in tracker.records[0] and "dead" not in tracker.records[0]


@pytest.mark.filterwarnings("ignore:No loggers specified:UserWarning")
@pytest.mark.filterwarnings("ignore:no QP solver found:UserWarning")
def test_inside_an_avalanche_strategy():
    pytest.importorskip("avalanche", reason="avalanche-lib is not installed (optional extra)")
    from avalanche.benchmarks.scenarios.dataset_scenario import benchmark_from_datasets
    from avalanche.benchmarks.utils.classification_dataset import (
        _make_taskaware_tensor_classification_dataset as tensor_dataset,
    )
    from avalanche.training.supervised import Naive

    from criticality.continual.avalanche import CriticalityPlugin

    gen = torch.Generator().manual_seed(0)
    data = [tensor_dataset(torch.rand(32, 6, generator=gen),
                           torch.randint(0, 3, (32,), generator=gen), task_labels=0)
            for _ in range(2)]  # fmt: skip
    bench = benchmark_from_datasets(train=data, test=data)
    net = mlp(6, (8,), 3)
    plugin = CriticalityPlugin(torch.rand(16, 6))
    strategy = Naive(model=net, optimizer=torch.optim.SGD(net.parameters(), lr=0.1),
                     criterion=torch.nn.CrossEntropyLoss(), train_mb_size=8, train_epochs=1,
                     plugins=[plugin], evaluator=None)  # fmt: skip
    for experience in bench.train_stream:
        strategy.train(experience)
    assert [(r["experience"], r["phase"]) for r in plugin.records] == [
        (0, "start"), (0, "end"), (1, "start"), (1, "end"),
    ]  # fmt: skip
