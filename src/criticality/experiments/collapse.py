"""Model collapse and criticality: ``criticality experiment collapse`` (PAPER claim 3, part two).

Generation 0 of a generative model is trained on real data, generation ``n + 1`` on samples of
generation ``n`` (:mod:`criticality.collapse`). For every model the experiment records quality on
held-out real data, the diversity and tails of the samples, and the criticality of its networks
(``λ_1``, per-stage ``ln g_l``, ``σ``; across time for the GRU) at every generation, then asks
whether the drift of ``λ_1`` tracks or precedes the loss of quality, and whether training each
generation toward criticality slows the collapse, against the two known remedies (keeping 10 %
real data, accumulating all data).

Models (``models``):

* ``gaussian``: the exact case, both estimators, replace and accumulate, with closed forms;
* ``regression``: Gerstgrasser et al.'s linear regression, replace vs accumulate, with its bound;
* ``gmm``: a 2-D Gaussian mixture fitted by EM, every data mode;
* ``vae``: a VAE on MNIST (digits in ``tiny()``), every data mode and every training method;
* ``charlm``: character-level GRU and transformer on the KJV text, likewise.

Conditions of the neural models: the control ``replace/plain``; each method of ``methods``
under ``replace``; each other data mode of ``modes`` with ``plain``. Every (model, condition,
seed) run is resumable per generation under ``OUT/units/``.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from criticality.collapse import (
    DATA_MODES,
    CharLMLearner,
    CharLMSpec,
    GMMLearner,
    Recursion,
    TrainSpec,
    VAELearner,
    VAESpec,
    accumulate_bound,
    accumulate_variance_limit,
    expected_log_det,
    expected_mean_error,
    expected_test_error,
    expected_variance,
    gaussian_generations,
    load_judge,
    regression_generations,
    run_generations,
)
from criticality.collapse.analysis import band, contrast, halfway_generation, lead_lag, tracking
from criticality.collapse.charlm import text_windows
from criticality.collapse.gmm import sample_true_mixture
from criticality.collapse.textstats import text_reference, text_stats
from criticality.executor import map_jobs
from criticality.experiments._collapse_report import TITLE, scorecard, sections
from criticality.experiments._registry import register_experiment, render
from criticality.reporting import resume_dir, write_results
from criticality.training.methods import get_method

log = logging.getLogger(__name__)

MODELS = ("gaussian", "regression", "gmm", "vae", "charlm")
CONTROL = "replace/plain"


@dataclasses.dataclass(frozen=True)
class CollapseConfig:
    """What the experiment runs.

    Attributes:
        models: subset of :data:`MODELS`.
        modes: data modes run with the control method (``"replace"`` is always run).
        methods: training methods run under ``replace`` for the neural models (``"plain"``
            is the control and always run).
        seeds: one run per seed and condition (initialisations, data order, samples).
        generations: generations after generation 0 of the neural models and the mixture.
        real_fraction: share of real data in the ``"mixed"`` modes (``"mixed"`` draws it
            from generation 0's data, ``"mixed_fresh"`` from the whole real training set).
        epochs_per_generation: passes over each generation's pool for the networks instead of
            ``vae_steps`` / ``charlm_steps`` (the Koyejo lab trains one epoch over the growing
            accumulated pool); ``None``: the fixed steps.
        warm_start: start each generation from the previous weights (default: fresh init).
        critical_weight: weight of the criticality penalty (the registry's default, 5).
        sub_batch: inputs per step of the criticality penalty.
        gaussian_n: points per generation of the exact Gaussian case.
        gaussian_dim: its dimension.
        gaussian_runs: its independent runs (vectorised).
        stat_generations: generations of the Gaussian and regression cases.
        regression_n: rows ``T`` per generation of the regression.
        regression_dim: its input dimension ``d``.
        regression_runs: its independent runs.
        gmm_n: real points and samples per generation of the mixture.
        vae_dataset: ``"mnist"`` or ``"digits"``.
        vae_n: real images of generation 0 and samples per generation.
        vae_latent: latent dimension.
        vae_hidden: encoder widths (the decoder mirrors them).
        vae_steps: Adam steps per generation.
        vae_batch: images per step.
        vae_lr: learning rate.
        vae_n_eval: real test images scored per generation.
        charlm_archs: ``"gru"`` and/or ``"transformer"``.
        charlm_chars: characters of the KJV text used (the first ones; 90 % train, 10 % test,
            interleaved in blocks of 10,000).
        charlm_window: characters per window ``T``.
        charlm_n: training windows of generation 0 and sampled windows per generation.
        charlm_steps: Adam steps per generation.
        charlm_batch: windows per step.
        charlm_lr: learning rate.
        charlm_gru_width: GRU hidden width (2 layers, embedding 32).
        charlm_transformer_width: transformer width (4 blocks, 4 heads).
        charlm_n_eval: real test windows scored per generation.
        executor: ``"local"`` (units one after another) or ``"ray"`` (one task per unit).
        address: the Ray cluster's address (``None``: a local Ray instance).
        seed: seed of the data subsets.
    """

    models: tuple[str, ...] = MODELS
    modes: tuple[str, ...] = ("replace", "mixed", "accumulate")
    methods: tuple[str, ...] = ("plain", "critical_global", "critical_stagewise")
    seeds: tuple[int, ...] = (0, 1, 2)
    generations: int = 5
    real_fraction: float = 0.1
    epochs_per_generation: float | None = None
    warm_start: bool = False
    critical_weight: float = 5.0
    sub_batch: int = 16
    gaussian_n: int = 100
    gaussian_dim: int = 1
    gaussian_runs: int = 2000
    stat_generations: int = 200
    regression_n: int = 50
    regression_dim: int = 10
    regression_runs: int = 2000
    gmm_n: int = 1000
    vae_dataset: str = "mnist"
    vae_n: int = 10_000
    vae_latent: int = 16
    vae_hidden: tuple[int, ...] = (256, 256, 256)
    vae_steps: int = 800
    vae_batch: int = 128
    vae_lr: float = 1e-3
    vae_n_eval: int = 1000
    charlm_archs: tuple[str, ...] = ("gru", "transformer")
    charlm_chars: int = 1_000_000
    charlm_window: int = 64
    charlm_n: int = 2048
    charlm_steps: int = 300
    charlm_batch: int = 32
    charlm_lr: float = 3e-3
    charlm_gru_width: int = 128
    charlm_transformer_width: int = 64
    charlm_n_eval: int = 256
    executor: str = "local"
    address: str | None = None
    seed: int = 0

    @classmethod
    def tiny(cls) -> CollapseConfig:
        """Seconds-long version for tests."""
        return cls(
            modes=("replace", "mixed"),
            methods=("plain", "critical_global"),
            seeds=(0, 1),
            generations=1,
            gaussian_n=10,
            gaussian_runs=200,
            stat_generations=10,
            regression_n=20,
            regression_dim=3,
            regression_runs=200,
            gmm_n=200,
            vae_dataset="digits",
            vae_n=256,
            vae_latent=4,
            vae_hidden=(16, 16),
            vae_steps=10,
            vae_batch=32,
            vae_n_eval=64,
            charlm_archs=("gru",),
            charlm_chars=40_000,
            charlm_window=16,
            charlm_n=32,
            charlm_steps=5,
            charlm_batch=8,
            charlm_gru_width=16,
            charlm_n_eval=16,
        )

    @classmethod
    def demo(cls) -> CollapseConfig:
        """A few minutes of one CPU thread: the exact Gaussian and regression, a small VAE on
        digits (tanh 128-128, latent 8: its generation 0 covers all ten classes), a short GRU
        run on a slice of the KJV text; 3 seeds, replace vs critical_global vs mixed vs
        accumulate, 4 generations."""
        return cls(
            models=("gaussian", "regression", "vae", "charlm"),
            methods=("plain", "critical_global"),
            generations=4,
            gaussian_runs=1000,
            stat_generations=100,
            regression_runs=1000,
            vae_dataset="digits",
            vae_n=1438,
            vae_latent=8,
            vae_hidden=(128, 128),
            vae_steps=400,
            vae_batch=64,
            vae_lr=1.5e-3,
            vae_n_eval=359,
            charlm_archs=("gru",),
            charlm_chars=200_000,
            charlm_window=32,
            charlm_n=256,
            charlm_steps=50,
            charlm_batch=16,
            charlm_gru_width=64,
            charlm_n_eval=128,
        )

    def validate(self) -> None:
        """Raise ``ValueError`` naming the bad field."""
        if bad := set(self.models) - set(MODELS):
            raise ValueError(f"unknown models {sorted(bad)}; choose from {MODELS}")
        if bad := set(self.modes) - set(DATA_MODES):
            raise ValueError(f"unknown modes {sorted(bad)}; use some of {DATA_MODES}")
        if self.epochs_per_generation is not None and not self.epochs_per_generation > 0:
            raise ValueError(
                f"epochs_per_generation must be positive or None, got {self.epochs_per_generation}"
            )
        if bad := set(self.charlm_archs) - {"gru", "transformer"}:
            raise ValueError(f"unknown charlm_archs {sorted(bad)}; use gru, transformer")
        if not self.seeds:
            raise ValueError("seeds is empty: give at least one seed (3 or more for CIs)")
        for method in self.methods:
            get_method(method)  # a ValueError lists the registered methods

    def conditions(self, model: str) -> list[str]:
        """``"mode/method"`` conditions of ``model``; the control first."""
        if model in ("gaussian", "regression"):
            return []
        modes = [m for m in self.modes if m != "replace"]
        if model == "gmm":
            return [CONTROL, *(f"{m}/plain" for m in modes)]
        methods = [m for m in self.methods if m != "plain"]
        return [CONTROL, *(f"replace/{m}" for m in methods), *(f"{m}/plain" for m in modes)]


@register_experiment(
    "collapse",
    title=TITLE,
    config=CollapseConfig,
    sections=sections,
    scorecard=scorecard,
    summary="recursive training on generated data: quality, tails and λ_1 per generation; "
    "replace / mixed / accumulate and criticality training as remedies",
    demo_rank=60,
)
def run(cfg: CollapseConfig, out_dir: str | Path) -> Path:
    """Run (or resume) every model's generations; write ``results.json`` and ``report.html``."""
    cfg.validate()
    out = Path(out_dir)
    data: dict[str, Any] = {"config": dataclasses.asdict(cfg)}
    if "gaussian" in cfg.models:
        data["gaussian"] = gaussian_study(cfg)
    if "regression" in cfg.models:
        data["regression"] = regression_study(cfg)
    for model in ("gmm", "vae", "charlm"):
        if model in cfg.models:
            data[model] = recursion_study(model, cfg, out / "units")
    write_results(out, "collapse", dataclasses.asdict(cfg), data, seed=cfg.seed)
    return render(out)


# ---------------------------------------------------------------------------------------------
# The exact cases


#: A run has lost its tails when its fit puts less than this mass beyond the real 5 % tails.
TAILS_LOST = 1e-3


def gaussian_study(cfg: CollapseConfig) -> dict[str, Any]:
    """Simulated means over runs and the closed forms, per estimator and mode."""
    n, g, d = cfg.gaussian_n, cfg.stat_generations, cfg.gaussian_dim
    out: dict[str, Any] = {"bound": accumulate_bound(n, dim=d), "n": n, "dim": d}
    for est in ("mle", "unbiased"):
        for mode in ("replace", "accumulate"):
            res = gaussian_generations(
                n, g, dim=d, estimator=est, mode=mode, runs=cfg.gaussian_runs, seed=cfg.seed
            )
            tails = res.tail_mass(0.05, n_draws=512)
            row: dict[str, Any] = {
                "variance": band_of_runs(res.variance),
                "log_det": band_of_runs(res.log_det),
                "mean_error": band_of_runs(res.mean_error),
                "tail_mass": band_of_runs(tails),
                "tail_mass_median": np.median(tails, axis=0).tolist(),
                "tails_lost_share": (tails < TAILS_LOST).mean(axis=0).tolist(),
                "expected_variance": expected_variance(n, g, estimator=est, mode=mode).tolist(),
                "expected_mean_error": expected_mean_error(
                    n, g, dim=d, estimator=est, mode=mode
                ).tolist(),
            }
            if mode == "replace":
                row["expected_log_det"] = expected_log_det(n, g, dim=d, estimator=est)[0].tolist()
            if mode == "accumulate" and est == "mle":
                row["variance_limit"] = accumulate_variance_limit(n)
            out[f"{est}/{mode}"] = row
    return out


def regression_study(cfg: CollapseConfig) -> dict[str, Any]:
    """Simulated test error over runs and its closed form, replace vs accumulate."""
    n, g, d = cfg.regression_n, cfg.stat_generations, cfg.regression_dim
    out: dict[str, Any] = {"n": n, "dim": d}
    for mode in ("replace", "accumulate"):
        res = regression_generations(
            n, g, dim=d, mode=mode, runs=cfg.regression_runs, seed=cfg.seed
        )
        out[mode] = {
            "test_error": band_of_runs(res.test_error),
            "expected": expected_test_error(n, g, dim=d, mode=mode).tolist(),
        }
    out["bound"] = float(np.pi**2 / 6 * out["replace"]["expected"][0])
    return out


def band_of_runs(x: np.ndarray) -> dict[str, list[float]]:
    """Mean and normal 95 % interval over many runs, per generation (``x``: ``(runs, G + 1)``)."""
    mean, se = x.mean(axis=0), x.std(axis=0, ddof=1) / np.sqrt(x.shape[0])
    low, high = mean - 1.96 * se, mean + 1.96 * se
    return {"mean": mean.tolist(), "ci_low": low.tolist(), "ci_high": high.tolist()}


# ---------------------------------------------------------------------------------------------
# The recursions of the mixture and the networks


def recursion_study(model: str, cfg: CollapseConfig, units: Path) -> dict[str, Any]:
    """Every condition and seed of ``model`` (per arch for the char-LM), then the analysis."""
    from tqdm.auto import tqdm

    variants = [f"charlm-{a}" for a in cfg.charlm_archs] if model == "charlm" else [model]
    out: dict[str, Any] = {}
    for variant in variants:
        jobs = [
            Unit(variant, cond, seed, units, cfg)
            for cond in cfg.conditions(model)
            for seed in cfg.seeds
        ]
        done: dict[tuple[str, int], list[dict[str, Any]]] = {}
        bar = tqdm(total=len(jobs), desc=variant, disable=not sys.stderr.isatty())
        for job, rows in map_jobs(run_unit, jobs, executor=cfg.executor, address=cfg.address):
            done[job.condition, job.seed] = rows
            bar.update(1)
        bar.close()
        runs = {c: [done[c, s] for s in cfg.seeds] for c in cfg.conditions(model)}
        reference = _setup(variant, cfg).get("reference_scores", {})
        out[variant] = {"runs": runs, "reference": reference, "analysis": analyse(variant, runs)}
    return out


@dataclasses.dataclass(frozen=True)
class Unit:
    """One unit of work: a variant (``gmm``, ``vae``, ``charlm-gru``, ...), a condition
    (``"mode/method"``) and a seed, resumable per generation under ``units``."""

    variant: str
    condition: str
    seed: int
    units: Path
    cfg: CollapseConfig

    @property
    def folder(self) -> Path:
        return self.units / self.variant / self.condition.replace("/", "-") / f"seed{self.seed}"


def run_unit(unit: Unit) -> list[dict[str, Any]]:
    """Run (or resume) one unit's generations; one flat row of numbers per generation."""
    cfg, variant = unit.cfg, unit.variant
    stamp = {"variant": variant, "condition": unit.condition, "seed": unit.seed,
             **unit_fields(variant, cfg, unit.condition)}  # fmt: skip
    folder = resume_dir(unit.folder, stamp)
    torch.manual_seed(unit.seed)
    records = run_generations(
        make_learner(variant, unit.condition, cfg, _setup(variant, cfg)),
        _setup(variant, cfg)["train"],
        _setup(variant, cfg)["test"],
        recursion_of(variant, unit.condition, unit.seed, cfg),
        out_dir=folder,
        progress=False,
    )
    return [_flat(r) for r in records]


@functools.lru_cache(maxsize=2)
def _setup(variant: str, cfg: CollapseConfig) -> dict[str, Any]:
    """Real train/test data (and the judge, the text reference) of one model (cached)."""
    if variant == "gmm":
        return {
            "train": sample_true_mixture(5 * cfg.gmm_n, seed=cfg.seed),
            "test": sample_true_mixture(2000, seed=cfg.seed + 1),
        }
    if variant == "vae":
        from criticality.data import load_tensors

        x, _ = load_tensors(cfg.vae_dataset, "train")
        xt, _ = load_tensors(cfg.vae_dataset, "test")
        return {"train": x, "test": xt, "judge": load_judge(cfg.vae_dataset)}
    return _text_setup(cfg)


def _text_setup(cfg: CollapseConfig) -> dict[str, Any]:
    from criticality.data import load_text

    corpus = load_text("kjv")
    text = corpus.text[: cfg.charlm_chars]
    blocks = [text[i : i + 10_000] for i in range(0, len(text), 10_000)]
    train_text = "".join(b for i, b in enumerate(blocks) if i % 10 != 9)
    test_text = "".join(b for i, b in enumerate(blocks) if i % 10 == 9) or text[-10_000:]
    train_ids, test_ids = corpus.encode(train_text), corpus.encode(test_text)
    w = cfg.charlm_window + 1
    ref = text_reference(train_ids, train_text)
    test = text_windows(test_ids, w)
    real_scores = text_stats(test[:, 1:], [corpus.decode(t) for t in test[:, 1:]], ref)
    return {
        "train": text_windows(train_ids, w, stride=w // 2),
        "test": test,
        "reference": ref,
        "decode": corpus.decode,
        "reference_scores": real_scores,
    }


def make_learner(variant: str, cond: str, cfg: CollapseConfig, setup: dict[str, Any]) -> Any:
    """``make(generation, init_seed)`` for one variant and condition."""
    method = cond.split("/")[1]
    options = (
        {"weight": cfg.critical_weight, "sub_batch": cfg.sub_batch}
        if method.startswith("critical")
        else {}
    )
    if variant == "gmm":
        return lambda g, s: GMMLearner(6, init_seed=s)
    if variant == "vae":
        spec = VAESpec(latent=cfg.vae_latent, hidden=cfg.vae_hidden, n_eval=cfg.vae_n_eval)
        ts = TrainSpec(
            cfg.vae_steps, cfg.vae_batch, cfg.vae_lr, method, options,
            epochs=cfg.epochs_per_generation,
        )  # fmt: skip
        shape = tuple(setup["train"].shape[1:])
        return lambda g, s: VAELearner(spec, ts, in_shape=shape, init_seed=s, judge=setup["judge"])
    arch = variant.removeprefix("charlm-")
    lm = CharLMSpec(
        arch=arch,
        width=cfg.charlm_gru_width if arch == "gru" else cfg.charlm_transformer_width,
        layers=2 if arch == "gru" else 4,
        window=cfg.charlm_window,
        n_eval=cfg.charlm_n_eval,
        burn_in=min(16, cfg.charlm_window // 2),
    )
    ts = TrainSpec(
        cfg.charlm_steps, cfg.charlm_batch, cfg.charlm_lr, method, options,
        epochs=cfg.epochs_per_generation,
    )  # fmt: skip
    return lambda g, s: CharLMLearner(
        lm, ts, init_seed=s, reference_text=setup["reference"], decode=setup["decode"]
    )


def recursion_of(variant: str, cond: str, seed: int, cfg: CollapseConfig) -> Recursion:
    """The recursion of one run: sizes of the variant, mode of the condition."""
    n = {"gmm": cfg.gmm_n, "vae": cfg.vae_n}.get(variant, cfg.charlm_n)
    mode: Any = cond.split("/")[0]
    return Recursion(
        generations=cfg.generations,
        n_samples=n,
        mode=mode,
        real_fraction=cfg.real_fraction,
        n_real=n,
        warm_start=cfg.warm_start,
        seed=seed,
    )


def unit_fields(variant: str, cfg: CollapseConfig, condition: str = CONTROL) -> dict[str, Any]:
    """The config fields a unit of ``variant`` under ``condition`` depends on (its resume
    stamp): the recursion's, the variant's own (``gmm_*``, ``vae_*``, ``charlm_*``), and only
    where they act the criticality penalty's (``critical_*`` methods) and the mixed mode's
    share of real data, so that changing one of those recomputes only the units it affects."""
    mode, method = condition.split("/")
    shared = ["generations", "warm_start", "seed"]
    if variant != "gmm":
        shared.append("epochs_per_generation")
    if method.startswith("critical"):
        shared += ["critical_weight", "sub_batch"]
    if mode.startswith("mixed"):
        shared.append("real_fraction")
    prefix = variant.split("-")[0] + "_"
    other = "transformer" if variant == "charlm-gru" else "gru"
    return {
        k: v
        for k, v in dataclasses.asdict(cfg).items()
        if k in shared
        or (k.startswith(prefix) and k != "charlm_archs" and not k.startswith(f"charlm_{other}"))
    }


def _flat(record: Any) -> dict[str, Any]:
    """A generation's numbers, with criticality keys flattened (``lambda_1/encoder``, ...)."""
    row: dict[str, Any] = {"generation": record.generation, "seconds": record.seconds}
    for key, value in record.scores.items():
        if key == "criticality":
            for part, rec in value.items():
                for k, v in rec.items():
                    row[f"{k}/{part}"] = v
        else:
            row[key] = value
    return row


# ---------------------------------------------------------------------------------------------
# Analysis

#: Per model: the headline quality (and whether higher is better), tails, and λ_1 parts.
QUALITY = {
    "gmm": ("test_loglik", True),
    "vae": ("neg_elbo", False),
    "charlm-gru": ("test_ppl", False),
    "charlm-transformer": ("test_ppl", False),
}
EXTRA = {
    "gmm": ("rare_component_mass", "tail_mass", "sample_std"),
    "vae": ("neg_iwae", "entropy", "tail_mass", "min_coverage", "confidence"),
    "charlm-gru": (
        "sample_ppl_gen0",
        "distinct_6",
        "rare_char_mass",
        "rare_word_mass",
        "nonword_rate",
    ),
}
EXTRA["charlm-transformer"] = EXTRA["charlm-gru"]
PARTS = {
    "gmm": (),
    "vae": ("encoder", "decoder", "autoencoder"),
    "charlm-gru": ("depth", "time"),
    "charlm-transformer": ("depth",),
}


def _matrix(rows: list[list[dict[str, Any]]], key: str) -> np.ndarray:
    """``(seeds, G + 1)`` values of ``key`` (NaN where missing)."""
    return np.array([[float(r.get(key, np.nan)) for r in seed_rows] for seed_rows in rows])


def analyse(variant: str, runs: dict[str, list[list[dict[str, Any]]]]) -> dict[str, Any]:
    """Bands per condition and metric, contrasts with the control, and who moves first."""
    quality, _ = QUALITY[variant]
    lam_keys = [f"lambda_1/{p}" for p in PARTS[variant]]
    sigma_keys = [f"sigma/{p}" for p in PARTS[variant] if p != "time"]
    metrics = [quality, *EXTRA[variant], *lam_keys, *sigma_keys, "seconds"]
    out: dict[str, Any] = {"quality": quality, "metrics": metrics, "conditions": {}}
    control = runs.get(CONTROL)
    for cond, rows in runs.items():
        entry: dict[str, Any] = {"bands": {}, "contrast_final": {}, "contrast_first": {}}
        for key in metrics:
            m = _matrix(rows, key)
            entry["bands"][key] = band(m)
            if control is not None and cond != CONTROL and len(rows) == len(control):
                c = _matrix(control, key)
                entry["contrast_final"][key] = contrast(m, c, generation=-1)
                entry["contrast_first"][key] = contrast(m, c, generation=0)
        q = _matrix(rows, quality)
        entry["halfway"] = {"quality": halfway_generation(np.nanmean(q, axis=0))}
        entry["lead_lag"], entry["tracking"] = {}, {}
        for key in lam_keys:
            lam = _matrix(rows, key)
            entry["halfway"][key] = halfway_generation(np.nanmean(lam, axis=0))
            entry["lead_lag"][key] = lead_lag(lam, q)
            entry["tracking"][key] = tracking(lam, q)
        out["conditions"][cond] = entry
    return out
