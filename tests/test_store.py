"""The SQLite store: keys, replacement, resume bookkeeping, persistence across connections."""

from __future__ import annotations

from pathlib import Path

import pytest

from criticality.store import ResultStore, Row, config_hash


def test_config_hash_ignores_key_order_and_sees_values() -> None:
    assert config_hash({"a": 1, "b": [1, 2]}) == config_hash({"b": [1, 2], "a": 1})
    assert config_hash({"a": 1}) != config_hash({"a": 2})
    assert len(config_hash({})) == 16


def test_rows_persist_and_replace(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "scan.sqlite"
    key = config_hash({"n": 1})
    with ResultStore(path) as store:
        assert store.add_config({"n": 1}) == key
        store.put(Row("resnet18", "random", key, "ok", "", '{"model": "resnet18"}', 1.0))
        store.put(Row("vgg11", "random", key, "failed", "timeout: 1 s", "{}", 1.0))
    with ResultStore(path) as store:  # a new connection sees committed rows
        assert store.config(key) == {"n": 1}
        assert store.done(key) == {("resnet18", "random"), ("vgg11", "random")}
        assert store.done(key, include_failed=False) == {("resnet18", "random")}
        row = store.get("resnet18", "random", key)
        assert row is not None and row.report_dict() == {"model": "resnet18"} and row.created
        store.put(Row("vgg11", "random", key, "ok", "", "{}", 2.0))  # a retry replaces the row
        assert [r.status for r in store.rows(key)] == ["ok", "ok"]
        assert store.done("other") == set()
        assert store.get("vgg11", "pretrained", key) is None


def test_bad_status_and_unknown_config_are_refused() -> None:
    import sqlite3

    store = ResultStore(":memory:")
    with pytest.raises(sqlite3.IntegrityError):
        store.put(Row("m", "random", "k", "maybe", "", "{}", 0.0))  # type: ignore[arg-type]
    with pytest.raises(KeyError, match="no configuration"):
        store.config("nope")
    store.close()
