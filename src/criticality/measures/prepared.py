"""The opening every measure shares: stages, checked probe inputs, dtype, eval mode.

:func:`prepared` is the one place where a model (or a list of stages) and a batch of probe inputs
become what a measure computes on::

    with prepared(model_or_stages, inputs, dtype=dtype, measure="lyapunov") as run:
        h = run.inputs                  # (B, ...), checked, in the compute dtype
        for stage in run.stages:        # in eval() mode until the block ends
            h = stage(h)

Per-stage checks that every measure gets live here, as forward hooks on each of ``run.stages``
while the context is open (every stage call of every measure happens inside it): a stage that
returns no tensor is refused (:class:`TypeError`), and a stage whose output or forward-mode
tangent holds NaN or inf stops the measure with a :class:`NonFiniteError` naming that stage, the
first one where it happens (the outputs' extremes are kept on the device and read once per call,
:class:`_FiniteWatch`; an error the NaN causes later is reported as the NaN). Values inside
``torch.func`` transforms (``vmap``, ``jvp``, ``vjp``) cannot be inspected there;
:func:`check_finite` checks a measure's numbers afterwards and finds the stage by one plain
forward pass, and :func:`check_degenerate` reports a stage that maps every
perturbation exactly to zero (``ln g = -inf``) instead of a floor value. While the block runs,
:class:`~._stage_checks.StageGuard` watches the stages: buffers a stage writes in its forward
are put back afterwards (a warning names the stage; a ``torch.func`` transform that cannot
follow the write is refused naming it), and a stage that draws random numbers is named in a
warning. Token ids for a model whose first stage is an embedding start the measure after
it (:func:`measured_part`).
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import dataclasses
import logging
import math
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.autograd.forward_ad as fwAD
from torch import nn

from criticality.measures._jvp_rules import REPLAYING
from criticality.measures._stage_checks import BufferCopy, StageGuard, stage_modules
from criticality.stages import embeds_tokens, split_after, split_at
from criticality.stages import stages as split_stages

ModelOrStages = nn.Module | Sequence[nn.Module]

_log = logging.getLogger(__name__)

#: Dtypes every measure computes in; lower precisions only where a measure says so.
FULL_PRECISION = (torch.float32, torch.float64)

#: True while a replayed pass is re-run to name the stage where its tangents went non-finite.
_LOCATING: contextvars.ContextVar[bool] = contextvars.ContextVar("locating", default=False)

try:  # tensors inside torch.func transforms cannot be read (their values are per-sample)
    from torch._C._functorch import is_functorch_wrapped_tensor as _wrapped
except ImportError:  # pragma: no cover - older torch

    def _wrapped(tensor: torch.Tensor) -> bool:
        return False


class NonFiniteError(ValueError):
    """NaN or inf inside the model during a measure (named by the stage where it first shows)."""


class DegenerateStageError(ValueError):
    """A stage maps every perturbation exactly to zero: ``ln g = -inf``, no finite value."""


@dataclasses.dataclass(frozen=True)
class Prepared:
    """Stages and probe inputs ready to be measured.

    Attributes:
        stages: the ``L`` stage modules, in ``eval()`` mode while the context is open.
        inputs: probe inputs, shape ``(B, ...)``: checked, in the compute dtype.
    """

    stages: tuple[nn.Module, ...]
    inputs: torch.Tensor

    @property
    def names(self) -> tuple[str, ...]:
        """The stages' names (their index where a stage has none), ``L`` entries."""
        return tuple(getattr(s, "name", str(i)) for i, s in enumerate(self.stages))

    @property
    def dtype(self) -> torch.dtype:
        """The compute dtype."""
        return self.inputs.dtype


