"""The trained zoo end to end (tiny): trains, measures, stores, resumes across a kill, renders."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from criticality.experiments import get_experiment
from criticality.experiments.zoo import train as zoo_train
from criticality.experiments.zoo.train_report import analyse_all, verdict_text
from criticality.store import ResultStore

NET = "densenet_g12_2222"


def _rows(out: Path) -> dict[tuple[str, str], dict]:
    with ResultStore(out / zoo_train.STORE) as store:
        return {(r.model, r.weights): json.loads(r.report) for r in store.rows()
                if r.status == "ok"}  # fmt: skip


def _timeless(value: Any) -> Any:
    """``value`` without its wall times and dates (``seconds``, ``timestamp``)."""
    if isinstance(value, dict):
        return {k: _timeless(v) for k, v in value.items() if k not in ("seconds", "timestamp")}
    if isinstance(value, list):
        return [_timeless(v) for v in value]
    return value


def test_tiny_zoo_trains_measures_stores_and_renders(tmp_path: Path) -> None:
    spec = get_experiment("zoo-train")
    cfg = spec.preset("tiny")
    report = spec.run(cfg, tmp_path)
    assert report.is_file()
    rows = _rows(tmp_path)
    final = cfg.point_steps()[-1]
    assert set(rows) == {(n, zoo_train.point_label("fashion_mnist", 0, s))
                         for n in cfg.nets for s in (0, final)}  # fmt: skip
    for (net, label), rep in rows.items():
        z = rep["metadata"]["zoo_train"]
        assert z["net"] == net and label.endswith(f"step{z['step']}")
        assert set(rep["results"]) == {"lyapunov", "ftle", "branching"}
        assert set(z["lambda_1"]) == {"test", "gaussian", "augmented"}
        assert 0.0 <= z["accuracy"] <= 100.0 and z["examples"] == z["step"] * cfg.batch_size
        assert z["family"] and z["year"] > 2010
    data = json.loads((tmp_path / "results.json").read_text())["data"]
    stats = analyse_all(data)["fashion_mnist"]
    assert stats["headline"]["n"] == len(cfg.nets)
    assert [t["step"] for t in stats["training"]] == [0, final]
    text = verdict_text(stats)
    assert "families" in text and "detects |ρ|" in text and "initialisation" in text
    assert set(stats["m1"]) == {"accuracy", "init", "year"}
    assert stats["m1"]["accuracy"]["n_families"] == 3
    assert stats["intervention"] is None
    html = report.read_text()
    assert "accuracy against distance to criticality" in html

    calls = []
    original = zoo_train.run_job
    zoo_train.run_job = lambda job: calls.append(job) or original(job)  # type: ignore[assignment]
    try:
        spec.run(cfg, tmp_path)  # everything stored: nothing is trained again
    finally:
        zoo_train.run_job = original  # type: ignore[assignment]
    assert calls == []


def test_resume_across_a_kill_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tiny = zoo_train.ZooTrainConfig.tiny()
    cfg = dataclasses.replace(tiny, nets=(NET,), examples=64, batch_size=8,
                              points=(0.0, 0.5, 1.0), measures=("lyapunov",))  # fmt: skip
    zoo_train.train_zoo(cfg, tmp_path / "straight")
    want = _rows(tmp_path / "straight")

    killed = tmp_path / "killed"
    original = zoo_train.CosineLR.on_step_end

    def die_at_step_6(self: zoo_train.CosineLR, state: object) -> None:
        if state.step == 6:  # type: ignore[attr-defined]
            raise KeyboardInterrupt  # the process is killed mid-way through the last segment
        original(self, state)

    monkeypatch.setattr(zoo_train.CosineLR, "on_step_end", die_at_step_6)
    with pytest.raises(KeyboardInterrupt):
        zoo_train.train_zoo(cfg, killed)
    work = next(killed.glob(f"zoo_train_work/*/fashion_mnist/{NET}/seed0"))
    assert sorted(p.name for p in work.glob("point_*.json")) == ["point_0.json", "point_4.json"]
    assert _rows(killed) == {}  # the driver stores a job when it finishes
    monkeypatch.setattr(zoo_train.CosineLR, "on_step_end", original)
    marked = json.loads((work / "point_4.json").read_text())["value"]  # the unit's report
    zoo_train.train_zoo(cfg, killed)
    got = _rows(killed)
    assert got.keys() == want.keys()
    assert got[(NET, "fashion_mnist/seed0/step4")] == marked  # measured once, not again
    for key in want:
        a, b = want[key]["metadata"]["zoo_train"], got[key]["metadata"]["zoo_train"]
        assert (a["accuracy"], a["lambda_1"]) == (b["accuracy"], b["lambda_1"]), key


@pytest.mark.parametrize("damage", ["random", "delete"])
def test_a_damaged_point_is_named_set_aside_and_measured_again(
    tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A point's file damaged after its job went on (the store lost too, so the job runs
    again): the file is named and set aside, the network is trained again from the start (the
    checkpoint has gone past that point) and the point measured again, equal to the first."""
    tiny = zoo_train.ZooTrainConfig.tiny()
    cfg = dataclasses.replace(tiny, nets=(NET,), examples=64, batch_size=8,
                              points=(0.0, 0.5, 1.0), measures=("lyapunov",))  # fmt: skip
    zoo_train.train_zoo(cfg, tmp_path)
    want = _rows(tmp_path)
    for stored in tmp_path.glob(f"{zoo_train.STORE}*"):  # the store and its journal
        stored.unlink()
    work = next(tmp_path.glob(f"zoo_train_work/*/fashion_mnist/{NET}/seed0"))
    point = work / "point_4.json"
    if damage == "random":
        point.write_bytes(b"\x80not json" * 10)
    else:
        point.unlink()
    with caplog.at_level("WARNING"):
        zoo_train.train_zoo(cfg, tmp_path)
    assert _timeless(_rows(tmp_path)) == _timeless(want)
    if damage == "random":
        assert "point_4.json" in caplog.text and (work / "point_4.json.damaged-1").is_file()
    assert "training again from the start" in caplog.text  # the checkpoint was at step 8
    assert (work / "fit.replaced-1").is_dir()


