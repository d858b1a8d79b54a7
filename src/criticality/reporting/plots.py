"""Plots of criticality results. matplotlib is imported inside each function (lazy)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from criticality.measures import LyapunovResult
from criticality.reporting import _folders

#: Okabe & Ito's colour-blind-safe palette (blue, orange, green, vermillion, purple, sky blue,
#: yellow), the colour cycle of every figure; markers and labels carry the same information.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442")
MARKERS = "osD^vP*X"

#: Font sizes that stay readable with a report viewed at 50 % zoom.
_RC: dict[str, Any] = {
    "font.size": 12,
    "axes.titlesize": 12,
    "axes.labelsize": 12,
    "legend.fontsize": 10,
    "xtick.labelsize": 10.5,
    "ytick.labelsize": 10.5,
}


def _pyplot() -> Any:
    """pyplot on the non-interactive Agg backend (files only; works without a display), with
    the colour-blind-safe palette and readable font sizes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from cycler import cycler

    rc: Any = plt.rcParams  # typed with literal keys; ours are plain strings
    rc.update(_RC, **{"axes.prop_cycle": cycler(color=list(PALETTE))})
    return plt


def axes(ax: Any = None, figsize: tuple[float, float] = (7.0, 4.0)) -> tuple[Any, Any]:
    """``(fig, ax)``: the figure of ``ax``, or a new figure of ``figsize`` when ``ax`` is None."""
    if ax is None:
        fig, ax = _pyplot().subplots(figsize=figsize, layout="constrained")
        return fig, ax
    return ax.figure, ax


def subplots(ncols: int, figsize: tuple[float, float]) -> tuple[Any, Any]:
    """A row of ``ncols`` axes: ``(fig, axes)`` with ``axes`` of shape ``(ncols,)``."""
    fig, axes = _pyplot().subplots(1, ncols, figsize=figsize, layout="constrained", squeeze=False)
    return fig, axes[0]


def save(fig: Any, path: str | Path) -> Path:
    """Write ``fig`` as PNG (creating the folder) and close it.

    Figure names are built from strings in ``results.json`` (model, method and stage names),
    which a crafted file can fill with ``../``, absolute paths or odd characters. So the part
    of ``path`` below its ``figures`` folder becomes one safe file name
    (:func:`~criticality.reporting._folders.safe_name`), and while a run's report is being
    rendered (:func:`~criticality.reporting._folders.rendering`) the file must lie inside
    that run's folder.

    Returns:
        The path written (its name sanitised).

    Raises:
        ValueError: the figure would be written outside the output folder being rendered.
    """
    path = _folders.confined(_figure_path(Path(path)))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    _pyplot().close(fig)
    return path


def _figure_path(path: Path) -> Path:
    """``.../figures/<anything>`` -> ``.../figures/<one safe file name>``; other paths keep their
    folder and get a safe file name."""
    parts = path.parts
    root = _folders.render_root()
    clean = parts[: parts.index("..")] if ".." in parts else parts[:-1]  # before any "../"
    if root is not None and path.is_relative_to(root / "figures"):
        base, rest = root / "figures", path.relative_to(root / "figures").parts
    elif "figures" in clean:
        i = len(clean) - 1 - clean[::-1].index("figures")  # the last one before any "../"
        base, rest = Path(*parts[: i + 1]), parts[i + 1 :]
    else:
        base, rest = path.parent, (path.name,)
    return base / _folders.safe_name("/".join(rest))


def plot_stage_profile(
    result: LyapunovResult,
    *,
    ax: Any = None,
    label: str = "",
    relative: bool = False,
    floor: float | None = None,
) -> tuple[Any, Any]:
    """Per-stage local exponent ``ln g_l`` with its bootstrap CI, and the critical line 0.

    Args:
        result: a Lyapunov result.
        ax: axes to draw into (a new figure if ``None``).
        label: legend label.
        relative: x axis as relative depth ``l / (L - 1)``, to compare networks of different depth.
        floor: values below it are drawn at it with a down-pointing marker (e.g. a zero-initialised
            head whose ``ln g = -inf`` would squash every other stage).
    """
    fig, ax = axes(ax)
    n = len(result.stage_names)
    x = np.arange(n) / max(n - 1, 1) if relative else np.arange(n)
    mean = np.array([e.mean for e in result.stage_log_gain])
    lo = np.array([e.ci_low for e in result.stage_log_gain])
    hi = np.array([e.ci_high for e in result.stage_log_gain])
    if floor is not None:
        clipped = mean < floor
        mean, lo, hi = (np.maximum(v, floor) for v in (mean, lo, hi))
    (line,) = ax.plot(x, mean, marker="o", ms=3, label=label or None)
    ax.fill_between(x, lo, hi, alpha=0.25, color=line.get_color())
    if floor is not None and clipped.any():
        ax.plot(x[clipped], mean[clipped], "v", ms=9, color=line.get_color())
    ax.axhline(0.0, color="k", lw=0.8, ls="--")
    ax.set_xlabel("relative depth" if relative else "stage")
    ax.set_ylabel("local exponent ln g_l")
    if not relative and n <= 30:
        ax.set_xticks(x, result.stage_names, rotation=70, fontsize=7)
    ax.set_title("per-stage profile (0 = critical; < 0 ordered, > 0 chaotic)")
    return fig, ax


