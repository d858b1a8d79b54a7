"""The tutorial notebooks run from top to bottom on small settings, so that they never rot.

Each notebook has a cell tagged ``parameters`` (the papermill convention); the test runs a cell
after it that sets small values, executes the notebook in a fresh kernel (``nbclient``), and
checks what it computed. The notebooks are stored without outputs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))
SMALL = {
    "01_measure_your_model": "WIDTH, DEPTH, N_PROBES, K = 128, 8, 8, 4",
    "02_train_with_lightning": "STEPS, EVERY, BATCH = 40, 20, 64",
}

pytestmark = pytest.mark.filterwarnings(
    # jupyter_client's own notice about its configuration folders, raised in this process
    "ignore:Jupyter is migrating its paths:DeprecationWarning"
)


#: The last cell the test adds: the notebook's variables named in ``REPORT`` as one JSON line.
REPORT = "import json as _json; print('REPORT ' + _json.dumps({}, default=str))"


def run(path: Path, parameters: str, tmp_path: Path, report: str = "{}") -> Any:
    """Execute the notebook at ``path`` in a fresh kernel, with ``parameters`` set after its
    ``parameters`` cell and a last cell printing ``report`` (a Python dict expression over the
    notebook's variables) as JSON; the executed notebook."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    book = nbformat.read(path, as_version=4)
    tagged = [i for i, c in enumerate(book.cells) if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: one cell tagged 'parameters'"
    injected = nbformat.v4.new_code_cell(parameters)
    injected["id"] = "injected-parameters"
    book.cells.insert(tagged[0] + 1, injected)
    last = nbformat.v4.new_code_cell(REPORT.format(report))
    last["id"] = "test-report"
    book.cells.append(last)
    # the kernel runs in tmp_path (files it writes land there) and finds the sources we test
    src = str(Path(__file__).resolve().parents[2] / "src")
    env_path = os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH", "")) if p)
    os.environ["PYTHONPATH"] = env_path
    client = nbclient.NotebookClient(
        book, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    return book


def reported(book: Any) -> Any:
    """What the test's last cell printed (see :func:`run`)."""
    text = "".join(out["text"] for out in book.cells[-1]["outputs"] if "text" in out)
    return json.loads(text.split("REPORT ", 1)[1])


def outputs(book: Any, kind: str = "text/plain") -> list[str]:
    """Every output of ``kind`` (``"stream"`` for printed text), in order."""
    found = []
    for cell in book.cells:
        for out in cell.get("outputs", []):
            if kind == "stream" and out["output_type"] == "stream":
                found.append(out["text"])
            elif kind in out.get("data", {}):
                found.append(out["data"][kind])
    return found


@pytest.fixture(autouse=True)
def _kernel_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    monkeypatch.setenv("PYTHONPATH", os.environ.get("PYTHONPATH", ""))  # restored afterwards
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


def test_every_notebook_is_stored_without_outputs() -> None:
    assert [p.stem for p in PATHS] == [
        "01_measure_your_model",
        "02_train_with_lightning",
        "03_redraw_a_study",
    ]
    for path in PATHS:
        book = json.loads(path.read_text())
        for cell in book["cells"]:
            if cell["cell_type"] == "code":
                assert cell["outputs"] == [] and cell["execution_count"] is None, path.name


def test_measure_your_model(tmp_path: Path) -> None:
    book = run(NOTEBOOKS / "01_measure_your_model.ipynb", SMALL["01_measure_your_model"], tmp_path)
    printed = "".join(outputs(book, "stream"))
    assert "operates in the chaotic regime" in printed  # σ_w = 2: chaotic
    # the language model was measured from token ids, after its embedding, and said so
    assert "Measured from the output of stage 'embed' on (the inputs are token ids)" in printed
    assert "('transformer.h.0', 'transformer.h.1', 'transformer.h.2', 'transformer.h.3'" in printed
    assert any("<figure" in html for html in outputs(book, "text/html"))  # the rich report
    assert (tmp_path / "tanh_net.json").is_file()


def test_train_with_lightning(tmp_path: Path) -> None:
    pytest.importorskip("lightning")
    book = run(NOTEBOOKS / "02_train_with_lightning.ipynb", SMALL["02_train_with_lightning"],
               tmp_path, report='{"lam": lam.to_dict(), "accuracy": accuracy}')  # fmt: skip
    assert outputs(book, "image/png"), "the λ_1 figure"
    got = reported(book)
    plain, critical = got["lam"]["plain"], got["lam"]["critical_global"]
    steps = sorted(plain, key=int)
    assert steps[0] == "0" and int(steps[-1]) == 40 and len(steps) >= 3
    # both start chaotic from the same network; the regularizer pulled λ_1 toward 0, plain
    # training stayed further from it
    assert plain["0"] == critical["0"] > 0.1
    assert abs(critical[steps[-1]]) < abs(plain[steps[-1]]), got
    assert all(0.0 <= a <= 1.0 for a in got["accuracy"].values())


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small run of the training experiment: what a committed study's folder holds."""
    from criticality.cli.main import main

    out = tmp_path_factory.mktemp("study") / "training"
    args = ["experiment", "training", "--preset", "tiny", "--out", str(out),
            "--set", 'models=["mlp"]', "--set", 'methods=["plain","critical_global"]',
            "--set", "init_study=[]", "--set", "seeds=[0,1]"]  # fmt: skip
    assert main(args) == 0
    return out


def test_redraw_a_study(study: Path, tmp_path: Path) -> None:
    book = run(NOTEBOOKS / "03_redraw_a_study.ipynb", f"STUDY = {str(study)!r}", tmp_path)
    assert outputs(book, "image/png"), "the redrawn figure"
    table = outputs(book, "text/html")[-1]  # the summary: one row per method
    assert "critical_global" in table and "plain" in table and "lyapunov" in table
