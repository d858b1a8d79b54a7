"""The per-stage non-finite checks, read once per call (issue 25): same stage named as when each
stage output was read at once; the error a NaN causes later is reported as the NaN."""

from __future__ import annotations

import pytest
import torch
import torch.autograd.forward_ad as fwAD
from torch import nn

from criticality.measures import ftle, lyapunov_spectrum
from criticality.measures._jvp_rules import REPLAYING
from criticality.measures.prepared import (
    _TANGENTS,
    _VALUES,
    NonFiniteError,
    _FiniteWatch,
    locating_tangents,
    prepared,
)
from criticality.measures.tangents import Linearized


class _SqrtAbs(nn.Module):
    """Finite values, infinite derivative where the input is exactly zero."""

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h.abs().sqrt()


class _KeepNonzero(nn.Module):
    """``where(h != 0, h, 0)``: drops whatever tangent the zero entries carry."""

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return torch.where(h != 0, h, torch.zeros_like(h))


def _chain() -> list[nn.Module]:
    first, last = nn.Linear(6, 6, bias=False), nn.Linear(6, 6, bias=False)
    with torch.no_grad():
        nn.init.eye_(first.weight)
        nn.init.orthogonal_(last.weight)
    return [first, _SqrtAbs(), _KeepNonzero(), last]


def _x() -> torch.Tensor:
    x = torch.randn(3, 6, generator=torch.Generator().manual_seed(0))
    x[:, 2] = 0.0  # sqrt'(0) = inf at stage 1; stage 2 drops it again
    return x


def test_tangent_gone_infinite_inside_the_chain_is_named_by_lyapunov() -> None:
    with pytest.raises(NonFiniteError, match=r"tangents \(perturbations\) first .* stage 1 "):
        lyapunov_spectrum(_chain(), _x(), k=1)


def test_tangent_gone_infinite_inside_the_chain_is_named_by_ftle() -> None:
    # The product J v is finite (stage 2 drops the infinite entries): only a per-stage check
    # of the tangents sees stage 1.
    with pytest.raises(NonFiniteError, match=r"tangents \(perturbations\) first .* stage 1 "):
        ftle(_chain(), _x(), n_iter=5)


