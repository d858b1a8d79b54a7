"""A plain PyTorch training loop with training methods, callbacks, checkpoints and resume.

``fit`` trains for a fixed number of optimizer steps on in-memory data, a dataset, a stream of
batches or a callable ``step -> batch``. A run may span several calls (tasks of a continual
stream): ``fit(..., state=previous.state)`` carries the optimizer, the method's state and the
global step on. Checkpoints hold the model, optimizer, the method's loss terms and callbacks, RNG
states, the task and the step, so a run interrupted and resumed from its last checkpoint continues
exactly as if it had not stopped (bit for bit on the CPU), within a task or across tasks.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from criticality.seeding import mix_seed
from criticality.training import _checkpoint
from criticality.training._data import (
    TensorBatches,
    TrainData,
    batch_source,
    check_data,
    check_labels,
)
from criticality.training.callbacks import Callback, TrainState
from criticality.training.energy import Energy, EnergyMeter
from criticality.training.methods import MethodParts, build_method

logger = logging.getLogger(__name__)

OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]
Regularizer = Callable[[nn.Module, torch.Tensor], torch.Tensor]


@dataclasses.dataclass(frozen=True)
class FitResult:
    """What a training run did.

    Attributes:
        steps: optimizer steps of the whole run so far (all tasks, before and after a resume).
        loss: task loss of every step of this call, shape ``(n,)`` for ``n`` steps.
        penalty: the method's loss terms at every step of this call, shape ``(n,)``.
        resumed_from: the step within this call the run resumed from (0 when it did not).
        seconds: wall time of this call.
        logs: records of each callback by its ``name`` (e.g. the criticality trajectory).
        task: the task this call trained.
        first_step: the run's step count when this call began.
        state: the live state, to pass as ``fit(..., state=...)`` for the next task.
        energy: the call's cost: step times, FLOPs per step, active units, energy where a
            counter exists (:class:`~criticality.training.energy.Energy`).
    """

    steps: int
    loss: np.ndarray
    penalty: np.ndarray
    resumed_from: int
    seconds: float
    logs: dict[str, list[dict[str, Any]]]
    task: int = 0
    first_step: int = 0
    state: TrainState | None = dataclasses.field(default=None, repr=False, compare=False)
    energy: Energy | None = dataclasses.field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (without the live ``state``)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "state"}
        out["loss"], out["penalty"] = self.loss.tolist(), self.penalty.tolist()
        out["energy"] = self.energy.to_dict() if self.energy is not None else None
        return out


#: The named optimizers and their defaults beyond ``lr`` and ``weight_decay``.
OPTIMIZERS: dict[str, tuple[Callable[..., torch.optim.Optimizer], dict[str, Any]]] = {
    "adam": (torch.optim.Adam, {}),
    "adamw": (torch.optim.AdamW, {}),
    "sgd": (torch.optim.SGD, {"momentum": 0.9}),
}


def make_optimizer(
    params: Iterable[nn.Parameter],
    optimizer: str | OptimizerFactory,
    lr: float,
    weight_decay: float,
    **options: Any,
) -> torch.optim.Optimizer:
    """``"adam"`` (Adam), ``"adamw"``, ``"sgd"`` (momentum 0.9 unless ``momentum=`` says
    otherwise) or a factory ``params -> opt``; ``options`` are the optimizer's keywords."""
    if callable(optimizer):
        return optimizer(params)
    if optimizer not in OPTIMIZERS:
        raise ValueError(
            f"optimizer must be one of {', '.join(OPTIMIZERS)} or a factory, got {optimizer!r}"
        )
    cls, defaults = OPTIMIZERS[optimizer]
    return cls(params, lr=lr, weight_decay=weight_decay, **{**defaults, **options})


