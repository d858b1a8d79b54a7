"""Cost of the measures in forward-pass equivalents per probe input, side by side with the
plain ways to get the same numbers; peak memory against the output dimension.

For each model, on the same probe batch and in the same process (ratios to a plain forward pass
of the batch timed right before and after, median over rounds; see ``_bench.py``):

* ``lyapunov`` with k = 1 and k = 8, and the *naive* way to the same spectrum: one
  ``torch.func.jvp`` per tangent and stage with PyTorch's own forward-mode rules;
* ``ftle`` by Lanczos to a relative change below 1e-3 (its steps and last change recorded), the
  power iteration to the same tolerance (MLP and ResNet-18) and for the scan's old fixed 10
  steps;
* every other registered measure once (``--extra``);
* the full Jacobian of one input with ``torch.func.jacrev`` (timed on a slice of the outputs
  and scaled to all of them) and ``weightwatcher``'s ``analyze()``, when installed.

Peak memory: an MLP whose read-out has 10, 1,000 or 10,000 outputs, in a fresh subprocess each
(peak resident memory above the built model), for ``lyapunov`` k = 1, ``ftle`` and ``jacrev``.

Targets (issue 13): λ_1 ≤ 2.5 forward equivalents for ResNet-18/50 and ViT-B/16 at 224 px, ≤ 4
for the depth-20 width-512 MLP; k = 8 ≤ 8 for all four; FTLE to a relative change < 1e-3 on
ResNet-18 in ≤ 20; memory independent of the output dimension. Run: ``make bench`` or
``python benchmarks/measure_cost.py [--models mlp resnet18] [--device cuda]``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from _bench import machine, ratio_to, seconds, sync

from criticality import create_model
from criticality.measures import ftle, list_measures, lyapunov_spectrum, run_measure
from criticality.measures.prepared import as_stages, eval_mode
from criticality.measures.tangents import jvp, orthonormalise
from criticality.zoo import mlp

RESULTS = Path(__file__).parent / "results"
MODELS = {  # name -> (builder, probe shape)
    "mlp": (lambda: mlp(depth=20, width=512, out_dim=10), (512,)),
    "resnet18": (lambda: create_model("resnet18"), (3, 224, 224)),
    "resnet50": (lambda: create_model("resnet50"), (3, 224, 224)),
    "vit_b_16": (lambda: _vit_with_random_head(), (3, 224, 224)),
}


def _vit_with_random_head() -> torch.nn.Module:
    """ViT-B/16 with its read-out drawn like any ``nn.Linear``: torchvision initialises the head
    to zero, which makes the input-output Jacobian zero (λ_1 = -inf, an FTLE of log 0 that
    "converges" in one step), so a cost measured on it would not be that of real work."""
    model = create_model("vit_b_16")
    head = model.heads.head
    torch.manual_seed(0)
    head.reset_parameters()
    return model


TARGETS = {"lyapunov_k1": {"mlp": 4.0, "*": 2.5}, "lyapunov_k8": {"*": 8.0}}
FTLE_TOL = 1e-3


def naive_spectrum(model: torch.nn.Module, x: torch.Tensor, k: int, seed: int = 0) -> torch.Tensor:
    """Local exponents ``(B, L, k)`` the plain way: ``torch.func.jvp`` once per tangent and
    stage (the primal recomputed each time), PyTorch's own forward-mode rules, QR."""
    stage_list = as_stages(model)
    gen = torch.Generator().manual_seed(seed)
    t = torch.randn((x.shape[0], k, *x.shape[1:]), generator=gen, dtype=torch.float64)
    t, _ = orthonormalise(t.to(x.device, x.dtype))
    logs, h = [], x
    with eval_mode(stage_list), torch.no_grad():
        for stage in stage_list:
            pushed = [torch.func.jvp(stage, (h,), (t[:, i],)) for i in range(k)]
            h = pushed[0][0]
            t, r = orthonormalise(torch.stack([p[1] for p in pushed], dim=1))
            logs.append(r.log())
    return torch.stack(logs, dim=1)


