"""Export a (partial or finished) trained-zoo run into a committable folder (issue 23, item 4).

A run of ``criticality experiment zoo-train`` writes ``OUT/results.json`` after every finished
job (the rows of every measured point: the training metadata and the measured report; no
checkpoints), and ``OUT/config.json``. This copies those two files into ``DEST`` (e.g.
``results/zoo-train``) with ``full_from`` cleared, and renders ``DEST/report.html`` from them
offline. To continue the committed study later, copy ``DEST/results.json`` into a new output
folder and run the same command there: the run takes the rows it finds and trains only the
rest (:func:`criticality.experiments.zoo.train.import_results`)::

    PYTHONPATH=src python benchmarks/zoo_train_export.py /work/runs/zoo-train results/zoo-train
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("run", type=Path, help="the run's output folder")
    parser.add_argument("dest", type=Path, help="the committable folder")
    args = parser.parse_args()
    from criticality.experiments._registry import render
    from criticality.reporting import atomic_write

    results = json.loads((args.run / "results.json").read_text())
    config = json.loads((args.run / "config.json").read_text())
    config["full_from"] = None
    results["data"].pop("full", None)
    args.dest.mkdir(parents=True, exist_ok=True)
    atomic_write(args.dest / "config.json", json.dumps(config, indent=1))
    atomic_write(args.dest / "results.json", json.dumps(results, separators=(",", ":")))
    report = render(args.dest)
    rows = results["data"]["rows"]
    size = (args.dest / "results.json").stat().st_size
    print(f"{len(rows)} rows, results.json {size / 1e6:.1f} MB, report {report}")


if __name__ == "__main__":
    main()
