"""``measure()``: run several registered measures on one model and bundle them in a report."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from criticality._meta import timestamp, versions
from criticality.measures import get_measure, list_measures
from criticality.measures.prepared import as_stages, check_inputs, infer_dtype, measured_part
from criticality.report import CriticalityReport

log = logging.getLogger(__name__)

DEFAULT_MEASURES = ("lyapunov", "ftle")


def measure(
    model: nn.Module | Sequence[nn.Module],
    inputs: torch.Tensor,
    *,
    measures: str | Sequence[str] = DEFAULT_MEASURES,
    seed: int = 0,
    dtype: torch.dtype | None = None,
    name: str | None = None,
    progress: bool = False,
    start_after: str | None = None,
    **options: Mapping[str, Any],
) -> CriticalityReport:
    """Measure how close ``model`` operates to criticality on probe ``inputs``.

    Args:
        model: a model (split with :func:`criticality.stages`) or a list of stages.
        inputs: probe inputs, shape ``(B, ...)``; or token ids ``(B, T)`` (integers) for a
            model whose first stage is an embedding (a language model): the measures then
            start after that stage, and the report says so (``metadata["start_after"]``).
        measures: registered measure names, or ``"all"``.
        seed: seed passed to every measure.
        dtype: compute dtype (the model is copied, not changed).
        name: the model's name in the report (default: its class name).
        progress: show a progress bar over the measures (only on a terminal).
        start_after: measure only the stages after the one of this name; ``inputs`` are first
            pushed through it and the stages before it. Token ids need it only where the
            embedding is not the first stage; given, it wins over that default. See
            :func:`criticality.stages.split_after`.
        **options: per-measure options keyed by measure name, e.g. ``lyapunov={"k": 8}``.

    Returns:
        A :class:`~criticality.report.CriticalityReport`.

    Example:
        >>> import torch
        >>> from criticality.zoo import mlp
        >>> rep = measure(mlp(depth=8, width=64, sigma_w=1.0), torch.randn(4, 64))
        >>> rep.lambda_max < 0  # tanh at σ_w = 1: ordered, barely
        True
    """
    names = (
        list_measures()
        if measures == "all"
        else [measures]
        if isinstance(measures, str)
        else list(measures)
    )
    for n in names:
        get_measure(n)  # unknown names fail before any work
    unknown = set(options) - set(names)
    if unknown:
        raise ValueError(
            f"options given for measures not requested: {', '.join(sorted(unknown))}; "
            f"requested: {', '.join(names)}"
        )
    stage_list, measured, after = measured_part(as_stages(model, dtype), inputs, start_after)
    x = check_inputs(measured)
    x = x.to(dtype or infer_dtype(stage_list, x))
    results, seconds = {}, {}
    for n in tqdm(names, desc="measures", disable=not (progress and sys.stderr.isatty())):
        start = time.perf_counter()
        results[n] = get_measure(n).run(stage_list, x, seed=seed, **dict(options.get(n, {})))
        seconds[n] = time.perf_counter() - start
        log.info("%s took %.2f s", n, seconds[n])
    model_name = name or (type(model).__name__ if isinstance(model, nn.Module) else "stages")
    stage_names = tuple(getattr(s, "name", str(i)) for i, s in enumerate(stage_list))
    meta = run_metadata(x, seed, seconds)
    if after is not None:
        meta["start_after"] = after
        meta["start_after_auto"] = start_after is None  # token ids: after the embedding
    return CriticalityReport(model_name, stage_names, results, meta)


def run_metadata(x: torch.Tensor, seed: int, seconds: Mapping[str, float]) -> dict[str, Any]:
    """Seed, dtype, device, input shape, versions and timings of a measurement run."""
    return {
        "seed": seed,
        "dtype": str(x.dtype).removeprefix("torch."),
        "device": str(x.device),
        "n_inputs": int(x.shape[0]),
        "input_shape": list(x.shape[1:]),
        "seconds": dict(seconds),
        "versions": versions(),
        "threads": torch.get_num_threads(),
        "timestamp": timestamp(),
    }
