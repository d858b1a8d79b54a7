"""Damaged files are detected and recovered; finished work is never silently mixed (issue 16).

The scan's store: cut short, overwritten with random bytes or deleted, it is moved aside with a
warning and rebuilt from its readable rows and its journal; a second scan on the same store is
refused. Resumable
folders: another configuration is refused (``--fresh`` discards). ``results.json`` cut short or
missing a key: the report names the file.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from criticality.reporting import (
    ConfigMismatchError,
    fresh_start,
    load_results,
    resume_dir,
    write_results,
)
from criticality.store import ResultStore, Row, config_hash, writer_lock


def _rows(n: int, key: str) -> list[Row]:
    return [
        Row(f"model{i:02d}", "random", key, "ok", "", json.dumps({"i": i}), 1.0) for i in range(n)
    ]


def _filled(path: Path, n: int = 40) -> str:
    with ResultStore(path) as store:
        key = store.add_config({"measures": ["lyapunov"], "n": n})
        for row in _rows(n, key):
            store.put(row)
    return key


def test_store_journal_mirrors_every_row(tmp_path: Path) -> None:
    key = _filled(tmp_path / "scan.sqlite", 3)
    lines = (tmp_path / "scan.sqlite.rows.jsonl").read_text().splitlines()
    assert len(lines) == 4  # one config, three rows
    assert json.loads(lines[1])["row"][:3] == ["model00", "random", key]


@pytest.mark.parametrize("damage", ["truncate", "garbage", "zeros"])
def test_damaged_store_is_moved_aside_and_rebuilt(tmp_path: Path, damage: str, caplog) -> None:
    path = tmp_path / "scan.sqlite"
    key = _filled(path)
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        path.write_bytes(os.urandom(len(data)))
    else:
        path.write_bytes(data[:100] + bytes(len(data) - 100))  # header kept, pages wiped
    with caplog.at_level(logging.WARNING), ResultStore(path) as store:
        rows = store.rows(key)
        assert store.config(key) == {"measures": ["lyapunov"], "n": 40}
    assert "was damaged" in caplog.text and "rebuilt 40 rows" in caplog.text
    assert [r.model for r in rows] == [f"model{i:02d}" for i in range(40)]
    assert rows[7].report_dict() == {"i": 7}
    assert len(list(tmp_path.glob("scan.sqlite.damaged-*"))) == 1
    with sqlite3.connect(path) as db:  # the rebuilt file is a sound database
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_damaged_store_without_journal_keeps_the_readable_rows(tmp_path: Path) -> None:
    path = tmp_path / "scan.sqlite"
    key = _filled(path, 300)
    (tmp_path / "scan.sqlite.rows.jsonl").unlink()
    data = bytearray(path.read_bytes())
    data[-4096:] = bytes(4096)  # the last page wiped: the rows there are lost
    path.write_bytes(bytes(data))
    with ResultStore(path) as store:
        rows = store.rows(key)
        assert 0 < len(rows) <= 300
        assert all(r.report_dict() == {"i": int(r.model[5:])} for r in rows)


def test_deleted_store_is_restored_from_the_journal(tmp_path: Path) -> None:
    path = tmp_path / "scan.sqlite"
    key = _filled(path, 5)
    path.unlink()
    with ResultStore(path) as store:
        assert len(store.rows(key)) == 5


def test_a_cut_journal_line_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "scan.sqlite"
    key = _filled(path, 5)
    journal = tmp_path / "scan.sqlite.rows.jsonl"
    journal.write_text(journal.read_text()[:-30])  # the last row's line cut in the middle
    path.write_bytes(b"not a database at all" * 100)
    with ResultStore(path) as store:
        assert [r.model for r in store.rows(key)] == [f"model{i:02d}" for i in range(4)]


def test_second_writer_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "scan.sqlite"
    refused = pytest.raises(ValueError, match=r"another scan is writing .*pid \d+")
    with writer_lock(path), refused, writer_lock(path):
        pass
    with writer_lock(path):  # released: the next scan may write
        pass


def test_second_scan_on_the_same_out_measures_nothing(tmp_path: Path, monkeypatch: Any) -> None:
    from criticality.experiments import scan

    calls: list[str] = []
    monkeypatch.setattr(scan, "measure_model", lambda job: calls.append(job.model) or "{}")
    lock = writer_lock(tmp_path / "scan.sqlite")
    with lock, pytest.raises(ValueError, match="another scan is writing"):
        scan.run(scan.ScanConfig.tiny(), tmp_path)
    assert calls == []


def test_fresh_scan_measures_again(tmp_path: Path, monkeypatch: Any) -> None:
    from criticality.experiments import scan

    calls: list[str] = []
    monkeypatch.setattr(scan, "measure_model", lambda job: calls.append(job.model) or "{}")
    monkeypatch.setattr(scan, "render", lambda out: Path(out) / "report.html")
    cfg = scan.ScanConfig.tiny()
    scan.run(cfg, tmp_path)
    scan.run(cfg, tmp_path)
    assert len(calls) == 5  # resumed: nothing measured twice
    with fresh_start():
        scan.run(cfg, tmp_path)
    assert len(calls) == 10


def test_resume_dir_refuses_another_config(tmp_path: Path) -> None:
    folder = resume_dir(tmp_path / "parts", {"steps": 100, "method": "plain"}, on_change="refuse")
    (folder / "unit.json").write_text("{}")
    assert resume_dir(folder, {"method": "plain", "steps": 100}, on_change="refuse") == folder
    with pytest.raises(ConfigMismatchError, match=r"steps: 100 there, 50 now.*--fresh"):
        resume_dir(folder, {"steps": 50, "method": "plain"}, on_change="refuse")
    assert (folder / "unit.json").is_file()  # nothing discarded
    with fresh_start():
        resume_dir(folder, {"steps": 50, "method": "plain"}, on_change="refuse")
    assert not (folder / "unit.json").exists()
    assert json.loads((folder / "config.json").read_text())["steps"] == 50


def test_resume_dir_redoes_a_changed_unit_and_says_so(tmp_path: Path, caplog) -> None:
    folder = resume_dir(tmp_path / "unit", {"seed": 0, "steps": 10})
    (folder / "record.json").write_text("{}")
    with caplog.at_level(logging.WARNING):
        assert resume_dir(folder, {"seed": 0, "steps": 10}) == folder
    assert (folder / "record.json").is_file() and caplog.text == ""
    with caplog.at_level(logging.WARNING):
        resume_dir(folder, {"seed": 0, "steps": 20})
    assert "settings changed (steps: 10 there, 20 now)" in caplog.text
    assert not (folder / "record.json").exists()  # computed again ...
    kept = tmp_path / "unit.replaced-1"  # ... and the earlier work set aside, not deleted
    assert (kept / "record.json").is_file() and str(kept) in caplog.text
    resume_dir(folder, {"seed": 0, "steps": 30})
    assert (tmp_path / "unit.replaced-2" / "config.json").is_file()
    with pytest.raises(ValueError, match="on_change"):
        resume_dir(folder, {}, on_change="keep")  # type: ignore[arg-type]


def test_resume_dir_with_an_unreadable_stamp(tmp_path: Path) -> None:
    (tmp_path / "parts").mkdir()
    (tmp_path / "parts" / "config.json").write_text('{"steps": 1')
    with pytest.raises(ConfigMismatchError, match=r"is damaged.*delete.*--fresh"):
        resume_dir(tmp_path / "parts", {"steps": 1}, on_change="refuse")


def test_experiment_rerun_with_other_settings_is_refused(tmp_path: Path) -> None:
    import dataclasses

    from criticality.experiments import phase

    cfg = phase.PhaseConfig.tiny()
    phase.run(cfg, tmp_path)
    before = (tmp_path / "results.json").read_text()
    other = dataclasses.replace(cfg, probe_seed=cfg.probe_seed + 1)
    with pytest.raises(ConfigMismatchError, match=r"probe_seed: \d+ there, \d+ now"):
        phase.run(other, tmp_path)
    assert (tmp_path / "results.json").read_text() == before


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('{"schema_version": 1, "kind": "measure", "da', "damaged .*truncated"),
        ("\x00\x01\x02", "damaged"),
        ('{"schema_version": 1, "kind": "measure"}', "no 'data'"),
        ('{"schema_version": 1, "data": {}, "seed": 0}', "lacks the key 'kind'"),
    ],
)
def test_load_results_names_the_damaged_file(tmp_path: Path, text: str, match: str) -> None:
    (tmp_path / "results.json").write_text(text)
    with pytest.raises(ValueError, match=match) as info:
        load_results(tmp_path)
    assert str(tmp_path / "results.json") in str(info.value)


def test_report_on_results_missing_a_data_key_names_the_file(tmp_path: Path) -> None:
    from criticality.experiments import render

    write_results(tmp_path, "phase", {}, {"not": "what phase writes"}, seed=0)
    with pytest.raises(ValueError, match=r"results.json is incomplete.*re-run") as info:
        render(tmp_path)
    assert str(tmp_path / "results.json") in str(info.value)


def test_config_hash_is_key_order_free() -> None:
    assert config_hash({"a": 1, "b": 2}) == config_hash({"b": 2, "a": 1})


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_damaged_weights_file_is_a_clear_error(tmp_path: Path, suffix: str) -> None:
    from criticality.data.weights import read_state_dict

    path = tmp_path / f"model{suffix}"
    path.write_bytes(b"\x80\x02garbage" * 20)
    with pytest.raises(ValueError, match=r"weights file .* is damaged") as info:
        read_state_dict(path)
    assert "weights_only" not in str(info.value)


def test_frames_refuse_results_that_lack_what_they_need(tmp_path: Path) -> None:
    """``results_frames`` on a run whose data lost a node refuses, as ``criticality report``
    does, where it gave part of the rows before (issue 28)."""
    from criticality.integrations.frames import results_frames

    runs = [{"method": m, "seed": s, "trajectory": [{"step": t, "lambda_1": 0.1 * t}
             for t in range(3)]} for m in ("plain", "critical") for s in (0, 1)]  # fmt: skip
    write_results(tmp_path, "training", {}, {"runs": runs, "methods": {}}, seed=0)
    assert len(results_frames(tmp_path)["trajectories"]) == 12
    for broken in ({"methods": {}}, {"runs": None, "methods": {}}):
        write_results(tmp_path, "training", {}, broken, seed=0)
        with pytest.raises(ValueError, match=r"results\.json is incomplete.*'runs'") as err:
            results_frames(tmp_path)
        assert str(tmp_path / "results.json") in str(err.value)


@pytest.mark.parametrize(
    ("content", "match"),
    [('{"schema_version": 1, "mod', "is damaged"), ("\x00\xff\x01", "is damaged"),
     ('{"schema_version": 1}', "not a criticality report"), ('{"schema_version": 9}', "schema")],
)  # fmt: skip
def test_damaged_report_json_names_its_file(tmp_path: Path, content: str, match: str) -> None:
    from criticality.report import CriticalityReport

    path = tmp_path / "report.json"
    path.write_bytes(content.encode("latin-1"))
    with pytest.raises(ValueError, match=match) as err:
        CriticalityReport.load(path)
    assert str(path) in str(err.value)


def test_table_export_to_a_bad_place_fails_before_any_work(tmp_path: Path) -> None:
    from criticality.integrations.frames import check_export

    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="is a file, not a folder"):
        check_export(tmp_path, "csv", tmp_path / "file")
    with pytest.raises(ValueError, match="cannot be written to"):
        check_export(tmp_path, "csv", tmp_path / "file" / "below")
    with pytest.raises(ValueError, match="format must be"):
        check_export(tmp_path, "xlsx")
    assert check_export(tmp_path, "csv") == tmp_path / "tables"
    assert list((tmp_path / "tables").iterdir()) == []  # the write probe is gone
