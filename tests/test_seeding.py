"""The one seed-mixing rule: stable, collision-free where ``seed + k * i`` collides."""

from __future__ import annotations

import hashlib
import itertools
import subprocess
import sys

import pytest

from criticality.seeding import mix_seed


def test_mix_seed_is_sha256_of_the_tagged_keys() -> None:
    """The rule written out independently: the top 63 bits of SHA-256 of ``int:0␟str:a``."""
    digest = hashlib.sha256(b"int:0\x1fstr:a").digest()
    assert mix_seed(0, "a") == int.from_bytes(digest[:8], "big") >> 1
    assert 0 <= mix_seed(0, "a") < 2**63


def test_mix_seed_is_the_same_in_another_process() -> None:
    """Unlike ``hash(str)``, which Python salts per process."""
    code = "from criticality.seeding import mix_seed; print(mix_seed(3, 'network', 2))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(out.stdout) == mix_seed(3, "network", 2)


def test_mix_seed_separates_what_addition_confuses() -> None:
    # seed + 1000 * i collides for (seed 1000, i 0) and (seed 0, i 1); the mix does not
    pairs = list(itertools.product(range(40), range(40)))
    assert len({mix_seed(s, i) for s, i in pairs}) == len(pairs)
    assert mix_seed(1, 0) != mix_seed(0, 1)
    assert mix_seed(1) != mix_seed("1") and mix_seed(1, 2) != mix_seed(1, 2, 0)


@pytest.mark.parametrize("bad", [1.0, True, None, (1, 2)])
def test_mix_seed_refuses_keys_that_would_mix_ambiguously(bad: object) -> None:
    with pytest.raises(TypeError, match="int and str keys"):
        mix_seed(0, bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="at least one key"):
        mix_seed()
