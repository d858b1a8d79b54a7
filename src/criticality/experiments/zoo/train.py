"""The trained zoo: real architectures trained here, measured along training (claim 1, offline).

Every architecture of :data:`criticality.zoo.SMALL_NETS` (torchvision builders adapted to
1-channel 32 px images and 10 classes, stem and head only) is trained with **one recipe**
(:class:`ZooTrainConfig`: the same budget of examples, Adam, cosine schedule, random-shift
augmentation) on Fashion-MNIST (and MNIST), with several seeds. At a few points along training
(``points``, fractions of the budget; 0 is the initialisation) the network's body, every stage
from the adapted stem to the last feature map (the 10-way head is not measured: ViT's builder
zero-initialises it), is measured with the scan's settings (``λ_1`` and its per-stage profile,
FTLE, branching ratio ``σ``) on real test images, and ``λ_1`` again on Gaussian and on
augmented probes (the instrument check); test accuracy is recorded at each point.

Storage and resumption: one job per network × dataset × seed. A job checkpoints its training
(``criticality.training.fit``) and writes each measured point as a file in its work folder, so a
killed job resumes at its last checkpoint and re-measures nothing. The driver writes one row per
point into the scan's store (``OUT/zoo_train.sqlite``, :class:`criticality.store.ResultStore`):
``model`` is the network, ``weights`` is ``DATASET/seedS/stepN``, the report's ``metadata``
carries the training metadata (``zoo_train``). Jobs fan out with
:func:`criticality.executor.map_jobs` (``executor="ray"`` for a cluster; the work folder must then
be shared).

The statistics (:mod:`criticality.experiments.zoo.train_report`) read the stored rows only.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import math
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from criticality._files import DamagedFileError, read_json, set_aside
from criticality.executor import EXECUTORS, map_jobs
from criticality.experiments._registry import register_experiment, render
from criticality.experiments._units import cached_unit
from criticality.experiments.zoo.results import TrainPoint, ZooTrainResults
from criticality.experiments.zoo.train_report import (
    TITLE,
    headline,
    scorecard,
    sections,
    weight_layers,
)
from criticality.store import ResultStore, Row
from criticality.training.callbacks import Callback

log = logging.getLogger(__name__)

DATASETS = ("fashion_mnist", "mnist")
STEMS = ("imagenet", "stride1")
STARTS = ("default", "critical")
#: Homeostatic updates between two re-estimations of BatchNorm statistics (critical start).
ORGANISE_CHUNK = 20


def mix(seed: int, chunk: int) -> int:
    """The seed of one chunk of the critical start's updates.

    Not :func:`criticality.seeding.mix_seed`: the committed study (``results/zoo-train``) was
    trained with this rule and :class:`Batches`'s, and another rule would draw other updates
    and batches, so its rows would no longer be reproduced. (The two rules give chunk ``c``
    and global step ``c`` of one seed the same generator seed.)"""
    return 1_000_003 * (seed + 1) + chunk


STORE = "zoo_train.sqlite"


@dataclasses.dataclass(frozen=True)
class ZooTrainConfig:
    """The trained zoo: which networks, the one training recipe, and the measurement settings.

    The defaults are the full study's recipe, chosen on a pilot of a few networks
    (``benchmarks/zoo_train_pilot.py``; docs/scan.md, "The trained zoo's recipe"), never on its
    statistics: 32,768 examples (1,024 Adam steps of 32), peak rate 1e-3 with a 5 % linear
    warm-up and cosine decay, shifts of up to 2 px, the builders' own strides, BatchNorm
    statistics re-estimated before each measured point, two seeds, and both starts (the
    default initialisation and the self-organised critical one), accuracy on 2,000 test images.

    Attributes:
        nets: architectures (names of :data:`criticality.zoo.SMALL_NETS`); ``()``: all with at
            most ``max_params`` parameters.
        max_params: the parameter cap when ``nets`` is empty (VGG and AlexNet keep torchvision's
            4096-wide classifiers, 57-129 M parameters: GPU only).
        datasets: ``"fashion_mnist"`` and/or ``"mnist"``.
        seeds: the replicates: one training run per seed (initialisation, batch order,
            augmentation).
        examples: the training budget in examples seen (the same for every network).
        batch_size: examples per step.
        lr: Adam's peak learning rate; cosine decay to 0 over the budget, no warm-up.
        shift: augmentation: random translation by up to ``shift`` px (zero fill).
        points: fractions of the budget at which the network is measured (0: at
            initialisation; 1: the end).
        measures: measures of each point (the scan's names).
        n_probes: probe images per measurement (the scan's default).
        k: Lyapunov exponents (the scan's default).
        ftle_iter: power-iteration steps of the FTLE (the scan's default).
        probe_seed: seed of the Gaussian and augmented probe sets and of the measures' random
            directions, the same for every network and replicate.
        n_test: test images for the accuracy at each point.
        stem: how the networks meet 32 px inputs: ``"imagenet"`` keeps the builders' 224-px
            strides, ``"stride1"`` sets the stem convolution to stride 1 and drops the pool
            after it (:func:`criticality.zoo.stride1_stem`).
        warmup: fraction of the budget with a linear warm-up of the learning rate (0: none).
        starts: the initialisations trained, each paired with the others by network and seed:
            ``"default"`` (the builder's) and ``"critical"`` (the builder's, then
            :func:`~criticality.training.methods.homeostatic.self_organise` without any
            gradient: the intervention arm).
        organise_updates: homeostatic updates of the critical start.
        organise_tau: their time constant (in updates).
        channels_last: train in the channels-last memory format (faster convolutions on CPU;
            ``benchmarks/zoo_train_throughput.py``).
        threads: torch threads per job.
        executor: ``"local"`` or ``"ray"``.
        address: Ray cluster address.
        device: ``"cpu"`` or ``"cuda"``.
        full_from: an output folder of a full run whose stored result the report shows as well
            (the demo's bounded run cannot train the whole zoo); ``None``: none.
    """

    nets: tuple[str, ...] = ()
    max_params: int | None = 6_000_000
    datasets: tuple[str, ...] = ("fashion_mnist",)
    seeds: tuple[int, ...] = (0, 1)
    examples: int = 32_768
    batch_size: int = 32
    lr: float = 1e-3
    shift: int = 2
    points: tuple[float, ...] = (0.0, 0.25, 1.0)
    measures: tuple[str, ...] = ("lyapunov", "ftle", "branching")
    n_probes: int = 4
    k: int = 2
    ftle_iter: int = 10
    probe_seed: int = 0
    n_test: int = 2000
    stem: str = "imagenet"
    warmup: float = 0.05
    starts: tuple[str, ...] = ("default", "critical")
    organise_updates: int = 100
    organise_tau: float = 5.0
    channels_last: bool = False
    threads: int | None = 1
    executor: str = "local"
    address: str | None = None
    device: str = "cpu"
    full_from: str | None = None

    @classmethod
    def tiny(cls) -> ZooTrainConfig:
        """Three small networks, one seed, 64 examples: seconds, for tests."""
        return cls(nets=("densenet_g12_2222", "convnext_c32", "vit_p4_l2_d64"), seeds=(0,),
                   examples=64, batch_size=16, points=(0.0, 1.0), n_probes=2, ftle_iter=3,
                   n_test=64, starts=("default",))  # fmt: skip

    @classmethod
    def demo(cls) -> ZooTrainConfig:
        """A bounded part: five cheap networks of five families, two seeds, well under a
        minute. The demo shows the committed study (``results/zoo-train``) beside it, among
        the committed studies; ``--set full_from=results/zoo-train`` puts it in this part's
        own report."""
        nets = ("densenet_g12_2222", "convnext_c32", "regnet_x_small", "vit_p4_l2_d64",
                "shufflenet_v2_narrow")  # fmt: skip
        return cls(nets=nets, examples=256, points=(0.0, 1.0), n_test=200, ftle_iter=5,
                   starts=("default",))  # fmt: skip

    @classmethod
    def gpu(cls) -> ZooTrainConfig:
        """The whole zoo on a GPU (:file:`benchmarks/zoo_train_gpu.py`): both datasets, three
        seeds, one epoch of 60,000 examples."""
        return cls(max_params=None, datasets=DATASETS, seeds=(0, 1, 2), examples=60_000,
                   batch_size=128, points=(0.0, 0.1, 1.0), n_probes=8, n_test=10_000,
                   threads=None, device="cuda")  # fmt: skip

    def steps(self) -> int:
        """Optimizer steps of the budget."""
        return max(1, math.ceil(self.examples / self.batch_size))

    def point_steps(self) -> list[int]:
        """The measured steps (sorted, distinct)."""
        total = self.steps()
        return sorted({round(p * total) for p in self.points})

    def settings(self) -> dict[str, Any]:
        """What keys the store's rows: the recipe and the measurement (not where it runs)."""
        skip = {"nets", "max_params", "datasets", "seeds", "threads", "executor", "address",
                "device", "full_from", "starts", "channels_last"}  # fmt: skip
        out = {k: v for k, v in dataclasses.asdict(self).items() if k not in skip}
        # fields added later keep the hash of older studies while they hold their old default
        for key, old in (("stem", "imagenet"), ("warmup", 0.0), ("probe_seed", 0)):
            if out[key] == old:
                del out[key]
        if "critical" not in self.starts:
            del out["organise_updates"], out["organise_tau"]
        return out

    def net_names(self) -> list[str]:
        from criticality.zoo import SMALL_NETS, list_small_nets

        if not self.nets:
            return list_small_nets(self.max_params)
        unknown = [n for n in self.nets if n not in SMALL_NETS]
        if unknown:
            raise ValueError(f"unknown nets {unknown}; known: {', '.join(SMALL_NETS)}")
        return list(self.nets)

    def check(self) -> None:
        """Refuse settings that cannot work, saying what to do."""
        if self.executor not in EXECUTORS:
            raise ValueError(f"unknown executor {self.executor!r}; choose local or ray")
        if not self.datasets or set(self.datasets) - set(DATASETS):
            raise ValueError(f"datasets must be some of {DATASETS}, got {self.datasets}")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"need distinct seeds, got {self.seeds}")
        if self.examples < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ValueError("examples, batch_size and lr must be positive")
        if not self.points or any(not 0.0 <= p <= 1.0 for p in self.points):
            raise ValueError(f"points are fractions of the budget in [0, 1], got {self.points}")
        if self.n_probes < 1 or self.k < 1 or self.n_test < 1 or self.shift < 0:
            raise ValueError("n_probes, k and n_test must be at least 1 and shift at least 0")
        if self.stem not in STEMS:
            raise ValueError(f"stem must be one of {STEMS}, got {self.stem!r}")
        if (
            not self.starts
            or set(self.starts) - set(STARTS)
            or len(set(self.starts)) != len(self.starts)
        ):
            raise ValueError(f"starts must be distinct names of {STARTS}, got {self.starts}")
        if not 0.0 <= self.warmup < 1.0:
            raise ValueError(f"warmup is a fraction of the budget in [0, 1), got {self.warmup}")
        if self.organise_updates < 1 or self.organise_tau <= 0:
            raise ValueError("organise_updates must be at least 1 and organise_tau positive")


@dataclasses.dataclass(frozen=True)
class Job:
    """One network × dataset × seed × start (picklable: everything a worker needs).

    Attributes:
        store_key: the store's key of the recipe and measurement
            (:meth:`ZooTrainConfig.settings`).
        work: the job's folder of units and training checkpoints.
    """

    net: str
    dataset: str
    seed: int
    config: ZooTrainConfig
    store_key: str
    work: str
    start: str = "default"

    @property
    def label(self) -> str:
        """``DATASET/[critical/]seedS`` (:attr:`TrainPoint.job`)."""
        return TrainPoint(self.dataset, self.seed, self.start).job

    @property
    def key(self) -> str:
        """The job's name in the progress lines: ``NET DATASET/[critical/]seedS``."""
        return f"{self.net} {self.label}"


def _start(start: str) -> str:
    return "" if start == "default" else f"{start}/"


def point_label(dataset: str, seed: int, step: int, start: str = "default") -> str:
    """The store's ``weights`` of one measured point (``DATASET/seedS/stepN`` for the default
    start, ``DATASET/critical/seedS/stepN`` for the intervention arm: :class:`TrainPoint`)."""
    return TrainPoint(dataset, seed, start, step).label


@register_experiment(
    "zoo-train",
    title=TITLE,
    config=ZooTrainConfig,
    sections=sections,
    summary="a trained zoo of real architectures on Fashion-MNIST: accuracy, year and training "
    "against distance to criticality (claim 1 with power)",
    demo_rank=35,
    scorecard=scorecard,
    headline=headline,
)
def run(cfg: ZooTrainConfig, out_dir: str | Path) -> Path:
    """Train and measure what the store lacks; write ``results.json`` and ``report.html``."""
    from criticality.reporting import write_results

    out = Path(out_dir)

    def save(data: dict[str, Any]) -> None:
        typed = ZooTrainResults.from_dict(data).to_dict()
        write_results(out, "zoo-train", dataclasses.asdict(cfg), typed,
                      seed={"seeds": list(cfg.seeds), "probe_seed": cfg.probe_seed},
                      device=cfg.device)  # fmt: skip

    data = train_zoo(cfg, out, on_job=save)
    if cfg.full_from is not None:
        data["full"] = read_full(Path(cfg.full_from))
    save(data)
    return render(out)


def train_zoo(
    cfg: ZooTrainConfig, out: Path, on_job: Callable[[dict[str, Any]], None] | None = None
) -> dict[str, Any]:
    """Run (or resume) every job; return the stored rows of this configuration.

    ``on_job`` receives the rows stored so far after each finished job (``run`` writes them to
    ``results.json``, so a long run's partial study renders and exports at any time)."""
    cfg.check()
    names = cfg.net_names()
    with ResultStore(out / STORE) as store:
        key = store.add_config(cfg.settings())
        final = cfg.point_steps()[-1]
        imported = import_results(store, out / "results.json", key)
        if imported:
            log.info("zoo-train: %d rows of an earlier run taken from %s", imported,
                     out / "results.json")  # fmt: skip
        done = store.done(key, include_failed=False)  # failed jobs are tried again
        work = out / "zoo_train_work" / key
        # seeds outermost, families round-robin, the starts of one network together: a partial
        # run holds whole pairs of as many families as possible at the first seed
        jobs = [
            Job(n, ds, s, cfg, key, str(work / ds / f"{_start(st)}{n}" / f"seed{s}"), st)
            for s in cfg.seeds for ds in cfg.datasets for n in family_round_robin(names)
            for st in cfg.starts if (n, point_label(ds, s, final, st)) not in done
        ]  # fmt: skip
        total = len(names) * len(cfg.datasets) * len(cfg.seeds) * len(cfg.starts)
        log.info("zoo-train: %d nets x %d datasets x %d seeds x %d starts, %d of %d jobs to run",
                 len(names), len(cfg.datasets), len(cfg.seeds), len(cfg.starts), len(jobs),
                 total)  # fmt: skip
        gpus = 1 if cfg.device.startswith("cuda") else 0
        # the progress (a bar, or a line per job in a log) counts the finished jobs too
        for job, rows in map_jobs(run_job, jobs, executor=cfg.executor, address=cfg.address,
                                  gpus=gpus, on_error=failed_rows, desc="zoo-train",
                                  done=total - len(jobs), unit="job"):  # fmt: skip
            for row in rows:
                store.put(row)
            log.info("zoo-train %s %s: %s %s", job.net, job.label, rows[-1].status,
                     rows[-1].reason)  # fmt: skip
            if on_job is not None:
                on_job(collect(store, key, names, cfg))
        return collect(store, key, names, cfg)


def family_round_robin(names: list[str]) -> list[str]:
    """``names`` reordered: the first network of every family, then the second of every
    family, and so on; within a round the smaller networks (parameter count) first, so that a
    partial run holds as many families as possible."""
    from criticality.zoo import SMALL_NETS

    rank: dict[str, int] = {}
    seen: dict[str, int] = {}
    for n in names:
        fam = SMALL_NETS[n].family
        rank[n] = seen.get(fam, 0)
        seen[fam] = rank[n] + 1
    return sorted(names, key=lambda n: (rank[n], SMALL_NETS[n].params))  # small first


def import_results(store: ResultStore, path: Path, key: str) -> int:
    """Put the rows of an earlier ``results.json`` (a committed study, copied into the output
    folder) with the same configuration ``key`` into ``store`` where it lacks them; the number of
    rows taken. This is how a study resumes from its committed data (``results/zoo-train``)."""
    if not path.is_file():
        return 0
    try:
        results = read_json(path)
        if not isinstance(results, dict) or not isinstance(results.get("data", {}), dict):
            raise DamagedFileError(path, "not a results.json: no 'data' object")
    except DamagedFileError as err:  # the store keeps what finished; results.json is rewritten
        log.warning("zoo-train: %s; set aside as %s, its rows not taken", err, set_aside(path))
        return 0
    data = results.get("data", {})
    have = {(r.model, r.weights) for r in store.rows(key)}
    n = 0
    for part in (data, data.get("full") or {}):
        if part.get("config_hash") != key:
            continue
        for r in part.get("rows", []):
            if r["status"] != "ok" or (r["model"], r["weights"]) in have:
                continue
            store.put(Row(r["model"], r["weights"], key, "ok", r.get("reason") or "",
                          json.dumps(r["report"]), float(r.get("seconds") or 0.0)))  # fmt: skip
            have.add((r["model"], r["weights"]))
            n += 1
    return n


def collect(store: ResultStore, key: str, names: list[str], cfg: Any) -> dict[str, Any]:
    """The rows of ``key`` for ``names`` as ``results.json`` data."""
    wanted = set(names)
    rows = [
        {"model": r.model, "weights": r.weights, "status": r.status, "reason": r.reason,
         "seconds": r.seconds, "report": r.report_dict() or None}
        for r in store.rows(key) if r.model in wanted
    ]  # fmt: skip
    settings = cfg.settings() if hasattr(cfg, "settings") else store.config(key)
    out: dict[str, Any] = {"config_hash": key, "settings": settings, "rows": rows}
    if isinstance(cfg, ZooTrainConfig):
        out["planned"] = {"nets": names, "datasets": list(cfg.datasets),
                          "seeds": list(cfg.seeds), "starts": list(cfg.starts)}  # fmt: skip
    return out


def read_full(folder: Path) -> dict[str, Any] | None:
    """The stored rows of a full run in ``folder`` (its largest configuration), or ``None``."""
    path = folder / STORE
    if not path.is_file():
        exported = folder / "results.json"
        if not exported.is_file():
            return None
        from criticality.reporting import load_results

        results = load_results(folder)
        if results.get("kind") != "zoo-train":
            raise ValueError(
                f"{exported} holds a {results.get('kind')!r} run, not a zoo-train run: the full "
                "run to show (full_from, trained_zoo) must be a zoo-train output folder"
            )
        data = dict(results["data"])
        data.pop("full", None)
        data["path"] = str(exported)
        return data if data.get("rows") else None
    with ResultStore(path) as store:
        counts: dict[str, int] = {}
        for row in store.rows():
            counts[row.config_hash] = counts.get(row.config_hash, 0) + (row.status == "ok")
        if not counts:
            return None
        key = max(counts, key=lambda k: counts[k])
        names = sorted({r.model for r in store.rows(key)})
        data = collect(store, key, names, None)
        data["path"] = str(path)
        return data


def failed_rows(job: Job, err: BaseException) -> list[Row]:
    """A job that failed: one ``failed`` row with the reason (tried again on the next run)."""
    text = str(err).strip().splitlines()
    reason = f"{type(err).__name__}: {text[0][:300] if text else ''}"
    return [Row(job.net, job.label, job.store_key, "failed", reason, "{}", 0.0)]


# ---- one job ----------------------------------------------------------------------------------


class CosineLR(Callback):
    """Cosine decay of every parameter group's learning rate from ``lr`` to 0 over ``total``
    global steps (set before each step, so a resumed run follows the same schedule)."""

    name = "cosine_lr"

    def __init__(self, lr: float, total: int, warmup: int = 0) -> None:
        self.lr, self.total, self.warmup = lr, total, warmup

    def rate(self, step: int) -> float:
        """The rate of global step ``step``: linear warm-up over the first ``warmup`` steps,
        then the cosine decay (over the whole budget)."""
        if step < self.warmup:
            return self.lr * (step + 1) / self.warmup
        return self.lr * 0.5 * (1.0 + math.cos(math.pi * min(step, self.total) / self.total))

    def on_fit_start(self, state: Any) -> None:
        self._set(state)

    def on_step_end(self, state: Any) -> None:
        self._set(state)

    def _set(self, state: Any) -> None:
        for group in state.optimizer.param_groups:
            group["lr"] = self.rate(state.step)


@dataclasses.dataclass
class Data:
    """Normalised, 32 px train and test tensors of one dataset."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


_DATA: dict[str, Data] = {}


def load_data(name: str) -> Data:
    """The dataset, normalised by its training mean and std and padded to 32 px (cached)."""
    if name not in _DATA:
        from criticality.data import load_tensors
        from criticality.zoo import pad_to_32

        x, y = load_tensors(name, "train")
        xt, yt = load_tensors(name, "test")
        mean, std = float(x.mean()), float(x.std())
        _DATA[name] = Data(pad_to_32((x - mean) / std), y, pad_to_32((xt - mean) / std), yt)
    return _DATA[name]


def augment(x: torch.Tensor, shift: int, generator: torch.Generator) -> torch.Tensor:
    """Each image of ``x`` (``(B, C, H, W)``) translated by a random integer offset in
    ``[-shift, shift]`` along each axis, zero fill."""
    if shift == 0:
        return x
    b, _, h, w = x.shape
    padded = torch.nn.functional.pad(x, (shift, shift, shift, shift))
    dy = torch.randint(0, 2 * shift + 1, (b,), generator=generator)
    dx = torch.randint(0, 2 * shift + 1, (b,), generator=generator)
    rows = (dy[:, None] + torch.arange(h))[:, :, None]  # (b, h, 1)
    cols = (dx[:, None] + torch.arange(w))[:, None, :]  # (b, 1, w)
    crops = padded.permute(0, 2, 3, 1)[torch.arange(b)[:, None, None], rows, cols]  # (b, h, w, C)
    return crops.permute(0, 3, 1, 2).contiguous()


class Batches:
    """``step -> (x, y)`` for global steps ``offset + step``: each batch drawn with replacement
    and augmented from a generator seeded by the run's seed and the global step, so a resumed
    run sees the same batches."""

    def __init__(self, data: Data, cfg: ZooTrainConfig, seed: int, offset: int) -> None:
        self.data, self.cfg, self.seed, self.offset = data, cfg, seed, offset

    def __call__(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        # the rule of mix() (kept for the committed study's rows)
        g = torch.Generator().manual_seed(1_000_003 * (self.seed + 1) + self.offset + step)
        idx = torch.randint(0, self.data.x_train.shape[0], (self.cfg.batch_size,), generator=g)
        x = augment(self.data.x_train[idx], self.cfg.shift, g)
        if self.cfg.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, self.data.y_train[idx]


def build(net: str, seed: int, cfg: ZooTrainConfig, start: str, data: Data) -> torch.nn.Module:
    """The network of one job at its start: the builder's initialisation with the config's
    stem, then, for the ``critical`` start, the homeostatic rule without gradient."""
    from criticality.zoo import small_image_net, stride1_stem

    model = small_image_net(net, seed=seed)
    if cfg.stem == "stride1":
        model = stride1_stem(model)
    if start == "critical":
        from criticality.training.methods.homeostatic import self_organise

        g = torch.Generator().manual_seed(seed)
        pool = data.x_train[torch.randint(0, data.x_train.shape[0], (1024,), generator=g)]
        # the network that is measured: eval mode with BatchNorm statistics of its current
        # weights, re-estimated between chunks (a gain changed early moves the later inputs)
        for chunk, first in enumerate(range(0, cfg.organise_updates, ORGANISE_CHUNK)):
            recalibrate_bn(model, pool)
            model.eval()
            n = min(ORGANISE_CHUNK, cfg.organise_updates - first)
            self_organise(model, pool, updates=n, seed=mix(seed, chunk), tau=cfg.organise_tau,
                          head=False)  # fmt: skip
        recalibrate_bn(model, pool)
        model.eval()
    model = model.to(cfg.device)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model


def recalibrate_bn(model: torch.nn.Module, x: torch.Tensor, *, batch_size: int = 250) -> None:
    """Re-estimate every BatchNorm's running mean and variance on ``x`` (training images,
    ``(N, C, H, W)``, no augmentation) as a cumulative average over batches, in place.

    Several builders set a slow BatchNorm momentum for long ImageNet runs (MobileNet-V3 0.01,
    MNASNet 0.0003): after a few hundred steps their running statistics are still those of the
    initialisation, so the network in ``eval()`` mode, the one accuracy and every measure see,
    is not the network that trained. Re-estimating the statistics (the standard fix, e.g. for
    weight-averaged or weight-shared networks) gives every architecture the statistics of its
    current weights; a network without BatchNorm is unchanged. Training is not affected (in
    training mode BatchNorm normalises by the batch).
    """
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    momenta = [m.momentum for m in norms]
    was_training = model.training
    device = next(model.parameters()).device
    try:
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # cumulative moving average
        model.train()
        with torch.no_grad():
            for xb in x.split(batch_size):
                model(xb.to(device))
    finally:
        for m, mom in zip(norms, momenta, strict=True):
            m.momentum = mom
        model.train(was_training)


def probe_sets(data: Data, cfg: ZooTrainConfig) -> dict[str, torch.Tensor]:
    """The three probe sets (the same for every network and seed): ``test`` images (the
    headline), ``gaussian`` N(0, 1) images (the scale of normalised images) and ``augmented``
    (the test probes shifted like the training data)."""
    x = data.x_test[-cfg.n_probes :]  # the last test images: not among the accuracy's n_test
    g = torch.Generator().manual_seed(cfg.probe_seed)
    return {"test": x, "gaussian": torch.randn(x.shape, generator=g),
            "augmented": augment(x, max(cfg.shift, 1), g)}  # fmt: skip


def run_job(job: Job) -> list[Row]:
    """Train one network with the recipe, measuring at each point; a row per point.

    Each measured point is a unit of work (:func:`point_unit`, kept by
    :func:`~criticality.experiments._units.cached_unit`): a finished point is read back, a
    damaged one is named, set aside and measured again. The network at a point is reproduced
    from the training checkpoint only when the checkpoint has not gone past that point; else
    training starts over (it is deterministic, so the points already finished stay valid)."""
    from criticality.reporting import _folders
    from criticality.training import fit

    cfg = job.config
    start = time.perf_counter()
    threads = torch.get_num_threads()
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    work = Path(job.work)
    try:
        reports = finished_points(job)
        todo = [step for step in cfg.point_steps() if step not in reports]
        if todo:
            _restart_if_past(work / "fit", todo)
            data = load_data(job.dataset)
            probes = probe_sets(data, cfg)
            model = build(job.net, job.seed, cfg, job.start, data)
            total = cfg.steps()
            schedule = CosineLR(cfg.lr, total, round(cfg.warmup * total))
            state, previous = None, 0
            for task, step in enumerate(cfg.point_steps()):
                if step > todo[-1]:
                    break
                if step > previous:
                    result = fit(model, Batches(data, cfg, job.seed, previous),
                                 steps=step - previous, batch_size=cfg.batch_size, lr=cfg.lr,
                                 optimizer="adam", callbacks=(schedule,),
                                 checkpoint_dir=work / "fit",
                                 checkpoint_every=max(1, (step - previous) // 4), seed=job.seed,
                                 device=cfg.device, progress=False, state=state,
                                 task=task)  # fmt: skip
                    state = result.state
                previous = step
                if step in todo:
                    path, config = point_unit(job, step)
                    measure = functools.partial(measure_point, model, job, step, data, probes)
                    reports[step] = cached_unit(path, measure, config=config, check=_check_point)
        rows = []
        for step in cfg.point_steps():
            report = reports[step]
            seconds = report["metadata"]["zoo_train"]["seconds"]
            label = point_label(job.dataset, job.seed, step, job.start)
            rows.append(Row(job.net, label, job.store_key, "ok", "", json.dumps(report), seconds))
        log.info("%s %s done in %.1f s", job.net, job.label, time.perf_counter() - start)
        return rows
    finally:
        torch.set_num_threads(threads)
        _folders.release_under(work)  # a worker of a cluster keeps no lock on the job's folder


def point_unit(job: Job, step: int) -> tuple[Path, dict[str, Any]]:
    """The file of one measured point and the settings that decide it: the store's key (the
    recipe and the measurement), the network, dataset, seed, start and step."""
    config = {"store_key": job.store_key, "net": job.net, "dataset": job.dataset, "seed": job.seed,
              "start": job.start, "step": step}  # fmt: skip
    return Path(job.work) / f"point_{step}.json", config


class _Unfinished(Exception):
    """Raised instead of measuring: the point has no finished unit."""


def _unfinished() -> Any:
    raise _Unfinished


def finished_points(job: Job) -> dict[int, dict[str, Any]]:
    """The job's points whose unit is finished, read back (a damaged or stale one is named in a
    warning and set aside, so it counts as not finished)."""
    out = {}
    for step in job.config.point_steps():
        path, config = point_unit(job, step)
        try:
            out[step] = cached_unit(path, _unfinished, config=config, check=_check_point)
        except _Unfinished:
            continue
    return out


def _check_point(report: Any) -> None:
    """A point read back is a whole report with the training metadata."""
    from criticality.report import CriticalityReport

    CriticalityReport.from_dict(report)
    z = report["metadata"]["zoo_train"]
    if not all(isinstance(z[k], (int, float)) for k in ("accuracy", "seconds", "step")):
        raise TypeError("its accuracy, seconds or step is not a number")


def _restart_if_past(fit_dir: Path, todo: list[int]) -> None:
    """Set the training checkpoint aside when it cannot give the network at a point still to
    measure: it has gone past that point (the point's unit was damaged after the run went on),
    or no checkpoint in it can be read. Training then starts over from the initialisation."""
    from criticality.training import _checkpoint

    first = next((step for step in todo if step > 0), None)  # step 0 needs no training
    if first is None or not fit_dir.is_dir():
        return
    try:
        ckpt = _checkpoint.load(fit_dir)
    except _checkpoint.DamagedCheckpointError as err:
        why = str(err)
    else:
        if ckpt is None or int(ckpt["step"]) <= first:
            return
        why = f"it has trained to step {int(ckpt['step'])}, past the point at step {first}"
    aside = set_aside(fit_dir, "replaced")
    log.warning("%s: %s; training again from the start (the old one is kept as %s)", fit_dir,
                why, aside.name)  # fmt: skip


def measure_point(
    model: torch.nn.Module, job: Job, step: int, data: Data, probes: Mapping[str, torch.Tensor]
) -> dict[str, Any]:
    """Measure the body of ``model`` at ``step``: the report dict, with the accuracy, the other
    probe sets' ``λ_1`` and the training metadata under ``metadata["zoo_train"]``."""
    from criticality import measure
    from criticality.stages import stages
    from criticality.training import accuracy
    from criticality.zoo import SMALL_NETS
    from criticality.zoo.metadata import FAMILIES

    cfg = job.config
    start = time.perf_counter()
    recalibrate_bn(model, data.x_train[:2000])
    model.eval()
    if cfg.channels_last:  # the measures propagate tangents through flat views
        model = model.to(memory_format=torch.contiguous_format)
    body = stages(model)[:-1]
    dev = cfg.device
    options: dict[str, Any] = {"lyapunov": {"k": cfg.k}, "ftle": {"n_iter": cfg.ftle_iter}}
    options = {k: v for k, v in options.items() if k in cfg.measures}
    report = measure(body, probes["test"].to(dev), measures=list(cfg.measures), seed=cfg.probe_seed,
                     name=job.net, **options)  # fmt: skip
    other = {}
    for name in ("gaussian", "augmented"):
        alt = measure(body, probes[name].to(dev), measures=["lyapunov"], seed=cfg.probe_seed,
                      name=job.net, lyapunov={"k": cfg.k})  # fmt: skip
        other[name] = float(alt.lambda_max)
    n = min(cfg.n_test, data.x_test.shape[0] - cfg.n_probes)
    with torch.inference_mode():
        acc = 100.0 * accuracy(model, data.x_test[:n], data.y_test[:n])
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    spec = SMALL_NETS[job.net]
    fam = FAMILIES[spec.family]
    out = report.to_dict()
    out["metadata"]["zoo_train"] = {
        "net": job.net, "family": spec.family, "year": fam.year, "kind": fam.kind,
        "norm": fam.norm, "skip": fam.skip, "depthwise": spec.depthwise,
        "attention": spec.attention, "variant": spec.variant, "builder": spec.builder,
        "params": sum(p.numel() for p in model.parameters()), "depth": weight_layers(model),
        "start": job.start, "stem": cfg.stem, "dataset": job.dataset,
        "seed": job.seed, "step": step, "examples": step * cfg.batch_size,
        "budget_examples": cfg.steps() * cfg.batch_size, "accuracy": acc, "n_test": n,
        "lambda_1": {"test": float(report.lambda_max), **other},
        "seconds": time.perf_counter() - start,
    }  # fmt: skip
    return out
