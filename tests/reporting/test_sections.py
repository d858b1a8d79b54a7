"""One model's report sections and scorecard: the regime with λ_1, the extreme stages, whether
the measures agree, the per-stage table folded."""

from __future__ import annotations

from pathlib import Path

import torch

from criticality import measure
from criticality.reporting.html import Details, FigureRow, Section, Table, render_html
from criticality.reporting.scorecard import read_scorecard
from criticality.reporting.sections import measure_scorecard, report_details, report_sections
from criticality.zoo import mlp


def test_single_model_scorecard_and_sections(tmp_path: Path) -> None:
    net = mlp(depth=5, width=24, sigma_w=0.5, seed=0)
    rep = measure(net, torch.randn(3, 24), measures=["lyapunov", "ftle", "branching"], name="m")
    rows = measure_scorecard(rep)
    assert [r.statement for r in rows] == [
        "Regime of m",
        "Most contracting stage",
        "Most expanding stage",
        "The measures agree on m's regime",
    ]
    assert rows[0].verdict == "ordered" and rows[0].figure.startswith("λ_1 = −")
    assert rows[3].verdict == "supported" and rows[3].figure == "ordered"
    summary, stages = report_sections(rep, tmp_path)
    assert summary.lead.startswith("m is ordered: perturbations shrink by")
    assert isinstance(stages.items[0], FigureRow)
    (table,) = [i for i in stages.items if isinstance(i, Details)]
    assert table.summary == "Per-stage table (5 stages)" and isinstance(table.items[0], Table)
    page = render_html("m", [summary, stages], scorecard=rows)
    found, ids = read_scorecard(page)
    assert [r["label"] for r in found] == ["regime", "stage", "stage", "C1"]
    assert all(r["section"] in ids for r in found)
    folded = report_details(rep, tmp_path, tag="x_")
    assert (
        folded.summary.startswith("m is ordered") and (tmp_path / "x_stage_profile.png").is_file()
    )
    assert isinstance(Section("s", [folded]).items[0], Details)
