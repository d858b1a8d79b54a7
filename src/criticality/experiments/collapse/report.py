"""The report of the collapse experiment, drawn from ``results.json`` only (no recomputing)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from criticality.collapse import expected_log_det
from criticality.collapse.analysis import claim_tests
from criticality.experiments.collapse.config import CONTROL
from criticality.experiments.collapse.results import (
    GAUSSIAN_CASES,
    Condition,
    GaussianCase,
    Metric,
    lambda_keys,
    upgrade,
)
from criticality.numbers import fmt, fmt_ci
from criticality.reporting import Figure, Section, Table
from criticality.reporting.html import Details, side_by_side
from criticality.reporting.scorecard import (
    INCONCLUSIVE,
    NOT_SUPPORTED,
    SUPPORTED,
    ScoreRow,
    combine,
)
from criticality.reporting.verdicts import Verdict, judge_interval
from criticality.reporting.verdicts import thin_evidence as shared_thin

TITLE = "criticality experiment collapse: model collapse and the loss of critical dynamics"

LABELS = {
    "test_loglik": "held-out real log-likelihood (nats/point, higher is better)",
    "log_l2_to_true": "ln of the squared L2 distance to the real mixture (lower is better)",
    "neg_elbo": "negative ELBO on real test images (nats, lower is better)",
    "neg_iwae": "negative IWAE bound, K = 64 (nats)",
    "test_ppl": "perplexity on held-out real text (lower is better)",
    "entropy": "class-histogram entropy of samples (nats; ln 10 = 2.303 uniform)",
    "tail_mass": "tail mass",
    "min_coverage": "min per-class coverage",
    "confidence": "judge confidence",
    "rare_component_mass": "mass in the rarest real component (real: 0.02)",
    "sample_std": "sample spread",
    "sample_ppl_gen0": "perplexity of samples under generation 0",
    "distinct_6": "distinct 6-grams",
    "rare_char_mass": "rare-character mass",
    "rare_word_mass": "rare-word mass",
    "nonword_rate": "non-word rate",
    "seconds": "seconds per generation",
    "l2_to_gen0": "L2 distance² to generation 0's mixture (the reference's divergence)",
    "log_det_cov": "ln det of the mixture's covariance",
    "latent_mean_gen0": "mean of generation 0's encoder means of the samples (reference drift)",
    "latent_std_gen0": "spread of generation 0's encoder means of the samples",
}
TAILS = {
    "gmm": "rare_component_mass",
    "vae": "tail_mass",
    "charlm-gru": "rare_word_mass",
    "charlm-transformer": "rare_word_mass",
}


#: Whether a larger value of each headline quality is better.
HIGHER_IS_BETTER = {
    "test_loglik": True,
    "log_l2_to_true": False,
    "neg_elbo": False,
    "test_ppl": False,
}
SUPPORT_KEY = "collapse-support"
MOVED = {
    SUPPORTED: "moved away from 0",
    NOT_SUPPORTED: "moved toward 0",
    INCONCLUSIVE: "did not move significantly",
}


def _label(key: str) -> str:
    metric = Metric.parse(key)
    if metric.measure == "lambda_1" and metric.part:
        per = "step" if metric.part == "time" else "stage"
        return f"λ_1 of the {metric.part} (nats per {per})"
    if metric.measure == "sigma" and metric.part:
        return f"σ of the {metric.part}"
    return LABELS.get(key, key)


def _fmt(b: dict[str, list[float]], g: int) -> str:
    m, lo, hi = b["mean"][g], b["ci_low"][g], b["ci_high"][g]
    if not math.isfinite(lo):
        return fmt(m)
    return fmt_ci(m, lo, hi)


def sections(data: dict[str, Any], out_dir: Path) -> list[Section]:
    """Exact cases first, then each recursion (mixture, VAE, language models)."""
    data = upgrade(data)  # any known schema; an unknown one is refused, named
    figures = Path(out_dir) / "figures"
    out: list[Section] = [_overview(data)]
    if "gaussian" in data:
        out.append(_gaussian(data["gaussian"], figures))
    if "regression" in data:
        out.append(_regression(data["regression"], figures))
    for model in ("gmm", "vae", "charlm"):
        for variant, block in data.get(model, {}).items():
            out.append(_variant(variant, block, figures))
    repro = reproduction_rows(data)
    if repro:
        out.append(
            Section(
                "Reproduction against the references",
                [
                    "What the references' released code reports, beside what this run measured "
                    "with the same metric (replace/plain, mean over seeds). Scales differ (a "
                    "character GRU on the KJV for OPT-125m on WikiText-2; a dense VAE for their "
                    "convolutional one), so the direction is the test and the sizes are shown, "
                    "not matched.",
                    Table(repro, caption="references: Zakahler/curse_recurse (Shumailov et al.)"),
                ],
                key="collapse-reproduction",
            )
        )
    verdicts = _verdicts(data)
    if verdicts:
        out.append(
            Section(
                "What the data support",
                [_support_paragraph(data, verdicts)],
                key=SUPPORT_KEY,
                headline=True,
            )
        )
    return out


# ---------------------------------------------------------------------------------------------
# Verdicts: the claim's two halves per model, as paired tests over seeds


def _variants(data: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(v, b) for m in ("gmm", "vae", "charlm") for v, b in data.get(m, {}).items()]


def _verdicts(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per variant with the control and ≥ 2 seeds: its claim tests, verdicts, and why the
    evidence is too thin to call (``thin``, ``None`` when it is not)."""
    out = {}
    for variant, block in _variants(data):
        runs = block["runs"]
        quality = block["analysis"]["quality"]
        if CONTROL not in runs or len(runs[CONTROL]) < 2:
            continue
        lam = lambda_keys(block["analysis"]["metrics"])
        tests = claim_tests(
            runs, quality, higher_is_better=HIGHER_IS_BETTER[quality], lambda_keys=lam
        )
        thin = thin_evidence(variant, block, data["config"])
        verdicts = claim_verdicts(tests)
        if thin is not None:  # every verdict of this variant is inconclusive
            verdicts = _all_inconclusive(verdicts, thin)
        out[variant] = {"tests": tests, "verdicts": verdicts, "thin": thin}
    return out


