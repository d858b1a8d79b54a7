"""The zoo scan: measure many models, store each result, and set criticality against accuracy.

``run(cfg, out_dir)`` resolves the model names, measures each model × weights pair that the
store (``OUT/scan.sqlite``) does not already hold for the same measurement settings, writes one
row per model as soon as it finishes (``ok`` with the report, or ``failed`` with the reason), then
writes ``OUT/results.json`` and renders ``OUT/report.html`` (statistics in
:mod:`criticality.experiments.zoo.scan_report`). An interrupted scan resumes where it stopped.

Time limit per model: a ``SIGALRM`` timer on the main thread (POSIX) raises inside the
measurement when the limit passes. It stops Python code between torch operations, so a single
very long operation finishes before the limit takes effect; where no alarm is available (not on
the main thread, Windows) the scan runs without a limit and logs so. A worker killed by the
operating system (out of memory) is recorded as failed by the Ray executor; the local executor
runs in-process and cannot survive that, but resumes from the store when restarted.

Executors (:func:`criticality.executor.map_jobs`): ``"local"`` measures one model after another
in this process; ``"ray"`` sends every model to a Ray cluster (``ray.init(address=...)``, or a
local instance) as a task that returns its row; the driver alone writes the store. A failed job
gets the same row, with the same weights label, from either executor.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import signal
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from criticality.executor import EXECUTORS, map_jobs
from criticality.experiments._registry import register_experiment, render
from criticality.experiments.zoo.scan_report import TITLE as TITLE
from criticality.experiments.zoo.scan_report import scan_headline, scan_scorecard
from criticality.experiments.zoo.scan_report import sections as sections
from criticality.store import ResultStore, Row, writer_lock

log = logging.getLogger(__name__)

ZOOS = ("torchvision", "timm", "builtin")
WEIGHTS = ("random", "pretrained")


@dataclasses.dataclass(frozen=True)
class ScanConfig:
    """What a scan measures and how.

    Attributes:
        zoo: ``"torchvision"``, ``"timm"`` or ``"builtin"``.
        patterns: shell patterns selecting model names of the zoo (``"resnet*"``).
        weights: ``"random"`` (initialisation), ``"pretrained"`` or both (pairs for Wilcoxon).
        weights_dir: a folder of ``NAME.pth`` / ``NAME.pt`` / ``NAME.safetensors`` state dicts;
            replaces the ``"pretrained"`` download for the models found there.
        measures: registered measure names (``"all"`` for every one).
        probes: probe source (``"gaussian"``, ``"photos"``, a file or a folder).
        n_probes: probe inputs per model.
        image_size: probe image size in px (``None``: each model's own); models that need a
            fixed size (ViT, Swin, MaxViT) always get their own.
        k: Lyapunov exponents per model.
        ftle_iter: power-iteration steps of the FTLE.
        time_limit: seconds per model (``None``: no limit).
        max_params: models with more parameters are recorded as skipped (``None``: no cap).
        executor: ``"local"`` or ``"ray"``.
        address: Ray cluster address (``None``: start a local instance).
        device: ``"cpu"`` or ``"cuda"``.
        threads: torch threads per model (``None``: torch's default).
        retry_failed: measure models again whose stored row failed.
        init_seed: seed of the random initialisation (the one replicate: every model is
            built from it).
        probe_seed: seed of the probe inputs and the measures' random directions.
    """

    zoo: str = "torchvision"
    patterns: tuple[str, ...] = ("*",)
    weights: tuple[str, ...] = ("random",)
    weights_dir: str | None = None
    measures: tuple[str, ...] = ("lyapunov", "ftle")
    probes: str = "gaussian"
    n_probes: int = 4
    image_size: int | None = 64
    k: int = 2
    ftle_iter: int = 10
    time_limit: float | None = 300.0
    max_params: int | None = None
    executor: str = "local"
    address: str | None = None
    device: str = "cpu"
    threads: int | None = None
    retry_failed: bool = False
    init_seed: int = 0
    probe_seed: int = 0

    @classmethod
    def tiny(cls) -> ScanConfig:
        """Five small torchvision models at 32 px: seconds, for tests."""
        names = ("resnet18", "squeezenet1_1", "mobilenet_v3_small", "shufflenet_v2_x0_5",
                 "mnasnet0_5")  # fmt: skip
        return cls(patterns=names, n_probes=2, image_size=32, k=2, ftle_iter=3, time_limit=60.0)

    @classmethod
    def demo(cls) -> ScanConfig:
        """Eight torchvision families at 32 px (a few minutes)."""
        names = ("alexnet", "vgg11", "resnet18", "squeezenet1_1", "densenet121",
                 "mobilenet_v3_small", "shufflenet_v2_x0_5", "efficientnet_b0")  # fmt: skip
        return cls(patterns=names, image_size=32)

    def settings(self) -> dict[str, Any]:
        """The measurement settings that key the store's rows (not where or how they run)."""
        keys = ("measures", "probes", "n_probes", "image_size", "k", "ftle_iter")
        return {**{k: getattr(self, k) for k in keys}, **seed_settings(self)}

    def check(self) -> None:
        """Refuse settings that cannot work, saying what to do."""
        if self.zoo not in ZOOS:
            raise ValueError(f"unknown zoo {self.zoo!r}; choose one of {', '.join(ZOOS)}")
        if self.executor not in EXECUTORS:
            raise ValueError(f"unknown executor {self.executor!r}; choose local or ray")
        if not self.weights or set(self.weights) - set(WEIGHTS):
            raise ValueError(f"weights must be some of {WEIGHTS}, got {self.weights}")
        if self.n_probes < 1 or self.k < 1:
            raise ValueError("n_probes and k must be at least 1")


def seed_settings(cfg: Any) -> dict[str, int]:
    """The seeds in a store's or a unit's key: ``{"seed": S}`` while ``cfg.init_seed`` and
    ``cfg.probe_seed`` are equal (one ``seed`` set both before they were two fields, so the
    stores and unit files of earlier runs stay finished), else both by name."""
    if cfg.init_seed == cfg.probe_seed:
        return {"seed": cfg.probe_seed}
    return {"init_seed": cfg.init_seed, "probe_seed": cfg.probe_seed}


def seeded(cfg: Any) -> dict[str, int]:
    """``results.json``'s ``seed``: what each of ``cfg``'s two seeds set (the report footer)."""
    return {"init_seed": cfg.init_seed, "probe_seed": cfg.probe_seed}


@dataclasses.dataclass(frozen=True)
class Job:
    """One model × weights to measure; everything a worker needs (picklable).

    Attributes:
        store_key: the store's key of the measurement settings (:meth:`ScanConfig.settings`).
    """

    model: str
    weights: str
    weights_file: str | None
    config: ScanConfig
    store_key: str

    @property
    def key(self) -> str:
        """The job's name in the progress lines: ``MODEL WEIGHTS``."""
        return f"{self.model} {self.label}"

    @property
    def label(self) -> str:
        """The weights label of the job's row: ``random``, ``pretrained`` or ``file:NAME``."""
        if self.weights_file is None:
            return self.weights
        return f"file:{Path(self.weights_file).name}"


class ModelTimeout(BaseException):
    """Raised inside a measurement when its time limit passes (``BaseException``, so that no
    ``except Exception`` in model code swallows it)."""


def resolve_models(cfg: ScanConfig) -> list[str]:
    """Model names of ``cfg.zoo`` matching any of ``cfg.patterns``, in zoo order."""
    from criticality.zoo import list_models

    names = list_models(source=cfg.zoo)
    chosen = [n for n in names if any(_match(n, p) for p in cfg.patterns)]
    if not chosen:
        raise ValueError(
            f"no {cfg.zoo} model matches {list(cfg.patterns)}; `criticality list models` lists them"
        )
    return chosen


def _match(name: str, pattern: str) -> bool:
    import fnmatch

    return fnmatch.fnmatch(name, pattern) or fnmatch.fnmatch(name.removeprefix("timm/"), pattern)


@register_experiment(
    "scan",
    title=TITLE,
    config=ScanConfig,
    sections=sections,
    summary="a zoo of models (torchvision, timm) against accuracy and year (claim 1; "
    "criticality scan)",
    scorecard=scan_scorecard,
    headline=scan_headline,
)
def run(cfg: ScanConfig, out_dir: str | Path) -> Path:
    """Run (or resume) the scan and write ``OUT/scan.sqlite``, ``results.json``, ``report.html``.

    Returns:
        The path of ``report.html``.
    """
    from criticality.experiments.zoo.results import ScanResults
    from criticality.reporting import write_results

    data = ScanResults.from_dict(scan(cfg, Path(out_dir) / "scan.sqlite")).to_dict()
    write_results(
        out_dir, "scan", dataclasses.asdict(cfg), data, seed=seeded(cfg), device=cfg.device
    )
    return render(out_dir)


def scan(cfg: ScanConfig, store_path: str | Path, *, desc: str = "scan") -> dict[str, Any]:
    """Measure what the store lacks, row by row, and return all rows (see :func:`collect`);
    ``desc`` names the work in the progress."""
    from criticality.reporting import fresh_requested

    cfg.check()
    names = resolve_models(cfg)
    with writer_lock(store_path), ResultStore(store_path) as store:
        key = store.add_config(cfg.settings())
        done = store.done(key, include_failed=not cfg.retry_failed)
        if fresh_requested():  # --fresh: measure every model again, replacing its row
            done = set()
        every = make_jobs(cfg, names, key)
        jobs = [job for job in every if (job.model, job.label) not in done]
        log.info("scan: %d models x %d weights, %d to measure", len(names), len(cfg.weights),
                 len(jobs))  # fmt: skip
        # the progress (a bar, or a line per model in a log) counts the finished ones too
        for row in execute(jobs, cfg, done=len(every) - len(jobs), desc=desc):
            store.put(row)
            log.info("%s (%s): %s in %.1f s %s", row.model, row.weights, row.status, row.seconds,
                     row.reason)  # fmt: skip
        return collect(store, key, names, cfg.weights)


def make_jobs(cfg: ScanConfig, names: Iterable[str], key: str) -> list[Job]:
    """One job per model × weights; a weights folder replaces downloads where it has a file."""
    jobs = []
    for name in names:
        for weights in cfg.weights:
            file = _weights_file(cfg.weights_dir, name) if weights == "pretrained" else None
            jobs.append(Job(name, weights, file, cfg, key))
    return jobs


def _weights_file(folder: str | None, name: str) -> str | None:
    if folder is None:
        return None
    bare = name.removeprefix("timm/")
    for suffix in (".pth", ".pt", ".safetensors"):
        path = Path(folder) / f"{bare}{suffix}"
        if path.is_file():
            return str(path)
    return None


def execute(
    jobs: list[Job], cfg: ScanConfig, *, done: int = 0, desc: str = "scan"
) -> Iterator[Row]:
    """Rows of ``jobs`` as they finish, from the configured executor; each counts one model
    of the progress, after ``done`` models finished before."""
    gpus = 1 if cfg.device.startswith("cuda") else 0
    results = map_jobs(run_job, jobs, executor=cfg.executor, address=cfg.address, gpus=gpus,
                       on_error=failed_row, desc=desc, done=done, unit="model")  # fmt: skip
    return (row for _, row in results)


def failed_row(job: Job, err: BaseException) -> Row:
    """The row of a job whose worker failed outside the measurement (a Ray task that died)."""
    reason = f"{type(err).__name__}: {_first_line(err)}"
    return Row(job.model, job.label, job.store_key, "failed", reason, "{}", 0.0)


def run_job(job: Job) -> Row:
    """Measure one model; every failure becomes a ``failed`` row with its reason."""
    import torch

    start = time.perf_counter()
    threads = torch.get_num_threads()
    if job.config.threads is not None:
        torch.set_num_threads(job.config.threads)
    try:
        with time_limit(job.config.time_limit):
            report = measure_model(job)
        status, reason, text = "ok", "", report
    except ModelTimeout:
        status, reason, text = "failed", f"timeout: over {job.config.time_limit:g} s", "{}"
    except (torch.cuda.OutOfMemoryError, MemoryError) as err:
        status, reason, text = "failed", f"out of memory: {_first_line(err)}", "{}"
        if torch.cuda.is_available():
            torch.cuda.empty_cache()  # give the next model the memory back
    except _Skip as err:
        status, reason, text = "failed", f"skipped: {err}", "{}"
    except Exception as err:  # any model error is recorded and the scan goes on
        status, reason, text = "failed", f"{type(err).__name__}: {_first_line(err)}", "{}"
    finally:
        torch.set_num_threads(threads)
    seconds = time.perf_counter() - start
    return Row(job.model, job.label, job.store_key, status, reason, text, seconds)  # type: ignore[arg-type]


class _Skip(Exception):
    """A model the configuration excludes (e.g. more parameters than ``max_params``)."""


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0][:300] if text else ""


@contextlib.contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Raise :class:`ModelTimeout` in the block after ``seconds`` (main thread, POSIX only)."""
    usable = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if seconds is None or not usable:
        if seconds is not None:
            log.warning("no time limit here (not the main thread or no SIGALRM)")
        yield
        return

    def _raise(signum: int, frame: Any) -> None:
        raise ModelTimeout

    previous = signal.signal(signal.SIGALRM, _raise)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def measure_model(job: Job) -> str:
    """Build (random init seeded by ``cfg.init_seed``), probe (``cfg.probe_seed``) and measure
    one model; its report's JSON."""
    import torch

    from criticality.data import make_probes
    from criticality.experiments._bodies import measure_or_body
    from criticality.zoo import create_model, model_info

    cfg = job.config
    _check_size(job)
    info = model_info(job.model)
    with torch.random.fork_rng():  # random-init weights depend on the seed only
        torch.manual_seed(cfg.init_seed)
        model = create_model(
            job.model, pretrained=job.weights == "pretrained", weights=job.weights_file
        )
    if cfg.max_params is not None and sum(p.numel() for p in model.parameters()) > cfg.max_params:
        raise _Skip(f"more than {cfg.max_params:,} parameters")
    shape = probe_shape(job.model, info.input_shape, cfg.image_size)
    x = make_probes(cfg.probes, job.model, shape, n=cfg.n_probes, seed=cfg.probe_seed)
    model = model.to(cfg.device)
    names = list(cfg.measures) if cfg.measures != ("all",) else "all"
    options: dict[str, Any] = {"lyapunov": {"k": cfg.k}, "ftle": {"n_iter": cfg.ftle_iter}}
    if names != "all":
        options = {k: v for k, v in options.items() if k in names}
    report = measure_or_body(model, x.to(cfg.device), measures=names, seed=cfg.probe_seed,
                             name=job.model, **options)  # fmt: skip
    return report.to_json()


def _check_size(job: Job) -> None:
    """Skip a torchvision model over ``max_params`` before building it (metadata is free)."""
    cap = job.config.max_params
    if cap is None or job.config.zoo != "torchvision":
        return
    from criticality.zoo.metadata import model_metadata

    params = model_metadata(job.model).params
    if params is not None and params > cap:
        raise _Skip(f"{params / 1e6:.0f} M parameters > the cap of {cap / 1e6:.0f} M")


def probe_shape(name: str, shape: tuple[int, ...], image_size: int | None) -> tuple[int, ...]:
    """The probe input shape: ``image_size`` for image models that accept it (raised to the
    model's minimum size), else the model's own."""
    if image_size is None or len(shape) != 3:
        return shape
    smallest, fixed = _size_bounds(name)
    if fixed:
        return shape
    size = max(image_size, smallest)
    return (shape[0], size, size)


def _size_bounds(name: str) -> tuple[int, bool]:
    """``(smallest input size, whether only the model's own size works)``."""
    from criticality.zoo import model_info

    info = model_info(name)
    if info.source == "torchvision":
        import torchvision

        smallest = int(torchvision.models.get_model_weights(name).DEFAULT.meta["min_size"][0])
        return smallest, smallest >= info.input_shape[-1]
    if info.source == "timm":
        import timm

        bare = name.removeprefix("timm/")
        cfg = timm.models.get_pretrained_cfg(bare)
        minimum = getattr(cfg, "min_input_size", None)
        fixed = bool(getattr(cfg, "fixed_input_size", False)) or bare.startswith(_FIXED_TIMM)
        return (int(minimum[-1]) if minimum else 1), fixed
    return 1, False


# timm families whose position embeddings or windows tie them to their own input size.
_FIXED_TIMM = ("vit", "swin", "maxvit", "deit", "beit", "eva", "cait", "coat", "xcit")


def collect(
    store: ResultStore, key: str, names: list[str], weights: Iterable[str]
) -> dict[str, Any]:
    """The scan's rows for ``results.json``: each with its report and zoo metadata."""
    from criticality.zoo.metadata import model_metadata

    wanted = set(names)
    rows = []
    for row in store.rows(key):
        if row.model not in wanted:
            continue
        try:
            meta = dataclasses.asdict(model_metadata(row.model))
        except ValueError:
            meta = {"name": row.model, "family": row.model, "year": 0}
        rows.append({"model": row.model, "weights": row.weights, "status": row.status,
                     "reason": row.reason, "seconds": row.seconds,
                     "report": row.report_dict() or None, "meta": meta})  # fmt: skip
    return {"config_hash": key, "settings": store.config(key), "rows": rows,
            "weights": list(weights)}  # fmt: skip
