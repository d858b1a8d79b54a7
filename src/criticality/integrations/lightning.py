"""A Lightning callback that measures criticality during training and can steer toward it.

:class:`CriticalityCallback` measures the network on a fixed probe batch every
``every_n_steps`` optimizer steps, at the start of training and at the end of every epoch, and
logs ``criticality/lambda_1`` (``λ_1``), ``criticality/sigma`` (branching ratio ``σ``) and
``criticality/ln_g/STAGE`` (each stage's local exponent) to every logger of the trainer, at
the trainer's ``global_step``. With ``method=NAME`` it also trains with a row of the
training-method registry (:func:`criticality.training.list_methods`): its loss terms (e.g. the
``CriticalityRegularizer`` of ``"critical_global"``) are added to the loss that
``training_step`` returns, its callbacks run after every step and its optimizer settings are
applied to the optimizer's parameter groups, all without changing the ``LightningModule``.

Needs ``lightning`` (extra ``[lightning]``).

Example:
    >>> import lightning as L                                   # doctest: +SKIP
    >>> cb = CriticalityCallback(probe, module="net", every_n_steps=100,
    ...                          method="critical_global")      # doctest: +SKIP
    >>> L.Trainer(callbacks=[cb]).fit(lit_module, loader)       # doctest: +SKIP
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import lightning.pytorch as pl
import torch
from torch import nn

from criticality.integrations._probe import DEFAULT_MEASURES, ProbeMeasure
from criticality.training import TrainState
from criticality.training.methods import MethodParts, build_method

log = logging.getLogger(__name__)


def first_tensor(batch: Any) -> torch.Tensor:
    """The inputs of a batch: the batch itself, its first item, or its ``"input_ids"``."""
    if isinstance(batch, torch.Tensor):
        return batch
    if isinstance(batch, Mapping):
        return first_tensor(batch.get("input_ids", next(iter(batch.values()))))
    if isinstance(batch, Sequence) and batch:
        return first_tensor(batch[0])
    raise TypeError(
        f"cannot find the inputs in a batch of type {type(batch).__name__}; "
        "pass inputs=lambda batch: ..."
    )


class CriticalityCallback(pl.Callback):
    """Measure (and optionally steer) criticality while a Lightning ``Trainer`` fits.

    Args:
        probe: probe inputs, shape ``(P, ...)``; the same ones at every measurement.
        module: the network inside the ``LightningModule`` to measure and regularise: an
            attribute path (``"net"``, ``"model.backbone"``) or a function of the module;
            ``None`` takes the ``LightningModule`` itself.
        every_n_steps: measure after every ``every_n_steps``-th optimizer step.
        at_epoch_end: also measure at the end of every training epoch.
        measures: registered measure names (default λ_1 and σ).
        options: per-measure options, e.g. ``{"lyapunov": {"norm": "rms"}}``.
        seed: seed of the measures and of the method.
        start_after: measure the stages after this one (``"embed"`` for language models).
        method: a training-method registry row to train with (``None``: only measure).
        method_options: options of that method (its defaults otherwise).
        inputs: takes a training batch to the network's inputs, for the method's loss terms
            (default :func:`first_tensor`).

    Attributes:
        records: every measurement, ``{"step": s, "epoch": e, NAME: value, ...}``.
    """

    def __init__(
        self,
        probe: torch.Tensor,
        *,
        module: str | Callable[[pl.LightningModule], nn.Module] | None = None,
        every_n_steps: int = 50,
        at_epoch_end: bool = True,
        measures: Sequence[str] = DEFAULT_MEASURES,
        options: Mapping[str, Mapping[str, Any]] | None = None,
        seed: int = 0,
        start_after: str | None = None,
        method: str | None = None,
        method_options: Mapping[str, Any] | None = None,
        inputs: Callable[[Any], torch.Tensor] = first_tensor,
    ) -> None:
        if every_n_steps < 1:
            raise ValueError(f"every_n_steps must be a positive number, got {every_n_steps}")
        self.measure = ProbeMeasure(probe, tuple(measures), dict(options or {}), seed, start_after)
        self.module, self.every_n_steps, self.at_epoch_end = module, every_n_steps, at_epoch_end
        self.method, self.method_options, self.inputs = method, dict(method_options or {}), inputs
        self.records: list[dict[str, Any]] = []
        self._parts = MethodParts()
        self._patched: pl.LightningModule | None = None

    def network(self, pl_module: pl.LightningModule) -> nn.Module:
        """The network measured: ``module`` resolved on ``pl_module``."""
        if self.module is None:
            return pl_module
        if callable(self.module):
            return self.module(pl_module)
        return functools.reduce(getattr, self.module.split("."), pl_module)

    # ---- measuring ------------------------------------------------------------------------

    def _measure(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        step = trainer.global_step
        if not trainer.is_global_zero or (self.records and self.records[-1]["step"] == step):
            return
        values = self.measure(self.network(pl_module))
        self.records.append({"step": step, "epoch": trainer.current_epoch, **values})
        for logger in trainer.loggers:
            logger.log_metrics(values, step=step)
        log.info("step %d: %s", step, values)

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._apply_optimizer(trainer)
        for cb in self._parts.callbacks:
            cb.on_fit_start(self._state(trainer, pl_module))
        self._measure(trainer, pl_module)

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        for cb in self._parts.callbacks:
            cb.on_step_end(self._state(trainer, pl_module, batch, outputs))
        if trainer.global_step % self.every_n_steps == 0:
            self._measure(trainer, pl_module)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.at_epoch_end:
            self._measure(trainer, pl_module)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        for cb in self._parts.callbacks:
            cb.on_fit_end(self._state(trainer, pl_module))

    # ---- steering -------------------------------------------------------------------------

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage != "fit" or self.method is None:
            return
        net = self.network(pl_module)
        self._parts = build_method(self.method, net, seed=self.measure.seed, **self.method_options)
        if not self._parts.loss_terms:
            return
        for term in self._parts.loss_terms:
            if isinstance(term, nn.Module):
                term.to(next(net.parameters()).device)
        original = pl_module.training_step

        @functools.wraps(original)
        def training_step(*args: Any, **kwargs: Any) -> Any:
            out = original(*args, **kwargs)
            if out is None:  # the module skipped this batch
                return out
            x = self.inputs(args[0] if args else kwargs["batch"])
            penalty = torch.stack([term(net, x) for term in self._parts.loss_terms]).sum()
            pl_module.log("criticality/penalty", penalty.detach(), on_step=True)
            if isinstance(out, Mapping):
                return {**out, "loss": out["loss"] + penalty}
            return out + penalty

        pl_module.training_step = training_step  # type: ignore[method-assign]
        self._patched = pl_module

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if self._patched is not None:  # back to the class's own training_step
            del self._patched.__dict__["training_step"]
            self._patched = None

    def _apply_optimizer(self, trainer: pl.Trainer) -> None:
        settings = dict(self._parts.optimizer)
        if not settings:
            return
        optimizer = trainer.optimizers[0]
        name = settings.pop("name", None)
        if name is not None and type(optimizer).__name__.lower() != str(name).lower():
            raise ValueError(
                f"method {self.method!r} needs the {name} optimizer; "
                f"the module configures {type(optimizer).__name__}"
            )
        for group in optimizer.param_groups:
            for key, value in settings.items():
                if key not in group:
                    raise ValueError(
                        f"method {self.method!r} sets {key!r}, which "
                        f"{type(optimizer).__name__} does not have"
                    )
                group[key] = value

    def _state(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        batch: Any = None,
        outputs: Any = None,
    ) -> TrainState:
        loss = outputs.get("loss") if isinstance(outputs, Mapping) else outputs
        pair = tuple(batch) if isinstance(batch, (list, tuple)) and len(batch) == 2 else None
        return TrainState(
            model=self.network(pl_module),
            optimizer=trainer.optimizers[0],
            step=trainer.global_step,
            total_steps=max(trainer.max_steps, trainer.global_step),
            task_step=trainer.global_step,
            device=pl_module.device,
            method=self.method or "plain",
            loss=float(loss.detach()) if isinstance(loss, torch.Tensor) else float("nan"),
            batch=pair,
        )
