"""Hugging Face ``transformers``: criticality of language models, and a ``TrainerCallback``.

The stages of GPT-2, BERT and Llama models (``criticality.stages(model)``) run from token ids
through the embedding, every block and the head; measures start after the embedding (token ids
cannot be perturbed): :func:`measure_language_model`. :class:`CriticalityTrainerCallback`
measures on a probe batch whenever the ``Trainer`` logs and puts ``criticality/lambda_1``,
``criticality/sigma`` and ``criticality/ln_g/STAGE`` into that step's entry of
``trainer.state.log_history`` (and into the ``logs`` that later callbacks see).

Needs ``transformers`` (extra ``[hf]``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import transformers
from torch import nn

from criticality._measure import measure
from criticality.integrations._probe import DEFAULT_MEASURES, ProbeMeasure
from criticality.report import CriticalityReport

log = logging.getLogger(__name__)


def unpadded(input_ids: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
    """Token ids cut to the span that every row fills, so that no padding is measured.

    Right-padded rows keep their first ``n`` tokens, left-padded rows their last ``n``, where
    ``n`` is the shortest row's length. Without padding nothing changes.

    Args:
        input_ids: ``(B, T)``.
        attention_mask: ``(B, T)``, 1 for tokens and 0 for padding (or ``None``).

    Returns:
        ``(B, n)`` token ids.
    """
    if attention_mask is None or bool(attention_mask.bool().all()):
        return input_ids
    mask = attention_mask.bool()
    n = int(mask.sum(1).min())
    if n == 0:
        raise ValueError("a probe row has no tokens at all; drop it")
    right = mask[:, :n].all(1)  # (B,)
    left = mask[:, -n:].all(1)
    if not bool((right | left).all()):
        raise ValueError("padding must be on one side of each row (left or right)")
    cut = [ids[:n] if r else ids[-n:] for ids, r in zip(input_ids, right, strict=True)]
    return torch.stack(cut)


def measure_language_model(
    model: nn.Module,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None = None,
    **kwargs: Any,
) -> CriticalityReport:
    """Measure a language model from its embedding output on, on probe token ids.

    Args:
        model: a GPT-2, BERT or Llama model of ``transformers`` (random or trained weights).
        input_ids: probe token ids, shape ``(B, T)``.
        attention_mask: padding mask ``(B, T)``; padded probes are cut by :func:`unpadded`.
        **kwargs: passed to :func:`criticality.measure` (``measures``, ``seed``, ``dtype``,
            per-measure options, ...).
    """
    ids = unpadded(input_ids, attention_mask)
    name = kwargs.pop("name", None) or getattr(model.config, "model_type", type(model).__name__)
    return measure(model, ids, start_after="embed", name=name, **kwargs)


class CriticalityTrainerCallback(transformers.TrainerCallback):
    """Measure criticality whenever the ``Trainer`` logs training metrics.

    Args:
        probe_ids: probe token ids ``(P, T)`` (fixed-length text windows are best).
        attention_mask: their padding mask, if any (padded probes are cut to the common span).
        measures: registered measure names (default λ_1 and σ).
        options: per-measure options, e.g. ``{"lyapunov": {"k": 4}}``.
        seed: seed of every measure.
        start_after: the stage after which measuring starts (``"embed"``).

    Attributes:
        records: every measurement, ``{"step": s, NAME: value, ...}``.
    """

    def __init__(
        self,
        probe_ids: torch.Tensor,
        *,
        attention_mask: torch.Tensor | None = None,
        measures: Sequence[str] = DEFAULT_MEASURES,
        options: Mapping[str, Mapping[str, Any]] | None = None,
        seed: int = 0,
        start_after: str = "embed",
    ) -> None:
        probe = unpadded(probe_ids, attention_mask)
        self.measure = ProbeMeasure(probe, tuple(measures), dict(options or {}), seed, start_after)
        self.records: list[dict[str, Any]] = []

    def on_log(
        self,
        args: Any,
        state: Any,
        control: Any,
        logs: dict[str, Any] | None = None,
        model: nn.Module | None = None,
        **kwargs: Any,
    ) -> None:
        """Measure at a training log (one with ``"loss"``), on the main process only."""
        if model is None or logs is None or "loss" not in logs or not state.is_world_process_zero:
            return
        if self.records and self.records[-1]["step"] == state.global_step:
            return
        values = self.measure(getattr(model, "module", model))  # unwrap DataParallel
        self.records.append({"step": state.global_step, **values})
        logs.update(values)
        if state.log_history and state.log_history[-1].get("step") == state.global_step:
            state.log_history[-1].update(values)
        else:
            state.log_history.append({**values, "step": state.global_step})
        log.info("step %d: %s", state.global_step, values)
