"""Criticality of one generation's networks: ``λ_1``, per-stage ``ln g_l`` and ``σ`` as records.

Each network part (the VAE's encoder and decoder, a language model after its embedding, a GRU
across time) is a chain of stages with probe inputs; :func:`chain_record` measures it with the
registered measures (:func:`criticality.measures.lyapunov_spectrum`,
:func:`criticality.measures.branching_ratio`) and returns plain JSON-ready numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from criticality.measures import (
    BranchingResult,
    LyapunovResult,
    branching_ratio,
    lyapunov_spectrum,
)


def lyapunov_record(res: LyapunovResult) -> dict[str, Any]:
    """``λ_1`` with its CI over probes and the per-stage ``ln g_l`` of a Lyapunov result."""
    return {
        "lambda_1": res.lambda_max.mean,
        "lambda_1_ci": [res.lambda_max.ci_low, res.lambda_max.ci_high],
        "stage_log_gain": [e.mean for e in res.stage_log_gain],
        "stage_names": list(res.stage_names),
    }


def chain_record(
    stage_list: Sequence[nn.Module],
    x: torch.Tensor,
    *,
    seed: int = 0,
    norm: str = "rms",
    branching: bool = True,
) -> dict[str, Any]:
    """Measure a chain of stages on probes ``x`` (shape ``(B, ...)``, float).

    Returns:
        ``lambda_1`` (nats per stage, ``norm`` as in the measures; ``"rms"`` removes the gain a
        stage makes by changing width), ``lambda_1_ci``, ``stage_log_gain`` (``L`` values),
        ``stage_names``, and with ``branching`` the cascade ``sigma`` with ``sigma_ci``.
    """
    lyap = lyapunov_spectrum(list(stage_list), x, k=1, norm=norm, seed=seed)
    assert isinstance(lyap, LyapunovResult)
    out = lyapunov_record(lyap)
    if branching:
        br = branching_ratio(list(stage_list), x, seed=seed)
        assert isinstance(br, BranchingResult)
        out["sigma"] = br.sigma.mean
        out["sigma_ci"] = [br.sigma.ci_low, br.sigma.ci_high]
    return out