def total_steps(steps: int | None, epochs: float | None, per_epoch: int | None) -> int:
    """Steps of a run given either ``steps`` or ``epochs`` (not both)."""
    if (steps is None) == (epochs is None):
        raise ValueError("pass exactly one of steps= or epochs=")
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, (int, np.integer))):
        raise TypeError(f"steps must be a whole number of optimizer steps, got {steps!r}")
    if epochs is not None and not (isinstance(epochs, (int, float)) and math.isfinite(epochs)):
        raise ValueError(f"epochs must be a finite number, got {epochs!r}")
    if epochs is not None and per_epoch is None:
        raise ValueError("epochs= needs data of known length; pass steps= for a stream")
    n = int(steps) if steps is not None else round(float(epochs or 0) * (per_epoch or 0))
    if n < 0:
        raise ValueError(f"the number of steps must be >= 0, got {n}")
    return n


@dataclasses.dataclass(frozen=True)
class Method:
    """How a run is trained: a registered method by name with its options, or the parts built
    for it (say, adapted to an ensemble), kept under the name they were built from, so that the
    checkpoint and the results say which method trained the network.

    Attributes:
        name: a name of :func:`criticality.training.methods.list_methods` (or the name the
            ``parts`` were built from).
        options: the method's options (for a name; ``parts`` are built already).
        parts: the built :class:`~criticality.training.methods.MethodParts`, or ``None`` to
            build ``name`` with ``options`` for the model.

    Example:
        >>> Method("critical_global", {"weight": 0.1}).name
        'critical_global'
    """

    name: str = "plain"
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    parts: MethodParts | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise TypeError(f"a method's name must be a non-empty string, got {self.name!r}")
        if self.parts is not None and self.options:
            raise ValueError(
                f"method {self.name!r}: options apply to a method built by name; built parts "
                "have theirs already"
            )

    @classmethod
    def of(cls, method: str | Method | MethodParts | None) -> Method:
        """``method`` as a :class:`Method`: a name, a Method, or parts (named ``"custom"``)."""
        if isinstance(method, Method):
            return method
        if isinstance(method, MethodParts):
            return cls("custom", parts=method)
        if method is None or isinstance(method, str):
            return cls(method or "plain")
        raise TypeError(
            f"method must be a method's name, a Method or MethodParts, got {type(method).__name__}"
        )

    def build(self, model: nn.Module, seed: int) -> MethodParts:
        """The parts for ``model`` (built now unless given)."""
        if self.parts is not None:
            return self.parts
        return build_method(self.name, model, seed=seed, **dict(self.options))


@dataclasses.dataclass(frozen=True)
class FitOptions:
    """The settings of :func:`fit` that most runs leave alone.

    Attributes:
        batch_size: inputs per step for in-memory data and datasets.
        optimizer: ``"adam"``, ``"adamw"``, ``"sgd"`` or a factory ``params -> Optimizer``
            (a method's own optimizer settings replace these).
        optimizer_options: keywords of the named optimizer (``momentum``, ``betas``, ...).
        weight_decay: L2 weight decay of the named optimizers.
        loss_fn: ``(outputs, targets) -> scalar``; default cross-entropy on class indices.
        regularizer: one more loss term ``(model, x) -> scalar`` (e.g. a
            :class:`~criticality.regularizers.CriticalityRegularizer`).
        checkpoint_every: steps between checkpoints (default: only at the end).
        progress: show a progress bar; default only when stderr is a terminal.
    """

    batch_size: int = 64
    optimizer: str | OptimizerFactory = "adam"
    optimizer_options: Mapping[str, Any] | None = None
    weight_decay: float = 0.0
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None
    regularizer: Regularizer | None = None
    checkpoint_every: int | None = None
    progress: bool | None = None

    def check(self) -> None:
        """Refuse values no run can use, with what to pass instead."""
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int):
            raise TypeError(f"batch_size must be a whole number, got {self.batch_size!r}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {self.batch_size}")
        if not (isinstance(self.weight_decay, (int, float)) and math.isfinite(self.weight_decay)
                and self.weight_decay >= 0):  # fmt: skip
            raise ValueError(f"weight_decay must be finite and >= 0, got {self.weight_decay!r}")
        every = self.checkpoint_every
        if every is not None and (isinstance(every, bool) or not isinstance(every, int)
                                  or every < 1):  # fmt: skip
            raise ValueError(f"checkpoint_every must be a positive whole number, got {every!r}")


