"""The demonstration behind ``make demo``: every registered experiment's demo preset, in order.

The parts are the experiments registered with a ``demo_rank`` (``criticality experiment list``):
today the phase diagram of random MLPs, torchvision architectures at random initialisation, the
zoo analysis offline and training toward criticality. Each part runs into ``OUT/<name>/`` and
resumes there on its own (finished units of work are kept while its config is unchanged). The
demo's report puts every part's sections together.

Beside the bounded live parts, the report shows the **committed studies**: every folder of the
repository's ``results/`` (DESIGN §9) that holds a ``results.json``, read and judged from its data
by its experiment's own scorecard, labelled as committed, with the command that reproduces it
(from the folder's ``study.json``: ``{"command": ..., "status": ...}``).
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

from criticality._files import DamagedFileError, read_json
from criticality.experiments._registry import (
    PRESETS,
    demo_parts,
    get_experiment,
    list_experiments,
    register_experiment,
    render,
)
from criticality.progress import log_lines, progress
from criticality.reporting import Section, load_results, write_results
from criticality.reporting.html import Figure, FigureRow, Table, condense
from criticality.reporting.scorecard import ScoreRow, gather
from criticality.seeding import PROBE_SEED

log = logging.getLogger(__name__)

TITLE = "criticality demo: order, chaos and the critical point in deep networks"


@dataclasses.dataclass(frozen=True)
class DemoConfig:
    """What the demo runs.

    Attributes:
        parts: experiments to run (``()``: every one registered with a ``demo_rank``).
        preset: the preset each part runs (``"demo"``; ``"tiny"`` for tests).
        probe_seed: the ``probe_seed`` of every part that has one (probe inputs, data subsets,
            the measures' random directions); each part's replicates are its own ``seeds``.
        committed: the folder of committed studies shown beside the live parts (relative to
            the working folder, as ``make demo`` runs in the repository; ``None``: none).
        workers: parts run side by side, each in its own process on one CPU thread (``1``:
            one after the other in this process, with torch's own threads). Two on a 2-core
            machine finish the demo in about half the time of one.
    """

    parts: tuple[str, ...] = ()
    preset: str = "demo"
    probe_seed: int = 0
    committed: str | None = "results"
    workers: int = 2

    @classmethod
    def tiny(cls) -> DemoConfig:
        """Every part at its tiny preset, one after the other, no committed studies: seconds,
        for tests."""
        return cls(preset="tiny", committed=None, workers=1)

    @classmethod
    def demo(cls) -> DemoConfig:
        """Every part at its demo preset (the defaults)."""
        return cls()


def part_configs(cfg: DemoConfig) -> dict[str, Any]:
    """Each part's config: its preset, with the demo's ``probe_seed`` where the part has one
    (a part whose config still calls it ``seed`` gets it there)."""
    if cfg.preset not in PRESETS:
        raise ValueError(f"preset must be one of {PRESETS}, got {cfg.preset!r}")
    configs = {}
    for name in cfg.parts or demo_parts():
        if name == "demo":
            raise ValueError("the demo cannot contain itself")
        part = get_experiment(name).preset(cfg.preset)
        field = _probe_field(part)
        if field is not None:
            part = dataclasses.replace(part, **{field: cfg.probe_seed})
        configs[name] = part
    return configs


def _probe_field(part: Any) -> str | None:
    """The field of ``part``'s config that seeds its probes: ``probe_seed`` (or an older
    ``seed``); ``None``: it has none."""
    names = {f.name for f in dataclasses.fields(part)}
    return next((n for n in (PROBE_SEED, "seed") if n in names), None)


def seeded(cfg: DemoConfig, configs: dict[str, Any]) -> dict[str, Any]:
    """What the demo's seed set, and each part's replicates: the report footer's words."""
    probed = {n: _probe_field(c) for n, c in configs.items()}
    out: dict[str, Any] = {PROBE_SEED: cfg.probe_seed}
    out["set in"] = [n + ("" if f == PROBE_SEED else f" (as {f})") for n, f in probed.items() if f]
    for name, part in configs.items():
        if hasattr(part, "seeds"):
            out[f"{name} seeds"] = list(part.seeds)
    return out


def sections(data: dict[str, Any], out_dir: Path) -> list[Section]:
    """Every part's sections, in order, from ``results.json`` alone; each part shows its
    headline section and folds the others under their leads (each part's own report, in
    ``OUT/<part>/report.html``, shows them all open). Then one section per committed study."""
    out: list[Section] = []
    for name, part in data["parts"].items():
        out += condense(get_experiment(name).sections(part, Path(out_dir) / name))
    studies = data.get("committed")
    if studies is not None:
        out += committed_sections(studies, Path(out_dir) / "committed")
    return out


def scorecard(data: dict[str, Any]) -> list[ScoreRow]:
    """Every part's rows: each of the paper's claims M1–M5 in order (not testable here, with
    the reason, where no part tests it), then our own checks. A committed study's rows stand
    beside the live parts' rows of the same claim, labelled with the study's folder."""
    rows = []
    for name, part in data["parts"].items():
        spec = get_experiment(name)
        rows += spec.scorecard(part) if spec.scorecard else []
    for study in data.get("committed") or []:
        rows += [_committed_row(study, row) for row in study["rows"]]
    return gather(rows, data["parts"], list_experiments())


# --- the committed studies (results/) -------------------------------------------------------

#: A committed study's own description, beside its ``results.json``.
STUDY_FILE = "study.json"


def committed_studies(folder: str | Path) -> list[dict[str, Any]]:
    """Every committed study in ``folder`` (one sub-folder with a ``results.json`` each),
    judged from its data by its experiment's own scorecard.

    Each entry: ``folder``, ``experiment``, ``created``, ``command`` and ``status`` (from the
    study's ``study.json``; ``None`` where it has none), ``rows`` (its scorecard rows as dicts)
    and ``error`` (why it could not be read; the study is then listed, not judged). A folder
    that does not exist gives ``[]``.
    """
    root = Path(folder)
    if not root.is_dir():
        return []
    out = []
    for sub in sorted(p for p in root.iterdir() if (p / "results.json").is_file()):
        study: dict[str, Any] = dict.fromkeys(("experiment", "created", "command", "status"))
        study.update(folder=sub.as_posix(), rows=[], error=None)
        try:
            about = read_json(sub / STUDY_FILE) if (sub / STUDY_FILE).is_file() else {}
            study.update({k: about.get(k) for k in ("command", "status")})
            results = load_results(sub)
            spec = get_experiment(results["kind"])
            study.update(experiment=spec.name, created=results.get("created"))
            rows = spec.scorecard(results["data"]) if spec.scorecard else []
            study["rows"] = [_row_dict(r) for r in rows]
        except (DamagedFileError, ValueError, KeyError, TypeError) as err:
            log.warning("committed study %s not judged: %s", sub, err)
            study["error"] = str(err)
        out.append(study)
    return out


def _row_dict(row: ScoreRow) -> dict[str, Any]:
    """A row as plain JSON (its verdict as the plain word; its reason is already in ``why``)."""
    return {**dataclasses.asdict(row), "verdict": str(row.verdict)}


def _study_key(study: dict[str, Any]) -> str:
    return "committed-" + Path(study["folder"]).name


def _committed_row(study: dict[str, Any], row: dict[str, Any]) -> ScoreRow:
    """A committed study's row for the demo's scorecard: the statement says it is committed,
    the figure starts with the study's folder; the label links to the study's section, which
    says how far it ran and how to reproduce it."""
    return dataclasses.replace(
        ScoreRow(**row),
        statement=f"{row['statement']} (committed study)",
        figure=f"{study['folder']}: {row['figure']}",
        section=_study_key(study),
    )


def committed_sections(studies: list[dict[str, Any]], fig_dir: Path) -> list[Section]:
    """One section per committed study: what it is, how to reproduce it, its verdicts and its
    headline figure, drawn again from its data into ``fig_dir``."""
    if not studies:
        return [
            Section(
                "Committed studies",
                ["No committed study was found (the repository's results/ folder is read from "
                 "the folder the demo runs in; run make demo in the repository)."],
            )
        ]  # fmt: skip
    out = []
    for study in studies:
        name = Path(study["folder"]).name
        lead = f"Read from the committed data in {study['folder']}, not run by this demo"
        if study.get("status"):
            lead += f"; {study['status']}"
        items: list[Any] = []
        if study.get("created"):
            items.append(f"Data written {study['created']} ({study['experiment']}).")
        if study.get("command"):
            items.append(f"Reproduce (resumes from a copy of the folder): {study['command']}")
        items.append(f"Its whole report, offline: criticality report {study['folder']}")
        if study.get("error"):
            items.append(f"Not judged: {study['error']}")
        elif study["rows"]:
            table = [{"claim": r["claim"] or "check", "statement": r["statement"],
                      "figure": r["figure"], "verdict": r["verdict"], "why": r["why"]}
                     for r in study["rows"]]  # fmt: skip
            items.append(Table(table, caption="Its verdicts, by its experiment's own rules"))
            items += _headline_figure(study, fig_dir / name)
        out.append(Section(f"Committed study: {study['folder']}", items, key=_study_key(study),
                           lead=lead))  # fmt: skip
    return out


def _headline_figure(study: dict[str, Any], fig_dir: Path) -> list[Any]:
    """The first figure of the study's own report, drawn from its data (none when it has
    none, or drawing fails: the verdicts above stand without it)."""
    try:
        spec = get_experiment(study["experiment"])
        data = load_results(study["folder"])["data"]
        for section in spec.sections(data, fig_dir):
            for item in section.items:
                if isinstance(item, (Figure, FigureRow)):
                    return [item]
    except (OSError, ValueError, KeyError, TypeError) as err:
        log.warning("committed study %s: no figure (%s)", study["folder"], err)
    return []


@register_experiment(
    "demo",
    title=TITLE,
    config=DemoConfig,
    sections=sections,
    summary="make demo: every experiment's demo preset (phase, architectures, zoo, training, ...)",
    scorecard=scorecard,
)
def run(cfg: DemoConfig, out_dir: str | Path) -> Path:
    """Run (or resume) every part and write ``OUT/report.html``."""
    if cfg.workers < 1:
        raise ValueError(f"workers must be at least 1, got {cfg.workers}")
    out = Path(out_dir)
    configs = part_configs(cfg)
    side_by_side = cfg.workers > 1 and len(configs) > 1
    # several processes that share a terminal write lines, not bars
    with log_lines(side_by_side), progress(len(configs), "demo", unit="part") as bar:
        if not side_by_side:
            for name in configs:
                bar.begin(name)
                get_experiment(name).run(configs[name], out / name)  # resumes its finished units
                bar.update(label=name)
        else:
            _side_by_side(configs, out, cfg.workers, bar)
    data: dict[str, Any] = {"parts": {n: load_results(out / n)["data"] for n in configs}}
    if cfg.committed is not None:
        data["committed"] = committed_studies(cfg.committed)
    config = {"demo": dataclasses.asdict(cfg),
              "parts": {n: dataclasses.asdict(c) for n, c in configs.items()}}  # fmt: skip
    write_results(out, "demo", config, data, seed=seeded(cfg, configs))
    return render(out)


def _side_by_side(configs: dict[str, Any], out: Path, workers: int, bar: Any) -> None:
    """Run the parts in ``workers`` processes (spawned: no state shared with this one), each
    on one CPU thread, writing one log line per finished unit (bars of several processes on
    one terminal would overwrite each other). Every part runs to its end; the first failure
    is raised after the others finished (their units are kept for the next run)."""
    import concurrent.futures as cf
    import multiprocessing

    root, prog = logging.getLogger(), logging.getLogger("criticality.progress")
    handler = next(iter(root.handlers), None)
    fmt = handler.formatter if handler is not None else None
    setup = (
        root.level,
        prog.level,
        getattr(fmt, "_fmt", None) if handler is not None else None,
        getattr(fmt, "datefmt", None),
    )
    context = multiprocessing.get_context("spawn")
    failure: BaseException | None = None
    with cf.ProcessPoolExecutor(workers, mp_context=context, initializer=_worker_setup,
                                initargs=setup) as pool:  # fmt: skip
        futures = {}
        for name in configs:
            log.info("demo: part %s starts", name)
            futures[pool.submit(_run_part, name, configs[name], out / name)] = name
        for future in cf.as_completed(futures):
            name = futures[future]
            try:
                future.result()
            except Exception as err:  # raised below, once the other parts finished
                log.error("demo: part %s failed: %s", name, err)
                failure = failure or err
                continue
            bar.update(label=name)
    if failure is not None:
        raise failure


def _worker_setup(level: int, progress_level: int, fmt: str | None, datefmt: str | None) -> None:
    """A part's process: one CPU thread, log lines as the parent writes them."""
    import torch

    torch.set_num_threads(1)
    log_lines().__enter__()  # for the life of this process
    if fmt is not None:  # the parent logs (the command line does): so does this process
        logging.basicConfig(level=level, format=fmt, datefmt=datefmt)
    logging.getLogger("criticality.progress").setLevel(progress_level)


def _run_part(name: str, config: Any, out: Path) -> None:
    """Run (or resume) one part (in a worker process)."""
    get_experiment(name).run(config, out)
