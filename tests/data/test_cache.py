"""The cache and fetch logic on a toy item: checksums, corruption, partial downloads, order."""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest

from criticality.data import (
    SOURCES,
    DataUnavailableError,
    Item,
    _cache,
    cache_dir,
    fetch,
    list_cached,
)
from criticality.data._sources import SourceError

CONTENT = {"a.txt": b"alpha\n", "sub/b.bin": bytes(range(256))}


@dataclass
class ToySource:
    """Writes CONTENT (or ``payload``), counting calls; fails half-way when ``fail`` is set."""

    payload: dict[str, bytes] = field(default_factory=lambda: dict(CONTENT))
    fail: str | None = None
    calls: int = 0

    def describe(self) -> str:
        return "toy source"

    def fetch(self, files: Sequence[str], dest: Path, work: Path) -> None:
        self.calls += 1
        for i, (name, data) in enumerate(self.payload.items()):
            if self.fail and i == 1:
                raise SourceError(self.fail)
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            (dest / name).write_bytes(data)


def _check(folder: Path) -> None:
    if (folder / "a.txt").read_bytes() != CONTENT["a.txt"]:
        raise ValueError("a.txt is not alpha")


def _toy(monkeypatch: pytest.MonkeyPatch, *sources: Any, **kw: Any) -> Item:
    item = Item("toy", "a toy", tuple(CONTENT), sources, _check, **kw)
    monkeypatch.setitem(cast(dict, SOURCES), "toy", item)
    return item


def test_cache_dir_follows_env(tmp_cache: Path) -> None:
    assert cache_dir() == tmp_cache


def test_first_fetch_records_checksums_and_reuses(tmp_cache, monkeypatch) -> None:
    src = ToySource()
    _toy(monkeypatch, src)
    path = fetch("toy")
    assert path == tmp_cache / "toy"
    assert (path / "sub/b.bin").read_bytes() == CONTENT["sub/b.bin"]
    manifest = json.loads((tmp_cache / "manifest.json").read_text())
    assert manifest["toy"]["files"]["a.txt"] == _cache.sha256_file(path / "a.txt")
    assert fetch("toy") == path and src.calls == 1  # verified cache hit, no second fetch
    [item] = list_cached()
    assert (item.name, item.source, item.size) == ("toy", "toy source", 6 + 256)
    assert item.sha256 == _cache.item_digest(manifest["toy"]["files"])


@pytest.mark.parametrize("damage", ["corrupt", "truncate", "delete", "manifest"])
def test_damaged_cache_is_detected_and_refetched(tmp_cache, monkeypatch, damage) -> None:
    src = ToySource()
    _toy(monkeypatch, src)
    path = fetch("toy")
    target = path / "sub/b.bin"
    if damage == "corrupt":
        target.write_bytes(b"\xff" + CONTENT["sub/b.bin"][1:])  # one byte flipped
    elif damage == "truncate":
        target.write_bytes(CONTENT["sub/b.bin"][:100])
    elif damage == "delete":
        target.unlink()
    else:
        (tmp_cache / "manifest.json").write_text("{not json")
    recorded = _cache.lookup("toy", tmp_cache)
    if damage == "manifest":
        assert recorded is None  # an unreadable manifest means nothing is trusted
    else:
        assert recorded is not None and _cache.verify(recorded) == ["sub/b.bin"]
    assert fetch("toy") == path
    assert src.calls == 2
    assert target.read_bytes() == CONTENT["sub/b.bin"]


def test_partial_download_is_never_used(tmp_cache, monkeypatch) -> None:
    _toy(monkeypatch, ToySource(fail="connection reset"))
    with pytest.raises(DataUnavailableError, match="connection reset"):
        fetch("toy")
    assert not (tmp_cache / "toy").exists()
    assert list_cached() == []
    assert [p.name for p in tmp_cache.iterdir()] == []  # no staging leftovers


def test_sources_are_tried_in_order_and_bad_content_rejected(tmp_cache, monkeypatch) -> None:
    wrong = ToySource(payload={**CONTENT, "a.txt": b"beta\n"})
    missing = ToySource(payload={"a.txt": CONTENT["a.txt"]})
    good = ToySource()
    _toy(monkeypatch, wrong, missing, good)
    fetch("toy")
    assert (wrong.calls, missing.calls, good.calls) == (1, 1, 1)
    assert list_cached()[0].source == "toy source"


def test_known_checksum_mismatch_is_rejected(tmp_cache, monkeypatch) -> None:
    _toy(monkeypatch, ToySource(), sha256={"a.txt": "0" * 64})
    with pytest.raises(DataUnavailableError, match=r"a\.txt: sha256 .* != known 000000000000"):
        fetch("toy")


def test_error_lists_sources_and_manual_fix(tmp_cache, monkeypatch) -> None:
    _toy(monkeypatch, ToySource(fail="mirror down"))
    with pytest.raises(DataUnavailableError) as info:
        fetch("toy")
    message = str(info.value)
    assert "your files ($CRITICALITY_TOY): not set" in message
    assert "toy source: mirror down" in message
    assert "CRITICALITY_TOY=FOLDER" in message and str(tmp_cache / "toy") in message
    assert [source for source, _ in info.value.tried] == [
        "your files ($CRITICALITY_TOY)",
        "toy source",
    ]


def test_user_files_are_verified_and_cached(tmp_cache, tmp_path, monkeypatch) -> None:
    mine = tmp_path / "mine"
    (mine / "sub").mkdir(parents=True)
    (mine / "a.txt").write_bytes(CONTENT["a.txt"])
    with gzip.open(mine / "sub/b.bin.gz", "wb") as fh:  # .gz copies are accepted
        fh.write(CONTENT["sub/b.bin"])
    monkeypatch.setenv("CRITICALITY_TOY", str(mine))
    _toy(monkeypatch)  # no sources of its own: only $CRITICALITY_TOY
    path = fetch("toy")
    assert (path / "sub/b.bin").read_bytes() == CONTENT["sub/b.bin"]
    assert list_cached()[0].source == "your files ($CRITICALITY_TOY)"


def test_force_fetches_again(tmp_cache, monkeypatch) -> None:
    src = ToySource()
    _toy(monkeypatch, src)
    fetch("toy")
    fetch("toy", force=True)
    assert src.calls == 2


def test_unknown_name_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="choose one of"):
        fetch("cifar10")


def test_leftovers_of_killed_fetches_are_swept(tmp_cache, monkeypatch) -> None:
    stale, fresh = tmp_cache / ".tmp-toy-old", tmp_cache / ".tmp-toy-new"
    for folder in (stale, fresh):
        (folder / "out").mkdir(parents=True)
    os.utime(stale, (0, 0))  # killed long ago
    _toy(monkeypatch, ToySource())
    fetch("toy")
    assert not stale.exists() and fresh.exists()  # a fresh one may belong to a running fetch
