"""Golden values: each experiment's tiny preset pins its headline numbers, so that a silent
numerical drift fails a test (as torchtune's golden-loss tests do).

An experiment registers ``headline(data) -> {name: (value, tolerance)}``; ``tests/golden/NAME.json``
holds the numbers of its tiny preset with the absolute tolerance each may move by, and
``tests/experiments/test_golden.py`` runs every tiny preset and compares. A change that moves a
number on purpose regenerates the files, and the diff shows what moved::

    PYTHONPATH=src python -m criticality.experiments._golden            # every experiment
    PYTHONPATH=src python -m criticality.experiments._golden phase measure

(writes ``tests/golden/NAME.json``).

Golden numbers are computed in a child process with the CPU kernels pinned (:data:`PINNED`): one
thread, PyTorch's scalar kernels, oneDNN's SSE4.1 code and MKL's conditional-numerical-
reproducibility mode. Without the pins a trained network's numbers depend on the machine: the
tiny zoo's eight-layer ReLU MLP ends its training at a λ_1 of −0.055 on the machine that wrote
its first golden file and −0.046 on an AMD EPYC with AVX2 (its training amplifies the last bits
of a sum), so the file failed on the second machine (and in CI). The pins cost about 1.6× in
time, which is why only this check runs under them.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from criticality.experiments._registry import get_experiment, list_experiments
from criticality.reporting import load_results

#: Where the golden files live, relative to the repository root.
GOLDEN_DIR = Path("tests") / "golden"

#: The environment every golden number is computed under, chosen to give the same bits on every
#: x86-64 machine (each variable is read once, when its library starts, hence a child process).
PINNED = {
    "ATEN_CPU_CAPABILITY": "default",  # PyTorch's own kernels without AVX2 / AVX-512
    "ONEDNN_MAX_CPU_ISA": "SSE41",  # convolutions (oneDNN)
    "MKL_CBWR": "COMPATIBLE",  # matrix products (MKL): the same code path on every CPU
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}


def headline(name: str, data: dict[str, Any]) -> dict[str, dict[str, float]]:
    """The headline numbers of experiment ``name``'s results ``data``, as the golden file holds
    them: ``{number: {"value": v, "tol": t}}``."""
    spec = get_experiment(name)
    if spec.headline is None:
        raise ValueError(f"experiment {name!r} registers no headline numbers (headline=...)")
    out = {}
    for key, (value, tol) in spec.headline(data).items():
        if not tol >= 0:
            raise ValueError(f"{name}: the tolerance of {key} must be >= 0, got {tol}")
        out[key] = {"value": float(value), "tol": float(tol)}
    return out


def compare(golden: Mapping[str, Any], found: Mapping[str, Mapping[str, float]]) -> list[str]:
    """Every difference between a golden file's ``values`` and the numbers found, in words
    (``[]``: they match). A number matches when ``|found − golden| <= tol`` (the golden file's
    tolerance), NaN matching NaN.

    >>> compare({"a": {"value": 1.0, "tol": 0.1}}, {"a": {"value": 1.05, "tol": 0.1}})
    []
    >>> compare({"a": {"value": 1.0, "tol": 0.01}}, {"a": {"value": 1.05, "tol": 0.01}})
    ['a: 1.05 differs from the golden 1 by 0.05 > 0.01']
    """
    problems = []
    for key in sorted(set(golden) | set(found)):
        if key not in found:
            problems.append(f"{key}: in the golden file but not in the results")
            continue
        if key not in golden:
            problems.append(f"{key}: new headline number {found[key]['value']:.6g}")
            continue
        want, tol, got = golden[key]["value"], golden[key]["tol"], found[key]["value"]
        if math.isnan(want) and math.isnan(got):
            continue
        if not abs(got - want) <= tol:
            problems.append(
                f"{key}: {got:.6g} differs from the golden {want:.6g} by "
                f"{abs(got - want):.3g} > {tol:.3g}"
            )
    return problems


def golden_file(name: str, folder: Path = GOLDEN_DIR) -> Path:
    return Path(folder) / f"{name}.json"


def write_golden(name: str, data: dict[str, Any], folder: Path = GOLDEN_DIR) -> Path:
    """Write ``folder/NAME.json`` from the tiny preset's results ``data``."""
    body = {
        "experiment": name,
        "preset": "tiny",
        "regenerate": f"PYTHONPATH=src python -m criticality.experiments._golden {name}",
        "values": headline(name, data),
    }
    path = golden_file(name, folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(body, indent=1, ensure_ascii=False) + "\n")
    return path


def run_tiny(name: str, out: Path) -> dict[str, Any]:
    """Run experiment ``name``'s tiny preset into ``out``; its results' ``data``."""
    import torch

    spec = get_experiment(name)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        spec.run(spec.preset("tiny"), out)
    finally:
        torch.set_num_threads(threads)
    data: dict[str, Any] = load_results(out)["data"]
    return data


def pinned() -> bool:
    """Whether this process runs with the kernels pinned (:data:`PINNED`)."""
    return all(os.environ.get(k) == v for k, v in PINNED.items())


def write_pinned(names: list[str], folder: Path) -> None:
    """Write ``folder/NAME.json`` for each experiment in ``names`` from a child process with the
    kernels pinned; a failing preset raises :class:`RuntimeError` with the child's output."""
    env = {**os.environ, **PINNED}
    src = str(Path(__file__).resolve().parents[2])  # the package, as this process imports it
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, env.get("PYTHONPATH")]))
    command = [
        sys.executable,
        "-m",
        "criticality.experiments._golden",
        *names,
        "--folder",
        str(folder),
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(
            f"the tiny presets of {', '.join(names)} failed under the pinned kernels "
            f"(exit {done.returncode}):\n{done.stdout[-4000:]}{done.stderr[-4000:]}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("names", nargs="*", help="experiments (default: every one with a headline)")
    parser.add_argument("--folder", type=Path, default=GOLDEN_DIR, help="where the files go")
    args = parser.parse_args(argv)
    names = args.names or [n for n in list_experiments() if get_experiment(n).headline]
    if not pinned():  # start again in a child that pins the kernels
        write_pinned(names, args.folder)
        print("\n".join(f"wrote {golden_file(n, args.folder)}" for n in names))
        return 0
    for name in names:
        with tempfile.TemporaryDirectory() as tmp:
            path = write_golden(name, run_tiny(name, Path(tmp)), args.folder)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
