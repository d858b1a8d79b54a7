"""Task streams: each stream's invariants, on small synthetic data (no download)."""

from __future__ import annotations

import itertools

import pytest
import torch

from criticality.data.streams import (
    LabelPermutedMNIST,
    LTUNetwork,
    PermutedMNIST,
    SlowlyChangingRegression,
    SplitMNIST,
    generator,
    make_stream,
)


def toy_images(n: int = 60, n_test: int = 30, d: int = 12, classes: int = 4):
    """Distinct images (image ``i`` holds the value ``i`` in pixel 0, a ramp elsewhere), so
    that an image can be recognised after any pixel permutation."""
    x = torch.arange(n, dtype=torch.float32)[:, None] * 10 + torch.arange(d)[None] / d
    xt = -torch.arange(1, n_test + 1, dtype=torch.float32)[:, None] + torch.zeros(1, d)
    return x, torch.arange(n) % classes, xt, torch.arange(n_test) % classes


def test_permutation_is_a_bijection_fixed_within_a_task_and_new_per_task():
    stream = PermutedMNIST(4, examples_per_task=60, data=toy_images(), seed=3)
    perms = [stream.permutation(t) for t in range(4)]
    for p in perms:
        assert sorted(p.tolist()) == list(range(12))
    assert len({tuple(p.tolist()) for p in perms}) == 4
    task = stream[2]
    x, _ = stream.x, stream.y
    for step in range(task.steps):
        xb, _ = task(step)
        # the batch is some training image seen through task 2's permutation
        i = int(xb[0].max() // 10)
        assert torch.equal(xb[0], x[i][perms[2]])
    # built again (e.g. after a resume), the task is identical
    assert torch.equal(PermutedMNIST(4, examples_per_task=60, data=toy_images(), seed=3)[2](7)[0],
                       task(7)[0])  # fmt: skip


def test_each_image_once_per_task_in_a_fresh_order():
    stream = PermutedMNIST(3, examples_per_task=120, batch_size=4, data=toy_images(), seed=0)
    task = stream[1]
    seen = torch.cat([task(s)[0][:, 0] for s in range(task.steps)])  # any pixel identifies
    ids = [int(v.item()) for v in torch.cat([task(s)[0] for s in range(task.steps)]).amax(1) // 10]
    assert seen.numel() == 120 and task.steps == 30
    first, second = ids[:60], ids[60:]
    assert sorted(first) == list(range(60)) and sorted(second) == list(range(60))
    assert first != second  # a fresh order for the second pass
    other = [int(v) for v in torch.cat([stream[2](s)[0] for s in range(15)]).amax(1) // 10]
    assert other != first  # and a fresh order for the next task


def test_pixels_are_not_normalised_and_targets_are_labels():
    x, y, xt, yt = toy_images()
    stream = PermutedMNIST(2, examples_per_task=60, data=(x / x.max(), y, xt, yt))
    xb, yb = stream[0](0)
    assert float(xb.min()) >= 0.0 and float(xb.max()) <= 1.0
    assert yb.dtype == torch.int64 and stream.n_outputs == 4 and stream.in_shape == (12,)


def test_probe_is_the_same_images_through_each_tasks_permutation():
    stream = PermutedMNIST(3, examples_per_task=60, data=toy_images(), seed=1)
    idx = stream.probe_indices(8)
    for t in range(3):
        assert torch.equal(stream[t].probe(8), stream.x[idx][:, stream.permutation(t)])
    xt, _yt = stream[1].test_data()
    assert xt.shape == (30, 12) and torch.equal(
        xt, stream.xt[stream.test_indices()][:, stream.permutation(1)]
    )


def test_bad_settings_raise_with_a_hint():
    with pytest.raises(ValueError, match="multiple of batch_size"):
        PermutedMNIST(2, examples_per_task=10, batch_size=3, data=toy_images())
    with pytest.raises(ValueError, match="step must be in"):
        PermutedMNIST(2, examples_per_task=10, data=toy_images())[0](10)
    with pytest.raises(IndexError):
        PermutedMNIST(2, examples_per_task=10, data=toy_images())[2]
    with pytest.raises(ValueError, match="unknown stream"):
        make_stream("rotated_mnist", 3)


def test_label_permutation_relabels_consistently():
    stream = LabelPermutedMNIST(3, examples_per_task=60, data=toy_images(), seed=2)
    rho = stream.labels(1)
    assert sorted(rho.tolist()) == [0, 1, 2, 3]
    task = stream[1]
    for s in range(10):
        xb, yb = task(s)
        i = int(xb[0, 0] // 10)  # inputs are not permuted
        assert int(yb[0]) == int(rho[stream.y[i]])


def test_split_tasks_hold_their_classes_and_evaluate_on_all_seen():
    stream = SplitMNIST(4, classes_per_task=2, data=toy_images(), class_order=[2, 0, 3, 1])
    assert [stream.task_classes(t) for t in range(2)] == [(2, 0), (3, 1)]
    task = stream[1]
    labels = torch.cat([task(s)[1] for s in range(task.steps)])
    assert set(labels.tolist()) == {1, 3} and task.steps == 30  # every image of classes 1, 3
    assert set(task.test_data()[1].tolist()) == {0, 1, 2, 3}
    assert set(stream[0].test_data()[1].tolist()) == {0, 2}
    assert set(stream.test_task(0)[1].tolist()) == {0, 2}
    # a second cycle brings the classes back in a new seeded grouping
    assert sorted(stream.task_classes(2) + stream.task_classes(3)) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="divide"):
        SplitMNIST(classes_per_task=3, data=toy_images())


def test_ltu_target_is_the_documented_network():
    net = LTUNetwork(4, 3, beta=0.5, generator=generator(0))
    # θ_i = (m + 1) β − S_i with S_i the negative entries among w_i and b_i
    negatives = (net.w < 0).sum(1) + (net.b < 0)
    assert torch.equal(net.theta, 2.5 - negatives.float())
    assert set(net.w.unique().tolist()) <= {-1.0, 1.0} and set(net.v.unique().tolist()) <= {
        -1.0,
        1.0,
    }
    x = torch.tensor([[1.0, 0.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0]])
    f = ((x @ net.w.T + net.b) > net.theta).float()
    assert torch.equal(net.features(x), f)
    assert torch.allclose(net(x), (f @ net.v + net.c)[:, None])


def test_hand_computed_ltu_unit():
    net = LTUNetwork(2, 1, beta=0.7, generator=generator(0))
    net.w, net.b = torch.tensor([[1.0, -1.0]]), torch.tensor([1.0])
    net.v, net.c = torch.tensor([1.0]), torch.tensor(-1.0)
    net.theta = torch.tensor([3 * 0.7 - 1])  # one negative weight: θ = 1.1
    x = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])  # pre-activations 2, 1, 1
    assert net(x).flatten().tolist() == [0.0, -1.0, -1.0]


def test_slowly_changing_regression_flips_one_bit_per_task():
    stream = SlowlyChangingRegression(6, examples_per_task=40, batch_size=2, seed=4)
    bits = [stream.flipping_bits(t) for t in range(6)]
    for a, b in itertools.pairwise(bits):
        assert int((a != b).sum()) == 1
    task = stream[3]
    x, y = task(5)
    assert x.shape == (2, 20) and y.shape == (2, 1) and task.steps == 20
    assert torch.equal(x[:, :15], bits[3].expand(2, -1))
    assert torch.equal(y, stream.target(x))
    rand = torch.cat([task(s)[0][:, 15:] for s in range(task.steps)])
    assert 0.3 < float(rand.mean()) < 0.7 and len({tuple(r.tolist()) for r in rand}) > 10
    assert torch.equal(task.probe(5)[:, :15], bits[3].expand(5, -1))
    assert torch.equal(task.probe(5)[:, 15:], stream[0].probe(5)[:, 15:])  # fixed random bits
