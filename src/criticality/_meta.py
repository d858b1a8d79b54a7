"""What every output file shares: the schema version, run metadata and atomic writes.

One home for them, so that ``results.json``, report JSON, checkpoints and the data cache agree
on the version they record and never leave a half-written file behind.
"""

from __future__ import annotations

import contextlib
import functools
import os
import platform
import tempfile
import time
from pathlib import Path

#: Version of every JSON file criticality writes (``results.json`` and report JSON).
SCHEMA_VERSION = 1


@functools.cache
def package_version() -> str:
    """The installed version of ``criticality`` (from the package metadata)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("criticality")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "0+unknown"


def versions() -> dict[str, str]:
    """Versions of criticality, torch and Python."""
    import torch

    return {
        "criticality": package_version(),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }


def timestamp() -> str:
    """Local time in ISO 8601 with the UTC offset."""
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def atomic_write(path: str | Path, data: str | bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file and a rename.

    Readers never see a half-written file, and an interrupted write leaves the old file intact.
    The file gets the permissions of any new file (``0o666`` minus the umask), not the private
    ``0o600`` of the temporary file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb" if isinstance(data, bytes) else "w") as f:
            f.write(data)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0o022)  # the only portable way to read it is to set it and put it back
    os.umask(mask)
    return mask