@contextlib.contextmanager
def prepared(
    model_or_stages: ModelOrStages,
    inputs: object,
    *,
    dtype: torch.dtype | None = None,
    measure: str = "this measure",
    copy_stages: bool = False,
    grad: bool = False,
    min_inputs: int = 1,
    dtypes: Sequence[torch.dtype] = FULL_PRECISION,
    watch_tangents: bool = True,
) -> Iterator[Prepared]:
    """Split, check and cast; run the block with the stages in ``eval()`` mode.

    Args:
        model_or_stages: a model (split by :func:`criticality.stages`) or a list of stages.
        inputs: probe inputs, shape ``(B, ...)``, floating point, finite; or token ids for a
            model whose first stage is an embedding (see :func:`measured_part`).
        dtype: compute dtype; the model is copied (never changed) when it differs.
        measure: the measure's name, for error messages.
        copy_stages: deep-copy the stages (for measures that change weights).
        grad: autograd on inside the block (reverse-mode measures); off otherwise.
        min_inputs: fewest probe inputs the measure needs.
        dtypes: compute dtypes the measure supports; others are refused with a ``ValueError``.
        watch_tangents: check the stages' forward-mode tangents too, not only their outputs;
            a measure that reduces every stage's tangents to a number it checks afterwards
            (``lyapunov``'s ``ln |R_ii|``, located with :func:`check_finite`'s ``per_stage``)
            passes ``False`` and saves the work.

    Yields:
        A :class:`Prepared` bundle. The stages' training flags are restored afterwards.

    Raises:
        TypeError: inputs that are no floating-point tensor, or no model / stage list.
        ValueError: inputs of the wrong shape, non-finite, too few, or an unsupported dtype.
    """
    stage_list, inputs, _ = measured_part(as_stages(model_or_stages, dtype), inputs)
    if copy_stages:
        stage_list = copy.deepcopy(stage_list)  # shared modules stay shared
    x = check_inputs(inputs)
    x = x.to(dtype or infer_dtype(stage_list, x))
    if x.dtype not in dtypes:
        names = ", ".join(str(d).removeprefix("torch.") for d in dtypes)
        raise ValueError(
            f"{measure} does not support dtype {str(x.dtype).removeprefix('torch.')}; "
            f"pass dtype= one of {names}"
        )
    if x.shape[0] < min_inputs:
        raise ValueError(f"{measure} needs at least {min_inputs} probe inputs, got {x.shape[0]}")
    with eval_mode(stage_list), torch.set_grad_enabled(grad):
        _check_fits(stage_list[0], x[:2])  # two: a norm in train mode needs more than one
        stage_names = [getattr(s, "name", str(i)) for i, s in enumerate(stage_list)]
        guard = StageGuard(stage_list, stage_names, measure)
        watch = _FiniteWatch(measure, stage_names, tangents=watch_tangents)
        try:
            with _watched(stage_list, measure, guard, watch):
                try:
                    yield Prepared(tuple(stage_list), x)
                except Exception as err:
                    # A stage that went NaN or inf before the error is what to report: the
                    # error may well be its consequence (a solver meeting NaN).
                    watch.read_before(err)
                    raise
            watch.read()  # once per call
        except RuntimeError as err:
            better = guard.explain(err, x[: min(2, len(x))])  # a train-mode norm needs two
            if better is None:
                raise
            raise better from err
        finally:
            guard.finish()  # buffers a forward wrote are put back


@contextlib.contextmanager
def _watched(
    stage_list: Sequence[nn.Module], measure: str, guard: StageGuard, watch: _FiniteWatch
) -> Iterator[None]:
    """Forward hooks checking every stage's output (see the module docstring)."""
    handles = []
    for i, stage in enumerate(stage_list):

        def pre(module: nn.Module, args: Any, i: int = i) -> None:
            guard.before(i, args)

        def hook(module: nn.Module, args: Any, out: Any, i: int = i, stage: Any = stage) -> None:
            guard.after(i, args)
            _check_output(out, measure, i, getattr(stage, "name", str(i)), watch)

        handles.append(stage.register_forward_pre_hook(pre))
        handles.append(stage.register_forward_hook(hook))
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def _check_output(out: Any, measure: str, i: int, name: str, watch: _FiniteWatch) -> None:
    if REPLAYING.get() and not _LOCATING.get():  # the recorded pass checked this stage
        return
    if not isinstance(out, torch.Tensor):
        raise TypeError(
            f"{measure}: stage {i} ({name!r}) returns a {type(out).__name__}, not a tensor; "
            "measures follow one tensor through the stages: wrap the model so that its forward "
            "returns the tensor to measure (an nn.Module whose forward returns model(x)[0], or "
            "the dict's entry), or pass the stages up to that tensor"
        )
    # Outside the measures' torch-function modes (the JVP rules), through which every tensor
    # attribute read would otherwise go: a third of this function's time.
    with torch._C.DisableTorchFunction():
        if _wrapped(out) or out.is_meta or not out.is_floating_point():
            return
        watch.see(i, out)


