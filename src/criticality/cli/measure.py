"""``criticality measure``: measure one model and write results, figures and a report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

NAME = "measure"
HELP = "measure how close one model operates to criticality and write an HTML report"

_DTYPES = {"float32": "float32", "float64": "float64"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="model name (`criticality list models`)")
    parser.add_argument("--pretrained", action="store_true", help="load pretrained weights")
    parser.add_argument("--weights", type=Path, help="a local state-dict file to load")
    parser.add_argument(
        "--inputs",
        default="gaussian",
        help="probe source: gaussian (default), photos, sklearn, a .pt/.npy file, an image folder",
    )
    parser.add_argument("--n-probes", type=int, default=8, help="number of probe inputs")
    parser.add_argument("--image-size", type=int, help="override the model's input size (px)")
    parser.add_argument(
        "--measures", default="lyapunov,ftle", help="comma-separated measure names, or 'all'"
    )
    parser.add_argument("--k", type=int, default=4, help="number of Lyapunov exponents")
    parser.add_argument("--norm", choices=("l2", "rms"), default="l2", help="tangent norm")
    parser.add_argument("--dtype", choices=tuple(_DTYPES), default="float32")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="output folder (default runs/measure-MODEL)")


def run(args: argparse.Namespace) -> int:
    import torch

    from criticality import measure
    from criticality._probes import make_probes
    from criticality.reporting import render, write_results
    from criticality.zoo import create_model, model_info

    info = model_info(args.model)
    shape = info.input_shape
    if args.image_size is not None:
        if len(shape) != 3:
            raise ValueError(f"--image-size applies to image models; {args.model} takes {shape}")
        shape = (shape[0], args.image_size, args.image_size)
    dtype = getattr(torch, _DTYPES[args.dtype])
    model = create_model(args.model, pretrained=args.pretrained, weights=args.weights)
    model = model.to(device=args.device, dtype=dtype)
    x = make_probes(args.inputs, info, n=args.n_probes, seed=args.seed, input_shape=shape)
    names = "all" if args.measures == "all" else [m.strip() for m in args.measures.split(",")]
    options: dict[str, Any] = {"lyapunov": {"k": args.k, "norm": args.norm}}
    options = {k: v for k, v in options.items() if names == "all" or k in names}
    print(f"measuring {args.model} on {x.shape[0]} probe inputs {tuple(x.shape[1:])} ...",
          file=sys.stderr)  # fmt: skip
    report = measure(model, x.to(args.device, dtype), measures=names, seed=args.seed,
                     name=args.model, progress=True, **options)  # fmt: skip
    out = args.out or Path("runs") / f"measure-{args.model.replace('/', '_')}"
    config = {**vars(args), "command": "measure"}
    config.pop("_run", None)
    data = {"report": report.to_dict(), "command": " ".join(sys.argv)}
    write_results(out, "measure", config, data, seed=args.seed, device=args.device)
    path = render(out)
    print(report.interpretation())
    print(f"report: {path}")
    return 0
