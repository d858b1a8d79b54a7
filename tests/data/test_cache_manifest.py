"""A lost or damaged cache manifest is rebuilt from the files' known checksums (issue 16)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, cast

import pytest

from criticality.data import SOURCES, Item, _cache, fetch

CONTENT = {"a.txt": b"alpha\n", "b.bin": bytes(range(256))}


class _Source:
    calls = 0

    def describe(self) -> str:
        return "toy source"

    def fetch(self, files: Any, dest: Path, work: Path) -> None:
        type(self).calls += 1
        for name, data in CONTENT.items():
            (dest / name).write_bytes(data)


def _known_item(monkeypatch: pytest.MonkeyPatch) -> None:
    digests = {name: hashlib.sha256(data).hexdigest() for name, data in CONTENT.items()}
    item = Item("toy", "a toy", tuple(CONTENT), (_Source(),), lambda folder: None, sha256=digests)
    monkeypatch.setitem(cast(dict, SOURCES), "toy", item)
    _Source.calls = 0


@pytest.mark.parametrize("damage", ["deleted", "garbage"])
def test_lost_manifest_is_rebuilt_from_known_checksums(
    tmp_cache: Path, monkeypatch: pytest.MonkeyPatch, damage: str
) -> None:
    _known_item(monkeypatch)
    path = fetch("toy")
    if damage == "deleted":
        (tmp_cache / "manifest.json").unlink()
    else:
        (tmp_cache / "manifest.json").write_text("{not json")
    assert fetch("toy") == path
    assert _Source.calls == 1  # the intact files were adopted, not fetched again
    item = _cache.lookup("toy", tmp_cache)
    assert item is not None and _cache.verify(item) == []


def test_lost_manifest_and_a_damaged_file_fetch_again(
    tmp_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _known_item(monkeypatch)
    path = fetch("toy")
    (tmp_cache / "manifest.json").unlink()
    (path / "b.bin").write_bytes(b"\xff" + CONTENT["b.bin"][1:])
    assert fetch("toy") == path
    assert _Source.calls == 2
    assert (path / "b.bin").read_bytes() == CONTENT["b.bin"]
