"""Plots of training runs (matplotlib imported inside each function; each returns ``(fig, ax)``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from criticality.reporting.plots import axes


def plot_trajectories(
    trajectories: Mapping[str, Sequence[Sequence[Mapping[str, Any]]]],
    *,
    measure: str = "lyapunov",
    critical_value: float = 0.0,
    ax: Any = None,
    title: str | None = None,
) -> tuple[Any, Any]:
    """Mean (line) and range over seeds (band) of a measure during training, one line per label.

    Args:
        trajectories: label -> one trajectory per seed, each a list of records
            ``{"step": s, measure: value, ...}`` measured at the same steps.
        measure: key of the plotted value.
        critical_value: drawn as a dashed line.
        ax: axes to draw into (default: a new figure).
        title: axes title.
    """
    fig, ax = axes(ax, (5.5, 3.6))
    for label, runs in trajectories.items():
        steps = np.array([r["step"] for r in runs[0]])
        values = np.array([[r[measure] for r in run] for run in runs])  # (seeds, T)
        line = ax.plot(steps, values.mean(axis=0), label=label)[0]
        ax.fill_between(
            steps, values.min(axis=0), values.max(axis=0), alpha=0.2, color=line.get_color()
        )
    ax.axhline(critical_value, color="k", ls="--", lw=0.8)
    ax.set_xlabel("training step")
    ax.set_ylabel("λ₁ (nats per stage)" if measure == "lyapunov" else measure)
    if title:
        ax.set_title(title)
    ax.legend(fontsize="small")
    return fig, ax


def plot_metric_bars(
    summary: Mapping[str, Mapping[str, Mapping[str, float]]],
    *,
    metrics: Sequence[str] = ("clean", "noise", "corruption", "fgsm", "pgd"),
    ax: Any = None,
    title: str | None = None,
) -> tuple[Any, Any]:
    """Grouped bars: one group per metric, one bar per method, error bars the 95 % t interval.

    Args:
        summary: method -> metric -> ``{"mean", "ci_low", "ci_high"}``.
        metrics: metrics to show, in order.
        ax: axes to draw into (default: a new figure).
        title: axes title.
    """
    fig, ax = axes(ax, (5.5, 3.6))
    methods = list(summary)
    width = 0.8 / max(1, len(methods))
    x = np.arange(len(metrics))
    for i, method in enumerate(methods):
        rows = [summary[method][m] for m in metrics]
        mean = np.array([r["mean"] for r in rows])
        err = np.array([[r["mean"] - r["ci_low"], r["ci_high"] - r["mean"]] for r in rows]).T
        ax.bar(x + i * width, mean, width, yerr=np.nan_to_num(err), label=method, capsize=2)
    ax.set_xticks(x + width * (len(methods) - 1) / 2, list(metrics))
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1)
    if title:
        ax.set_title(title)
    ax.legend(fontsize="small", ncols=3, loc="upper center", bbox_to_anchor=(0.5, -0.1))
    return fig, ax