#: ``fit``'s keywords from before :class:`FitOptions` and :class:`Method`, still accepted.
_LEGACY = frozenset(f.name for f in dataclasses.fields(FitOptions)) | {"method_options"}


def fit(
    model: nn.Module,
    train_data: TrainData,
    *,
    steps: int | None = None,
    epochs: float | None = None,
    lr: float = 1e-3,
    method: str | Method | MethodParts | None = None,
    callbacks: Sequence[Callback] = (),
    checkpoint_dir: str | Path | None = None,
    seed: int = 0,
    device: str | torch.device | None = None,
    state: TrainState | None = None,
    task: int | None = None,
    options: FitOptions | None = None,
    **legacy: Any,
) -> FitResult:
    """Train ``model`` for a number of steps; resume from ``checkpoint_dir`` if it holds one.

    Each step: ``loss = loss_fn(model(x), y) + Σ loss terms(model, x)``, backward, optimizer
    step, then the callbacks. The model is in ``train()`` mode while stepping.

    Bad settings and data are refused before the first step: a non-integer ``steps``, a
    learning rate that is not a positive finite number, a CUDA device on a machine without
    one, inputs holding NaN or inf, and (for the default cross-entropy) labels that are not
    class indices or fall outside the model's outputs.

    Args:
        model: the network; trained in place (moved to ``device``).
        train_data: tensors ``(X, y)``, a ``TensorDataset``, a sized map-style dataset, an
            iterable of ``(x, y)`` batches (a ``DataLoader``) or a callable ``step -> (x, y)``
            (``step`` counts from 0 in each call).
        steps: optimizer steps of this call; or ``epochs`` (passes over sized data).
        epochs: see ``steps``.
        lr: learning rate of the named optimizers.
        method: how to train: a method's name (:func:`criticality.training.methods.list_methods`),
            a :class:`Method` (a name with options, or built parts under their name), or bare
            :class:`~criticality.training.methods.MethodParts` (recorded as ``"custom"``). Its
            optimizer settings replace the run's. A continued run (``state=``) keeps its method.
        callbacks: :class:`~criticality.training.callbacks.Callback` objects of this call.
        checkpoint_dir: save ``last.pt`` here every ``options.checkpoint_every`` steps and at
            the end, and resume from it when it exists: mid-way through this task, or from the
            end of the previous one. If it holds a later task, this task was trained before:
            the model and state are brought to the checkpoint and nothing is trained (the
            result has no losses), so a killed script that trains its tasks in order can
            simply be run again.
        seed: seeds the batch order and torch's global generator (dropout) of a fresh run.
        device: ``"cpu"``, ``"cuda"``...; default: where the model's parameters are.
        state: the ``state`` of the previous call's :class:`FitResult`: continue the same run
            on new data (the next task) with its optimizer, method and step count.
        task: index of the task this call trains (default 0, or one more than ``state``'s).
        options: the rest (:class:`FitOptions`: batch size, optimizer, loss, checkpoint
            interval, progress bar).
        **legacy: the fields of :class:`FitOptions` as keywords (``batch_size=``,
            ``loss_fn=``, ...) and ``method_options=`` (the options of a ``method`` given by
            name), as ``fit`` took them before; ``options=`` and :class:`Method` say the same.

    Returns:
        A :class:`FitResult`.
    """
    opts, how = _resolve(options, method, legacy)
    if (
        state is not None
        and method is not None
        and (how.parts is not None or how.options or how.name != state.method)
    ):
        raise ValueError(
            f"a continued run (state=...) keeps its method {state.method!r}: pass no other "
            "method or method options"
        )
    _check_lr(lr)
    task = task if task is not None else (state.task + 1 if state is not None else 0)
    dev = check_device(device) if device is not None else _model_device(model)
    model.to(dev)
    source = batch_source(train_data, opts.batch_size, _task_seed(seed, task), dev)
    n_steps = total_steps(steps, epochs, source.per_epoch)
    check_data(source, classes=opts.loss_fn is None)
    if state is None:
        state = _new_state(model, dev, task, how, seed, opts, lr)
        state.settings = _settings(model, how, opts, lr, seed)
    state.task, state.task_step, state.device = task, 0, dev
    terms = (*state.loss_terms, *([opts.regularizer] if opts.regularizer is not None else []))
    hooks = [*state.method_callbacks, *callbacks]
    _check_names(hooks)
    ckpt_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
    meter = EnergyMeter(dev)
    history = _start(ckpt_dir, state, terms, hooks, seed, meter, n_steps)
    if history is None:  # the checkpoint is further on: this task was trained before
        logs = {cb.name: cb.records() for cb in hooks}
        empty = np.zeros(0)
        return FitResult(state.step, empty, empty, n_steps, 0.0, logs, task, state.step, state)
    losses, penalties = history
    start = state.task_step
    state.total_steps = state.step - state.task_step + n_steps
    loss_fn = opts.loss_fn or _class_loss
    every = opts.checkpoint_every
    stream = not isinstance(source, TensorBatches)  # in-memory data was checked up front
    began = time.perf_counter()
    for cb in hooks:
        cb.on_fit_start(state)
    desc = "fit" if task == 0 else f"fit task {task}"
    meter.begin()
    with _progress_bar(opts.progress, n_steps, start, desc) as bar:
        while state.task_step < n_steps:
            batch = source(state.task_step)
            with meter.step():  # the step and the method's callbacks: the training's cost
                _step(state, loss_fn, terms, batch, first=state.task_step == start, stream=stream)
                for cb in state.method_callbacks:
                    cb.on_step_end(state)
            losses.append(state.loss)
            penalties.append(state.penalty)
            for cb in callbacks:
                cb.on_step_end(state)
            bar.update(1)
            if ckpt_dir is not None and every and state.step % every == 0:
                _save(ckpt_dir, state, terms, hooks, losses, penalties, n_steps, meter)
    for cb in hooks:
        cb.on_fit_end(state)
    if ckpt_dir is not None:
        _save(ckpt_dir, state, terms, hooks, losses, penalties, n_steps, meter)
    energy = meter.finish(state.model, state.batch[0] if state.batch is not None else None)
    return FitResult(
        steps=state.step,
        loss=np.asarray(losses, dtype=np.float64),
        penalty=np.asarray(penalties, dtype=np.float64),
        resumed_from=start,
        seconds=time.perf_counter() - began,
        logs={cb.name: cb.records() for cb in hooks},
        task=task,
        first_step=state.total_steps - n_steps,
        state=state,
        energy=energy,
    )