#: What a stage's output holds: its forward values, and its forward-mode tangent.
_VALUES, _TANGENTS = "forward values", "tangents (perturbations)"


@contextlib.contextmanager
def locating_tangents() -> Iterator[None]:
    """Keep the per-stage tangents of replayed passes too, inside the block.

    A replayed pass (:class:`~criticality.measures.tangents.Linearized` after its first call)
    runs at the recorded point: every stage's Jacobian is the one whose tangents the recorded
    pass had checked, so the watch skips the replays' tangents (20 reductions per step of the
    FTLE of a 20-stage MLP: 5 % of its time). A measure checks each replay's final tangent
    instead (:func:`check_replay`) and, when it holds NaN or inf, re-runs that pass inside this
    block: the watch then names the stage where the tangents first went non-finite, as it would
    have in the pass.
    """
    token = _LOCATING.set(True)
    try:
        yield
    finally:
        _LOCATING.reset(token)


def check_replay(tangent: torch.Tensor, rerun: Callable[[], object]) -> None:
    """The check of a replayed pass: when its final ``tangent`` holds NaN or inf, ``rerun()``
    the pass inside :func:`locating_tangents` (the watch names the stage when the block ends)."""
    lo, hi = torch.aminmax(tangent.detach())  # NaN shows in both (cheaper than isfinite)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        with locating_tangents():
            rerun()


class _FiniteWatch:
    """The per-stage non-finite checks of one measure call, read once per call.

    Each stage output (and its forward-mode tangent) leaves its minimum and maximum on its
    device: one reduction, no copy of the output and no wait for the device. NaN shows in both,
    +inf in the maximum, -inf in the minimum, so the pair is finite exactly when the output is.
    :meth:`read` looks at all of them together, once when the measure's block ends (and every
    ``flush_every`` outputs, which bounds the memory), and raises :class:`NonFiniteError` naming
    the first stage output, in call order, that held NaN or inf: the one the measure would have
    stopped at had each output been read at once. The values of a pass that replays recorded
    primal outputs (:class:`~criticality.measures.tangents.Linearized` after its first call)
    are those of the recorded pass and are not kept again, nor are its tangents unless the
    pass is re-run to locate a non-finite tangent (:func:`locating_tangents`); with
    ``tangents=False`` (a measure that checks a per-stage reduction of its tangents itself) the
    tangents are not kept.

    Args:
        measure: the measure's name, for the message.
        names: the stages' names.
        flush_every: read after this many outputs.
        tangents: keep the tangents' extremes too.
    """

    def __init__(
        self, measure: str, names: Sequence[str], flush_every: int = 1024, *, tangents: bool = True
    ) -> None:
        self.measure, self.names, self.flush_every = measure, list(names), flush_every
        self.tangents = tangents
        self.extremes: list[tuple[torch.Tensor, torch.Tensor]] = []
        self.where: list[tuple[int, str]] = []  # (stage, what) of each entry of ``extremes``

    def see(self, i: int, out: torch.Tensor) -> None:
        """Keep the extremes of stage ``i``'s output ``out`` and of its tangent, if any."""
        # Outside the measures' torch-function modes (the JVP rules), and without a tangent or
        # an autograd graph for the extremes themselves.
        with torch._C.DisableTorchFunction():
            replaying = REPLAYING.get()
            if not replaying:  # a replayed pass repeats the recorded pass's values
                self._keep(i, _VALUES, out.detach())  # the values alone: no tangent, no graph
            level = fwAD._current_level
            if self.tangents and level >= 0 and (not replaying or _LOCATING.get()):
                # fwAD.unpack_dual without its Python wrapper (a third of this method's time)
                tangent = torch._unpack_dual(out, level)[1]
                if tangent is not None and not _wrapped(tangent):
                    self._keep(i, _TANGENTS, tangent.detach())
        if len(self.extremes) >= self.flush_every:
            self.read()

    def _keep(self, i: int, what: str, t: torch.Tensor) -> None:
        if t.numel():
            self.extremes.append(torch.aminmax(t))
            self.where.append((i, what))

    def read(self) -> None:
        """Raise :class:`NonFiniteError` if an output seen since the last read held NaN or inf."""
        extremes, where = self.extremes, self.where
        self.extremes, self.where = [], []
        first = _first_nonfinite(extremes)
        if first is not None:
            i, what = where[first]
            raise NonFiniteError(
                _nonfinite_message(self.measure, f"stage {i} ({self.names[i]!r})", what)
            )

    def read_before(self, err: BaseException) -> None:
        """:meth:`read`, the :class:`NonFiniteError` chained to ``err`` (raised after it)."""
        try:
            self.read()
        except NonFiniteError as nonfinite:
            raise nonfinite from err


