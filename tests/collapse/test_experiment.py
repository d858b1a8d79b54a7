"""The collapse experiment: its tiny config runs, analyses, and resumes after a kill."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch

from criticality.experiments.collapse import CollapseConfig, run, scorecard, with_changes

_KILL_CFG = dataclasses.replace(
    CollapseConfig.tiny(), models=("vae",), modes=("replace",), methods=("plain",), generations=4
)


def _data(out: Path) -> dict[str, Any]:
    return json.loads((out / "results.json").read_text())["data"]


def _strip(obj: Any) -> Any:
    """The results without wall times (which differ between runs)."""
    if isinstance(obj, dict):
        return {k: _strip(v) for k, v in obj.items() if "seconds" not in k}
    if isinstance(obj, list):
        return [_strip(v) for v in obj]
    return obj


def test_tiny_runs_every_model(tmp_path: Path) -> None:
    assert run(CollapseConfig.tiny(), tmp_path) == tmp_path / "report.html"
    data = _data(tmp_path)
    assert set(data) >= {"gaussian", "regression", "gmm", "vae", "charlm"}
    g = data["gaussian"]["mle/replace"]
    assert len(g["variance"]["mean"]) == CollapseConfig.tiny().stat_generations + 1
    # the tail mass is skewed over runs: its median and the share of runs that lost the tails
    assert 0.0 <= g["tail_mass_median"][-1] <= g["tail_mass"]["mean"][-1]
    assert 0.0 < g["tails_lost_share"][-1] <= 1.0  # N = 10, 10 generations: most runs lose them
    assert g["tails_lost_share"][0] < g["tails_lost_share"][-1]
    vae = data["vae"]["vae"]
    assert set(vae["runs"]) == {"replace/plain", "replace/critical_global", "mixed/plain"}
    rows = vae["runs"]["replace/plain"]
    assert len(rows) == 2 and len(rows[0]) == 2  # seeds, generations + 1
    assert {"neg_elbo", "entropy", "lambda_1/encoder", "sigma/decoder"} <= set(rows[0][0])
    analysis = vae["analysis"]["conditions"]["replace/critical_global"]
    assert analysis["contrast_final"]["neg_elbo"]["n"] == 2
    gru = data["charlm"]["charlm-gru"]["runs"]["replace/plain"][0][1]
    assert {"test_ppl", "lambda_1/depth", "lambda_1/time", "rare_word_mass"} <= set(gru)
    # The in-time spectrum (finite-time QR exponents over 8 steps: not necessarily ordered).
    spectrum = gru["exponents/time"]
    assert len(spectrum) == 4 and all(math.isfinite(e) for e in spectrum)
    assert spectrum[0] == pytest.approx(gru["lambda_1/time"], abs=1e-9)
    # The verdicts: M4's two halves, the literature's remedies, the exact cases' check.
    rows = scorecard(data)
    assert [r.claim for r in rows] == ["M4", "M4", None, None]
    verdicts = {"supported", "inconclusive", "not supported"}
    assert {r.verdict for r in rows[:3]} <= verdicts
    assert "charlm-gru critical_global" in rows[1].figure
    assert "vae mixed" in rows[2].figure and "gmm mixed" in rows[2].figure
    assert rows[3].verdict == "agree", rows[3].figure  # the simulations follow the closed forms
    page = (tmp_path / "report.html").read_text()
    assert "lost their tails" in page and "E ln det" in page
    assert "What the data support" in page and "In sum, on this run" in page
    assert rows[1].statement in page  # the scorecard is on top of the report
    for row in rows:  # every row's link lands on a section of this report
        assert f'id="{row.section}"' in page or f'id="sec-{row.section}"' in page, row.section


def test_resume_after_a_kill_gives_the_same_results(tmp_path: Path) -> None:
    whole = _strip(_data(run(_KILL_CFG, tmp_path / "whole").parent))
    out = tmp_path / "killed"
    code = (
        "import dataclasses, torch; torch.set_num_threads(1)\n"
        "from criticality.experiments.collapse import CollapseConfig, run, scorecard\n"
        f"cfg = dataclasses.replace(CollapseConfig.tiny(), models=('vae',), modes=('replace',), "
        f"methods=('plain',), generations=4)\n"
        f"run(cfg, {str(out)!r})\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", code], env=env)
    unit = out / "units" / "vae" / "replace-plain" / "seed0"
    deadline = time.monotonic() + 120
    while not (unit / "gen_001" / "record.json").exists() and time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail("the run ended before it could be killed")
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # the results written so far hold the models finished before the kill, not the VAE
    assert not (out / "results.json").exists() or "vae" not in _data(out)
    assert not (unit / "gen_004" / "record.json").exists()
    resumed = _strip(_data(run(_KILL_CFG, out).parent))
    assert resumed == whole


def test_a_changed_config_redoes_only_the_units_it_changes(tmp_path: Path) -> None:
    cfg = dataclasses.replace(_KILL_CFG, models=("gmm", "vae"), generations=1, seeds=(0,))
    run(cfg, tmp_path)
    first = _data(tmp_path)
    gmm_record = tmp_path / "units" / "gmm" / "replace-plain" / "seed0" / "gen_001" / "record.json"
    stamp = gmm_record.stat().st_mtime_ns
    changed = with_changes(cfg, {"vae.steps": 30})  # a VAE field: the mixture is kept
    run(changed, tmp_path)
    assert gmm_record.stat().st_mtime_ns == stamp
    vae_first = first["vae"]["vae"]["runs"]["replace/plain"][0][0]["neg_elbo"]
    assert _data(tmp_path)["vae"]["vae"]["runs"]["replace/plain"][0][0]["neg_elbo"] != vae_first
    assert _strip(_data(run(changed, tmp_path / "fresh").parent)) == _strip(_data(tmp_path))


def test_bad_config_names_the_field() -> None:
    with pytest.raises(ValueError, match="unknown models"):
        dataclasses.replace(CollapseConfig.tiny(), models=("diffusion",)).validate()
    with pytest.raises(ValueError, match="modes"):
        dataclasses.replace(CollapseConfig.tiny(), modes=("keep",)).validate()


def test_a_changed_weight_redoes_only_the_units_it_acts_on(tmp_path: Path) -> None:
    cfg = dataclasses.replace(
        _KILL_CFG, models=("gmm", "vae"), modes=("replace", "mixed"),
        methods=("plain", "critical_global"), generations=1, seeds=(0,),
    )  # fmt: skip
    run(cfg, tmp_path)
    records = sorted((tmp_path / "units").glob("*/*/seed0/gen_001/record.json"))
    assert len(records) == 5  # gmm: replace, mixed; vae: replace, critical_global, mixed
    before = {p: p.stat().st_mtime_ns for p in records}
    run(dataclasses.replace(cfg, critical_weight=2.0), tmp_path)
    redone = {p.parts[-4] for p in records if p.stat().st_mtime_ns != before[p]}
    assert redone == {"replace-critical_global"}
    run(dataclasses.replace(cfg, critical_weight=2.0, real_fraction=0.3), tmp_path)
    after = {p.parent.parent.parent.parent.name + "/" + p.parts[-4] for p in records
             if p.stat().st_mtime_ns != before[p]}  # fmt: skip
    assert after == {"vae/replace-critical_global", "gmm/mixed-plain", "vae/mixed-plain"}


def test_the_reference_protocols_run_end_to_end(tmp_path: Path) -> None:
    cfg = with_changes(
        CollapseConfig.tiny(),
        {"models": ("vae", "charlm"), "modes": ("replace",), "methods": ("plain",),
         "seeds": (0,), "vae.stream": "fresh", "charlm.decoding": "beam", "charlm.beams": 2,
         "charlm.select_every": 2, "charlm.n_valid": 8, "charlm.pretrain_steps": 4},
    )  # fmt: skip
    run(cfg, tmp_path)
    data = _data(tmp_path)
    vae = data["vae"]["vae"]["runs"]["replace/plain"][0]
    assert vae[0]["latent_mean_gen0"] != vae[1]["latent_mean_gen0"]
    lm = data["charlm"]["charlm-gru"]["runs"]["replace/plain"][0]
    assert {"test_ppl", "sample_ppl_gen0"} <= set(lm[1])
    unit = tmp_path / "units" / "charlm-gru" / "replace-plain" / "seed0"
    assert (unit / "pretrained.pt").exists()
    base = torch.load(unit / "pretrained.pt", weights_only=True)  # plain tensors
    # a crafted pretrained.pt runs nothing: it is set aside and trained again, identically
    marker = tmp_path / "marker"
    torch.save({"w": _Payload(marker)}, unit / "pretrained.pt")
    run(cfg, tmp_path)
    assert not marker.exists() and (unit / "pretrained.pt.damaged-1").exists()
    again = torch.load(unit / "pretrained.pt", weights_only=True)
    assert all(torch.equal(base[k], again[k]) for k in base)
    assert _strip(_data(tmp_path)) == _strip(data)


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.marker), "w"))


def test_the_exact_check_agrees_on_the_reference_sizes() -> None:
    from criticality.experiments.collapse.report import _exact_rows
    from criticality.experiments.collapse.run import gaussian_study, regression_study

    cfg = CollapseConfig.reference()  # N = 10 for 200 generations: v is very heavy-tailed
    data = {"gaussian": gaussian_study(cfg), "regression": regression_study(cfg)}
    (row,) = _exact_rows(data)
    assert row.verdict == "agree", row.figure
    # E ln det Σ is checked at all 201 generations of both replace estimators
    assert int(row.figure.split(" over ")[1].split()[0]) > 4 * 201