def plot_spectrum(result: LyapunovResult, *, ax: Any = None, label: str = "") -> tuple[Any, Any]:
    """Lyapunov spectrum ``λ_1 ≥ … ≥ λ_k`` with the spread over inputs."""
    fig, ax = axes(ax, (5.0, 3.5))
    i = np.arange(1, result.k + 1)
    ax.errorbar(i, result.exponents, yerr=result.per_input.std(axis=0), marker="o", capsize=3,
                label=label or None)  # fmt: skip
    ax.axhline(0.0, color="k", lw=0.8, ls="--")
    ax.set_xlabel("index i")
    ax.set_ylabel("λ_i (nats per stage)")
    ax.set_title("Lyapunov spectrum")
    return fig, ax


def plot_phase_diagram(
    sigma_w: Sequence[float],
    curves: Mapping[str, Sequence[float] | np.ndarray],
    *,
    bands: Mapping[str, tuple[Sequence[float] | np.ndarray, Sequence[float] | np.ndarray]]
    | None = None,
    theory: Sequence[float] | None = None,
    critical: float | None = None,
    ax: Any = None,
    title: str = "",
    ylabel: str = "nats per stage",
) -> tuple[Any, Any]:
    """Measures against the weight scale ``σ_w``, with the mean-field curve and critical point.

    Args:
        sigma_w: the swept weight scales, shape ``(n,)``.
        curves: label -> values, shape ``(n,)`` (e.g. the mean over seeds).
        bands: label -> ``(low, high)``, each shape ``(n,)``: drawn as a shaded band (e.g. the
            95 % interval over seeds).
        theory: the mean-field ``½ ln χ_1``, shape ``(n,)``.
        critical: the mean-field critical ``σ_w`` (a vertical line).
        ax: axes to draw into (a new figure if ``None``).
        title: axes title.
        ylabel: y-axis label.
    """
    fig, ax = axes(ax, (6.0, 4.0))
    for i, (label, values) in enumerate(curves.items()):
        (line,) = ax.plot(sigma_w, values, marker=MARKERS[i % len(MARKERS)], ms=4, label=label)
        if bands and label in bands:
            lo, hi = bands[label]
            ax.fill_between(sigma_w, lo, hi, alpha=0.25, color=line.get_color(), lw=0)
    if theory is not None:
        ax.plot(sigma_w, theory, color="k", lw=1.2, label="mean field ½ ln χ₁")
    if critical is not None:
        ax.axvline(critical, color="k", ls=":", label=f"critical σ_w = {critical:.3f}")
    ax.axhline(0.0, color="grey", lw=0.8)
    ax.set_xlabel("σ_w")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend()
    return fig, ax


def plot_trajectories(
    trajectories: Mapping[str, Sequence[Sequence[Mapping[str, Any]]]],
    *,
    measure: str = "lyapunov",
    critical_value: float = 0.0,
    ax: Any = None,
    title: str | None = None,
) -> tuple[Any, Any]:
    """Mean (line) and 95 % Student-t interval over seeds (band) of a measure during training,
    one line per label (a single seed: the line alone).

    Args:
        trajectories: label -> one trajectory per seed, each a list of records
            ``{"step": s, measure: value, ...}`` measured at the same steps.
        measure: key of the plotted value.
        critical_value: drawn as a dashed line.
        ax: axes to draw into (default: a new figure).
        title: axes title.
    """
    from scipy import stats

    fig, ax = axes(ax, (5.5, 3.6))
    for i, (label, runs) in enumerate(trajectories.items()):
        steps = np.array([r["step"] for r in runs[0]])
        values = np.array([[r[measure] for r in run] for run in runs])  # (seeds, T)
        mean = values.mean(axis=0)
        line = ax.plot(steps, mean, label=label, marker=MARKERS[i % len(MARKERS)], ms=3)[0]
        n = values.shape[0]
        if n > 1:
            half = stats.t.ppf(0.975, n - 1) * values.std(axis=0, ddof=1) / np.sqrt(n)
            ax.fill_between(steps, mean - half, mean + half, alpha=0.2, color=line.get_color(),
                            lw=0)  # fmt: skip
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
        ax.bar(x + i * width, mean, width, yerr=np.nan_to_num(err), label=method, capsize=2,
               hatch=("", "//", "..", "xx", "\\\\", "++")[i % 6], edgecolor="white")  # fmt: skip
    ax.set_xticks(x + width * (len(methods) - 1) / 2, list(metrics))
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1)
    if title:
        ax.set_title(title)
    ax.legend(fontsize="small", ncols=3, loc="upper center", bbox_to_anchor=(0.5, -0.1))
    return fig, ax
