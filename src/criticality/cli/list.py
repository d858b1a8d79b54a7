"""``criticality list models|measures``: what the zoo and the measure registry hold."""

from __future__ import annotations

import argparse

NAME = "list"
HELP = "list model names or registered measures"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("what", choices=("models", "measures"))
    parser.add_argument(
        "pattern", nargs="?", default="*", help="shell-style filter, e.g. 'resnet*'"
    )
    parser.add_argument(
        "--source", choices=("builtin", "torchvision", "timm"), help="models from one source only"
    )


def run(args: argparse.Namespace) -> int:
    if args.what == "measures":
        from criticality.measures import get_measure, list_measures

        for name in list_measures():
            spec = get_measure(name)
            print(f"{name:16s} critical at {spec.critical_value:g}: {spec.summary}")
        return 0
    from criticality.zoo import list_models

    names = list_models(args.pattern, source=args.source)
    print("\n".join(names))
    if not names:
        print(f"no model matches {args.pattern!r}")
        return 1
    return 0