def batched_spectrum(
    model: torch.nn.Module, x: torch.Tensor, k: int, seed: int = 0
) -> torch.Tensor:
    """Local exponents ``(B, L, k)`` with the ``k`` tangents as extra batch entries: each
    stage's JVP runs on ``B·k`` copies of the state (the primal recomputed ``k`` times, no
    ``vmap``), our tangent rules. The alternative to ``vmap`` that the issue suggests."""
    stage_list = as_stages(model)
    gen = torch.Generator().manual_seed(seed)
    t = torch.randn((x.shape[0], k, *x.shape[1:]), generator=gen, dtype=torch.float64)
    t, _ = orthonormalise(t.to(x.device, x.dtype))
    logs, h = [], x
    with eval_mode(stage_list), torch.no_grad():
        for stage in stage_list:
            out, jt = jvp(stage, h.repeat_interleave(k, dim=0), t.flatten(0, 1))
            h = out[::k]
            t, r = orthonormalise(jt.reshape(h.shape[0], k, *jt.shape[1:]))
            logs.append(r.log())
    return torch.stack(logs, dim=1)


def jacrev_seconds(model: torch.nn.Module, x: torch.Tensor, n_out: int, device: str) -> float:
    """Seconds for the full Jacobian of one input, scaled from ``n_out`` output rows."""

    def rows(z: torch.Tensor) -> torch.Tensor:
        return model(z.unsqueeze(0)).reshape(-1)[:n_out]

    total = model(x[:1]).numel()
    return seconds(lambda: torch.func.jacrev(rows)(x[0]), device) * total / min(n_out, total)


def weightwatcher_seconds(model: torch.nn.Module) -> float | None:
    try:
        import weightwatcher as ww
    except ImportError:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return seconds(lambda: ww.WeightWatcher(model=model.cpu()).analyze())


def setup(name: str, n_probes: int, device: str) -> tuple[torch.nn.Module, torch.Tensor]:
    """The model in eval mode and its probe batch, with every code path warmed up.

    The weights are drawn from a fixed seed, so that rows timed again in a later invocation
    (``--retime``) measure the same network as the rest of their row."""
    build, shape = MODELS[name]
    torch.manual_seed(0)
    model = build().eval().to(device)
    x = torch.randn(n_probes, *shape, generator=torch.Generator().manual_seed(0)).to(device)
    with torch.no_grad():
        model(x)
    lyapunov_spectrum(model, x[:1], k=1)  # warm-ups (forward-AD decompositions, kernels)
    naive_spectrum(model, x[:1], 1)
    ftle(model, x[:1], n_iter=2)
    return model, x


def core_measures(
    name: str, model: torch.nn.Module, x: torch.Tensor, last: dict[str, Any]
) -> dict[str, Callable[[], None]]:
    """The timed calls; results the row reports are kept in ``last``."""

    def keep(key: str, fn: Callable[[], Any]) -> Callable[[], None]:
        return lambda: last.__setitem__(key, fn())

    core: dict[str, Callable[[], None]] = {
        "lyapunov_k1": keep("k1", lambda: lyapunov_spectrum(model, x, k=1)),
        "lyapunov_k8": keep("k8", lambda: lyapunov_spectrum(model, x, k=8)),
        "naive_jvp_loop_k1": lambda: naive_spectrum(model, x, 1),
        "naive_jvp_loop_k8": lambda: naive_spectrum(model, x, 8),
        "ftle_lanczos": keep("lanczos", lambda: ftle(model, x, n_iter=60, tol=FTLE_TOL)),
        "ftle_power_10_steps": lambda: ftle(model, x, method="power", n_iter=10, tol=0.0),
    }
    if name in ("mlp", "resnet18"):
        core["ftle_power_to_tol"] = keep(
            "power", lambda: ftle(model, x, method="power", n_iter=300, tol=FTLE_TOL)
        )
        core["batched_k8"] = lambda: batched_spectrum(model, x, 8)
    return core


