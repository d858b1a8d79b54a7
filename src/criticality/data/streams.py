"""Task streams for continual learning: a sequence of tasks, each generated when it is reached.

A *stream* is a sequence of *tasks* (Avalanche calls them experiences). A task knows how many
optimizer steps it lasts and hands out the batch of each step, ``task(step) -> (x, y)``, so it
can be passed to :func:`criticality.training.fit` as its batch source. Nothing is materialised
before it is needed: task ``t`` is built from the seed and ``t`` when it is asked for, in any
order, and is the same every time (a resumed run sees the same data).

======================== ============================================================= ======
stream                   what changes from task to task                                 source
======================== ============================================================= ======
``permuted_mnist``       a fixed random pixel permutation; each image once per task in   Dohare
                         a fresh order; pixels in [0, 1], no normalisation               et al.
``slowly_changing_``     one of 15 input bits flips; 5 more bits are random per example; Dohare
``regression``           the target is a fixed random network of linear threshold units  et al.
``split_mnist``          class-incremental: new classes arrive; evaluation on all        ours
                         classes seen so far
``label_permuted_mnist`` the labels are permuted; the images stay the same               ours
======================== ============================================================= ======

Dohare et al., *Loss of plasticity in deep continual learning*, Nature 632 (2024); their code is
``shibhansh/loss-of-plasticity``. The last two streams are extensions of ours (Split MNIST is
the usual class-incremental benchmark of van de Ven et al. 2022; the label-permuted variant
follows the label-permutation tasks of Lyle et al. 2023 / Kumar et al. 2023).

Example:
    >>> stream = PermutedMNIST(3, examples_per_task=100, dataset="digits", seed=0)
    >>> task = stream[1]
    >>> x, y = task(0)
    >>> task.steps, tuple(x.shape), tuple(y.shape)
    (100, (1, 64), (1,))
"""

from __future__ import annotations

import abc
import functools
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Literal

import numpy as np
import torch

from criticality.data.datasets import load_tensors

Kind = Literal["classification", "regression"]
Arrays = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]

# Salts keep the random streams of different purposes apart for the same (seed, task).
_PERM, _ORDER, _PROBE, _TEST, _LABELS, _BITS, _FLIP, _RANDOM, _TARGET, _CLASSES = range(10)


def generator(*keys: int) -> torch.Generator:
    """A CPU generator seeded from a tuple of non-negative integers (mixed, never reused).

    ``generator(seed, salt, task)`` gives independent streams for different salts and tasks.
    """
    mixed = int(np.random.SeedSequence([int(k) for k in keys]).generate_state(1)[0])
    return torch.Generator().manual_seed(mixed)


