"""``criticality train``: train one network with or without a regularizer, watching criticality."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from criticality.cli._checks import add_fresh_argument
from criticality.cli._fields import add_field, finite_float
from criticality.cli._integrations import add_tensorboard_argument, write_tensorboard

NAME = "train"
HELP = "train one network with a training method (plain, criticality, ...), tracking λ_1"

#: What ``train`` fixes on purpose: one run (one dataset, model, method and seed), no
#: initialisation study. Every other field is ``TrainingConfig``'s default or an option here.
ONE_RUN = ("datasets", "models", "methods", "baseline", "init_study", "seeds", "method_options")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Dataset, model, method and budget of the run (the defaults of ``criticality experiment
    training``'s config); where to write it."""
    from criticality.data import DATASETS
    from criticality.experiments.training import TrainingConfig
    from criticality.training.methods import list_methods

    default = TrainingConfig()
    parser.add_argument(
        "--dataset", default=default.datasets[0], choices=sorted(DATASETS), help="the dataset"
    )
    parser.add_argument("--model", default=default.models[0], choices=["mlp", "cnn"])
    parser.add_argument(
        "--method",
        default="critical_global",
        choices=list_methods(),
        help="a row of the training-method registry (`criticality list methods`)",
    )
    parser.add_argument(
        "--init",
        default="default",
        choices=[name for name, _ in default.sigma_w],
        help="initial weight scale σ_w: "
        + ", ".join(f"{name} {scale}" for name, scale in default.sigma_w)
        + " (tanh)",
    )
    for name in ("steps", "batch_size", "monitor_every", "probe_size", "sub_batch"):
        add_field(parser, TrainingConfig, name, type=int)
    add_field(parser, TrainingConfig, "n_train", type=int, help="training inputs (0: all)")
    add_field(parser, TrainingConfig, "lr", type=finite_float)
    add_field(parser, TrainingConfig, "norm", choices=("l2", "rms"))
    add_field(parser, TrainingConfig, "device")
    parser.add_argument(
        "--weight",
        type=finite_float,
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
    parser.add_argument(
        "--seed", type=int, default=0, help="the run's seed: initialisation, data order, draws"
    )
    add_field(parser, TrainingConfig, "probe_seed", type=int)
    parser.add_argument(
        "--out", required=True, type=Path, help="output folder; a rerun resumes from its checkpoint"
    )
    add_fresh_argument(parser)
    add_tensorboard_argument(parser)


def config_from_args(args: argparse.Namespace) -> Any:
    """The one-run :class:`~criticality.experiments.training.TrainingConfig` of the command line:
    the experiment's defaults, with the options given (fields of :data:`ONE_RUN` fixed to one
    run)."""
    from criticality.cli.experiment import parse_assignments
    from criticality.experiments.training import TrainingConfig

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
        method_options={args.method: options} if options else {},
        steps=args.steps,
        batch_size=args.batch_size,
        n_train=args.n_train or None,
        monitor_every=args.monitor_every,
        probe_size=args.probe_size,
        sub_batch=args.sub_batch,
        lr=args.lr,
        norm=args.norm,
        device=args.device,
        probe_seed=args.probe_seed,
    )
    cfg.validate()
    return cfg


def run(args: argparse.Namespace) -> int:
    """Train, evaluate robustness; write ``OUT/{config,results}.json`` (kind ``training``, so
    ``criticality report OUT`` renders it), ``model.pt`` and figures."""
    import dataclasses

    import torch

    from criticality.experiments.training import (
        RunSpec,
        load_data,
        train_and_evaluate,
        write_outputs,
    )
    from criticality.reporting import fresh_requested, owned_folder, resume_dir

    cfg = config_from_args(args)
    spec = RunSpec(args.dataset, args.model, args.init, args.method, args.seed)
    out: Path = args.out
    config = {**dataclasses.asdict(cfg), "run": dataclasses.asdict(spec)}
    # The checkpoint may only resume the same run: every setting but the number of steps (more
    # steps continue it, fewer are refused by fit) and where it runs must match.
    stamp = {k: v for k, v in config.items() if k not in ("steps", "device")}
    with owned_folder(out, "training", config, fresh=fresh_requested()):  # one writer, from here
        resume_dir(out / "checkpoint", stamp, on_change="refuse")
        data = load_data(args.dataset, cfg)
        model, record = train_and_evaluate(spec, cfg, data, out / "checkpoint")
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
