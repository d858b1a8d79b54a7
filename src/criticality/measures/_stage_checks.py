"""What every measure watches in the stages while it runs: buffers written by a forward pass,
and stages that draw random numbers.

A measure calls each stage many times, on perturbed states. Two kinds of stage break that:

* a stage that **updates a buffer in its forward** even in ``eval()`` mode (a running statistic
  or a step counter not gated by ``self.training``, a batch norm called with ``training=True``):
  each call changes the caller's model. :class:`StageGuard` keeps a copy of every buffer and
  puts it back when the measure ends (also when it fails), with a warning naming the stage, so
  the model is left as it was. Where a ``torch.func`` transform (``ftle``, ``branching``)
  cannot follow the in-place update, the measure is refused with the stage named
  (:meth:`StageGuard.explain`, which finds it by :func:`written_buffers`).
* a **stochastic stage** (dropout applied whatever the mode, added noise): two forward passes
  on the same input differ, so every difference and tangent holds noise. A stage that draws from
  the random number generator (CPU, or the CUDA generator of its device) while the measure runs
  is named in a warning; the measure still runs, except where ``torch.func.vmap`` refuses the
  random operation: that measure is refused with the stage named.

Both checks cost no forward pass: a copy of the buffers (usually small: running statistics),
and one look at the generator's state around each stage call.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import nn

_log = logging.getLogger(__name__)


class BufferCopy:
    """The buffers of some modules, to see which were changed and to put them back.

    Values are compared, not version counters: native kernels (a batch norm in train mode)
    update running statistics without counting a version.
    """

    def __init__(self, modules: Iterable[tuple[str, nn.Module]]) -> None:
        self.entries = [
            (f"{prefix}.{name}" if prefix else name, module, name, t, t.detach().clone())
            for prefix, module in modules
            for name, t in module._buffers.items()
            if t is not None
        ]

    def changed(self) -> tuple[str, ...]:
        """Names (``submodule.buffer``, within the stage) of the buffers replaced or written."""
        out = [
            qualified
            for qualified, module, name, t, saved in self.entries
            if module._buffers.get(name) is not t or not _same(t, saved)
        ]
        return tuple(dict.fromkeys(out))

    def restore(self) -> None:
        with torch.no_grad():
            for _, module, name, t, saved in self.entries:
                module._buffers[name] = t
                if not _same(t, saved):
                    t.copy_(saved)


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal values (NaN equal to NaN)."""
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if not a.is_floating_point():
        return torch.equal(a, b)
    return bool(((a == b) | (a.isnan() & b.isnan())).all())


def stage_modules(stage: nn.Module) -> list[tuple[str, nn.Module]]:
    """Every module a stage runs, by name: its own, and the whole model (``"model.…"``) for a
    tap stage, which runs the model from its input (see :func:`criticality.stages`)."""
    body = getattr(stage, "body", stage)
    named = dict(body.named_modules())
    seen = {id(m) for m in named.values()}
    for m in list(named.values()):
        model = getattr(getattr(m, "_ctx", None), "model", None)
        if isinstance(model, nn.Module):
            for name, sub in model.named_modules(prefix="model"):
                if id(sub) not in seen:
                    seen.add(id(sub))
                    named[name] = sub
    return list(named.items())


def _rng_state(args: Any) -> tuple[torch.Tensor, ...]:
    """The generators a stage call could draw from: the CPU one, and its input's CUDA one."""
    states = [torch.random.get_rng_state()]
    x = args[0] if isinstance(args, tuple) and args else None
    if isinstance(x, torch.Tensor) and x.device.type == "cuda":
        states.append(torch.cuda.get_rng_state(x.device))
    return tuple(states)