class Task(abc.ABC):
    """One task of a stream (an Avalanche *experience*).

    A task is a batch source: ``task(step)`` returns the batch of its ``step``-th optimizer step
    (``0 <= step < task.steps``).

    Attributes:
        index: the task number ``t`` (0-based).
        steps: optimizer steps the task lasts (examples per task / batch size).
        batch_size: examples per step.
        classes: classes in this task's training data (empty for regression).
    """

    def __init__(
        self, index: int, steps: int, batch_size: int, classes: tuple[int, ...] = ()
    ) -> None:
        self.index, self.steps, self.batch_size, self.classes = index, steps, batch_size, classes

    def __call__(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch of optimizer step ``step``: inputs ``(B, *in_shape)`` and targets ``(B,)``
        (class labels, int64) or ``(B, 1)`` (regression, float32)."""
        if not 0 <= step < self.steps:
            raise ValueError(f"step must be in [0, {self.steps}) for this task, got {step}")
        return self.batch(step)

    @abc.abstractmethod
    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch of step ``step`` (no range check)."""

    @abc.abstractmethod
    def test_data(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Held-out inputs and targets of this task (the current task's test set)."""

    def first_examples(self, n: int) -> torch.Tensor:
        """The inputs of the task's first ``n`` training examples, in training order (all of
        them when the task has fewer): what Dohare et al. measure the plasticity metrics on at
        the start of each task (``online_expr.py``, ``net.predict(x[:2000])``)."""
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        steps = min(self.steps, -(-n // self.batch_size))
        return torch.cat([self.batch(step)[0] for step in range(steps)])[:n]

    @abc.abstractmethod
    def probe(self, n: int) -> torch.Tensor:
        """``n`` fixed probe inputs seen through this task (shape ``(n, *in_shape)``).

        The same underlying examples for every task of the stream; only the task's transform
        (permutation, input bits) differs, so measurements at different tasks are comparable.
        """


class TaskStream(abc.ABC, Sequence[Task]):
    """A sequence of ``n_tasks`` tasks built on demand from ``seed``.

    Attributes:
        name: registry name of the stream.
        kind: ``"classification"`` (targets are labels) or ``"regression"``.
        in_shape: shape of one input.
        n_outputs: logits (classification) or output dimensions (regression).
        n_tasks: number of tasks.
        seed: the seed everything random in the stream derives from.
    """

    name = "stream"
    kind: Kind = "classification"

    def __init__(self, n_tasks: int, seed: int) -> None:
        if n_tasks < 1:
            raise ValueError(f"n_tasks must be a positive number of tasks, got {n_tasks}")
        self.n_tasks, self.seed = int(n_tasks), int(seed)
        self.in_shape: tuple[int, ...] = ()
        self.n_outputs = 0

    def __len__(self) -> int:
        return self.n_tasks

    def __getitem__(self, t: Any) -> Any:
        if isinstance(t, slice):
            return [self.task(i) for i in range(*t.indices(self.n_tasks))]
        t = int(t)
        if t < 0:
            t += self.n_tasks
        if not 0 <= t < self.n_tasks:
            raise IndexError(f"task {t} is outside this stream of {self.n_tasks} tasks")
        return self.task(t)

    def __iter__(self) -> Iterator[Task]:
        return (self.task(t) for t in range(self.n_tasks))

    @abc.abstractmethod
    def task(self, t: int) -> Task:
        """Build task ``t`` (deterministic in ``(seed, t)``)."""

    def describe(self) -> dict[str, Any]:
        """JSON-ready description of the stream's settings."""
        return {"name": self.name, "kind": self.kind, "n_tasks": self.n_tasks, "seed": self.seed}


# ---------------------------------------------------------------------------------------------
# Image streams (MNIST, Fashion-MNIST; scikit-learn's digits for tests)


@functools.lru_cache(maxsize=2)
def _flat_images(dataset: str) -> Arrays:
    """Train and test split of ``dataset``, inputs flattened to ``(N, D)`` in [0, 1]; cached so
    that the streams of several seeds share one copy."""
    x, y = load_tensors(dataset, "train")
    xt, yt = load_tensors(dataset, "test")
    return x.flatten(1), y, xt.flatten(1), yt


class _ImageStream(TaskStream):
    """Shared parts of the image streams: data, example order, probe and test subsets."""

    def __init__(
        self,
        n_tasks: int,
        *,
        examples_per_task: int | None = 60_000,
        batch_size: int = 1,
        dataset: str = "mnist",
        n_test: int | None = 2_000,
        seed: int = 0,
        data: Arrays | None = None,
    ) -> None:
        super().__init__(n_tasks, seed)
        if batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
        self.x, self.y, self.xt, self.yt = data if data is not None else _flat_images(dataset)
        if self.x.ndim != 2 or self.xt.ndim != 2:
            raise ValueError(
                "data must hold flattened inputs: x (N, D), y (N,), xt (M, D), yt (M,)"
            )
        n = examples_per_task if examples_per_task is not None else self.x.shape[0]
        if n < 1 or n % batch_size:
            raise ValueError(
                f"examples_per_task ({n}) must be a positive multiple of batch_size ({batch_size})"
            )
        self.dataset, self.examples_per_task, self.batch_size = dataset, n, batch_size
        self.n_test = min(n_test or self.xt.shape[0], self.xt.shape[0])
        self.in_shape, self.n_outputs = (self.x.shape[1],), int(self.y.max()) + 1

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "dataset": self.dataset,
            "examples_per_task": self.examples_per_task,
            "batch_size": self.batch_size,
            "n_test": self.n_test,
        }

    def probe_indices(self, n: int) -> torch.Tensor:
        """Indices of the ``n`` fixed probe examples (a seeded choice from the training set)."""
        if not 1 <= n <= self.x.shape[0]:
            raise ValueError(f"probe size must be in [1, {self.x.shape[0]}], got {n}")
        return torch.randperm(self.x.shape[0], generator=generator(self.seed, _PROBE))[:n]

    def test_indices(self) -> torch.Tensor:
        """Indices of the fixed test subset (``n_test`` examples, seeded)."""
        return torch.randperm(self.xt.shape[0], generator=generator(self.seed, _TEST))[
            : self.n_test
        ]


class _OrderedTask(Task):
    """A task that visits examples ``pool`` in a fresh random order per pass.

    Example ``i`` of the task is ``pool[order_p[i % len(pool)]]`` with ``p = i // len(pool)``
    and ``order_p`` a permutation seeded by ``(seed, task, p)``: every example once per pass.
    """

    def __init__(
        self,
        stream: _ImageStream,
        index: int,
        pool: torch.Tensor,
        transform: Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
        classes: tuple[int, ...],
    ) -> None:
        steps = stream.examples_per_task // stream.batch_size
        super().__init__(index, steps, stream.batch_size, classes)
        self.stream, self.pool, self.transform = stream, pool, transform
        self._pass, self._order = -1, pool

    def example_indices(self, start: int, stop: int) -> torch.Tensor:
        """Dataset indices of the task's examples ``start .. stop - 1``."""
        n, out = self.pool.shape[0], []
        while start < stop:
            p, k = divmod(start, n)
            if p != self._pass:
                gen = generator(self.stream.seed, _ORDER, self.index, p)
                self._pass, self._order = p, self.pool[torch.randperm(n, generator=gen)]
            take = min(stop - start, n - k)
            out.append(self._order[k : k + take])
            start += take
        return out[0] if len(out) == 1 else torch.cat(out)

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        b = self.batch_size
        idx = self.example_indices(step * b, (step + 1) * b)
        return self.transform(self.stream.x[idx], self.stream.y[idx])

    def probe(self, n: int) -> torch.Tensor:
        idx = self.stream.probe_indices(n)
        return self.transform(self.stream.x[idx], self.stream.y[idx])[0]

    def first_examples(self, n: int) -> torch.Tensor:
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        stop = min(n, self.steps * self.batch_size)
        idx = self.example_indices(0, stop)
        return self.transform(self.stream.x[idx], self.stream.y[idx])[0]


class PermutedMNIST(_ImageStream):
    """Online permuted MNIST (Dohare et al. 2024).

    Task ``t`` applies a fixed random pixel permutation ``π_t`` (seeded by ``(seed, t)``) to
    every image; pixels stay in [0, 1] (no normalisation). Within a task each training image is
    seen once, in a fresh random order (a new order for each further pass when
    ``examples_per_task`` exceeds the 60,000 images). Dohare et al. change the permutation every
    60,000 examples (their documented variants: 10,000 and 100,000) with batch size 1.

    Args:
        n_tasks: number of tasks (permutations).
        examples_per_task: examples per task (default: the whole training set).
        batch_size: examples per optimizer step (1 in the original).
        dataset: ``"mnist"`` or ``"fashion_mnist"`` (``"digits"``: 8×8 images, for tests).
        n_test: test images per task evaluation (a fixed seeded subset; default all).
        seed: seed of the permutations, the example orders and the probe/test subsets.
        data: ``(x, y, xt, yt)`` with flattened inputs, instead of ``dataset``.
    """

    name = "permuted_mnist"

    def permutation(self, t: int) -> torch.Tensor:
        """The pixel permutation ``π_t`` of task ``t``, shape ``(D,)``: input ``x`` becomes
        ``x[:, π_t]``."""
        return torch.randperm(self.in_shape[0], generator=generator(self.seed, _PERM, t))

    def task(self, t: int) -> Task:
        perm = self.permutation(t)
        pool = torch.arange(self.x.shape[0])
        return _PermutedTask(self, t, pool, lambda x, y: (x[:, perm], y), self.classes_all())

    def classes_all(self) -> tuple[int, ...]:
        return tuple(range(self.n_outputs))


class _PermutedTask(_OrderedTask):
    def test_data(self) -> tuple[torch.Tensor, torch.Tensor]:
        idx = self.stream.test_indices()
        return self.transform(self.stream.xt[idx], self.stream.yt[idx])


class LabelPermutedMNIST(_ImageStream):
    """Label-permuted MNIST (an extension of ours): the images stay, the labels are permuted.

    Task ``t`` relabels class ``c`` as ``ρ_t(c)`` with a random permutation ``ρ_t`` of the
    classes (seeded by ``(seed, t)``); examples are visited as in :class:`PermutedMNIST`. The
    input distribution never changes, only the input-output map: a test of plasticity without
    input drift (in the spirit of Lyle et al. 2023 and Kumar et al. 2023).

    Args: as :class:`PermutedMNIST`.
    """

    name = "label_permuted_mnist"

    def labels(self, t: int) -> torch.Tensor:
        """``ρ_t`` as a lookup table, shape ``(C,)``: label ``c`` becomes ``ρ_t[c]``."""
        return torch.randperm(self.n_outputs, generator=generator(self.seed, _LABELS, t))

    def task(self, t: int) -> Task:
        rho = self.labels(t)
        pool = torch.arange(self.x.shape[0])
        return _PermutedTask(self, t, pool, lambda x, y: (x, rho[y]), tuple(range(self.n_outputs)))


class SplitMNIST(_ImageStream):
    """Class-incremental Split MNIST / Fashion-MNIST (an extension of ours).

    The classes are split into groups of ``classes_per_task`` (in a seeded random order, or
    ``class_order``); task ``t`` trains on the examples of group ``t`` only, with one shared
    output head for all classes. Evaluation is class-incremental: :meth:`Task.test_data` holds
    the test examples of *every class seen so far*; :meth:`test_task` those of one task's
    classes, for the accuracy matrix behind forgetting and backward transfer. Beyond one cycle
    (``n_tasks`` larger than the number of groups) the groups come back, each further cycle in a
    new seeded order of classes: a longer stream for plasticity, with old classes returning.

    Args:
        n_tasks: number of tasks (default: one cycle, e.g. 5 for 10 classes in pairs).
        classes_per_task: classes per task.
        examples_per_task: examples per task (default: as many as the task with the fewest
            training examples has, rounded down to a multiple of ``batch_size``).
        batch_size: examples per step.
        dataset: ``"mnist"`` or ``"fashion_mnist"`` (``"digits"`` for tests).
        class_order: the order of the classes in the first cycle (default: seeded).
        n_test: cap on test examples per evaluation (a fixed seeded subset of the test set).
        seed: seed of the class orders, example orders and subsets.
        data: ``(x, y, xt, yt)`` with flattened inputs, instead of ``dataset``.
    """

    name = "split_mnist"

    def __init__(
        self,
        n_tasks: int | None = None,
        *,
        classes_per_task: int = 2,
        examples_per_task: int | None = None,
        batch_size: int = 1,
        dataset: str = "mnist",
        class_order: Sequence[int] | None = None,
        n_test: int | None = None,
        seed: int = 0,
        data: Arrays | None = None,
    ) -> None:
        x, y, xt, yt = data if data is not None else _flat_images(dataset)
        n_classes = int(y.max()) + 1
        if classes_per_task < 1 or n_classes % classes_per_task:
            raise ValueError(
                f"classes_per_task must divide the {n_classes} classes, got {classes_per_task}"
            )
        if class_order is not None and sorted(class_order) != list(range(n_classes)):
            raise ValueError(f"class_order must be a permutation of 0..{n_classes - 1}")
        smallest = int(torch.bincount(y, minlength=n_classes).min()) * classes_per_task
        n = examples_per_task if examples_per_task is not None else smallest
        super().__init__(
            n_tasks if n_tasks is not None else n_classes // classes_per_task,
            examples_per_task=n - n % batch_size if examples_per_task is None else n,
            batch_size=batch_size,
            dataset=dataset,
            n_test=n_test,
            seed=seed,
            data=(x, y, xt, yt),
        )
        self.classes_per_task = classes_per_task
        self._first = tuple(int(c) for c in class_order) if class_order is not None else None

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "classes_per_task": self.classes_per_task}

    def task_classes(self, t: int) -> tuple[int, ...]:
        """The classes of task ``t``."""
        per_cycle = self.n_outputs // self.classes_per_task
        cycle, k = divmod(t, per_cycle)
        if cycle == 0 and self._first is not None:
            order = list(self._first)
        else:
            gen = generator(self.seed, _CLASSES, cycle)
            order = torch.randperm(self.n_outputs, generator=gen).tolist()
        return tuple(order[k * self.classes_per_task : (k + 1) * self.classes_per_task])

    def seen_classes(self, t: int) -> tuple[int, ...]:
        """Every class of tasks ``0..t`` (sorted)."""
        return tuple(sorted({c for i in range(t + 1) for c in self.task_classes(i)}))

    def task(self, t: int) -> Task:
        classes = self.task_classes(t)
        pool = torch.nonzero(torch.isin(self.y, torch.tensor(classes))).flatten()
        return _SplitTask(self, t, pool, lambda x, y: (x, y), classes)

    def test_task(self, t: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Test examples of task ``t``'s classes (for the accuracy matrix)."""
        return self._test_of(self.task_classes(t))

    def _test_of(self, classes: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        idx = self.test_indices()
        keep = idx[torch.isin(self.yt[idx], torch.tensor(list(classes)))]
        return self.xt[keep], self.yt[keep]


class _SplitTask(_OrderedTask):
    stream: SplitMNIST

    def test_data(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.stream._test_of(self.stream.seen_classes(self.index))


# ---------------------------------------------------------------------------------------------
# Slowly-changing regression


class LTUNetwork:
    """The fixed target network of the slowly-changing regression (Dohare et al. 2024).

    One hidden layer of ``H`` linear threshold units over ``m`` binary inputs, all weights and
    biases drawn uniformly from ``{−1, +1}``:

    ``f_i(x) = 1[w_i·x + b_i > θ_i]``, ``θ_i = (m + 1) β − S_i``, ``y = v·f(x) + c``,

    where ``S_i`` is the number of negative values among unit ``i``'s ``m + 1`` incoming
    weights (the bias counted as the weight of a constant input) and ``β ∈ [0, 1]`` sets how
    selective the units are (0.7 in the paper).

    Attributes:
        w: input weights, shape ``(H, m)``.
        b: hidden biases, shape ``(H,)``.
        theta: thresholds, shape ``(H,)``.
        v: output weights, shape ``(H,)``.
        c: output bias, a 0-d tensor.
    """

    def __init__(self, n_inputs: int, n_hidden: int, beta: float, generator: torch.Generator):
        def signs(*shape: int) -> torch.Tensor:
            return torch.randint(0, 2, shape, generator=generator).float() * 2 - 1

        self.w, self.b = signs(n_hidden, n_inputs), signs(n_hidden)
        self.v, self.c = signs(n_hidden), signs(1)[0]
        negatives = (self.w < 0).sum(dim=1) + (self.b < 0)
        self.theta = (n_inputs + 1) * beta - negatives.float()

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The hidden units' outputs in {0, 1}, shape ``(N, H)``, for inputs ``(N, m)``."""
        return (x @ self.w.T + self.b > self.theta).float()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Targets ``y``, shape ``(N, 1)``, for binary inputs ``x`` of shape ``(N, m)``."""
        return (self.features(x) @ self.v + self.c).unsqueeze(1)


class SlowlyChangingRegression(TaskStream):
    """Slowly-changing regression (Dohare et al. 2024; formerly the bit-flipping problem).

    Inputs are ``m = n_inputs`` bits: the first ``n_flipping`` are constant within a task, and
    at each task boundary one of them (chosen uniformly) flips; the remaining bits are drawn
    afresh for every example. The target is a fixed :class:`LTUNetwork`. A task is the period
    between two flips (10,000 examples in the paper; 20 inputs, 15 flipping bits, 100 target
    units, ``β = 0.7``; the learner there has one hidden layer of 5 units).

    Args:
        n_tasks: number of flip periods.
        examples_per_task: examples between flips.
        n_inputs: input bits ``m``.
        n_flipping: slowly flipping bits among them.
        n_target_hidden: units of the target network.
        beta: selectivity of the target's units.
        batch_size: examples per optimizer step.
        n_test: test examples per task evaluation.
        seed: seed of the target network, the bits and the random inputs.
    """

    name = "slowly_changing_regression"
    kind: Kind = "regression"

    def __init__(
        self,
        n_tasks: int,
        *,
        examples_per_task: int = 10_000,
        n_inputs: int = 20,
        n_flipping: int = 15,
        n_target_hidden: int = 100,
        beta: float = 0.7,
        batch_size: int = 1,
        n_test: int = 1_000,
        seed: int = 0,
    ) -> None:
        super().__init__(n_tasks, seed)
        if not 0 <= n_flipping <= n_inputs:
            raise ValueError(f"n_flipping must be in [0, n_inputs={n_inputs}], got {n_flipping}")
        if batch_size < 1 or examples_per_task < 1 or examples_per_task % batch_size:
            raise ValueError(
                f"examples_per_task ({examples_per_task}) must be a positive multiple of "
                f"batch_size ({batch_size})"
            )
        self.examples_per_task, self.batch_size, self.n_test = examples_per_task, batch_size, n_test
        self.n_flipping, self.beta, self.n_target_hidden = n_flipping, beta, n_target_hidden
        self.in_shape, self.n_outputs = (n_inputs,), 1
        self.target = LTUNetwork(n_inputs, n_target_hidden, beta, generator(seed, _TARGET))

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "examples_per_task": self.examples_per_task,
            "n_inputs": self.in_shape[0],
            "n_flipping": self.n_flipping,
            "n_target_hidden": self.n_target_hidden,
            "beta": self.beta,
            "batch_size": self.batch_size,
        }

    def flipping_bits(self, t: int) -> torch.Tensor:
        """The slowly changing bits during task ``t``, shape ``(n_flipping,)``, in {0, 1}.

        Task 0 draws them at random; task ``t`` flips one uniformly chosen bit of task
        ``t − 1``'s (O(t) to compute, cheap against a task's examples).
        """
        bits = torch.randint(0, 2, (self.n_flipping,), generator=generator(self.seed, _BITS))
        if self.n_flipping == 0:
            return bits.float()
        for i in range(1, t + 1):
            k = int(
                torch.randint(0, self.n_flipping, (1,), generator=generator(self.seed, _FLIP, i))
            )
            bits[k] = 1 - bits[k]
        return bits.float()

    def inputs(self, bits: torch.Tensor, n: int, gen: torch.Generator) -> torch.Tensor:
        """``n`` inputs with the given slow bits and fresh random bits, shape ``(n, m)``."""
        rand = torch.randint(0, 2, (n, self.in_shape[0] - self.n_flipping), generator=gen).float()
        return torch.cat([bits.expand(n, -1), rand], dim=1)

    def task(self, t: int) -> Task:
        bits = self.flipping_bits(t)
        x = self.inputs(bits, self.examples_per_task, generator(self.seed, _RANDOM, t))
        return _RegressionTask(self, t, bits, x, self.target(x))


class _RegressionTask(Task):
    def __init__(
        self,
        stream: SlowlyChangingRegression,
        index: int,
        bits: torch.Tensor,
        x: torch.Tensor,
        y: torch.Tensor,
    ) -> None:
        super().__init__(index, x.shape[0] // stream.batch_size, stream.batch_size)
        self.stream, self.bits, self.x, self.y = stream, bits, x, y

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        b = self.batch_size
        return self.x[step * b : (step + 1) * b], self.y[step * b : (step + 1) * b]

    def test_data(self) -> tuple[torch.Tensor, torch.Tensor]:
        gen = generator(self.stream.seed, _TEST, self.index)
        x = self.stream.inputs(self.bits, self.stream.n_test, gen)
        return x, self.stream.target(x)

    def probe(self, n: int) -> torch.Tensor:
        return self.stream.inputs(self.bits, n, generator(self.stream.seed, _PROBE))


#: The streams by name: ``STREAMS[name](n_tasks, seed=..., **options)``.
STREAMS: dict[str, type[TaskStream]] = {
    "permuted_mnist": PermutedMNIST,
    "slowly_changing_regression": SlowlyChangingRegression,
    "label_permuted_mnist": LabelPermutedMNIST,
    "split_mnist": SplitMNIST,
}


def make_stream(name: str, n_tasks: int, *, seed: int = 0, **options: Any) -> TaskStream:
    """Build the stream registered as ``name`` (see :data:`STREAMS`).

    Raises:
        ValueError: unknown name (the message lists the known ones).
    """
    if name not in STREAMS:
        raise ValueError(f"unknown stream {name!r}; choose one of {sorted(STREAMS)}")
    return STREAMS[name](n_tasks, seed=seed, **options)
