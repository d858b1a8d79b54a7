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

import logging
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from criticality.collapse import (
    accumulate_bound,
    accumulate_variance_limit,
    expected_log_det,
    expected_mean_error,
    expected_test_error,
    expected_variance,
    gaussian_generations,
    regression_generations,
)
from criticality.collapse.analysis import band, contrast, halfway_generation, lead_lag, tracking
from criticality.executor import map_jobs
from criticality.experiments._registry import register_experiment, render
from criticality.experiments.collapse.config import CONTROL, CollapseConfig
from criticality.experiments.collapse.report import TITLE, scorecard, sections
from criticality.experiments.collapse.results import (
    CollapseResults,
    Condition,
    GaussianCase,
    Metric,
    VariantResults,
    lambda_keys,
)
from criticality.experiments.collapse.units import Unit, run_unit, setup_of
from criticality.reporting import write_results

log = logging.getLogger(__name__)


#: Absolute tolerances of the golden numbers (:func:`headline`).
_TOLERANCE = {"gaussian": 1e-9, "regression": 1e-9, "gmm": 1e-6, "lambda_1": 1e-4,
              "neg_elbo": 1e-3, "test_ppl": 1e-3}  # fmt: skip


def headline(data: dict[str, Any]) -> dict[str, tuple[float, float]]:
    """The golden numbers (:mod:`criticality.experiments._golden`): the last generation's
    variance of each exact Gaussian variant and test error of each regression mode, and per
    recursion variant and condition the last generation's quality and every λ_1 (means over
    seeds).

    Tolerances: the Gaussian and regression cases are float64 NumPy (1e-9); the mixture is
    scikit-learn's float64 EM (1e-6, its convergence tolerance left room). The networks are
    float32: every linear layer's output scaled by one ulp (``1 + 2^-23``) moved λ_1 by at most
    2.1e-7, the VAE's −ELBO (about 45 nats) by 3.8e-6 and the character model's perplexity
    (about 98) by 1.3e-6; the tolerances (1e-4, 1e-3, 1e-3) leave hundreds of times that.
    """
    out: dict[str, tuple[float, float]] = {}
    for name, block in (data.get("gaussian") or {}).items():
        if isinstance(block, dict) and "variance" in block:
            out[f"gaussian.{name}.variance@last"] = (block["variance"]["mean"][-1], 1e-9)
    for mode in ("replace", "accumulate"):
        if mode in (data.get("regression") or {}):
            error = data["regression"][mode]["test_error"]["mean"][-1]
            out[f"regression.{mode}.test_error@last"] = (error, _TOLERANCE["regression"])
    for model in ("gmm", "vae", "charlm"):
        for variant, block in (data.get(model) or {}).items():
            analysis = block["analysis"]
            keys = [analysis["quality"], *lambda_keys(analysis["metrics"])]
            for condition, found in analysis["conditions"].items():
                for key in keys:
                    tol = _TOLERANCE["gmm" if model == "gmm" else Metric.parse(key).measure]
                    value = found["bands"][key]["mean"][-1]
                    out[f"{variant}.{condition}.{key}@last"] = (value, tol)
    return out


@register_experiment(
    "collapse",
    title=TITLE,
    config=CollapseConfig,
    sections=sections,
    scorecard=scorecard,
    summary="recursive training on generated data: quality, tails and λ_1 per generation; "
    "replace / mixed / accumulate and criticality training as remedies",
    demo_rank=60,
    headline=headline,
)
def run(cfg: CollapseConfig, out_dir: str | Path) -> Path:
    """Run (or resume) every model's generations; write ``results.json`` and ``report.html``."""
    cfg.validate()
    out = Path(out_dir)
    found = CollapseResults(
        cfg,
        gaussian=gaussian_study(cfg) if "gaussian" in cfg.models else None,
        regression=regression_study(cfg) if "regression" in cfg.models else None,
    )
    for model in ("gmm", "vae", "charlm"):
        if model in cfg.models:
            # the models finished so far, readable (and exportable) while the rest run
            write_results(out, "collapse", cfg.to_dict(), found.to_dict(), seed=cfg.seed)
            found.recursions[model] = recursion_study(model, cfg, out / "units")
            log.info("collapse: %s done", model)
    write_results(out, "collapse", cfg.to_dict(), found.to_dict(), seed=cfg.seed)
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
                mean_ld, var_ld = expected_log_det(n, g, dim=d, estimator=est)
                row["expected_log_det"] = mean_ld.tolist()
                row["expected_log_det_var"] = var_ld.tolist()
            if mode == "accumulate" and est == "mle":
                row["variance_limit"] = accumulate_variance_limit(n)
            out[GaussianCase(est, mode).label] = row
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


def recursion_study(model: str, cfg: CollapseConfig, units: Path) -> dict[str, VariantResults]:
    """Every condition and seed of ``model`` (per arch for the char-LM), then the analysis."""
    from tqdm.auto import tqdm

    variants = [f"charlm-{a}" for a in cfg.charlm.archs] if model == "charlm" else [model]
    out: dict[str, Any] = {}
    for variant in variants:
        jobs = [
            Unit(variant, Condition.parse(cond), seed, units, cfg)
            for cond in cfg.conditions(model)
            for seed in cfg.seeds
        ]
        done: dict[tuple[str, int], list[dict[str, Any]]] = {}
        bar = tqdm(total=len(jobs), desc=variant, disable=not sys.stderr.isatty())
        began = time.perf_counter()
        for job, rows in map_jobs(run_unit, jobs, executor=cfg.executor, address=cfg.address):
            done[job.condition.label, job.seed] = rows
            bar.update(1)
            spent = time.perf_counter() - began
            log.info("collapse: %s %s seed %d done (unit %d of %d, %.0f s, about %.0f s left)",
                     variant, job.condition.label, job.seed, len(done), len(jobs), spent,
                     spent / len(done) * (len(jobs) - len(done)))  # fmt: skip
        bar.close()
        runs = {c: [done[c, s] for s in cfg.seeds] for c in cfg.conditions(model)}
        reference = setup_of(variant, cfg).get("reference_scores", {})
        out[variant] = VariantResults(runs, reference, analyse(variant, runs))
    return out


# ---------------------------------------------------------------------------------------------
# Analysis

#: Per model: the headline quality (and whether higher is better), tails, and λ_1 parts.
QUALITY = {
    "gmm": ("log_l2_to_true", False),
    "vae": ("neg_elbo", False),
    "charlm-gru": ("test_ppl", False),
    "charlm-transformer": ("test_ppl", False),
}
EXTRA = {
    "gmm": (
        "test_loglik",
        "rare_component_mass",
        "tail_mass",
        "sample_std",
        "l2_to_gen0",
        "log_det_cov",
    ),
    "vae": (
        "neg_iwae",
        "entropy",
        "tail_mass",
        "min_coverage",
        "confidence",
        "latent_mean_gen0",
        "latent_std_gen0",
    ),
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
    lam_keys = [Metric("lambda_1", p).label for p in PARTS[variant]]
    sigma_keys = [Metric("sigma", p).label for p in PARTS[variant] if p != "time"]
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
