"""Cost of the criticality measures in units of plain forward passes, and their peak memory.

For each model, on the same probe batch and in the same process (these machines are noisy, so
only ratios measured side by side are reported):

* ``lyapunov`` with k = 1 and k = 8, ``ftle`` (10 power-iteration steps), and every other
  registered measure, each divided by the time of one plain forward pass of the batch, giving
  forward-pass equivalents per probe input;
* the full Jacobian of one input with ``torch.func.jacrev`` (timed on a slice of the outputs and
  scaled to all of them, since the whole Jacobian of an ImageNet model takes minutes);
* ``weightwatcher``'s ``analyze()`` on the same model, when installed.

Peak memory: an MLP whose read-out has 10, 1,000 or 10,000 outputs is measured in a fresh
subprocess each (peak resident memory above the model's own), for ``lyapunov`` k = 1 and for
``jacrev``.

Targets (issue 2): λ_1 at most 4 forward equivalents per input, k = 8 at most 12, peak memory
independent of the output dimension. Run: ``make bench`` or
``python benchmarks/measure_cost.py [--quick]``; results go to ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from criticality import create_model
from criticality.measures import ftle, list_measures, lyapunov_spectrum, run_measure
from criticality.zoo import mlp

RESULTS = Path(__file__).parent / "results"
MODELS = {  # name -> (builder, probe shape)
    "mlp": (lambda: mlp(depth=20, width=512, out_dim=10), (512,)),
    "resnet18": (lambda: create_model("resnet18"), (3, 224, 224)),
    "resnet50": (lambda: create_model("resnet50"), (3, 224, 224)),
    "vit_b_16": (lambda: create_model("vit_b_16"), (3, 224, 224)),
}


def timed(fn: Callable[[], Any], repeat: int = 1) -> float:
    """Best wall time of ``repeat`` calls, in seconds (the best is the least disturbed)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def jacrev_seconds(model: torch.nn.Module, x: torch.Tensor, n_out: int) -> tuple[float, int]:
    """Seconds for the full Jacobian of one input, scaled from ``n_out`` output rows."""

    def rows(z: torch.Tensor) -> torch.Tensor:
        return model(z.unsqueeze(0)).reshape(-1)[:n_out]

    total_out = model(x[:1]).numel()
    seconds = timed(lambda: torch.func.jacrev(rows)(x[0]))
    return seconds * total_out / min(n_out, total_out), total_out


def weightwatcher_seconds(model: torch.nn.Module) -> float | None:
    try:
        import weightwatcher as ww
    except ImportError:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return timed(lambda: ww.WeightWatcher(model=model).analyze())


def cost_row(name: str, n_probes: int, extra: bool) -> dict[str, Any]:
    build, shape = MODELS[name]
    model = build().eval()
    x = torch.randn(n_probes, *shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        model(x)  # warm-up
        fwd = timed(lambda: model(x), repeat=3)
    lyapunov_spectrum(model, x[:1], k=1)  # warm-up of forward AD
    seconds = {
        "lyapunov_k1": timed(lambda: lyapunov_spectrum(model, x, k=1), repeat=2),
        "lyapunov_k8": timed(lambda: lyapunov_spectrum(model, x, k=8), repeat=2),
        "ftle_10_steps": timed(lambda: ftle(model, x, n_iter=10, tol=0.0)),
    }
    if extra:
        for m in list_measures():
            if m not in ("lyapunov", "ftle"):
                seconds[m] = timed(lambda m=m: run_measure(m, model, x))
    jac, n_out = jacrev_seconds(model, x, n_out=10 if name != "mlp" else 10**6)
    row: dict[str, Any] = {
        "model": name,
        "probe_shape": list(shape),
        "n_probes": n_probes,
        "forward_seconds_per_input": fwd / n_probes,
        "forward_equivalents_per_input": {k: v / fwd for k, v in seconds.items()},
        "jacrev_full_forward_equivalents_per_input": jac / (fwd / n_probes),
        "jacrev_outputs": n_out,
    }
    ww_seconds = weightwatcher_seconds(model)
    if ww_seconds is not None:
        row["weightwatcher_analyze_forward_equivalents"] = ww_seconds / (fwd / n_probes)
    return row


# ---- memory: one subprocess per configuration -------------------------------------------------

_MEM_SNIPPET = """
import sys, torch
from criticality.measures import lyapunov_spectrum
from criticality.zoo import mlp

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) / 1024  # kB -> MiB

out_dim, method = int(sys.argv[1]), sys.argv[2]
torch.set_num_threads(2)
net = mlp(depth=8, width=1024, in_dim=1024, out_dim=out_dim).eval()
x = torch.randn(4, 1024)
lyapunov_spectrum(net, x[:1], k=1)  # warm-up: loads forward-AD rules before the baseline
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # reset the peak (VmHWM) to the current resident size
base = status("VmRSS:")
if method == "lyapunov":
    lyapunov_spectrum(net, x, k=1)
else:
    torch.func.jacrev(lambda z: net(z.unsqueeze(0)).squeeze(0))(x[0])
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="MLP and resnet18 only")
    parser.add_argument("--n-probes", type=int, default=4)
    parser.add_argument("--no-extra", action="store_true", help="lyapunov and ftle only")
    parser.add_argument(
        "--memory-only", action="store_true", help="redo the memory part, keep recorded costs"
    )
    args = parser.parse_args()
    torch.set_num_threads(2)
    names = ["mlp", "resnet18"] if args.quick else list(MODELS)
    rows = []
    if args.memory_only:
        rows, names = json.loads((RESULTS / "measure_cost.json").read_text())["rows"], []
    for name in names:
        print(f"{name} ...", file=sys.stderr, flush=True)
        rows.append(cost_row(name, args.n_probes, extra=not args.no_extra))
        print(json.dumps(rows[-1], indent=1), file=sys.stderr)
    memory = {
        method: {str(d): peak_memory_mib(d, method) for d in (10, 1000, 10000)}
        for method in ("lyapunov", "jacrev")
    }
    result = {
        "rows": rows,
        "peak_memory_mib_above_model": memory,
        "machine": {
            "threads": torch.get_num_threads(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "processor": platform.processor() or platform.machine(),
        },
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "measure_cost.json").write_text(json.dumps(result, indent=1))
    (RESULTS / "measure_cost.md").write_text(markdown(result))
    print(markdown(result))


def markdown(result: dict[str, Any]) -> str:
    """The summary table the README quotes."""
    measures = sorted({k for r in result["rows"] for k in r["forward_equivalents_per_input"]})
    head = "| model | " + " | ".join(measures) + " | full Jacobian (jacrev) | weightwatcher |"
    lines = [head, "|" + "---|" * (len(measures) + 3)]
    for r in result["rows"]:
        cells = [f"{r['forward_equivalents_per_input'].get(m, float('nan')):.1f}" for m in measures]
        ww = r.get("weightwatcher_analyze_forward_equivalents")
        cells += [f"{r['jacrev_full_forward_equivalents_per_input']:.0f}",
                  f"{ww:.0f}" if ww is not None else "n/a"]  # fmt: skip
        lines.append(f"| {r['model']} | " + " | ".join(cells) + " |")
    mem = result["peak_memory_mib_above_model"]
    lines += [
        "",
        "Forward-pass equivalents per probe input (time / time of one plain forward pass).",
        "",
        "| output dim | lyapunov k=1 peak MiB | jacrev peak MiB |",
        "|---|---|---|",
    ]
    lines += [
        f"| {d} | {mem['lyapunov'][d]:.0f} | {mem['jacrev'][d]:.0f} |" for d in mem["lyapunov"]
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