def forward_of(model: torch.nn.Module, x: torch.Tensor) -> Callable[[], None]:
    def forward() -> None:
        with torch.no_grad():
            model(x)

    return forward


def ftle_records(last: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Steps, last relative change, convergence and value of the FTLE results in ``last``."""
    return {
        k: {
            "iterations": r.iterations,
            "rel_change": r.rel_change,
            "converged": r.converged,
            "value": r.value.mean,
        }
        for k, r in last.items()
        if k in ("lanczos", "power")
    }


def max_abs_vs_naive(model: torch.nn.Module, x: torch.Tensor, k1: Any) -> float:
    """Largest difference of λ_1's local exponents from the naive loop's."""
    naive = naive_spectrum(model, x, 1).cpu().double()
    return float((torch.from_numpy(k1.local).double() - naive).abs().max())


def retime(row: dict[str, Any], keys: list[str], device: str, rounds: int) -> None:
    """Time ``keys`` of an existing row again and replace them (the row records how)."""
    model, x = setup(row["model"], row["n_probes"], device)
    last: dict[str, Any] = {}
    core = core_measures(row["model"], model, x, last)
    for key in keys:
        print(f"  {row['model']} {key} (again)", file=sys.stderr, flush=True)
        t = ratio_to(core[key], forward_of(model, x), rounds=rounds, device=device)
        row["timings"][key] = t
        row["forward_equivalents_per_input"][key] = t["ratio"]
        row.setdefault("retimed", {})[key] = {**machine(device), "rounds": rounds}
    row["ftle"].update(ftle_records(last))
    if "k1" in last:
        row["agreement"]["k1_vs_naive_max_abs"] = max_abs_vs_naive(model, x, last["k1"])


def cost_row(name: str, n_probes: int, device: str, rounds: int, extra: bool) -> dict[str, Any]:
    model, x = setup(name, n_probes, device)
    shape = MODELS[name][1]
    forward = forward_of(model, x)
    last: dict[str, Any] = {}
    core = core_measures(name, model, x, last)
    costs = {}
    for key, fn in core.items():
        print(f"  {name} {key}", file=sys.stderr, flush=True)
        costs[key] = ratio_to(
            fn, forward, rounds=rounds if "naive" not in key else 1, device=device
        )
    if extra:
        for m in list_measures():
            if m not in ("lyapunov", "ftle"):
                print(f"  {name} {m}", file=sys.stderr, flush=True)
                costs[m] = ratio_to(lambda m=m: run_measure(m, model, x), forward, rounds=1,
                                    device=device)  # fmt: skip
    fwd = costs["lyapunov_k1"]["reference_seconds"]
    row: dict[str, Any] = {
        "model": name,
        "probe_shape": list(shape),
        "n_probes": n_probes,
        "rounds": rounds,
        "forward_seconds": fwd,
        "measured": machine(device),
        "forward_equivalents_per_input": {k: v["ratio"] for k, v in costs.items()},
        "timings": costs,
        "ftle": ftle_records(last),
        "agreement": {"k1_vs_naive_max_abs": max_abs_vs_naive(model, x, last["k1"])},
    }
    sync(device)
    row["jacrev_full_forward_equivalents_per_input"] = jacrev_seconds(
        model, x, 10 if name != "mlp" else 10**6, device
    ) / (fwd / n_probes)
    ww = weightwatcher_seconds(model)
    if ww is not None:
        row["weightwatcher_analyze_forward_equivalents"] = ww / (fwd / n_probes)
    return row


# ---- memory: one subprocess per configuration -------------------------------------------------

_MEM_SNIPPET = """
import sys, torch
from criticality.measures import ftle, lyapunov_spectrum
from criticality.zoo import mlp

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) / 1024  # kB -> MiB