def test_the_committed_study_loads_typed_and_keeps_its_store_key(tmp_path: Path) -> None:
    """``results/zoo-train`` (written before results had a schema) reads as ``zoo-train/1``
    under the default config's store key, so a run of the defaults resumes it; another schema
    is refused with both named."""
    from criticality.experiments._results import SchemaError
    from criticality.experiments.zoo.results import ZooTrainResults

    committed = Path(__file__).resolve().parents[2] / "results" / "zoo-train" / "results.json"
    data = json.loads(committed.read_text())["data"]
    old = {k: v for k, v in data.items() if k != "schema"}  # as written before results had one
    typed = ZooTrainResults.from_dict(old)
    assert ZooTrainResults.from_dict(data) == typed
    assert len(typed.rows) == len(data["rows"]) >= 63  # 63 when first committed, more since
    assert typed.full is None and typed.planned is not None
    with ResultStore(tmp_path / zoo_train.STORE) as store:
        assert store.add_config(zoo_train.ZooTrainConfig().settings()) == typed.config_hash
    again = typed.to_dict()
    assert again["schema"] == "zoo-train/1" and ZooTrainResults.from_dict(again) == typed
    with pytest.raises(SchemaError, match="'scan/1' results, not zoo-train/1"):
        ZooTrainResults.from_dict({**data, "schema": "scan/1"})
    with pytest.raises(SchemaError, match=r"zoo-train/2 cannot be read.*upgrade criticality"):
        ZooTrainResults.from_dict({**data, "schema": "zoo-train/2"})


def test_bad_settings_are_refused(tmp_path: Path) -> None:
    tiny = zoo_train.ZooTrainConfig.tiny()
    bad = [({"nets": ("resnet9000",)}, "unknown nets"), ({"datasets": ("cifar10",)}, "datasets"),
           ({"points": (0.0, 1.5)}, "points"), ({"seeds": (0, 0)}, "distinct seeds"),
           ({"executor": "slurm"}, "executor"), ({"stem": "cifar"}, "stem"),
           ({"starts": ("default", "lucky")}, "starts"), ({"warmup": 1.0}, "warmup")]  # fmt: skip
    for change, match in bad:
        with pytest.raises(ValueError, match=match):
            zoo_train.train_zoo(dataclasses.replace(tiny, **change), tmp_path)