def _first_nonfinite(extremes: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> int | None:
    """Index of the first ``(min, max)`` pair holding NaN or inf; one wait per device."""
    first = None
    with torch._C.DisableTorchFunction():
        by_device: dict[torch.device, list[int]] = {}
        for n, (lo, _) in enumerate(extremes):
            by_device.setdefault(lo.device, []).append(n)
        for idx in by_device.values():
            values = torch.stack([v for n in idx for v in extremes[n]]).reshape(len(idx), 2)
            bad = ~torch.isfinite(values).all(dim=1)  # (len(idx),)
            if bool(bad.any()):
                n = idx[int(bad.nonzero()[0, 0])]
                first = n if first is None else min(first, n)
    return first


def _nonfinite_message(measure: str, where: str, what: str) -> str:
    return (
        f"{measure}: the {what} first become NaN or inf at {where}; the result would be "
        "meaningless. Check the model's weights for NaN/inf (torch.isfinite(p).all()), or "
        "compute in float64 (dtype=torch.float64) if activations overflow"
    )


def check_finite(
    run: Prepared, measure: str, values: Mapping[str, object], per_stage: object = None
) -> None:
    """Raise :class:`NonFiniteError` if any of a measure's ``values`` holds NaN or inf.

    The stage is found by one plain forward pass (the first stage whose output is not finite);
    failing that, from ``per_stage`` (an array ``(B, L, ...)`` of per-stage numbers: its first
    stage with a non-finite entry).

    Args:
        run: the measure's :class:`Prepared` bundle (its context may be closed).
        measure: the measure's name, for the message.
        values: the numbers to check, by the name they have in the result.
        per_stage: per-stage numbers, shape ``(B, L, ...)``, to locate tangents that blew up.
    """
    bad = [k for k, v in values.items() if not np.isfinite(np.asarray(v, dtype=float)).all()]
    if not bad:
        return
    stage = first_nonfinite_stage(run)
    if stage is not None:
        where, what = f"stage {stage} ({run.names[stage]!r})", "forward values"
    else:
        what, where = "tangents (perturbations)", "some stage"
        if per_stage is not None:
            finite = np.isfinite(np.asarray(per_stage, dtype=float))
            rows = finite.reshape(finite.shape[0], finite.shape[1], -1).all(axis=(0, 2))  # (L,)
            if not rows.all():
                first = int(np.argmin(rows))
                where = f"stage {first} ({run.names[first]!r})"
    raise NonFiniteError(_nonfinite_message(measure, where, what) + f" (in {', '.join(bad)})")


def first_nonfinite_stage(run: Prepared) -> int | None:
    """Index of the first stage whose output holds NaN or inf, by one plain forward pass."""
    h = run.inputs
    with eval_mode(run.stages), torch.no_grad():
        for i, stage in enumerate(run.stages):
            h = stage(h)
            if isinstance(h, torch.Tensor) and not bool(torch.isfinite(h).all()):
                return i
    return None


def check_degenerate(run: Prepared, measure: str, gains: object, quantity: str = "ln g") -> None:
    """Report stages whose gain is exactly zero (``ln g = -inf``).

    A stage that maps every perturbation to zero for *every* probe input is degenerate: there
    is no finite value, and :class:`DegenerateStageError` names it. Where only some inputs see
    a zero gain (every unit of a ReLU layer cut off for those inputs) a warning is logged naming
    the stage and the count, and the measure keeps its floor for those inputs.

    Args:
        run: the measure's :class:`Prepared` bundle.
        measure: the measure's name.
        gains: per-stage gains of the leading direction, shape ``(B, L)`` (not logs).
        quantity: how the measure names the log of the gain.
    """
    zero = np.asarray(gains, dtype=float) == 0.0  # (B, L)
    if not zero.any():
        return
    every = zero.all(axis=0)  # (L,)
    stage = int(np.argmax(every)) if every.any() else int(np.argmax(zero.any(axis=0)))
    where = f"stage {stage} ({run.names[stage]!r})"
    if not every.any():
        _log.warning(
            "%s: %s maps every perturbation to exactly zero for %d of %d probe inputs (%s = "
            "-inf there); those inputs count with the smallest representable gain",
            measure, where, int(zero[:, stage].sum()), zero.shape[0], quantity,
        )  # fmt: skip
        return
    raise DegenerateStageError(
        f"{measure}: {where} maps every perturbation to exactly zero for all {zero.shape[0]} "
        f"probe inputs ({quantity} = -inf): the network is degenerate there (zero weights, or "
        "every unit cut off), perfectly ordered, and has no finite value. Check that stage's "
        f"weights, or measure without it: the stages before it (measure(criticality.stages("
        f"model)[:{stage}], x), e.g. a zero-initialised classifier head) or after it "
        "(measure(..., start_after=NAME))"
    )


def measured_part(
    stage_list: Sequence[nn.Module], inputs: object, start_after: str | None = None
) -> tuple[list[nn.Module], object, str | None]:
    """Where measuring starts: after ``start_after``, or after the embedding for token ids.

    Measures perturb float states; token ids cannot be perturbed. So with integer ``inputs`` and
    a first stage that holds an embedding (``nn.Embedding``, e.g. the ``"embed"`` stage of
    GPT-2, BERT and Llama), the ids are looked up once and the measures start at that stage's
    output. An explicit ``start_after`` always wins.

    Args:
        stage_list: the stages, shape-wise from the model's input to its output.
        inputs: probe inputs ``(B, ...)``: floats, or token ids ``(B, T)``.
        start_after: the name of the last stage to run before measuring, or ``None``.

    Returns:
        ``(stages, inputs, start)``: the stages to measure, their inputs, and the name of the
        stage measuring starts after (``None`` when it starts at the model's input).

    Raises:
        TypeError: integer inputs and a first stage with no embedding (the message says what to
            do for token ids and for integer-valued data).
        ValueError: token ids outside the embedding's vocabulary; NaN or inf inputs.
    """
    stages_in = list(stage_list)
    if not isinstance(inputs, torch.Tensor):
        return stages_in, inputs, start_after  # check_inputs refuses it with the reason
    if start_after is not None:
        if inputs.is_floating_point():
            check_inputs(inputs)  # NaN in the model's own inputs: said before any stage runs
        rest, h = _run_first(lambda: split_after(stages_in, start_after, inputs), stages_in[0])
        return rest, h, start_after
    if inputs.is_floating_point() or inputs.is_complex():
        return stages_in, inputs, None
    first = stages_in[0]
    name = getattr(first, "name", "0")
    if not embeds_tokens(first):
        raise TypeError(_integer_advice(inputs, stages_in))
    if len(stages_in) == 1:
        raise ValueError(
            f"the model's only stage ({name!r}) is its embedding: nothing after it to measure; "
            "pass the embedding's output (floats) as inputs to measure the embedding's input "
            "map, or a model with more stages"
        )
    rest, h = _run_first(lambda: split_at(stages_in, 1, inputs), first)
    _log.info("token ids: measuring from the output of stage %r (the embedding) on", name)
    return rest, h, name


def _run_first(
    split: Callable[[], tuple[list[nn.Module], torch.Tensor]], first: nn.Module
) -> tuple[list[nn.Module], torch.Tensor]:
    """Run ``split()``; token ids outside the vocabulary get a clear error, not an IndexError."""
    try:
        return split()
    except IndexError as err:
        rows: list[int] = [getattr(m, "num_embeddings", 0) for m in first.modules()]
        sizes = sorted({n for n in rows if n})
        vocab = f" (its embeddings hold {', '.join(map(str, sizes))} rows)" if sizes else ""
        raise ValueError(
            f"a token id is outside the vocabulary of the first stage{vocab}: {err}. Token ids "
            "must lie in [0, vocab_size); check the tokenizer matches the model"
        ) from err


def _integer_advice(inputs: torch.Tensor, stage_list: Sequence[nn.Module]) -> str:
    names = [getattr(s, "name", str(i)) for i, s in enumerate(stage_list)]
    listed = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
    return (
        f"inputs are {str(inputs.dtype).removeprefix('torch.')}, but the model's first stage "
        f"({names[0]!r}) holds no embedding (nn.Embedding) to look token ids up, and the "
        "measures perturb float inputs. Token ids for a model that embeds them elsewhere: pass "
        f"start_after=NAME, the stage that embeds them (the stages: {listed}), or pass the "
        "embedding's output (floats, shape (B, T, D)) as inputs. Integer-valued data (pixel "
        "values 0-255, counts): convert them as the model expects, e.g. inputs.float() / 255"
    )


def as_stages(model_or_stages: ModelOrStages, dtype: torch.dtype | None = None) -> list[nn.Module]:
    """The stage list of a model (split with :func:`criticality.stages`) or a given list.

    With ``dtype`` set and different from the parameters' dtype, a converted deep copy is
    returned so that the caller's model is left as it was.
    """
    _check_not_meta(model_or_stages)
    if isinstance(model_or_stages, nn.Module) and not isinstance(model_or_stages, nn.ModuleList):
        model: nn.Module = model_or_stages
        if dtype is not None and _param_dtype(model) not in (None, dtype):
            model = copy.deepcopy(model).to(dtype)
        return _split(model)
    if isinstance(model_or_stages, (Sequence, nn.ModuleList)):
        stage_list = list(model_or_stages)
        if not stage_list or not all(isinstance(s, nn.Module) for s in stage_list):
            raise TypeError("pass a model or a non-empty list of stage modules")
        dtypes = {_param_dtype(s) for s in stage_list} - {None}
        if dtype is not None and dtypes - {dtype}:
            stage_list = [s.to(dtype) for s in copy.deepcopy(stage_list)]
        return stage_list
    raise TypeError(
        f"expected an nn.Module or a list of stages, got {type(model_or_stages).__name__}"
    )


#: Splits of ``nn.Sequential`` models, reused while the model's modules stay the same objects:
#: splitting costs about half a forward pass of a 20-layer MLP of width 512 at batch 4. Only
#: ``nn.Sequential`` is cached: its stages hold its sub-modules, never the model itself, so an
#: entry dies with its model (weak key).
_SPLITS: weakref.WeakKeyDictionary[nn.Module, tuple[tuple[int, ...], list[nn.Module]]] = (
    weakref.WeakKeyDictionary()
)


def _split(model: nn.Module) -> list[nn.Module]:
    if not isinstance(model, nn.Sequential):
        return list(split_stages(model))
    key = tuple(map(id, model.modules()))  # any module replaced or added: split again
    hit = _SPLITS.get(model)
    if hit is None or hit[0] != key:
        hit = (key, list(split_stages(model)))
        _SPLITS[model] = hit
    return list(hit[1])


def _check_not_meta(model_or_stages: object) -> None:
    if isinstance(model_or_stages, nn.Module):
        modules: Sequence[object] = [model_or_stages]
    elif isinstance(model_or_stages, (list, tuple)):
        modules = model_or_stages
    else:
        return
    for module in modules:
        if isinstance(module, nn.Module) and any(
            t.device.type == "meta" for t in (*module.parameters(), *module.buffers())
        ):
            raise ValueError(
                "the model's parameters are on the meta device (shapes without values): "
                "materialise it first, e.g. model.to_empty(device='cpu') then "
                "model.load_state_dict(weights)"
            )


def _param_dtype(module: nn.Module) -> torch.dtype | None:
    for p in module.parameters():
        if p.is_floating_point():
            return p.dtype
    return None


def check_inputs(inputs: object, dtype: torch.dtype | None = None) -> torch.Tensor:
    """Validate probe inputs (shape ``(B, ...)``, finite, floating) and cast to ``dtype``.

    Inputs in a non-standard memory layout (``x.expand(...)``, whose rows share memory, or a
    transposed view) are made contiguous: measures write perturbations into copies of them.
    """
    if not isinstance(inputs, torch.Tensor):
        raise TypeError(
            f"inputs must be a torch.Tensor of shape (B, ...), got {type(inputs).__name__}"
        )
    if inputs.ndim < 2 or inputs.shape[0] == 0:
        raise ValueError(
            f"inputs must have shape (B, ...) with B >= 1 probe inputs and a batch dimension "
            f"first, got shape {tuple(inputs.shape)}; add one with inputs.unsqueeze(0)"
        )
    if not inputs.is_floating_point():
        raise TypeError(
            f"inputs must be floating point, got {inputs.dtype}: token ids go to a model whose "
            "first stage is an embedding (measure(model, ids) starts after it); integer-valued "
            "data need converting as the model expects, e.g. inputs.float() / 255"
        )
    finite = torch.isfinite(inputs).flatten(1).all(1)  # (B,)
    if not bool(finite.all()):
        rows = torch.nonzero(~finite).flatten().tolist()
        listed = ", ".join(map(str, rows[:8])) + (", ..." if len(rows) > 8 else "")
        raise ValueError(
            f"inputs hold NaN or inf in {len(rows)} of {inputs.shape[0]} probe inputs (rows "
            f"{listed}): every number measured on them would be NaN. Drop those rows "
            "(inputs[torch.isfinite(inputs).flatten(1).all(1)]) or fix where they come from "
            "(the data file, a division by zero in the preprocessing); the model is not at fault"
        )
    # expanded (stride-0) or other non-standard layouts: the measures write into the states
    inputs = inputs.contiguous()
    return inputs.to(dtype) if dtype is not None else inputs


def infer_dtype(stage_list: Sequence[nn.Module], inputs: torch.Tensor) -> torch.dtype:
    """The stages' parameter dtype when they agree on one, else the inputs' dtype."""
    dtypes = {d for d in map(_param_dtype, stage_list) if d is not None}
    return next(iter(dtypes)) if len(dtypes) == 1 else inputs.dtype


@contextlib.contextmanager
def eval_mode(modules: Sequence[nn.Module]) -> Iterator[None]:
    """Put ``modules`` in ``eval()`` and restore each submodule's training flag afterwards.

    Also selects attention kernels that forward-mode AD can differentiate: the fused fast path
    of ``nn.MultiheadAttention`` (which eval mode would pick) is turned off and
    ``scaled_dot_product_attention`` uses its plain math backend.
    """
    from torch.nn.attention import SDPBackend, sdpa_kernel

    flags = [(m, m.training) for s in modules for m in s.modules()]
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    for s in modules:
        s.eval()
    try:
        with sdpa_kernel([SDPBackend.MATH]):
            yield
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
        for m, flag in flags:
            m.training = flag


def _check_fits(stage: nn.Module, inputs: torch.Tensor) -> None:
    """Run the first stage on a few inputs, turning a shape mismatch into a clear error."""
    buffers = BufferCopy(stage_modules(stage))
    try:
        with torch.no_grad():
            stage(inputs)
    except RuntimeError as err:
        raise ValueError(
            f"inputs of shape {tuple(inputs.shape)} do not fit the model's first stage "
            f"({err}); pass inputs shaped (B, ...) as the model expects"
        ) from err
    finally:
        buffers.restore()
