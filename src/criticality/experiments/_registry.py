"""The experiment registry: each ``experiments/<name>/`` registers itself with one decorator.

The command line (``criticality experiment NAME``, ``criticality experiment list``),
``criticality report OUT`` and the demo read this registry; nothing lists experiments by hand.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import pkgutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from criticality._registry import Registry
from criticality.experiments._results import IncompleteResultsError, SchemaError
from criticality.reporting import (
    Section,
    atomic_write,
    fresh_requested,
    load_results,
    owned_folder,
    render_html,
    seed_text,
)
from criticality.reporting.scorecard import ScoreRow

#: ``run(cfg, out_dir) -> path of report.html``.
Runner = Callable[[Any, str | Path], Path]
#: ``sections(data, out_dir) -> report sections``, from ``results.json``'s ``data`` alone.
Renderer = Callable[[dict[str, Any], Path], list[Section]]
#: ``scorecard(data) -> rows`` on top of the report (:mod:`criticality.reporting.scorecard`).
Scorer = Callable[[dict[str, Any]], list[ScoreRow]]
#: ``headline(data) -> {name: (value, tolerance)}``: the numbers of a run that a silent drift
#: would change, each with the absolute tolerance it may move by (:mod:`._golden`).
Headliner = Callable[[dict[str, Any]], dict[str, tuple[float, float]]]

PRESETS = ("tiny", "demo", "full")
F = TypeVar("F", bound=Callable[..., Path])


@dataclasses.dataclass(frozen=True)
class ExperimentSpec:
    """What the registry knows about one experiment.

    Attributes:
        name: registry key and the ``kind`` of its ``results.json``, e.g. ``"training"``.
        title: the report's title.
        config: the config dataclass; ``tiny()`` and ``demo()`` are presets, ``config()`` is
            the full one.
        run: ``run(cfg, out_dir) -> report path``; resumable.
        sections: renders the report from ``results.json`` alone.
        summary: one line for ``criticality experiment list``.
        demo_rank: position in ``make demo`` (``None``: not part of the demo).
        scorecard: ``scorecard(data) -> rows``: the questions the run answers, on top of its
            report and of the demo's (rows with ``claim="M1"`` … test the paper's claims).
        headline: ``headline(data) -> {name: (value, tolerance)}``: the headline numbers
            that ``tests/golden/NAME.json`` pins for the tiny preset (``None``: none yet).
    """

    name: str
    title: str
    config: type
    run: Runner
    sections: Renderer
    summary: str
    demo_rank: float | None = None
    scorecard: Scorer | None = None
    headline: Headliner | None = None

    def preset(self, name: str) -> Any:
        """The config of preset ``"tiny"``, ``"demo"`` or ``"full"`` (the defaults)."""
        if name == "full":
            return self.config()
        if name in PRESETS:
            return getattr(self.config, name)()
        named = getattr(self.config, "named_presets", None)  # a config's own named presets
        extra = named() if callable(named) else {}
        if name in extra:
            return extra[name]()
        known = ", ".join((*PRESETS, *extra))
        raise ValueError(f"unknown preset {name!r} for {self.name}; use one of {known}")


_REGISTRY = Registry[ExperimentSpec]("experiment")


def register_experiment(
    name: str,
    *,
    title: str,
    config: type,
    sections: Renderer,
    summary: str,
    demo_rank: float | None = None,
    scorecard: Scorer | None = None,
    headline: Headliner | None = None,
) -> Callable[[F], F]:
    """Register the decorated ``run(cfg, out_dir)`` under ``name``; adding an experiment is this
    one decorator in one new package (or file) under ``experiments/``."""
    for preset in ("tiny", "demo"):
        if not callable(getattr(config, preset, None)):
            raise TypeError(f"experiment {name!r}: its config needs a classmethod {preset}()")

    def wrap(run: F) -> F:
        spec = ExperimentSpec(
            name, title, config, _owning(name, run), sections, summary, demo_rank, scorecard,
            headline,
        )  # fmt: skip
        _REGISTRY.add(name, spec)
        return run

    return wrap


def _owning(name: str, run: Runner) -> Runner:
    """``run`` inside :func:`~criticality.reporting.owned_folder`: the output folder is claimed
    (and its lock held) before any work, so a folder holding a user's files or another
    experiment's run is refused at once, not after the run has computed everything."""

    @functools.wraps(run)
    def owned_run(cfg: Any, out_dir: str | Path) -> Path:
        plain = dataclasses.is_dataclass(cfg) and not isinstance(cfg, type)
        config = dataclasses.asdict(cfg) if plain else {}
        with owned_folder(out_dir, name, config, fresh=fresh_requested()):
            return run(cfg, out_dir)

    return owned_run


def _discover() -> None:
    """Import every public module of :mod:`criticality.experiments` (each registers itself)."""
    package = importlib.import_module("criticality.experiments")
    for info in pkgutil.iter_modules(package.__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"criticality.experiments.{info.name}")


def get_experiment(name: str) -> ExperimentSpec:
    """The experiment registered under ``name``; a ``ValueError`` lists the known ones."""
    _discover()
    return _REGISTRY.get(name)


def list_experiments() -> list[str]:
    """Names of all registered experiments, sorted."""
    _discover()
    return _REGISTRY.names()


def demo_parts() -> list[str]:
    """The experiments of ``make demo``, in the order of their ``demo_rank``."""
    _discover()
    ranked = [s for s in _REGISTRY.values() if s.demo_rank is not None]
    return [s.name for s in sorted(ranked, key=lambda s: (s.demo_rank, s.name))]


def render(out_dir: str | Path) -> Path:
    """Draw the figures and write ``OUT/report.html`` from ``OUT/results.json`` alone."""
    out = Path(out_dir)
    results = load_results(out)
    spec = get_experiment(results["kind"])
    try:
        sections = spec.sections(results["data"], out)
        rows = spec.scorecard(results["data"]) if spec.scorecard else []
    except IncompleteResultsError as err:  # a file cut or edited by hand
        raise IncompleteResultsError(f"{out / 'results.json'} is incomplete: {err}") from None
    except SchemaError as err:  # another schema or version: say which file
        raise SchemaError(f"{out / 'results.json'}: {err}") from None
    except (KeyError, IndexError, TypeError) as err:  # a file edited or cut by hand
        raise ValueError(
            f"{out / 'results.json'} is incomplete: its data lack {type(err).__name__} "
            f"{err}; re-run the experiment into {out} to write it again"
        ) from None
    versions = ", ".join(f"{k} {v}" for k, v in dict(results.get("versions", {})).items())
    footer = (
        f"Seeded: {seed_text(results['seed'])}. Device {results.get('device', '?')}, {versions}; "
        f"created {results.get('created', '?')}. Re-render with `criticality report {out}`."
    )
    page = render_html(
        spec.title, sections, footer=footer, scorecard=rows, intro=_INTRO if rows else ""
    )
    return atomic_write(out / "report.html", page)


_INTRO = (
    "What this run found: each row is a claim or a check, the measured figure with its 95 % "
    "interval, and the verdict by the rule beside it; each label links to the section with the "
    "details (long tables folded)."
)