def _resolve(
    options: FitOptions | None, method: str | Method | MethodParts | None, legacy: dict[str, Any]
) -> tuple[FitOptions, Method]:
    """The run's :class:`FitOptions` and :class:`Method` from the new and the old keywords."""
    if unknown := sorted(set(legacy) - _LEGACY):
        raise TypeError(
            f"fit() got unexpected keyword(s) {', '.join(unknown)}; it takes steps, epochs, lr, "
            "method, callbacks, checkpoint_dir, seed, device, state, task, options and the "
            f"fields of FitOptions: {', '.join(sorted(_LEGACY - {'method_options'}))}"
        )
    if options is not None and not isinstance(options, FitOptions):
        raise TypeError(f"options must be a FitOptions, got {type(options).__name__}")
    fields = {k: v for k, v in legacy.items() if k != "method_options"}
    opts = dataclasses.replace(options or FitOptions(), **fields)
    opts.check()
    how = Method.of(method)
    if legacy.get("method_options"):
        if how.parts is not None:
            raise ValueError("method_options apply to a method given by name")
        how = dataclasses.replace(how, options={**how.options, **legacy["method_options"]})
    return opts, how


def _check_lr(lr: float) -> None:
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not math.isfinite(lr) or lr <= 0:
        raise ValueError(
            f"lr must be a positive finite number, got {lr!r}; e.g. 1e-3 for Adam, 0.1 for SGD"
        )