def _all_inconclusive(v: Any, reason: str) -> Any:
    if isinstance(v, dict):
        return {k: _all_inconclusive(x, reason) for k, x in v.items()}
    return Verdict(INCONCLUSIVE, reason) if v in (SUPPORTED, NOT_SUPPORTED) else v


#: Chance level of each headline quality at generation 0 (a learner that never left it did not
#: learn): a uniform next-character guess (perplexity 96), Bernoulli(½) pixels (ln 2 nats each).
CHANCE = {
    "test_ppl": lambda cfg: 96.0,
    "neg_elbo": lambda cfg: (784 if cfg["vae"]["dataset"] == "mnist" else 64) * math.log(2),
}


def thin_evidence(variant: str, block: dict[str, Any], config: dict[str, Any]) -> str | None:
    """Why the data of ``variant`` are too thin for a verdict, or ``None``: fewer than
    :data:`~criticality.reporting.verdicts.MIN_REPLICATES` distinct seeds, or a generation 0
    that never left chance (the shared rule, :func:`criticality.reporting.verdicts.thin_evidence`).
    """
    learned = True
    quality = block["analysis"]["quality"]
    chance = CHANCE.get(quality)
    if chance is not None:
        start = block["analysis"]["conditions"][CONTROL]["bands"][quality]["mean"][0]
        level = chance(config)
        learned = bool(start < 0.9 * level)
        if not learned:
            return f"generation 0 did not learn ({quality} {fmt(start)}, chance {fmt(level)})"
    reason = shared_thin(0.0, 1.0, replicates=list(config.get("seeds", ())), learned=learned)
    return reason or None


def _verdict(c: dict[str, Any]) -> str:
    """The shared rule (:func:`criticality.reporting.verdicts.judge_interval`) on a paired
    comparison: supported when the interval excludes 0 on the positive side, not supported on
    the negative side; inconclusive otherwise, with fewer than 3 pairs, or for an interval of
    zero width (identical runs), with the reason."""
    return judge_interval(c["ci_low"], c["ci_high"], replicates=int(c.get("n", 3)))


def _flip(c: dict[str, Any]) -> dict[str, Any]:
    return {**c, "ci_low": -c["ci_high"], "ci_high": -c["ci_low"]}


def claim_verdicts(tests: dict[str, Any]) -> dict[str, Any]:
    """Verdicts on the claim from :func:`criticality.collapse.analysis.claim_tests`, by these
    rules (95 % paired intervals, :func:`_verdict`):

    * ``collapsed``: the control's quality loss is above 0 (the recursion collapsed at all);
    * ``loss_of_criticality``: only where it collapsed; per network part, *supported* when
      ``|λ_1|`` grew, *not supported* when it shrank (the network moved toward criticality while
      collapsing), *inconclusive* when the interval contains 0; ``None`` without a collapse or
      without a network;
    * ``remedies``: per condition, ``slows_collapse`` *supported* when it lost less quality
      from generation 0 to the last than the control did, *not supported* when it lost more,
      else *inconclusive*; beside it ``better_at_end`` (its quality at the last generation
      against the control's, same rule), the cost at generation 0, and whether it kept
      ``|λ_1|`` smaller.
    """
    collapsed = _verdict(tests["collapse"]) == SUPPORTED
    loss = {k: _verdict(c) for k, c in tests["distance"].items()} if collapsed else {}
    return {
        "collapsed": collapsed,
        "loss_of_criticality": loss or None,
        "remedies": {
            cond: {
                "slows_collapse": _verdict(r["slowing"]),
                "better_at_end": _verdict(r["gain"]),
                "costs_at_generation_0": _verdict(_flip(r["cost"])),
                "closer_to_criticality": {k: _verdict(_flip(c)) for k, c in r["distance"].items()},
            }
            for cond, r in tests["remedies"].items()
        },
    }