class _Boom(nn.Module):
    def forward(self, h: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("a solver met NaN")


def test_a_failure_after_a_nan_is_reported_as_the_nan() -> None:
    lin = nn.Linear(4, 4)
    with torch.no_grad():
        lin.weight[0, 0] = float("nan")
    stages = [nn.Tanh(), lin, _Boom()]
    with pytest.raises(NonFiniteError, match=r"forward values first .* stage 1 ") as info:
        lyapunov_spectrum(stages, torch.randn(2, 4), k=1)
    assert isinstance(info.value.__cause__, RuntimeError)
    # without the NaN, the failure itself comes through
    with pytest.raises(RuntimeError, match="a solver met NaN"):
        lyapunov_spectrum([nn.Tanh(), nn.Linear(4, 4), _Boom()], torch.randn(2, 4), k=1)


def test_the_first_output_in_call_order_is_named_across_flushes() -> None:
    watch = _FiniteWatch("m", ["a", "b", "c"], flush_every=4)
    ok = torch.ones(2, 3)
    for _ in range(3):  # 3 entries: no read yet
        watch.see(0, ok)
    assert len(watch.extremes) == 3
    watch.see(1, ok)  # the 4th entry: read, all finite, emptied
    assert watch.extremes == []
    neg_inf = ok.clone()
    neg_inf[1, 2] = -float("inf")  # shows in the minimum only
    pos_inf = ok.clone()
    pos_inf[0, 0] = float("inf")  # in the maximum only
    watch.see(2, neg_inf)
    watch.see(1, pos_inf)
    with pytest.raises(NonFiniteError, match=r"forward values first .* stage 2 \('c'\)"):
        watch.read()
    watch.see(0, torch.full((2,), float("nan")))
    watch.see(1, ok)
    watch.see(1, ok)
    with pytest.raises(NonFiniteError, match=r"stage 0 \('a'\)"):
        watch.see(2, ok)  # the 4th entry triggers the read
    watch.see(1, torch.empty(0, 3))  # nothing to check
    watch.read()


def test_memory_stays_bounded_over_many_stage_calls() -> None:
    stages = [nn.Linear(4, 4), nn.Tanh()]
    with prepared(stages, torch.randn(2, 4), measure="m") as run:
        h = run.inputs
        for _ in range(3000):
            h = run.stages[1](run.stages[0](h))
        watches = [
            c.cell_contents
            for hook in run.stages[0]._forward_hooks.values()
            for c in (hook.__closure__ or ())
            if isinstance(c.cell_contents, _FiniteWatch)
        ]
        assert watches and all(len(w.extremes) < w.flush_every for w in watches)
    stages = [nn.Tanh(), nn.Linear(4, 4)]
    nonfinite = pytest.raises(NonFiniteError, match=r"stage 1 \('1'\)")
    with nonfinite, prepared(stages, torch.randn(2, 4), measure="m") as run:
        run.stages[1](run.stages[0](run.inputs) * float("inf"))


@pytest.mark.parametrize("k", [2, 4])
def test_tangent_gone_infinite_is_named_with_several_tangents(k: int) -> None:
    """lyapunov does not watch tangents stage by stage (its ln |R_ii| stand in): with ``k``
    tangents stacked as batch rows or vmapped the first stage is still named."""
    with pytest.raises(NonFiniteError, match=r"tangents \(perturbations\) first .* stage 1 "):
        lyapunov_spectrum(_chain(), _x(), k=k)


def test_watch_skips_what_it_need_not_see() -> None:
    """Replayed passes (``Linearized``) repeat the recorded primal values and Jacobians: nothing
    is kept of them unless they are re-run to locate a non-finite tangent; ``tangents=False``
    keeps the values alone."""
    p, t = torch.randn(2, 3), torch.randn(2, 3)
    full, values_only = _FiniteWatch("m", ["a"]), _FiniteWatch("m", ["a"], tangents=False)
    with fwAD.dual_level():
        dual = fwAD.make_dual(p, t)
        for watch in (full, values_only):
            watch.see(0, dual)
            token = REPLAYING.set(True)
            watch.see(0, dual)
            with locating_tangents():
                watch.see(0, dual)
            REPLAYING.reset(token)
    assert [what for _, what in full.where] == [_VALUES, _TANGENTS, _TANGENTS]
    assert [what for _, what in values_only.where] == [_VALUES]


def test_a_replay_is_checked_at_its_output_and_located_when_re_run() -> None:
    """A replayed pass's tangents are not kept stage by stage (the recorded pass checked the same
    Jacobians); re-run inside ``locating_tangents`` it names the stage where they overflowed."""
    scale = nn.Linear(3, 3, bias=False)
    with torch.no_grad():
        nn.init.eye_(scale.weight).mul_(1e30)
    stages, x = [nn.Tanh(), scale, nn.Tanh()], torch.zeros(2, 3)
    huge = torch.full((2, 3), 1e10)  # 1e10 * 1e30 overflows float32 at stage 1
    with prepared(stages, x, measure="m") as run:  # the replay's overflow goes unseen
        lin = Linearized(lambda z: run.stages[2](run.stages[1](run.stages[0](z))), run.inputs)
        assert torch.isfinite(lin(torch.ones(2, 3))).all()  # the recorded pass: finite
        assert not torch.isfinite(lin(huge)).all()
    match = r"tangents \(perturbations\) first .* stage 1 "
    with pytest.raises(NonFiniteError, match=match), prepared(stages, x, measure="m") as run:
        lin = Linearized(lambda z: run.stages[2](run.stages[1](run.stages[0](z))), run.inputs)
        lin(torch.ones(2, 3))
        with locating_tangents():
            lin(huge)
