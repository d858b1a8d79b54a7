"""Export what a (possibly unfinished) continual run has finished into a committable folder.

Copies the run's config, each unit's stamp, finished tasks (``runs.json``) and last checkpoint
(``checkpoint/last.pt``, a ``weights_only`` torch file: network, optimizer, method and tracker
state; about 1.2 MB per unit of the small network) and renders ``results.json`` and
``report.html`` over the tasks every unit has finished, so that ``criticality report DEST``
renders offline and the run's own command continues from a copy of ``DEST``
(:func:`criticality.experiments.continual.export`).

Run: ``python benchmarks/continual_export.py /work/runs/continual-dohare-small
results/continual-dohare-small``.
"""

from __future__ import annotations

import argparse

from criticality.experiments.continual import export


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("source", help="the run's --out folder")
    parser.add_argument("dest", help="the folder to write (e.g. results/continual-dohare-small)")
    args = parser.parse_args()
    print(f"report: {export(args.source, args.dest)}")


if __name__ == "__main__":
    main()
