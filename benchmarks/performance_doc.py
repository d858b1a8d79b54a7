"""The tables of ``docs/performance.md`` and the README's cost table, generated from the
recorded results in ``benchmarks/results/`` so that the documents cannot drift from them.

Each generated block sits between ``<!-- generated: NAME -->`` and ``<!-- end: NAME -->``;
everything outside the markers is prose and stays as written. ``--check`` changes nothing and
exits with status 1 when a block differs from what the results files give (the test suite
runs it).

Run: ``python benchmarks/performance_doc.py [--check]``.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
DOCS = (ROOT / "docs" / "performance.md", ROOT / "README.md")

NAMES = {"mlp": "MLP (depth 20, width 512)", "resnet18": "ResNet-18", "resnet50": "ResNet-50",
         "vit_b_16": "ViT-B/16"}  # fmt: skip
OTHER_MEASURES = ("branching", "dynamic_range", "susceptibility", "avalanches", "weight_alpha")


def load(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _f(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _table(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _verdict(text: str | None) -> str:
    """``"met (2.03 vs ≤ 2.5)"`` -> ``"**met**"`` / ``"missed"`` (the numbers are in the row)."""
    if not text:
        return "–"
    return "**met**" if text.startswith("met") else text.split(" ")[0]


def _loaded(m: dict[str, Any]) -> bool:
    """A run whose 1-minute load average exceeded the machine's cores (older results without
    ``cpus`` count as taken on 2 cores, the machine they were taken on)."""
    return float(m["load_average_1min"]) > int(m.get("cpus") or 2)


def _how(m: dict[str, Any]) -> str:
    text = (
        f"{m['device']}, {m['threads']} thread(s), {m.get('clock', 'wall time')}, "
        f"load average {m['load_average_1min']:.0f}"
    )
    if _loaded(m):
        text += " (**loaded**)"
    return text


def _provenance(row: dict[str, Any]) -> str:
    """How a row was measured, and which keys were timed again and how."""
    text = f"{row['model']}: {_how(row['measured'])}, {row.get('rounds', 3)} rounds"
    again: dict[str, list[str]] = {}
    for key, m in row.get("retimed", {}).items():
        again.setdefault(f"{_how(m)}, {m.get('rounds', '?')} rounds", []).append(key)
    for how, keys in again.items():
        text += f" ({', '.join(keys)} again: {how})"
    if row.get("note"):
        text += f" [{row['note']}]"
    return text


def lyapunov_table(mc: dict[str, Any]) -> str:
    rows = []
    for r in mc["rows"]:
        fe, t = r["forward_equivalents_per_input"], mc["targets"].get(r["model"], {})
        ww = r.get("weightwatcher_analyze_forward_equivalents")
        rows.append([
            NAMES.get(r["model"], r["model"]),
            _f(fe.get("lyapunov_k1"), 2), _f(fe.get("naive_jvp_loop_k1")),
            _verdict(t.get("lyapunov_k1")),
            _f(fe.get("lyapunov_k8"), 2), _f(fe.get("naive_jvp_loop_k8")),
            _f(fe.get("batched_k8")), _verdict(t.get("lyapunov_k8")),
            f"{r['jacrev_full_forward_equivalents_per_input']:.0f}",
            "n/a" if ww is None else f"{ww:.0f}",
        ])  # fmt: skip
    head = ["model", "λ_1 (k = 1)", "naive `jvp` loop, k = 1",
            "target λ_1 (≤ 2.5; MLP ≤ 4)", "top-8", "naive `jvp` loop, k = 8",
            "k = 8 as batch entries (`batched_k8`)",
            "target top-8 (≤ 8)", "full Jacobian (`jacrev`)",
            "weightwatcher `analyze()`"]  # fmt: skip
    probes = mc["rows"][0]["n_probes"]
    finite = [r["agreement"]["k1_vs_naive_max_abs"] for r in mc["rows"]]
    worst = max(a for a in finite if math.isfinite(a))
    odd = [
        r["model"] for r in mc["rows"] if not math.isfinite(r["agreement"]["k1_vs_naive_max_abs"])
    ]
    where = "; ".join(_provenance(r) for r in mc["rows"])
    return (
        _table(head, rows)
        + f"\n\nForward-pass equivalents per probe input ({probes} Gaussian probes at 224 px; the "
        "MLP 512 inputs, 10 outputs), median over rounds of the time of the call over the time "
        "of a plain forward pass of the same batch timed right before and after it (absolute "
        "seconds in the JSON). Measured: "
        f"{where}. The local exponents of λ_1 and of the naive loop differ by at most "
        f"{worst:.1e} nats per stage (float32)"
        + (
            f"; not comparable for {', '.join(odd)} (a zero Jacobian in the last stage: log 0 "
            "is −inf in the naive loop and the float32 floor in ours)"
            if odd
            else ""
        )
        + ". From `benchmarks/results/measure_cost.json`."
    )


def ftle_table(mc: dict[str, Any]) -> str:
    rows = []
    for r in mc["rows"]:
        fe, f = r["forward_equivalents_per_input"], r["ftle"]
        lz, pw = f.get("lanczos", {}), f.get("power", {})
        rows.append([
            NAMES.get(r["model"], r["model"]),
            _f(fe.get("ftle_lanczos")), str(lz.get("iterations", "–")),
            f"{lz['rel_change']:.1e}" if lz else "–",
            _f(fe.get("ftle_power_to_tol")), str(pw.get("iterations", "–")),
            _f(fe.get("ftle_power_10_steps")),
            (f"{lz['value']:.4f}" if lz else "–") + " / " + (f"{pw['value']:.4f}" if pw else "–"),
        ])  # fmt: skip
    head = ["model", "Lanczos to < 1e-3", "steps", "last relative change", "power iteration to "
            "< 1e-3", "steps", "power iteration, fixed 10 steps (the old scan)",
            "FTLE (nats per stage): Lanczos / power"]  # fmt: skip
    verdict = mc["targets"].get("resnet18", {}).get("ftle_lanczos")
    text = _table(head, rows) + (
        "\n\nForward-pass equivalents per probe input, same runs as the λ_1 table (power "
        "iteration to the tolerance on the MLP and ResNet-18 only)."
    )
    if verdict:
        text += f" Target on ResNet-18 (≤ 20 to a change < 1e-3): {verdict}."
    return text


def scan_block(fs: dict[str, Any]) -> str:
    ok = [r for r in fs["rows"] if r["status"] == "ok"]
    slow = sorted(ok, key=lambda r: -r["seconds"])[:3]
    cpu, wall = fs["cpu_seconds"] / 60, fs["wall_seconds"] / 60
    ftle_s, lyap_s = fs["measure_seconds"]["ftle"], fs["measure_seconds"]["lyapunov"]
    s = fs["settings"]
    failed = [f"{r['model']} ({r['reason'] or r['status']})" for r in fs["rows"]
              if r["status"] != "ok"]  # fmt: skip
    lines = [
        f"| models | measured | FTLE converged | FTLE steps (median / max) | CPU time | "
        f"wall time (shared machine, load ~{fs['machine']['load_average_1min']:.0f}"
        f"{', **loaded**' if _loaded(fs['machine']) else ''}) | "
        "target ≤ 10 min |",
        "|---|---|---|---|---|---|---|",
        f"| {fs['models']} | {fs['ok']} | {fs['ftle_converged']} of {fs['ok']} | "
        f"{fs['ftle_steps_median']} / {fs['ftle_steps_max']} | {cpu:.1f} min | {wall:.0f} min | "
        f"{'**met**' if cpu <= 10 else 'missed'} |",
        "",
        f"{s['image_size']} px, {s['n_probes']} probes, `lyapunov` (k = {s['k']}) and `ftle` "
        f"({s['ftle']}), one thread. Of the measuring time the FTLE took "
        f"{ftle_s / (ftle_s + lyap_s):.0%} ({ftle_s / 60:.1f} min) and `lyapunov` "
        f"{lyap_s / 60:.1f} min; the slowest models: "
        + ", ".join(f"{r['model']} {r['seconds']:.0f} s" for r in slow)
        + (f"; not measured: {', '.join(failed)}" if failed else "")
        + ". From `benchmarks/results/full_scan.json` (`benchmarks/full_scan.py`).",
    ]
    return "\n".join(lines)


REG_KEYS = {
    "critical (defaults: jvp, sub_batch 16, 1 direction)": "critical",
    "critical previous implementation": "previous",
    "floor (extra forward+backward of 32 rows)": "floor",
}


def regularizer_table(reg: dict[str, Any], source: str = "regularizer_overhead") -> str:
    rows = []
    var = reg.get("gradient_variance", {})
    cnn = reg["mnist_cnn"]
    cnn_ratio = {REG_KEYS.get(k, k): v for k, v in cnn["ratio"].items()}
    cnn_interval = {REG_KEYS.get(k, k): v for k, v in cnn.get("interval_95", {}).items()}
    entries = [("MNIST CNN", "mnist cnn", cnn["plain_ms"], cnn_ratio, cnn_interval)]
    for name, row in reg["mlp_depth_width_256"].items():
        ratio = row["ratio"] if isinstance(row["ratio"], dict) else {"critical": row["ratio"]}
        entries.append((name.replace("mlp", "MLP") + ", width 256", name, row["plain_ms"], ratio,
                        row.get("interval_95", {})))  # fmt: skip
    verdicts = reg.get("verdicts", {})
    for label, key, plain, ratio, interval in entries:
        v = var.get(key)
        critical = _f(ratio.get("critical"), 2)
        if "critical" in interval:  # results from before the intervals have none
            critical += " [{:.2f}, {:.2f}]".format(*interval["critical"])
        rows.append([
            label, f"{plain:.1f}", critical, _f(ratio.get("previous"), 2),
            _f(ratio.get("floor"), 2), _verdict(verdicts.get(key)),
            "–" if v is None else f"{v['ratio']:.3f} ({v['max_relative_difference_per_draw']:.0e})",
        ])  # fmt: skip
    head = ["network", "plain step (ms)", "critical (defaults)", "previous implementation",
            "floor: + forward/backward of 32 rows", "target (CNN ≤ 1.3, MLP ≤ 1.5)",
            "gradient variance new / previous (largest relative difference per draw)"]  # fmt: skip
    others = [[k, f"{v:.2f}"] for k, v in cnn["ratio"].items()
              if REG_KEYS.get(k) is None and k != "plain"]  # fmt: skip
    others += [[f"critical, {k}", f"{v:.2f}"] for k, v in reg["mnist_cnn_sub_batch"].items()
               if k != "plain"]  # fmt: skip
    m = reg["machine"] if isinstance(reg.get("machine"), dict) else None
    return (
        _table(head, rows)
        + ("\n\n" + _table(["MNIST CNN, variant", "× a plain step"], others) if others else "")
        + "\n\nTime of a training step (batch 128, 1×28×28, Adam) with the penalty over a plain "
        f"step: the median of the per-round ratios over {reg['rounds']} interleaved rounds of "
        f"{reg['steps_per_round']} steps with a bootstrap 95 % interval, on which the target is "
        "read (met: the interval at or below it; undecided: the interval holds it)"
        + (f" ({_how(m)})" if m else "")
        + "; gradient variance over "
        + str(next(iter(var.values()))["draws"] if var else "–")
        + f" tangent draws at a fixed model and batch ({reg.get('mode', 'full')} run). From "
        f"`benchmarks/results/{source}.json`."
    )


def memory_table(mc: dict[str, Any]) -> str:
    mem = mc["peak_memory_mib_above_model"]
    head = ["read-out outputs", *(f"`{k}` peak MiB" for k in mem)]
    rows = [[f"{int(d):,}", *(f"{mem[k][d]:.1f}" for k in mem)] for d in mem["lyapunov"]]
    return _table(head, rows) + (
        "\n\nPeak resident memory above the built model (MLP of depth 8, width 1,024, 4 probes; "
        "`lyapunov` k = 1, `ftle` with its defaults, `jacrev` of one input), a fresh process "
        "each, from `benchmarks/results/measure_cost.json`."
    )


def scaling_table(sc: dict[str, Any]) -> str:
    labels = {"forward": "forward pass", "lyapunov_k1": "λ_1", "lyapunov_k8": "top-8",
              "ftle_10_steps": "FTLE, 10 Lanczos steps"}  # fmt: skip
    rows = []
    for sweep, data in sc["sweeps"].items():
        sizes = data["sizes"]
        steps = [str(r["ftle_steps_to_1e-3"]) for r in data["rows"]]
        exps = [f"{data['exponents'][k]:.2f}" for k in labels]
        rows.append([sweep, f"{sizes[0]:,} → {sizes[-1]:,}", *exps, ", ".join(steps)])
    head = ["sweep", "sizes", *(f"exponent: {v}" for v in labels.values()),
            "FTLE steps to < 1e-3"]  # fmt: skip
    return _table(head, rows) + (
        "\n\nSlope of log time on log size (1 = linear) on random tanh MLPs (σ_w = 1): depth at "
        "width 64, width at depth 8, batch at depth 20 and width 256; 4 probes where not varied; "
        f"{_how(sc['machine'])}."
        + (f" Note: {sc['note']}." if sc.get("note") else "")
        + " From `benchmarks/results/scaling.json`."
    )


def readme_cost(mc: dict[str, Any]) -> str:
    rows = []
    for r in mc["rows"]:
        fe = r["forward_equivalents_per_input"]
        ww = r.get("weightwatcher_analyze_forward_equivalents")
        rows.append([
            NAMES.get(r["model"], r["model"]), _f(fe.get("lyapunov_k1")),
            _f(fe.get("lyapunov_k8")), _f(fe.get("ftle_lanczos"), 0),
            *(_f(fe.get(m), 0) for m in OTHER_MEASURES),
            f"{r['jacrev_full_forward_equivalents_per_input']:.0f}",
            "n/a" if ww is None else f"{ww:.0f}",
        ])  # fmt: skip
    head = ["model", "λ_1 (k = 1)", "top-8", "FTLE (Lanczos, to < 1e-3)", "branching",
            "dynamic range", "susceptibility", "avalanches", "weight α",
            "full Jacobian (`jacrev`)", "weightwatcher `analyze()`"]  # fmt: skip
    return _table(head, rows)


def nonfinite_table(nf: dict[str, Any]) -> str:
    """The cost of the per-stage non-finite checks (``nonfinite_cost.json``)."""
    rows = [
        [r["model"], r["measure"], f"{r['ratio']:.3f}",
         f"[{r['interval_95'][0]:.3f}, {r['interval_95'][1]:.3f}]", f"{r['check_share']:.3f}",
         f"{r['implied_ratio']:.3f}", "**met**" if r["implied_ratio"] <= 1.05 else "missed"]
        for r in nf["rows"]
    ]  # fmt: skip
    head = ["model", "measure", "checks on / off", "95 % interval", "checks' own share",
            "implied ratio", "target ≤ 1.05"]  # fmt: skip
    return (
        _table(head, rows)
        + f"\n\nProcess CPU time with the checks on over off, alternating rounds "
        f"({nf['rounds']} rounds; {_how(nf['machine'])}); the checks' own share is timed "
        "inside the calls and gives the implied ratio, which the target is read on (the "
        "on/off ratio's interval is wider than the effect). From "
        "`benchmarks/results/nonfinite_cost.json`."
    )


BLOCKS: dict[str, tuple[str, Callable[[dict[str, Any]], str]]] = {
    "TABLE_LYAPUNOV": ("measure_cost", lyapunov_table),
    "TABLE_FTLE": ("measure_cost", ftle_table),
    "TABLE_SCAN": ("full_scan", scan_block),
    "TABLE_REGULARIZER": ("regularizer_overhead", regularizer_table),
    "TABLE_MEMORY": ("measure_cost", memory_table),
    "TABLE_SCALING": ("scaling", scaling_table),
    "TABLE_NONFINITE": ("nonfinite_cost", nonfinite_table),
    "README_COST": ("measure_cost", readme_cost),
}
_BLOCK = re.compile(r"(<!-- generated: (\w+) -->\n)(.*?)(<!-- end: \2 -->)", re.S)


def render(text: str) -> str:
    """``text`` with every generated block replaced by what the results files give."""

    def fill(m: re.Match[str]) -> str:
        source, make = BLOCKS[m.group(2)]
        data = load(source)
        body = make(data) if data is not None else f"(no `benchmarks/results/{source}.json`)"
        return f"{m.group(1)}{body}\n{m.group(4)}"

    return _BLOCK.sub(fill, text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a document is stale")
    args = parser.parse_args()
    stale = []
    for path in DOCS:
        old = path.read_text()
        new = render(old)
        if new != old:
            stale.append(path)
            if not args.check:
                path.write_text(new)
    if args.check and stale:
        sys.exit(f"stale generated blocks in {', '.join(map(str, stale))}: "
                 "run python benchmarks/performance_doc.py")  # fmt: skip


if __name__ == "__main__":
    main()