def _ci(c: dict[str, Any], kind: Any = "diff") -> str:
    return fmt_ci(c["mean_diff"], c["ci_low"], c["ci_high"], kind)


def _part(key: str) -> str:
    """``lambda_1/encoder`` -> ``encoder``, ``lambda_1/time`` -> ``time (GRU state map)``."""
    part = Metric.parse(key).part or key
    return {"time": "time (GRU state map)"}.get(part, part)


def scorecard(data: dict[str, Any]) -> list[ScoreRow]:
    """M4 in two rows (collapse comes with a loss of criticality; training toward criticality
    slows collapse) and our check that the literature's remedies work here.

    Rules (95 % paired intervals over seeds, :func:`claim_verdicts`; fewer than 3 distinct
    seeds, an interval of zero width or a generation 0 at chance give *inconclusive* with the
    reason, :func:`thin_evidence`):
    a model whose control did not collapse makes the first row inconclusive; per network part,
    ``|λ_1|`` growing under collapse supports it, shrinking contradicts it; a remedy supports
    its row when its quality at the last generation beats the control's; verdicts combine over
    models, parts and methods with :func:`criticality.reporting.scorecard.combine`.
    """
    data = upgrade(data)
    found = _verdicts(data)
    rows: list[ScoreRow] = []
    loss_fig: list[str] = []
    loss_v: list[str] = []
    crit_fig: list[str] = []
    crit_v: list[str] = []
    mode_fig: list[str] = []
    mode_v: list[str] = []
    for variant, entry in found.items():
        t, v = entry["tests"], entry["verdicts"]
        why = f" (inconclusive: {entry['thin']})" if entry["thin"] else ""
        if t["distance"]:
            if entry["thin"]:
                loss_fig.append(f"{variant}{why}")
                loss_v.append(Verdict(INCONCLUSIVE, entry["thin"]))
            elif v["collapsed"]:
                grew = list(v["loss_of_criticality"].values())
                loss_fig.append(f"{variant} {grew.count(SUPPORTED)} of {len(grew)} parts")
                loss_v.append(combine(grew))
            else:
                loss_fig.append(f"{variant} did not collapse")
                loss_v.append(INCONCLUSIVE)
        for cond, r in t["remedies"].items():
            verdict = v["remedies"][cond]["slows_collapse"]
            condition = Condition.parse(cond)
            if condition.mode != "replace":  # a literature's remedy: another data mode
                mode_fig.append(f"{variant} {condition.mode} {_ci(r['slowing'])}{why}")
                mode_v.append(verdict)
            else:  # a criticality method
                crit_fig.append(f"{variant} {condition.method} {_ci(r['slowing'])}{why}")
                crit_v.append(verdict)
    if loss_fig:
        rows.append(ScoreRow(
            "Model collapse comes with a loss of criticality",
            "|λ_1| grew under collapse: " + "; ".join(loss_fig),
            combine(loss_v),
            "paired 95 % CIs over seeds, last generation vs 0; every part must grow",
            SUPPORT_KEY, claim="M4",
        ))  # fmt: skip
    if crit_fig:
        rows.append(ScoreRow(
            "Training toward criticality slows model collapse",
            "quality loss saved: " + "; ".join(crit_fig),
            combine(crit_v),
            "CI of the control's loss of quality minus the method's above 0",
            SUPPORT_KEY, claim="M4",
        ))  # fmt: skip
    if mode_fig:
        rows.append(ScoreRow(
            "Keeping real data slows model collapse (Shumailov et al.: 10 % real; "
            "Gerstgrasser et al.: accumulate)",
            "quality loss saved: " + "; ".join(mode_fig),
            combine(mode_v),
            "as above, for the literature's remedies (not the paper's claim)",
            SUPPORT_KEY,
        ))  # fmt: skip
    return rows + _exact_rows(data)


