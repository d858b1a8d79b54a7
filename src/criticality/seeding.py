"""The one seed vocabulary and the one rule that mixes seeds.

Vocabulary (every experiment's config):

* ``seeds``: the **replicates**. One run per seed (its network initialisation, data order and
  the training methods' random draws); the statistics count distinct seeds as independent
  samples, so a seed may appear once.
* ``probe_seed`` (:data:`PROBE_SEED`): what is shared by every replicate and is not one: the
  probe inputs, the measures' random directions (tangents, perturbations) and, where needed,
  data subsets. Changing it changes what is measured on, not how many replicates there are.

Where several random streams derive from those seeds (a network per σ_w, a batch order per
epoch), :func:`mix_seed` derives each from its keys. Unlike ``seed + 1000 * i`` it never
makes two streams collide (``seed 1, i 0`` and ``seed 0, i 1`` are different streams), and
unlike :func:`hash` it is the same in every process and on every machine.
"""

from __future__ import annotations

import hashlib

#: The config field that seeds the probe inputs and the measures' random directions.
PROBE_SEED = "probe_seed"
#: The config field that lists the replicates.
REPLICATES = "seeds"

_BITS = 63  # fits torch.manual_seed, numpy's default_rng and random.seed alike


def mix_seed(*keys: int | str) -> int:
    """A seed in ``[0, 2**63)`` derived from ``keys`` (integers and strings), stably.

    Equal keys give the same seed in every process; any change of a key, of their order or of
    their number gives an unrelated one (SHA-256 of the keys, each tagged with its type).

    >>> mix_seed(0, "network", 3) == mix_seed(0, "network", 3)
    True
    >>> mix_seed(1, 0) != mix_seed(0, 1) and mix_seed(1) != mix_seed("1")
    True
    >>> mix_seed(7)
    6004973032220282954

    Raises:
        TypeError: a key that is not an ``int`` or a ``str`` (a ``bool`` or ``float`` too: they
            would mix differently from the integer they look like).
    """
    if not keys:
        raise TypeError("mix_seed needs at least one key (a seed, a name, an index)")
    parts = []
    for key in keys:
        if isinstance(key, bool) or not isinstance(key, (int, str)):
            raise TypeError(f"mix_seed takes int and str keys, got {type(key).__name__} {key!r}")
        parts.append(f"{type(key).__name__}:{key}")
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") >> (64 - _BITS)
