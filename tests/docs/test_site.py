"""The documentation site builds with no warning, and a broken cross-reference fails it.

``mkdocs build --strict`` (what ``make docs`` runs): the manual pages, the results pages and the
API reference generated from the docstrings (mkdocstrings), in one site.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def build(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings_handlers.python")
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config),
               "-d", str(site)]  # fmt: skip
    return subprocess.run(command, cwd=config.parent, capture_output=True, text=True, timeout=600)


def test_the_site_builds_without_a_warning(tmp_path: Path) -> None:
    done = build(ROOT / "mkdocs.yml", tmp_path / "site")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "WARNING" not in done.stderr
    site = tmp_path / "site"
    for page in sorted((ROOT / "docs").rglob("*.md")):  # every manual and results page
        rel = page.relative_to(ROOT / "docs")
        if rel.parts[0] != "_ext":
            assert (site / rel.with_suffix(".html")).is_file(), rel
    api = (site / "api" / "index.html").read_text()
    # the top-level verbs and every measure are documented, and a docstring's Sphinx role
    # (:func:`criticality.stages`) became a link to the page that documents it
    assert 'id="criticality.measure"' in api and 'id="criticality.create_model"' in api
    measures = (site / "api" / "measures.html").read_text()
    for name in ("lyapunov.lyapunov_spectrum", "ftle.ftle", "branching.branching_ratio"):
        assert f'id="criticality.measures.{name}"' in measures
    assert 'href="stages.html#criticality.stages.stages"' in measures
    assert not (site / "_ext").exists()


def test_a_broken_cross_reference_fails_the_build(tmp_path: Path) -> None:
    """The same configuration over one page that names an object that does not exist."""
    docs = tmp_path / "docs"
    (docs / "_ext").mkdir(parents=True)
    shutil.copy(ROOT / "docs" / "_ext" / "sphinx_roles.py", docs / "_ext")
    (docs / "index.md").write_text("# Broken\n\nSee [`nothing`][criticality.no_such_thing].\n")
    config = (ROOT / "mkdocs.yml").read_text().replace("paths: [src]", f"paths: [{ROOT / 'src'}]")
    (tmp_path / "mkdocs.yml").write_text(config)
    done = build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert done.returncode != 0
    assert "criticality.no_such_thing" in done.stderr