def _exact_rows(data: dict[str, Any]) -> list[ScoreRow]:
    """Our check that the exact cases follow their closed forms: the largest |z| of the
    simulated mean against the closed form over generations (standard error from the band)."""
    zs: list[float] = []
    if "gaussian" in data:
        g = data["gaussian"]
        for key in (case.label for case in GAUSSIAN_CASES):
            row = g[key]
            # Under replace, v_g is log-normal-like with Var ln v_g growing with g: once its sd
            # passes 1, E v_g (and E‖μ_g‖², which it drives) is carried by runs rarer than the
            # simulation holds, and a sample mean cannot test it; E ln det Σ can, always.
            spread = np.asarray(row.get("expected_log_det_var") or _log_det_var(g, key, row))
            usable = spread <= 1.0
            for sim, exact in (("variance", "expected_variance"),
                               ("mean_error", "expected_mean_error"),
                               ("log_det", "expected_log_det")):  # fmt: skip
                if exact in row:  # E ln det Σ has a closed form under replace
                    keep = np.ones_like(usable) if sim == "log_det" else usable
                    zs += _zs(_subset(row[sim], keep), list(np.asarray(row[exact])[keep]))
    if "regression" in data:
        r = data["regression"]
        for mode in ("replace", "accumulate"):
            zs += _zs(r[mode]["test_error"], r[mode]["expected"])
    if not zs:
        return []
    worst = max(zs)
    return [ScoreRow(
        "The Gaussian and regression recursions follow their closed forms",
        f"largest |z| = {worst:.2f} over {len(zs)} generation-wise checks",
        "agree" if worst < 4.5 else "disagree",
        "|simulated mean − closed form| below 4.5 standard errors at every generation: "
        "E ln det Σ, the regression's test error, E v and E‖μ‖² (under replace only while "
        "sd(ln v) ≤ 1: beyond, their means are carried by runs rarer than those simulated)",
        "collapse-gaussian" if "gaussian" in data else "collapse-regression",
    )]  # fmt: skip


def _log_det_var(g: dict[str, Any], key: str, row: dict[str, Any]) -> list[float]:
    """Var ln det Σ_g under replace in closed form, for results written before it was stored
    (zeros under accumulate, where ``E v`` stays bounded and its mean is testable)."""
    case = GaussianCase.parse(key)
    generations = len(row["variance"]["mean"]) - 1
    if case.mode != "replace":
        return [0.0] * (generations + 1)
    return list(
        expected_log_det(int(g["n"]), generations, dim=int(g["dim"]), estimator=case.estimator)[1]
    )


def _subset(band: dict[str, list[float]], keep: np.ndarray) -> dict[str, list[float]]:
    return {k: list(np.asarray(v)[keep]) for k, v in band.items()}


def _zs(band: dict[str, list[float]], exact: list[float]) -> list[float]:
    m, hi = np.asarray(band["mean"]), np.asarray(band["ci_high"])
    se = (hi - m) / 1.96
    ok = se > 0
    return list(np.abs((m[ok] - np.asarray(exact)[ok]) / se[ok]))


def _support_paragraph(data: dict[str, Any], found: dict[str, dict[str, Any]]) -> str:
    """The verdicts in words: per model, did it collapse, did λ_1 move away from 0, which
    remedy helped; then the claim's two halves."""
    words = []
    for variant, entry in found.items():
        t, v = entry["tests"], entry["verdicts"]
        g = t["generations"]
        q = _label(t["quality"]).split(" (")[0]
        if entry["thin"]:
            words.append(f"{variant}: no verdict, {entry['thin']}.")
        if not v["collapsed"]:
            words.append(
                f"{variant}: the {q} did not get significantly worse over {g} generations "
                f"of replace/plain (loss {_ci(t['collapse'])}), so there is no collapse to "
                "explain here."
            )
        else:
            text = (
                f"{variant}: the {q} got worse over {g} generations of replace/plain "
                f"(loss {_ci(t['collapse'])})"
            )
            if t["distance"]:
                moved = []
                for k, c in t["distance"].items():
                    how = MOVED[v["loss_of_criticality"][k]]
                    moved.append(f"λ_1 ({_part(k)}) {how} (Δ|λ_1| {_ci(c, 'exponent')})")
                text += "; " + ", ".join(moved)
            words.append(text + ".")
        rem = v["remedies"]
        if rem:
            slow = [c for c, r in rem.items() if r["slows_collapse"] == SUPPORTED]
            fast = [c for c, r in rem.items() if r["slows_collapse"] == NOT_SUPPORTED]
            up = [c for c, r in rem.items() if r["better_at_end"] == SUPPORTED]
            down = [c for c, r in rem.items() if r["better_at_end"] == NOT_SUPPORTED]
            words.append(
                f"Lost less quality than the control by generation {g}: "
                f"{', '.join(slow) or 'none'}; lost more: {', '.join(fast) or 'none'}. "
                f"Better than the control at generation {g}: {', '.join(up) or 'none'}; "
                f"worse: {', '.join(down) or 'none'}. The rest lie within the noise of "
                f"{t['collapse']['n']} seeds."
            )
    rows = {r.statement: r for r in scorecard(data) if r.claim == "M4"}
    claim = []
    for r in rows.values():
        claim.append(f"“{r.statement}”: {r.verdict}.")
    lead = "In sum, on this run: " + " ".join(claim) if claim else ""
    return " ".join(words) + (" " + lead if lead else "")