out_dim, method = int(sys.argv[1]), sys.argv[2]
torch.set_num_threads(2)
net = mlp(depth=8, width=1024, in_dim=1024, out_dim=out_dim).eval()
x = torch.randn(4, 1024)

def run(z):
    if method == "lyapunov":
        lyapunov_spectrum(net, z, k=1)
    elif method == "ftle":
        ftle(net, z)
    else:
        torch.func.jacrev(lambda v: net(v.unsqueeze(0)).squeeze(0))(z[0])

run(x[:1])  # warm-up: loads the code paths (forward-AD rules, functorch) before the baseline
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # reset the peak (VmHWM) to the current resident size
base = status("VmRSS:")
run(x)
print(status("VmHWM:") - base)
"""


def peak_memory_mib(out_dim: int, method: str) -> float:
    """Peak resident memory (MiB) above the built model, in a fresh process (Linux only)."""
    done = subprocess.run(
        [sys.executable, "-c", _MEM_SNIPPET, str(out_dim), method],
        check=True,
        capture_output=True,
        text=True,
    )
    return float(done.stdout.strip().splitlines()[-1])


def verdicts(rows: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    """Each target per model: ``"met"`` or ``"missed"`` with the measured value."""
    out: dict[str, dict[str, str]] = {}
    for r in rows:
        fe = r["forward_equivalents_per_input"]
        for key, limits in TARGETS.items():
            limit = limits.get(r["model"], limits.get("*"))
            if limit is not None and key in fe:
                word = "met" if fe[key] <= limit else "missed"
                out.setdefault(r["model"], {})[key] = f"{word} ({fe[key]:.2f} vs ≤ {limit:g})"
        lz = r["ftle"].get("lanczos")
        if r["model"] == "resnet18" and lz:
            ok = lz["converged"] and fe["ftle_lanczos"] <= 20
            out[r["model"]]["ftle_lanczos"] = (
                f"{'met' if ok else 'missed'} ({fe['ftle_lanczos']:.1f} vs ≤ 20, "
                f"{lz['iterations']} steps, change {lz['rel_change']:.1e})"
            )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=list(MODELS))
    parser.add_argument("--n-probes", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--extra", nargs="*", default=None, help="every other measure too (on these models; all)"
    )
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--out", type=Path, default=None, help="JSON path (default: results/)")
    parser.add_argument(
        "--merge", action="store_true", help="replace these models' rows in the existing file"
    )
    parser.add_argument(
        "--retime", nargs="*", default=None, help="time these keys of --models' recorded rows again"
    )
    parser.add_argument(
        "--combine",
        nargs="+",
        type=Path,
        default=None,
        help="no timing: add the rows of these files (runs made side by side) to --out's",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    if args.combine:
        path = args.out or RESULTS / "measure_cost.json"
        result = json.loads(path.read_text())
        for other in args.combine:
            result["rows"] += json.loads(other.read_text())["rows"]
        result["targets"] = verdicts(result["rows"])
        path.write_text(json.dumps(result, indent=1))
        path.with_suffix(".md").write_text(markdown(result))
        print(markdown(result))
        return
    if args.retime:
        path = args.out or RESULTS / "measure_cost.json"
        result = json.loads(path.read_text())
        for row in result["rows"]:
            if row["model"] in args.models:
                retime(row, args.retime, args.device, args.rounds)
        result["targets"] = verdicts(result["rows"])
        path.write_text(json.dumps(result, indent=1))
        path.with_suffix(".md").write_text(markdown(result))
        print(markdown(result))
        return
    for name in args.models:
        print(f"{name} ...", file=sys.stderr, flush=True)
        extra = args.extra is not None and (not args.extra or name in args.extra)
        rows.append(cost_row(name, args.n_probes, args.device, args.rounds, extra))
        print(json.dumps(rows[-1]["forward_equivalents_per_input"], indent=1), file=sys.stderr)
    memory = (
        {}
        if args.no_memory or args.device != "cpu"
        else {
            m: {str(d): peak_memory_mib(d, m) for d in (10, 1000, 10000)}
            for m in ("lyapunov", "ftle", "jacrev")
        }
    )
    suffix = "" if args.device == "cpu" else f"_{torch.device(args.device).type}"
    path = args.out or RESULTS / f"measure_cost{suffix}.json"
    if args.merge and path.exists():
        old = json.loads(path.read_text())
        fresh = {r["model"]: r for r in rows}
        rows = [fresh.pop(r["model"], r) for r in old["rows"]] + list(fresh.values())
        memory = memory or old.get("peak_memory_mib_above_model", {})
    result = {
        "rows": rows,
        "targets": verdicts(rows),
        "peak_memory_mib_above_model": memory,
        "machine": machine(args.device),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1))
    path.with_suffix(".md").write_text(markdown(result))
    print(markdown(result))


def _provenance(row: dict[str, Any]) -> str:
    """How a row was measured, e.g. ``mlp: cpu, 1 thread(s), wall time, load 17``."""

    def how(m: dict[str, Any]) -> str:
        clock = m.get("clock", "wall time")
        return (
            f"{m['device']}, {m['threads']} thread(s), {clock}, load {m['load_average_1min']:.0f}"
        )

    text = f"{row['model']}: " + (how(row["measured"]) if "measured" in row else "see JSON")
    for key, m in row.get("retimed", {}).items():
        text += f" ({key} again: {how(m)})"
    return text


def markdown(result: dict[str, Any]) -> str:
    """The summary tables the README and docs/performance.md quote."""
    cols = ["lyapunov_k1", "naive_jvp_loop_k1", "lyapunov_k8", "naive_jvp_loop_k8",
            "ftle_lanczos", "ftle_power_to_tol", "ftle_power_10_steps"]  # fmt: skip
    extra = sorted(
        {k for r in result["rows"] for k in r["forward_equivalents_per_input"]} - set(cols)
    )
    head = ["model", *cols, *extra, "full Jacobian (jacrev)", "weightwatcher analyze()"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in result["rows"]:
        fe = r["forward_equivalents_per_input"]
        cells = [f"{fe[c]:.1f}" if c in fe else "–" for c in [*cols, *extra]]
        ww = r.get("weightwatcher_analyze_forward_equivalents")
        cells += [f"{r['jacrev_full_forward_equivalents_per_input']:.0f}",
                  f"{ww:.0f}" if ww is not None else "n/a"]  # fmt: skip
        lines.append(f"| {r['model']} | " + " | ".join(cells) + " |")
    where = "; ".join(_provenance(r) for r in result["rows"])
    lines += [
        "",
        f"Forward-pass equivalents per probe input ({result['rows'][0]['n_probes']} probes; "
        f"{where}).",
        "",
        "| model | FTLE method | steps | last relative change | converged |",
        "|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        for meth, f in r["ftle"].items():
            lines.append(f"| {r['model']} | {meth} | {f['iterations']} | "
                         f"{f['rel_change']:.1e} | {f['converged']} |")  # fmt: skip
    lines += ["", "| model | target | verdict |", "|---|---|---|"]
    for model, ts in result["targets"].items():
        lines += [f"| {model} | {t} | {v} |" for t, v in ts.items()]
    mem = result["peak_memory_mib_above_model"]
    if mem:
        lines += ["", "| output dim | " + " | ".join(f"{k} peak MiB" for k in mem) + " |",
                  "|---" * (len(mem) + 1) + "|"]  # fmt: skip
        for d in mem["lyapunov"]:
            lines.append(f"| {d} | " + " | ".join(f"{mem[k][d]:.0f}" for k in mem) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