def test_cosine_schedule_and_augmentation() -> None:
    import torch

    sched = zoo_train.CosineLR(0.1, 10)
    assert sched.rate(0) == pytest.approx(0.1) and sched.rate(5) == pytest.approx(0.05)
    assert sched.rate(10) == pytest.approx(0.0, abs=1e-12)
    warm = zoo_train.CosineLR(0.1, 10, warmup=4)
    assert [warm.rate(s) for s in range(4)] == pytest.approx([0.025, 0.05, 0.075, 0.1])
    assert warm.rate(5) == pytest.approx(0.05)
    x = torch.zeros(4, 1, 8, 8)
    x[:, :, 3, 3] = 1.0
    g = torch.Generator().manual_seed(0)
    shifted = zoo_train.augment(x, 2, g)
    assert shifted.shape == x.shape and torch.all(shifted.sum(dim=(1, 2, 3)) == 1.0)
    where = [tuple(torch.nonzero(s[0])[0].tolist()) for s in shifted]
    assert all(1 <= r <= 5 and 1 <= c <= 5 for r, c in where)


def test_augmentation_is_the_per_image_crop_of_the_padded_batch() -> None:
    import torch

    x = torch.randn(16, 2, 8, 8, generator=torch.Generator().manual_seed(0))
    got = zoo_train.augment(x, 3, torch.Generator().manual_seed(5))
    g = torch.Generator().manual_seed(5)
    dy = torch.randint(0, 7, (16,), generator=g)
    dx = torch.randint(0, 7, (16,), generator=g)
    padded = torch.nn.functional.pad(x, (3, 3, 3, 3))
    want = torch.stack([padded[i, :, dy[i] : dy[i] + 8, dx[i] : dx[i] + 8] for i in range(16)])
    assert torch.equal(got, want)


def test_intervention_arm_is_paired_and_resumes_from_committed_results(tmp_path: Path) -> None:
    """The critical start trains beside the default one (same network and seed), the report
    pairs them; a new folder holding only the exported results.json resumes without training
    again (the committed study continues)."""
    tiny = zoo_train.ZooTrainConfig.tiny()
    cfg = dataclasses.replace(tiny, nets=("resnet10", NET, "vit_p4_l2_d64"), examples=32,
                              measures=("lyapunov",), starts=("default", "critical"),
                              organise_updates=60)  # fmt: skip
    spec = get_experiment("zoo-train")
    spec.run(cfg, tmp_path / "a")
    rows = _rows(tmp_path / "a")
    final = cfg.point_steps()[-1]
    for net in ("resnet10", "vit_p4_l2_d64"):  # the homeostatic rule moved these toward λ_1 = 0
        crit = rows[(net, zoo_train.point_label("fashion_mnist", 0, 0, "critical"))]
        dflt = rows[(net, zoo_train.point_label("fashion_mnist", 0, 0, "default"))]
        d0 = abs(dflt["metadata"]["zoo_train"]["lambda_1"]["test"])
        d1 = abs(crit["metadata"]["zoo_train"]["lambda_1"]["test"])
        assert d1 < 0.8 * d0, net
    assert crit["metadata"]["zoo_train"]["start"] == "critical"
    data = json.loads((tmp_path / "a" / "results.json").read_text())["data"]
    iv = analyse_all(data)["fashion_mnist"]["intervention"]
    assert iv["final"]["n_pairs"] == 3 and len(iv["nets"]) == 3
    acc = {(r[0], r[1]): v["metadata"]["zoo_train"]["accuracy"] for r, v in rows.items()}
    want = (acc[("resnet10", zoo_train.point_label("fashion_mnist", 0, final, "critical"))]
            - acc[("resnet10", zoo_train.point_label("fashion_mnist", 0, final))])  # fmt: skip
    got = next(n for n in iv["nets"] if n["model"] == "resnet10")["Δ final accuracy"]
    assert got == pytest.approx(want)

    fresh = tmp_path / "b"
    fresh.mkdir()
    (fresh / "results.json").write_text((tmp_path / "a" / "results.json").read_text())
    calls = []
    original = zoo_train.run_job
    zoo_train.run_job = lambda job: calls.append(job) or original(job)  # type: ignore[assignment]
    try:
        spec.run(cfg, fresh)
    finally:
        zoo_train.run_job = original  # type: ignore[assignment]
    assert calls == []
    assert _rows(fresh) == rows


