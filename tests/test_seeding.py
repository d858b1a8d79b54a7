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


def test_robustness_draws_no_stream_twice_across_replicates(monkeypatch) -> None:
    """Each (replicate, corruption, severity) and each (replicate, PGD batch) gets its own
    stream; ``seed + severity`` and ``seed + batch`` gave replicates 0 and 2 one draw."""
    import torch

    from criticality.training import evaluate_robustness, robustness

    used: list[tuple[str, int]] = []

    def corrupt(x, name, severity, *, seed):  # type: ignore[no-untyped-def]
        used.append(("corrupt", seed))
        return x

    def pgd(model, x, y, eps, *, steps, seed):  # type: ignore[no-untyped-def]
        used.append(("pgd", seed))
        return x

    monkeypatch.setattr(robustness, "corrupt", corrupt)
    monkeypatch.setattr(robustness, "pgd", pgd)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
    x, y = torch.rand(6, 1, 2, 2), torch.tensor([0, 1] * 3)
    for seed in range(4):
        evaluate_robustness(model, x, y, noise_levels=(), corruptions=("blur", "contrast"),
                            severities=(1, 2, 3), fgsm_eps=(), pgd_eps=(0.1,), pgd_steps=1,
                            seed=seed, batch_size=2)  # fmt: skip
    assert len(used) == 4 * (2 * 3 + 3)
    assert len(set(used)) == len(used)


def test_a_later_task_of_fit_shuffles_by_the_mixing_rule() -> None:
    """Task 0 keeps ``seed`` itself (a single-task run's batch order); task t > 0 shuffles from
    ``mix_seed(seed, "task", t)``, so two seeds' tasks never share an order."""
    from criticality.training.fit import _task_seed

    assert _task_seed(5, 0) == 5
    assert _task_seed(5, 2) == mix_seed(5, "task", 2) % 2**31
    orders = {_task_seed(s, t) for s in range(20) for t in range(1, 20)}
    assert len(orders) == 20 * 19