def _overview(data: dict[str, Any]) -> Section:
    cfg = data["config"]
    return Section(
        "What was run",
        [
            "Generation 0 of each model is trained on real data; generation n + 1 on samples of "
            "generation n (Shumailov et al., Nature 2024). Data modes: replace (only the newest "
            "samples), mixed (a share of generation 0's real data each generation; mixed_fresh "
            "draws it from all real data), accumulate (real data plus every earlier "
            "generation's samples; Gerstgrasser et al. 2024). Quality is "
            "always scored on held-out real data. Criticality (λ_1 across depth, σ; across time "
            "for the GRU) is measured on fixed probes at every generation.",
            f"Models {', '.join(cfg['models'])}; seeds {list(cfg['seeds'])}; "
            f"{cfg['generations']} generations after generation 0 for the networks, "
            f"{(cfg.get('gmm') or {}).get('generations') or cfg['generations']} for the "
            "mixture, "
            f"{cfg['stat_generations']} for the Gaussian and regression cases; mixed keeps "
            f"{cfg['real_fraction']:.0%} real data; each generation starts from "
            f"{'the previous weights' if cfg['warm_start'] else 'a fresh initialisation'}. "
            "Intervals are 95 % Student-t intervals over seeds (normal intervals over runs for "
            "the exact cases); contrasts are paired by seed against replace/plain.",
        ],
    )


def _gaussian(g: dict[str, Any], figures: Path) -> Section:
    from criticality.reporting.plots import save, subplots

    fig, axes = subplots(3, (15.0, 4.0))
    for case in sorted(GAUSSIAN_CASES, key=lambda c: c.estimator):  # mle's two modes first
        row = g[case.label]
        style = {"mle": "-", "unbiased": "--"}[case.estimator]
        color = {"replace": "C0", "accumulate": "C1"}[case.mode]
        x = np.arange(len(row["variance"]["mean"]))
        lab = f"{case.estimator}, {case.mode}"
        axes[0].plot(x, row["variance"]["mean"], style, color=color, label=f"{lab} (sim)")
        axes[0].plot(x, row["expected_variance"], ":", color="k", lw=0.8)
        axes[1].plot(x, row["mean_error"]["mean"], style, color=color, label=lab)
        axes[1].plot(x, row["expected_mean_error"], ":", color="k", lw=0.8)
        axes[2].plot(x, row["tail_mass"]["mean"], style, color=color, label=lab)
    axes[1].axhline(g["bound"], color="r", lw=1, label="π²/6 · d/N (accumulate bound)")
    axes[2].axhline(0.05, color="grey", lw=0.8)
    for ax, title in zip(
        axes,
        ("mean variance E v_g", "mean error E‖μ_g‖²", "mass beyond real 5 % tails"),
        strict=True,
    ):
        ax.set_xlabel("generation")
        ax.set_title(title)
    axes[0].set_yscale("log")
    axes[1].set_yscale("log")
    axes[0].legend(fontsize=7)
    axes[1].legend(fontsize=7)
    path = save(fig, figures / "gaussian.png")
    last = len(g["mle/replace"]["variance"]["mean"]) - 1
    rows = []
    for key in (case.label for case in GAUSSIAN_CASES):
        r = g[key]
        rows.append(
            {
                "estimator/mode": key,
                "E v_G (closed form)": r["expected_variance"][last],
                "v_G simulated": _fmt(r["variance"], last),
                "E‖μ_G‖² (closed form)": r["expected_mean_error"][last],
                "‖μ_G‖² simulated": _fmt(r["mean_error"], last),
                "tail mass at G: mean": _fmt(r["tail_mass"], last),
                "median": fmt(r["tail_mass_median"][last]) if "tail_mass_median" in r else "–",
                "runs that lost their tails": (
                    f"{r['tails_lost_share'][last]:.0%}" if "tails_lost_share" in r else "–"
                ),
            }
        )
    return Section(
        "Gaussian: the exact case",
        [
            f"N = {g['n']} points per generation, d = {g['dim']}. Under replace the variance "
            "decays geometrically for the MLE and its logarithm drifts down for both estimators "
            "(the unbiased estimator keeps E v = 1 while v → 0 almost surely); the mean is a "
            "random walk. Accumulating keeps the mean error below π²/6 · d/N, and the MLE's "
            "expected variance converges to sin(π/√N)/(π/√N)"
            + (
                f" = {g['mle/accumulate']['variance_limit']:.4f}"
                if "variance_limit" in g.get("mle/accumulate", {})
                else ""
            )
            + " instead of decaying. The mass beyond the real 5 % tails is skewed across runs: "
            "its mean is carried by a few runs, so the table gives its median and the share of "
            "runs whose fit keeps under 0.001 of it (lost their tails). Dotted lines: closed "
            "forms.",
            Table(rows, caption=f"generation G = {last}"),
            Figure(path, "Gaussian refitted to its own samples: simulation vs closed forms"),
        ],
        key="collapse-gaussian",
    )