def check_device(device: str | torch.device) -> torch.device:
    """``device`` as a ``torch.device``, if this machine has it; else a ``ValueError`` that
    says what to pass (not torch's driver error at the first tensor)."""
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError, TypeError):
        raise ValueError(
            f"device {device!r} is not a device; use 'cpu', 'cuda' or 'cuda:N'"
        ) from None
    if dev.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ValueError(
                f"device {str(device)!r}: no CUDA GPU is available here; pass device='cpu'"
            )
        if dev.index is not None and dev.index >= count:
            raise ValueError(
                f"device {str(device)!r}: this machine has {count} CUDA GPU(s), cuda:0 to "
                f"cuda:{count - 1}"
            )
    elif dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {str(device)!r}: MPS is not available here; pass device='cpu'")
    return dev


def _class_loss(output: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The default loss: cross-entropy on class indices (integer labels of any width)."""
    if not y.is_floating_point() and y.dtype != torch.int64:
        y = y.long()
    return nn.functional.cross_entropy(output, y)


def _task_seed(seed: int, task: int) -> int:
    """The batch-order seed of a task: ``seed`` itself for task 0, after it
    :func:`~criticality.seeding.mix_seed` of both, cut to 31 bits (the batch source derives
    each epoch's seed from it by multiplying)."""
    if task == 0:
        return seed
    return mix_seed(seed, "task", task) % 2**31


def _new_state(
    model: nn.Module,
    dev: torch.device,
    task: int,
    how: Method,
    seed: int,
    opts: FitOptions,
    lr: float,
) -> TrainState:
    """A run's first state: the method built for ``model``, and its optimizer."""
    parts = how.build(model, seed)
    optimizer = opts.optimizer
    settings = {"name": optimizer, "lr": lr, "weight_decay": opts.weight_decay,
                **(opts.optimizer_options or {})}  # fmt: skip
    if parts.optimizer.get("name", optimizer) != optimizer:  # the run's options were for its own
        settings = {k: settings[k] for k in ("name", "lr", "weight_decay")}
    settings.update(parts.optimizer)
    name, lr_, wd = settings.pop("name"), settings.pop("lr"), settings.pop("weight_decay")
    opt = make_optimizer(model.parameters(), name, lr_, wd, **settings)
    return TrainState(model, opt, 0, 0, task=task, device=dev, method=how.name,
                      loss_terms=parts.loss_terms, method_callbacks=parts.callbacks)  # fmt: skip


def _check_names(callbacks: Sequence[Callback]) -> None:
    names = [cb.name for cb in callbacks]
    if len(set(names)) != len(names):
        raise ValueError(
            f"callbacks need distinct names (their records and checkpoints are keyed by name), "
            f"got {names}"
        )


def _step(
    state: TrainState,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    terms: Sequence[Regularizer],
    batch: tuple[torch.Tensor, torch.Tensor],
    *,
    first: bool = False,
    stream: bool = False,
) -> None:
    """One optimizer step; records the task loss, the penalty, the batch and the output.

    The first step of a call checks the labels against the model's outputs (for the default
    loss), every batch of a ``stream`` its inputs (NaN or inf would read as a learning rate too
    high); a loss that is not finite is explained.
    """
    model, opt = state.model, state.optimizer
    x, y = batch
    if stream and x.is_floating_point() and not torch.isfinite(x).all():
        raise ValueError(
            f"the inputs of step {state.step} hold NaN or inf values; clean the data (drop "
            "those rows, or torch.nan_to_num) before training"
        )
    model.train()
    opt.zero_grad(set_to_none=True)
    output = model(x)
    if first and loss_fn is _class_loss:
        check_labels(y, output)
    loss = loss_fn(output, y)
    penalty = loss.new_zeros(())
    for term in terms:
        penalty = penalty + term(model, x)
    total = loss + penalty
    if not torch.isfinite(total):
        raise FloatingPointError(
            f"the loss became {total.item()} at step {state.step}; lower the learning rate or "
            f"the regularizer's weight"
        )
    total.backward()
    opt.step()
    state.loss, state.penalty = loss.item(), penalty.item()
    state.batch, state.output = batch, output.detach()
    state.step += 1
    state.task_step += 1


def _start(
    ckpt_dir: Path | None,
    state: TrainState,
    terms: Sequence[Regularizer],
    callbacks: Sequence[Callback],
    seed: int,
    meter: EnergyMeter,
    n_steps: int,
) -> tuple[list[float], list[float]] | None:
    """Load the last checkpoint into the run's objects, or seed a fresh run.

    A checkpoint of this task resumes it mid-way; one written at the end of an earlier task
    brings the run to this task's start. One of a later task means this task is done: the run's
    objects are brought to the checkpoint and ``None`` is returned (nothing to train).
    """
    ckpt = _checkpoint.load(ckpt_dir)
    if ckpt is None:
        if state.step == 0:
            torch.manual_seed(seed)
        return [], []
    ckpt_task = int(ckpt.get("task", 0))
    _check_resumable(ckpt_dir, ckpt, state, n_steps)
    if ckpt_task < state.task and not ckpt.get("finished", True):
        raise ValueError(
            f"the checkpoint in {ckpt_dir} is in the middle of task {ckpt_task}; this call "
            f"trains task {state.task}: finish task {ckpt_task} first, or use another "
            "checkpoint_dir"
        )
    try:
        state.model.load_state_dict(ckpt["model"])
    except RuntimeError as err:  # another architecture: missing keys or other shapes
        raise ValueError(
            f"the checkpoint in {ckpt_dir} is of another model ({str(err).splitlines()[0]}); "
            "pass another checkpoint_dir (--out), or start over (--fresh)"
        ) from None
    state.optimizer.load_state_dict(ckpt["optimizer"])
    saved_terms = ckpt.get("loss_terms", [ckpt.get("regularizer")])
    for term, saved in zip(terms, saved_terms, strict=False):
        if isinstance(term, nn.Module) and saved is not None:
            term.load_state_dict(saved)
    for cb in callbacks:
        cb.load_state_dict(ckpt["callbacks"].get(cb.name, cb.state_dict()))
    _checkpoint.set_rng_state(ckpt["rng"])
    state.step = int(ckpt["step"])
    if ckpt_task > state.task:
        logger.info("task %d is done: %s holds task %d", state.task, ckpt_dir, ckpt_task)
        state.task, state.task_step = ckpt_task, int(ckpt.get("task_step", 0))
        return None
    if ckpt_task < state.task:
        logger.info("starting task %d from the end of task %d (%s)", state.task, ckpt_task,
                    ckpt_dir)  # fmt: skip
        return [], []
    state.task_step = int(ckpt.get("task_step", ckpt["step"]))
    if "energy" in ckpt:
        meter.load_state_dict(ckpt["energy"])
    logger.info("resuming task %d at step %d (%s)", state.task, state.task_step, ckpt_dir)
    return list(ckpt["loss"]), list(ckpt["penalty"])


def _settings(
    model: nn.Module, how: Method, opts: FitOptions, lr: float, seed: int
) -> dict[str, Any]:
    """What a checkpoint must have been made with to be resumed by this run (JSON-like)."""
    return {
        "method": how.name,
        "method_options": _plain(dict(how.options)),
        "optimizer": opts.optimizer if isinstance(opts.optimizer, str) else "custom",
        "lr": float(lr),
        "weight_decay": float(opts.weight_decay),
        "optimizer_options": _plain(dict(opts.optimizer_options or {})),
        "batch_size": int(opts.batch_size),
        "seed": int(seed),
        "parameters": sum(p.numel() for p in model.parameters()),
    }


def _plain(options: dict[str, Any]) -> dict[str, str]:
    """Options as comparable text: plain values by value, other objects (whose ``repr`` may
    hold a memory address) by their type."""
    basic = (str, int, float, bool, type(None), list, tuple, dict)
    return {
        str(k): repr(v) if isinstance(v, basic) else type(v).__name__
        for k, v in sorted(options.items())
    }


def _check_resumable(
    ckpt_dir: Path | None, ckpt: dict[str, Any], state: TrainState, n_steps: int
) -> None:
    """Refuse a checkpoint made with other settings, or further on in this task than asked.

    A checkpoint written before settings were recorded is resumed as before. More steps than
    the checkpoint's task had continue it (and say so).
    """
    saved = ckpt.get("settings")
    if isinstance(saved, dict) and state.settings:
        diffs = [
            f"{k}: {saved.get(k)!r} there, {state.settings.get(k)!r} now"
            for k in sorted(set(saved) | set(state.settings))
            if saved.get(k) != state.settings.get(k)
        ]
        if diffs:
            raise ValueError(
                f"the checkpoint in {ckpt_dir} was made with other settings ({'; '.join(diffs)}); "
                "repeat them to resume, pass another checkpoint_dir (--out), or start over "
                "(--fresh)"
            )
    if int(ckpt.get("task", 0)) != state.task:
        return
    done = int(ckpt.get("task_step", ckpt["step"]))
    if done > n_steps:
        raise ValueError(
            f"the checkpoint in {ckpt_dir} has trained {done} steps of task {state.task}, more "
            f"than the {n_steps} asked for now; ask for at least {done} steps, pass another "
            "checkpoint_dir (--out), or start over (--fresh)"
        )
    planned = ckpt.get("task_steps")
    if planned is not None and n_steps > int(planned) and done < n_steps:
        logger.warning(
            "%s holds %d of the %d steps first asked for; continuing that run to %d steps",
            ckpt_dir, done, int(planned), n_steps,
        )  # fmt: skip


def _save(
    ckpt_dir: Path,
    state: TrainState,
    terms: Sequence[Regularizer],
    callbacks: Sequence[Callback],
    losses: list[float],
    penalties: list[float],
    n_steps: int,
    meter: EnergyMeter,
) -> None:
    payload = {
        "step": state.step,
        "task": state.task,
        "task_step": state.task_step,
        "finished": state.task_step >= n_steps,
        "model": state.model.state_dict(),
        "optimizer": state.optimizer.state_dict(),
        "loss_terms": [t.state_dict() if isinstance(t, nn.Module) else None for t in terms],
        "callbacks": {cb.name: cb.state_dict() for cb in callbacks},
        "rng": _checkpoint.rng_state(),
        "loss": list(losses),
        "penalty": list(penalties),
        "energy": meter.state_dict(),
        "settings": state.settings,
        "task_steps": n_steps,
    }
    path = _checkpoint.save(ckpt_dir, payload)
    logger.info("checkpoint at step %d (task %d): %s", state.step, state.task, path)


def _model_device(model: nn.Module) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def _progress_bar(progress: bool | None, total: int, initial: int, desc: str) -> Any:
    from tqdm.auto import tqdm

    show = sys.stderr.isatty() if progress is None else progress
    return tqdm(total=total, initial=initial, disable=not show, desc=desc, unit="step")
