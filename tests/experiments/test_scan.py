"""The scan end to end: store rows, failures with reasons, resume after an interruption, report."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import pytest
import torch

from criticality.experiments import render
from criticality.experiments.zoo import scan
from criticality.experiments.zoo.scan import Job, ModelTimeout, ScanConfig, run_job, time_limit
from criticality.store import ResultStore

TINY = dataclasses.replace(ScanConfig.tiny(), threads=1)


def test_tiny_scan_resumes_after_interruption(tmp_path: Path, monkeypatch: Any) -> None:
    real = scan.measure_model
    calls: list[str] = []

    def interrupted(job: Job) -> str:
        if len(calls) == 2:
            raise KeyboardInterrupt  # as if the user pressed Ctrl-C on the third model
        calls.append(job.model)
        return real(job)

    monkeypatch.setattr(scan, "measure_model", interrupted)
    with pytest.raises(KeyboardInterrupt):
        scan.run(TINY, tmp_path)
    with ResultStore(tmp_path / "scan.sqlite") as store:
        assert len(store.rows()) == 2  # what finished is kept

    def failing(job: Job) -> str:
        calls.append(job.model)
        if job.model == "squeezenet1_1":
            raise RuntimeError("unsupported layer Fire\nmore detail")
        return real(job)

    monkeypatch.setattr(scan, "measure_model", failing)
    report = scan.run(TINY, tmp_path)
    assert len(calls) == 5 and len(set(calls)) == 5  # nothing measured twice
    with ResultStore(tmp_path / "scan.sqlite") as store:
        rows = {r.model: r for r in store.rows()}
    assert len(rows) == 5
    assert rows["squeezenet1_1"].status == "failed"
    assert rows["squeezenet1_1"].reason == "RuntimeError: unsupported layer Fire"
    assert all(r.status == "ok" and r.seconds > 0 for m, r in rows.items() if m != "squeezenet1_1")

    # A third run measures nothing; retry_failed measures the failed model only.
    calls.clear()
    scan.run(TINY, tmp_path)
    assert calls == []
    scan.run(dataclasses.replace(TINY, retry_failed=True), tmp_path)
    assert calls == ["squeezenet1_1"]

    html = report.read_text()
    for words in ("Spearman", "Mann–Whitney", "mixed-effects", "unsupported layer Fire"):
        assert words in html
    data = json.loads((tmp_path / "results.json").read_text())["data"]
    resnet = next(r for r in data["rows"] if r["model"] == "resnet18")
    assert resnet["meta"]["top1"] == 69.758 and resnet["report"]["model"] == "resnet18"
    (tmp_path / "report.html").unlink()
    assert render(tmp_path).is_file()  # `criticality report OUT` re-renders from JSON


def test_time_limit_and_size_cap_become_failure_rows() -> None:
    with pytest.raises(ModelTimeout), time_limit(0.05):
        time.sleep(2.0)
    cfg = dataclasses.replace(TINY, time_limit=0.001)
    row = run_job(Job("resnet18", "random", None, cfg, "k"))
    assert row.status == "failed" and row.reason.startswith("timeout")
    cfg = dataclasses.replace(TINY, max_params=10_000_000)
    row = run_job(Job("alexnet", "random", None, cfg, "k"))
    assert row.status == "failed" and row.reason == "skipped: 61 M parameters > the cap of 10 M"


def test_weights_folder_pairs_with_random_init(tmp_path: Path, monkeypatch: Any) -> None:
    names = ("resnet18", "squeezenet1_1", "mnasnet0_5")
    folder = tmp_path / "weights"
    folder.mkdir()
    torch.manual_seed(1)
    for name in names:
        from criticality.zoo import create_model

        model = create_model(name)
        for p in model.parameters():  # "trained": a different, smaller scale
            p.data.mul_(0.5)
        torch.save(model.state_dict(), folder / f"{name}.pth")
    cfg = dataclasses.replace(TINY, patterns=names, weights=("random", "pretrained"),
                              weights_dir=str(folder), measures=("lyapunov",))  # fmt: skip
    html = scan.run(cfg, tmp_path / "out").read_text()
    data = json.loads((tmp_path / "out" / "results.json").read_text())["data"]
    labels = sorted({r["weights"] for r in data["rows"]})
    assert labels == ["file:mnasnet0_5.pth", "file:resnet18.pth", "file:squeezenet1_1.pth",
                      "random"]  # fmt: skip
    assert "Pretrained against random initialisation" in html and "Wilcoxon" in html

    # Rerunning the scan measures nothing: rows stored as file:NAME are found again.
    calls: list[str] = []
    real = scan.measure_model
    monkeypatch.setattr(scan, "measure_model", lambda job: calls.append(job.label) or real(job))
    scan.run(cfg, tmp_path / "out")
    assert calls == []


def test_bad_config_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown zoo"):
        ScanConfig(zoo="hub").check()
    with pytest.raises(ValueError, match="no torchvision model matches"):
        scan.resolve_models(ScanConfig(patterns=("nothing*",)))


def test_import_criticality_does_not_import_ray() -> None:
    import subprocess
    import sys

    code = "import sys, criticality, criticality.experiments.zoo.scan; print('ray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_failed_job_has_the_same_label_from_every_executor(tmp_path: Path) -> None:
    weights = tmp_path / "resnet18.pth"
    weights.write_bytes(b"not a state dict")
    job = Job("resnet18", "pretrained", str(weights), TINY, "k")
    local = run_job(job)  # fails inside the measurement: the local path
    died = scan.failed_row(job, RuntimeError("worker died"))  # a Ray task that died
    assert local.status == died.status == "failed"
    assert local.weights == died.weights == "file:resnet18.pth"


def test_models_whose_ftle_did_not_converge_are_named() -> None:
    from criticality.experiments.zoo.scan_report import ftle_sentence

    def row(model: str, converged: bool | None, status: str = "ok") -> dict[str, Any]:
        ftle = {} if converged is None else {"converged": converged}
        report = {"results": {"ftle": ftle}} if status == "ok" else None
        return {"model": model, "weights": "random", "status": status, "report": report}

    rows = [
        row("vgg11", False),
        row("resnet18", True),
        row("alexnet", None),
        row("x", None, "failed"),
    ]
    text = ftle_sentence(rows)
    assert text.startswith("The FTLE of 1 model stopped before it converged (vgg11)")
    assert "lower bound" in text and "resnet18" not in text
    assert ftle_sentence(rows[1:]) == ""


def test_init_and_probe_seed_each_seed_their_part_and_keep_the_old_keys(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``init_seed`` and ``probe_seed`` replaced one ``seed``: equal seeds key the store and the
    units as that ``seed`` did (an older store stays finished); different ones are keyed by
    name; each seeds its own part; ``--set seed=`` is refused naming the new fields."""
    import criticality.data
    import criticality.zoo
    from criticality.experiments._config import apply_overrides
    from criticality.experiments.zoo.architectures import ArchitecturesConfig, architecture_unit
    from criticality.experiments.zoo.zoo import MINI_ZOO, ZooConfig, mini_zoo_unit
    from criticality.store import config_hash

    assert config_hash(ScanConfig().settings()) == "417a90f5ca4c7461"  # the key before the split
    arch = ArchitecturesConfig.tiny()
    assert architecture_unit("resnet18", arch)["seed"] == 0
    apart = dataclasses.replace(arch, init_seed=1, probe_seed=2)
    unit = architecture_unit("resnet18", apart)
    assert (unit["init_seed"], unit["probe_seed"]) == (1, 2) and "seed" not in unit
    zoo = ZooConfig.tiny()
    assert mini_zoo_unit(zoo, "mnist", MINI_ZOO[0])["seed"] == 0
    assert "seed" not in mini_zoo_unit(dataclasses.replace(zoo, probe_seed=3), "mnist", MINI_ZOO[0])
    assert ScanConfig(init_seed=5).settings() != ScanConfig(probe_seed=5).settings()

    seen: dict[str, int] = {}
    real_probes, real_model = criticality.data.make_probes, criticality.zoo.create_model

    def probes(*args: Any, seed: int, **kwargs: Any) -> torch.Tensor:
        seen["probes"] = seed
        return real_probes(*args, seed=seed, **kwargs)

    def model(*args: Any, **kwargs: Any) -> torch.nn.Module:
        seen["weights"] = torch.initial_seed()
        return real_model(*args, **kwargs)

    monkeypatch.setattr(criticality.data, "make_probes", probes)
    monkeypatch.setattr(criticality.zoo, "create_model", model)
    cfg = dataclasses.replace(TINY, measures=("lyapunov",), image_size=8, k=1, init_seed=7,
                              probe_seed=11)  # fmt: skip
    scan.measure_model(Job("squeezenet1_1", "random", None, cfg, "k"))
    assert seen == {"weights": 7, "probes": 11}

    with pytest.raises(ValueError, match=r"no field seed; its fields: .*probe_seed"):
        apply_overrides(ScanConfig(), {"seed": 3}, label="scan")


def test_a_log_has_a_line_per_model_and_a_resumed_scan_counts_the_stored_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """With stderr not a terminal (a log file; here pytest's capture) each measured model is
    one progress line naming it; a resumed scan counts the models its store already holds."""
    import logging
    import re

    caplog.set_level(logging.INFO, logger="criticality.progress")
    monkeypatch.setattr(scan, "measure_model", lambda job: "{}")  # no model is built
    store = tmp_path / "scan.sqlite"
    scan.scan(dataclasses.replace(TINY, patterns=("resnet18",)), store)
    scan.scan(dataclasses.replace(TINY, patterns=("resnet18", "squeezenet1_1")), store)
    lines = [r.getMessage() for r in caplog.records if r.name == "criticality.progress"]
    assert [re.sub(r"\d+ s", "T", line) for line in lines] == [
        "scan: model 1 of 1 done (resnet18 random), T elapsed",
        "scan: 1 of 2 models already done",
        "scan: model 2 of 2 done (squeezenet1_1 random), T elapsed",
    ]