class StageGuard:
    """Watch the stages while a measure runs: buffers written, random numbers drawn.

    Args:
        stage_list: the stages being measured.
        names: their names, for messages.
        measure: the measure's name, for messages.
    """

    def __init__(self, stage_list: Sequence[nn.Module], names: Sequence[str], measure: str):
        self.stage_list, self.names, self.measure = list(stage_list), list(names), measure
        self.buffers = [BufferCopy(stage_modules(s)) for s in stage_list]
        self.random: set[int] = set()
        self._before: dict[int, tuple[torch.Tensor, ...]] = {}

    def before(self, i: int, args: Any) -> None:
        """Forward pre-hook body for stage ``i``."""
        if i not in self.random:
            self._before[i] = _rng_state(args)

    def after(self, i: int, args: Any) -> None:
        """Forward hook body for stage ``i``: did the call draw random numbers?"""
        before = self._before.pop(i, None)
        if before is None:
            return
        now = _rng_state(args)
        if len(now) != len(before) or not all(map(torch.equal, now, before)):
            self.random.add(i)

    def finish(self) -> None:
        """Put every written buffer back, and warn about what was found (once per stage)."""
        for i, buffers in enumerate(self.buffers):
            written = buffers.changed()
            if written:
                buffers.restore()
                _log.warning(
                    "%s: %s updates its buffers (%s) in its forward, also in eval mode; they "
                    "were put back as they were after the measure. Gate the update on "
                    "self.training for a measure of a fixed function",
                    self.measure, self._where(i), ", ".join(written),
                )  # fmt: skip
        for i in sorted(self.random):
            _log.warning(
                "%s: %s is stochastic: it draws random numbers in eval mode (dropout or noise "
                "applied whatever the mode?), so two forward passes on the same input differ "
                "and the measure's perturbations include that noise. Make it deterministic in "
                "eval mode (nn.Dropout, or F.dropout(x, training=self.training))",
                self.measure, self._where(i),
            )  # fmt: skip

    def explain(self, err: RuntimeError, x: torch.Tensor) -> ValueError | None:
        """The error to raise for a ``torch.func`` transform that met a buffer write or a random
        operation, naming the stage; ``None`` for any other error.

        Args:
            err: the error the measure raised.
            x: a few probe inputs ``(b, ...)``, to find a stage writing buffers by one plain
                forward pass (:func:`written_buffers`).
        """
        text = str(err)
        transform = (
            f"{self.measure} differentiates or vectorises through torch.func transforms, which "
        )
        if "random operation while in randomness error mode" in text:
            # the stage whose call was in flight when the transform refused
            i = next(iter(self._before), min(self.random, default=-1))
            if i < 0:
                return None
            return ValueError(
                f"{self.measure}: {self._where(i)} draws random numbers in eval mode (dropout "
                f"or noise applied whatever the mode?); {transform}refuse random operations. "
                "Make it deterministic in eval mode (nn.Dropout, or F.dropout(x, "
                "training=self.training)); lyapunov measures it as it is, noise included"
            )
        if "mutate a captured Tensor" not in text:
            return None
        found = written_buffers(self.stage_list, x)
        if found is None:
            return None
        i, buffers = found
        return ValueError(
            f"{self.measure}: {self._where(i)} updates its buffers ({', '.join(buffers)}) in "
            f"its forward, also in eval mode; {transform}cannot follow an in-place update of a "
            "buffer. Gate the update on self.training (the measures run the model in eval "
            "mode), or measure with lyapunov, which follows it (and puts the buffers back "
            "afterwards)"
        )

    def _where(self, i: int) -> str:
        return f"stage {i} ({self.names[i]!r})"


def written_buffers(
    stage_list: Sequence[nn.Module], x: torch.Tensor
) -> tuple[int, tuple[str, ...]] | None:
    """The first stage whose forward writes a buffer, and those buffers, by one plain forward
    pass of ``x`` (every buffer is put back); ``None`` when none does."""
    h = x
    with torch.no_grad():
        for i, stage in enumerate(stage_list):
            buffers = BufferCopy(stage_modules(stage))
            try:
                h = stage(h)
            finally:
                written = buffers.changed()
                buffers.restore()
            if written:
                return i, written
    return None
