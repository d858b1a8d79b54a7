"""``criticality train``: train one network with or without a regularizer, watching criticality."""

from __future__ import annotations

import argparse
from pathlib import Path

from criticality.cli._checks import add_fresh_argument
from criticality.cli._integrations import add_tensorboard_argument, write_tensorboard

NAME = "train"
HELP = "train one network with a training method (plain, criticality, ...), tracking λ_1"

_DEFAULTS = {"steps": 1000, "batch_size": 128, "lr": 1e-3}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Dataset, model, method and budget of the run; where to write it."""
    from criticality.data import DATASETS
    from criticality.training.methods import list_methods

    parser.add_argument("--dataset", default="mnist", choices=sorted(DATASETS))
    parser.add_argument("--model", default="mlp", choices=["mlp", "cnn"])
    parser.add_argument(
        "--method",
        default="critical_global",
        choices=list_methods(),
        help="a row of the training-method registry (`criticality list methods`)",
    )
    parser.add_argument(
        "--init",
        default="default",
        choices=["default", "ordered", "chaotic"],
        help="initial weight scale: σ_w = 1.0, 0.5 or 3.0 (tanh)",
    )
    parser.add_argument("--steps", type=int, default=_DEFAULTS["steps"])
    parser.add_argument("--batch-size", type=int, default=_DEFAULTS["batch_size"])
    parser.add_argument("--lr", type=float, default=_DEFAULTS["lr"])
    parser.add_argument(
        "--weight",
        type=float,
        default=None,
        help="the method's `weight` option: regularizer weight or L2 coefficient "
        "(default: the registry's)",
    )
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="another option of the method (VALUE is JSON), e.g. --option sub_batch=32",
    )
    parser.add_argument("--n-train", type=int, default=None, help="training subset (default: all)")
    parser.add_argument("--monitor-every", type=int, default=100, help="steps between λ_1 probes")
    parser.add_argument(
        "--seed", type=int, default=0, help="the run's seed: initialisation, data order, draws"
    )
    parser.add_argument(
        "--probe-seed",
        type=int,
        default=0,
        help="seed of the data subset, the probe set and the monitor's random directions",
    )
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument(
        "--out", required=True, type=Path, help="output folder; a rerun resumes from its checkpoint"
    )
    add_fresh_argument(parser)
    add_tensorboard_argument(parser)


def run(args: argparse.Namespace) -> int:
    """Train, evaluate robustness; write ``OUT/{config,results}.json`` (kind ``training``, so
    ``criticality report OUT`` renders it), ``model.pt`` and figures."""
    import dataclasses

    import torch

    from criticality.cli.experiment import parse_assignments
    from criticality.experiments.training import (
        RunSpec,
        TrainingConfig,
        load_data,
        train_and_evaluate,
        write_outputs,
    )
    from criticality.reporting import resume_dir

    options = parse_assignments(args.option, "--option")
    if args.weight is not None:
        options["weight"] = args.weight
    cfg = TrainingConfig(
        datasets=(args.dataset,),
        models=(args.model,),
        methods=(args.method,),
        baseline=args.method,
        init_study=(),
        seeds=(args.seed,),
        probe_seed=args.probe_seed,
        n_train=args.n_train,
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        monitor_every=args.monitor_every,
        device=args.device,
        method_options={args.method: options} if options else {},
    )
    cfg.validate()
    spec = RunSpec(args.dataset, args.model, args.init, args.method, args.seed)
    out: Path = args.out
    config = {**dataclasses.asdict(cfg), "run": dataclasses.asdict(spec)}
    # The checkpoint may only resume the same run: every setting but the number of steps (more
    # steps continue it, fewer are refused by fit) and where it runs must match.
    stamp = {k: v for k, v in config.items() if k not in ("steps", "device")}
    resume_dir(out / "checkpoint", stamp, on_change="refuse")
    model, record = train_and_evaluate(spec, cfg, load_data(args.dataset, cfg), out / "checkpoint")
    torch.save(model.state_dict(), out / "model.pt")
    report = write_outputs(out, cfg, config, [record])
    print(
        f"{spec.key}: clean accuracy {record['clean']:.4f}, noise {record['noise']:.4f}, "
        f"corruptions {record['corruption']:.4f}, FGSM {record['fgsm']:.4f}, "
        f"PGD {record['pgd']:.4f}"
    )
    print(
        f"λ_1: {record['lambda_initial']:+.3f} at step 0 -> {record['lambda_final']:+.3f} "
        f"at step {record['trajectory'][-1]['step']} (0 is critical)"
    )
    print(f"wrote {report}, {out / 'model.pt'}")
    write_tensorboard(args, out)
    return 0