def _regression(r: dict[str, Any], figures: Path) -> Section:
    from criticality.reporting.plots import axes, save

    fig, ax = axes(None, (6.5, 4.0))
    for mode, color in (("replace", "C0"), ("accumulate", "C1")):
        x = np.arange(len(r[mode]["expected"]))
        ax.plot(x, r[mode]["test_error"]["mean"], color=color, label=f"{mode} (simulated)")
        ax.plot(x, r[mode]["expected"], ":", color="k", lw=0.8)
    ax.axhline(r["bound"], color="r", lw=1, label="π²/6 × generation-0 error")
    ax.set_yscale("log")
    ax.set_xlabel("generation")
    ax.set_ylabel("test error ‖ŵ − w*‖²")
    ax.legend(fontsize=8)
    path = save(fig, figures / "regression.png")
    last = len(r["replace"]["expected"]) - 1
    return Section(
        "Linear regression (Gerstgrasser et al.)",
        [
            f"T = {r['n']} rows, d = {r['dim']}, noise σ = 1, fixed design. Replace: the test "
            f"error grows linearly, {r['replace']['test_error']['mean'][last]:.3g} at generation "
            f"{last} (closed form {r['replace']['expected'][last]:.3g}). Accumulate: "
            f"{r['accumulate']['test_error']['mean'][last]:.3g} (closed form "
            f"{r['accumulate']['expected'][last]:.3g}), under the bound {r['bound']:.3g}.",
            Figure(path, "regression test error per generation; dotted: closed forms"),
        ],
        key="collapse-regression",
    )


def _variant(variant: str, block: dict[str, Any], figures: Path) -> Section:
    from criticality.reporting.plots import save, subplots

    analysis = block["analysis"]
    conds = list(analysis["conditions"])
    quality = analysis["quality"]
    lam_keys = lambda_keys(analysis["metrics"])
    panels = [quality, TAILS[variant], *lam_keys]
    fig, axes = subplots(len(panels), (4.2 * len(panels), 3.8))
    for ax, key in zip(axes, panels, strict=True):
        for i, cond in enumerate(conds):
            b = analysis["conditions"][cond]["bands"][key]
            x = np.arange(len(b["mean"]))
            ax.plot(x, b["mean"], marker="o", ms=3, color=f"C{i}", label=cond)
            lo, hi = np.asarray(b["ci_low"]), np.asarray(b["ci_high"])
            if np.isfinite(lo).all():
                ax.fill_between(x, lo, hi, color=f"C{i}", alpha=0.15)
        if key in lam_keys:
            ax.axhline(0.0, color="k", lw=0.8, ls="--")
        ax.set_xlabel("generation")
        ax.set_title(_label(key), fontsize=8)
    axes[0].legend(fontsize=7)
    items: list[Any] = [
        _reading(variant, block),
        Figure(save(fig, figures / f"{variant}.png"), f"{variant}: per generation, 95 % CIs"),
    ]
    profile = _profile_figure(variant, block, figures)
    if profile is not None:
        items.append(profile)
    hist = _histogram_figure(variant, block, figures)
    if hist is not None:
        items.append(hist)
    folded: list[Any] = [
        Table(_final_rows(analysis), caption="last generation, mean [95 % CI] over seeds")
    ]
    contrasts = _contrast_rows(analysis)
    if contrasts:
        folded.append(Table(contrasts, caption="paired by seed against replace/plain"))
    folded.append(Table(_lead_rows(analysis), caption=_LEAD_CAPTION))
    items = [
        *side_by_side(items),
        Details("The last generation, paired contrasts, lead-lag", folded),
    ]
    return Section(f"{variant}: recursion", items)


_LEAD_CAPTION = (
    "who moves first: the halfway generation is where a curve (mean over seeds) first covers "
    "half of its largest excursion from generation 0; best lag: the lag of the largest |r| "
    "between Δλ_1(g) and Δquality(g + lag) pooled over seeds (> 0: λ_1 moves first); ρ: "
    "Spearman of quality against λ_1 over all (seed, generation) points"
)


