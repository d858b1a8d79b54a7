"""``criticality list models|measures|methods|experiments``: what the zoo and the registries
hold."""

from __future__ import annotations

import argparse

NAME = "list"
HELP = "list model names, or the registered measures, training methods or experiments"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("what", choices=("models", "measures", "methods", "experiments"))
    parser.add_argument(
        "pattern", nargs="?", default="*", help="shell-style filter, e.g. 'resnet*'"
    )
    parser.add_argument(
        "--source", choices=("builtin", "torchvision", "timm"), help="models from one source only"
    )


def run(args: argparse.Namespace) -> int:
    if args.what == "methods":
        from criticality.training.methods import get_method, list_methods

        for name in list_methods():
            method = get_method(name)
            options = ", ".join(f"{k}={v}" for k, v in method.defaults.items()) or "no options"
            print(f"{name:20s} [{method.kind}] {method.summary} ({options})")
        return 0
    if args.what == "experiments":
        from criticality.experiments import get_experiment, list_experiments

        for name in list_experiments():
            print(f"{name:16s} {get_experiment(name).summary}")
        return 0
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