def test_recalibrated_batchnorm_holds_the_statistics_of_the_data() -> None:
    import torch

    net = torch.nn.Sequential(torch.nn.Conv2d(1, 3, 1), torch.nn.BatchNorm2d(3, momentum=0.001))
    x = 2.0 + 3.0 * torch.randn(500, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    net.eval()
    zoo_train.recalibrate_bn(net, x, batch_size=100)
    with torch.no_grad():
        h = net[0](x)
    bn = net[1]
    assert not net.training and bn.momentum == 0.001
    # the cumulative average of the per-batch means (equal batches): the mean over all of x
    assert torch.allclose(bn.running_mean, h.mean(dim=(0, 2, 3)), atol=1e-5)
    per_batch = torch.stack([b.var(dim=(0, 2, 3), unbiased=True) for b in h.split(100)])
    assert torch.allclose(bn.running_var, per_batch.mean(0), atol=1e-4)


def test_the_probe_seed_keys_the_store_only_when_it_is_not_the_old_fixed_zero() -> None:
    """Probes and measures' directions were seeded by a fixed 0 before ``probe_seed``: at 0 the
    store key is the committed study's, another value keys (and draws) other probes."""
    import torch

    cfg = zoo_train.ZooTrainConfig()
    assert "probe_seed" not in cfg.settings()
    other = dataclasses.replace(cfg, probe_seed=1)
    assert other.settings() == {**cfg.settings(), "probe_seed": 1}
    x = torch.zeros(8, 1, 6, 6)
    y = torch.zeros(8, dtype=torch.long)
    data = zoo_train.Data(x, y, x, y)
    small = dataclasses.replace(cfg, n_probes=2)
    sets = [zoo_train.probe_sets(data, dataclasses.replace(small, probe_seed=s)) for s in (0, 1)]
    assert torch.equal(sets[0]["test"], sets[1]["test"])  # test images: chosen, not drawn
    assert not torch.equal(sets[0]["gaussian"], sets[1]["gaussian"])


def test_weights_labels_parse_and_write_back_and_a_bad_one_is_named() -> None:
    from criticality.experiments.zoo.results import TrainPoint

    point = TrainPoint.parse("fashion_mnist/critical/seed3/step1024")
    assert point == TrainPoint("fashion_mnist", 3, "critical", 1024)
    assert point.job == "fashion_mnist/critical/seed3"
    assert TrainPoint.parse("fashion_mnist/seed0") == TrainPoint("fashion_mnist", 0)  # failed job
    for label in (
        "fashion_mnist/seed0/step0",
        "fashion_mnist/seed12",
        "mnist/critical/seed1/step7",
    ):
        assert TrainPoint.parse(label).label == label
    assert zoo_train.point_label("fashion_mnist", 1, 256, "critical") == (
        "fashion_mnist/critical/seed1/step256"
    )
    bad = [
        "fashion_mnist",
        "fashion_mnist/step5",
        "fashion_mnist/seedx/step5",
        "/seed0",
        "fashion_mnist/seed0/step",
        "fashion_mnist/default/seed0",
        "a/b/c/seed0",
        "d/seed01",
    ]
    for label in bad:
        with pytest.raises(ValueError, match=repr(label)):
            TrainPoint.parse(label)


def test_progress_counts_jobs_at_the_final_step_from_the_parsed_weights() -> None:
    from criticality.experiments.zoo.results import ZooTrainResults
    from criticality.experiments.zoo.train_report import progress_text

    def row(model: str, weights: str, status: str = "ok") -> dict[str, Any]:
        return {"model": model, "weights": weights, "status": status, "reason": "", "report": None}

    rows = [row("a", f"ds/seed{s}/step{t}") for s in (0, 1) for t in (0, 8)]
    rows += [row("a", "ds/critical/seed0/step8"), row("b", "ds/seed0/step8"),
             row("b", "ds/seed1/step0"), row("b", "ds/seed1", "failed")]  # fmt: skip
    plan = {"nets": ["a", "b"], "datasets": ["ds"], "seeds": [0, 1], "starts": ["default"]}
    text = progress_text(ZooTrainResults("k", {}, rows, planned=plan))
    # final step 8: a/seed0, a/seed1, a/critical/seed0, b/seed0; only a has both seeds
    assert text.startswith("4 of 4 planned jobs finished") and "1 of 2 networks" in text
    with pytest.raises(ValueError, match="'ds/seed0-step8'"):
        progress_text(ZooTrainResults("k", {}, [row("a", "ds/seed0-step8")], planned=plan))
