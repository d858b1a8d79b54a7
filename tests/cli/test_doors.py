"""``criticality train``, ``measure`` and ``scan`` take their defaults from the experiments'
configs: the short command and ``criticality experiment NAME`` cannot drift apart."""

from __future__ import annotations

import dataclasses

import pytest

from criticality.cli import measure, scan, train
from criticality.cli.main import build_parser
from criticality.experiments.measure import MeasureConfig
from criticality.experiments.training import TrainingConfig
from criticality.experiments.zoo.scan import ScanConfig


def test_train_defaults_are_the_training_experiments() -> None:
    args = build_parser().parse_args(["train", "--out", "unused"])
    cfg = dataclasses.asdict(train.config_from_args(args))
    full = dataclasses.asdict(TrainingConfig())
    drift = {k: (cfg[k], full[k]) for k in full if k not in train.ONE_RUN and cfg[k] != full[k]}
    assert not drift  # e.g. steps: train once ran 1,000 steps, the experiment 2,000
    assert cfg["steps"] == 2_000 and cfg["seeds"] == (0,)


def test_measure_and_scan_defaults_are_their_experiments() -> None:
    args = build_parser().parse_args(["measure", "--model", MeasureConfig().model])
    assert measure.config_from_args(args) == MeasureConfig()
    assert scan.config_from_args(build_parser().parse_args(["scan"])) == ScanConfig()


def test_options_reach_the_config_and_bad_numbers_are_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = build_parser().parse_args(["train", "--out", "x", "--steps", "7", "--lr", "0.01"])
    cfg = train.config_from_args(args)
    assert (cfg.steps, cfg.lr) == (7, 0.01)
    for bad in (["--steps", "2.5"], ["--lr", "nan"], ["--lr", "inf"]):
        with pytest.raises(SystemExit):
            build_parser().parse_args(["train", "--out", "x", *bad])
    assert "is not a finite number" in capsys.readouterr().err