def _final_rows(analysis: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for cond, entry in analysis["conditions"].items():
        bands = entry["bands"]
        last = len(bands[analysis["quality"]]["mean"]) - 1
        row: dict[str, Any] = {"condition": cond}
        for key in analysis["metrics"]:
            row[key] = _fmt(bands[key], last)
        rows.append(row)
    return rows


def _contrast_rows(analysis: dict[str, Any]) -> list[dict[str, Any]]:
    keys = [analysis["quality"], *lambda_keys(analysis["metrics"])]
    rows = []
    for cond, entry in analysis["conditions"].items():
        for when in ("contrast_first", "contrast_final"):
            for key in keys:
                c = entry[when].get(key)
                if c is None:
                    continue
                rows.append(
                    {
                        "condition − control": cond,
                        "generation": "0" if when == "contrast_first" else "last",
                        "metric": key,
                        "mean diff": c["mean_diff"],
                        "ci low": c["ci_low"],
                        "ci high": c["ci_high"],
                        "p (t)": c["p_t"],
                        "n": c["n"],
                    }
                )
    return rows


def _lead_rows(analysis: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for cond, entry in analysis["conditions"].items():
        for key, ll in entry["lead_lag"].items():
            tr = entry["tracking"][key]
            rows.append(
                {
                    "condition": cond,
                    "λ_1 of": Metric.parse(key).part,
                    "halfway: quality": entry["halfway"]["quality"],
                    "halfway: λ_1": entry["halfway"][key],
                    "best lag": ll["best_lag"],
                    "r at lag 0": ll["r"][ll["lags"].index(0)],
                    "ρ(quality, λ_1)": tr["rho_quality_vs_lambda"],
                    "p": tr["p_quality_vs_lambda"],
                }
            )
    return rows


def _reading(variant: str, block: dict[str, Any]) -> str:
    """A paragraph in words of the control's drift and each condition's difference."""
    analysis = block["analysis"]
    q = analysis["quality"]
    conds = analysis["conditions"]
    ctrl = conds.get(CONTROL)
    if ctrl is None:
        return "The control replace/plain was not run."
    b = ctrl["bands"][q]
    last = len(b["mean"]) - 1
    parts = [
        f"Under replace/plain the {_label(q)} went from {fmt(b['mean'][0])} at generation 0 to "
        f"{fmt(b['mean'][last])} at generation {last}."
    ]
    for key in lambda_keys(analysis["metrics"]):
        lb = ctrl["bands"][key]
        parts.append(
            f"λ_1 of the {Metric.parse(key).part}: {fmt(lb['mean'][0], 'exponent')} → "
            f"{fmt(lb['mean'][last], 'exponent')}."
        )
    for cond, entry in conds.items():
        c = entry["contrast_final"].get(q)
        if c is None:
            continue
        c0 = entry["contrast_first"][q]
        parts.append(
            f"{cond} − control at the last generation: {_ci(c)} (paired t p = "
            f"{fmt(c['p_t'], 'p')}); at generation 0 (the cost): {fmt(c0['mean_diff'], 'diff')}."
        )
    return " ".join(parts)


def _profile_figure(variant: str, block: dict[str, Any], figures: Path) -> Figure | None:
    """Per-stage ``ln g_l`` at generation 0 and at the last generation, for every condition
    (mean over seeds), one panel per network part."""
    from criticality.reporting.plots import save, subplots

    runs = block["runs"]
    first = {Metric.parse(k) for rows in runs.values() for k in rows[0][0]}
    parts = sorted({m.part for m in first if m.measure == "stage_log_gain" and m.part})
    if not parts:
        return None
    fig, axes = subplots(len(parts), (4.5 * len(parts), 3.6))
    for ax, part in zip(axes, parts, strict=True):
        key = Metric("stage_log_gain", part).label
        for i, (cond, rows) in enumerate(runs.items()):
            names = rows[0][0][Metric("stage_names", part).label]
            first = np.mean([seed_rows[0][key] for seed_rows in rows], axis=0)
            last = np.mean([seed_rows[-1][key] for seed_rows in rows], axis=0)
            x = np.arange(len(names))
            ax.plot(x, first, ":", marker=".", color=f"C{i}")
            ax.plot(x, last, "-", marker="o", ms=3, color=f"C{i}", label=cond)
            ax.set_xticks(x, names, rotation=60, fontsize=6)
        ax.axhline(0.0, color="k", lw=0.8, ls="--")
        ax.set_title(f"{part}: ln g_l per stage", fontsize=8)
    axes[0].legend(fontsize=7)
    return Figure(
        save(fig, figures / f"{variant}_stages.png"),
        "per-stage local exponents ln g_l (0 = critical): dotted generation 0, solid the last "
        "generation; mean over seeds",
    )


def _histogram_figure(variant: str, block: dict[str, Any], figures: Path) -> Figure | None:
    """Char-LMs: per-window perplexity of samples under generation 0 (control, first seed)."""
    from criticality.reporting.plots import axes, save

    rows = block["runs"].get(CONTROL, [[]])[0]
    if not rows or "sample_ppl_hist" not in rows[0]:
        return None
    fig, ax = axes(None, (6.5, 4.0))
    cmap_n = max(len(rows) - 1, 1)
    for g, row in enumerate(rows):
        h = row["sample_ppl_hist"]
        edges = np.exp(np.asarray(h["edges"]))
        centres = np.sqrt(edges[1:] * edges[:-1])
        ax.plot(centres, h["density"], color=_viridis(g / cmap_n), label=f"gen {g}")
    ax.set_xscale("log")
    ax.set_xlabel("perplexity of a generated window under generation 0")
    ax.set_ylabel("density (per unit ln perplexity)")
    ax.legend(fontsize=7, ncol=2)
    return Figure(
        save(fig, figures / f"{variant}_ppl_hist.png"),
        "Shumailov et al.'s signature: the distribution of generated text under the first "
        "model, generation by generation (replace/plain, first seed)",
    )


def _viridis(t: float) -> Any:
    import matplotlib

    return matplotlib.colormaps["viridis"](t)


# ---------------------------------------------------------------------------------------------
# Reproduction: the references' figures beside ours

#: The VAE notebook's printed drift (``VAE_experiments.ipynb`` cell 13 output): mean and spread
#: of generation 0's encoder means of 100 samples of the 1st and the 5th recursive VAE.
REF_VAE_DRIFT = {"mean": (0.0037, 0.0559), "std": (0.6736, 0.4329)}
#: The mixture notebook's printed L2 distance to generation 0 after 2,050 refits at N = 1,000
#: (``Normals_GMM_experiments.ipynb`` cell 6 output), and its components' spread (cell 4).
REF_GMM_L2, REF_GMM_STD = 536.28, (0.90, 0.010)


def _control_curve(data: dict[str, Any], model: str, variant: str, key: str) -> list[float] | None:
    block = data.get(model, {}).get(variant)
    if block is None:
        return None
    band = block["analysis"]["conditions"].get(CONTROL, {}).get("bands", {}).get(key)
    return None if band is None else list(band["mean"])


def _way(a: float, b: float) -> str:
    return "rises" if b > a else "falls" if b < a else "flat"


def reproduction_rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per reference figure that this run measured: the reference's value and
    direction, ours, and whether the directions agree."""
    rows: list[dict[str, Any]] = []

    def add(what: str, ref: str, ref_way: str, ours: list[float] | None, i: int = 0) -> None:
        if ours is None or len(ours) < 2:
            return
        a, b = ours[i], ours[-1]
        rows.append({"quantity": what, "reference": ref, "ours (replace/plain)":
                     f"{fmt(a)} → {fmt(b)} (gen {i} → {len(ours) - 1})",
                     "direction agrees": "yes" if _way(a, b) == ref_way else "no"})  # fmt: skip

    cfg = data["config"]
    if cfg.get("charlm", {}).get("decoding") == "beam":
        for variant in data.get("charlm", {}):
            add(f"{variant}: perplexity of samples under generation 0",
                "falls: beam-searched samples become more probable under the first model "
                "(Shumailov et al., Fig. 1; main.py line 305)", "falls",
                _control_curve(data, "charlm", variant, "sample_ppl_gen0"))  # fmt: skip
            add(f"{variant}: perplexity on real test text",
                "rises over generations (Shumailov et al., Fig. 1)", "rises",
                _control_curve(data, "charlm", variant, "test_ppl"))  # fmt: skip
    if "vae" in data:
        m0, m1 = REF_VAE_DRIFT["std"]
        add("VAE: spread of generation 0's encoder means of the samples",
            f"{m0} → {m1} over 5 generations (falls by {1 - m1 / m0:.0%}; notebook cell 13)",
            "falls", _control_curve(data, "vae", "vae", "latent_std_gen0"), i=1)  # fmt: skip
        a0, a1 = REF_VAE_DRIFT["mean"]
        add("VAE: mean of generation 0's encoder means of the samples",
            f"{a0} → {a1} (drifts up; cell 13)", "rises",
            _control_curve(data, "vae", "vae", "latent_mean_gen0"), i=1)  # fmt: skip
    if "gmm" in data:
        add("mixture: L2 distance² to generation 0",
            f"0 → {REF_GMM_L2} after 2,050 refits at N = 1,000 (notebook cell 6)", "rises",
            _control_curve(data, "gmm", "gmm", "l2_to_gen0"))  # fmt: skip
        add("mixture: ln det of the fitted covariance",
            f"falls: component spread {REF_GMM_STD[0]} → {REF_GMM_STD[1]} (cell 4)", "falls",
            _control_curve(data, "gmm", "gmm", "log_det_cov"))  # fmt: skip
    return rows
