"""The cheaper JVP rules against PyTorch's own forward-mode AD (float64), layer by layer, and the
helpers built on them: batches of tangents, replayed linearisations, orthonormalisation."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch
import torch.autograd.forward_ad as fwAD
from torch import nn

from criticality.measures._jvp_rules import TangentRules
from criticality.measures.prepared import eval_mode
from criticality.measures.tangents import (
    STACK_WORK,
    Linearized,
    jvp,
    orthonormalise,
    push_tangents,
    ready_forward_ad,
)
from criticality.stages import Stage, batch_independent

D64 = torch.float64


def _bn(cls: type[nn.Module], c: int, **kw: object) -> nn.Module:
    bn = cls(c, **kw).to(D64)
    with torch.no_grad():
        if getattr(bn, "running_var", None) is not None:
            bn.running_mean.uniform_(-1, 1)  # type: ignore[operator]
            bn.running_var.uniform_(0.5, 2)  # type: ignore[operator]
        if getattr(bn, "weight", None) is not None:
            bn.weight.uniform_(-2, 2)  # type: ignore[operator]
            bn.bias.uniform_(-1, 1)  # type: ignore[operator]
    return bn.eval()


#: (name, layer, input shape): every rule, with and without bias, strides, groups, padding modes.
LAYERS: list[tuple[str, Callable[[], nn.Module], tuple[int, ...]]] = [
    ("linear", lambda: nn.Linear(7, 5), (3, 7)),
    ("linear-nobias-3d", lambda: nn.Linear(7, 5, bias=False), (3, 4, 7)),
    ("conv1d", lambda: nn.Conv1d(3, 4, 3, stride=2), (2, 3, 9)),
    ("conv2d-groups", lambda: nn.Conv2d(4, 6, 3, padding=1, groups=2), (2, 4, 5, 5)),
    (
        "conv2d-same-reflect",
        lambda: nn.Conv2d(3, 2, 3, padding="same", padding_mode="reflect"),
        (2, 3, 6, 6),
    ),
    ("conv3d", lambda: nn.Conv3d(2, 3, 2, bias=False), (2, 2, 3, 3, 3)),
    ("batchnorm1d", lambda: _bn(nn.BatchNorm1d, 5), (4, 5)),
    ("batchnorm2d", lambda: _bn(nn.BatchNorm2d, 3), (2, 3, 4, 4)),
    ("batchnorm2d-no-affine", lambda: _bn(nn.BatchNorm2d, 3, affine=False), (2, 3, 4, 4)),
    (
        "batchnorm-batch-stats",
        lambda: _bn(nn.BatchNorm2d, 3, track_running_stats=False),
        (4, 3, 2, 2),
    ),  # no running statistics: PyTorch's own rule is used
    (
        "resnet-like",
        lambda: nn.Sequential(
            nn.Conv2d(3, 4, 3, padding=1),
            _bn(nn.BatchNorm2d, 4),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(16, 3),
        ),
        (2, 3, 4, 4),
    ),
]


def _native_jvp(layer: nn.Module, h: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, ...]:
    ready_forward_ad()
    with fwAD.dual_level():
        out = fwAD.unpack_dual(layer(fwAD.make_dual(h, t)))
    return out.primal, out.tangent


@pytest.mark.parametrize("stacked", [False, True], ids=["separate", "stacked"])
@pytest.mark.parametrize(("name", "build", "shape"), LAYERS, ids=[n for n, _, _ in LAYERS])
def test_rules_equal_pytorch_forward_ad(
    name: str, build: Callable[[], nn.Module], shape: tuple[int, ...], stacked: bool
) -> None:
    torch.manual_seed(0)
    layer = build().to(D64)
    h, t = torch.randn(shape, dtype=D64), torch.randn(shape, dtype=D64)
    want = _native_jvp(layer, h, t)
    with TangentRules(stacked=stacked), fwAD.dual_level():
        got = fwAD.unpack_dual(layer(fwAD.make_dual(h, t)))
    torch.testing.assert_close(got.primal, want[0], rtol=0, atol=1e-12)
    torch.testing.assert_close(got.tangent, want[1], rtol=0, atol=1e-12)


def test_rules_are_used_for_the_layers_they_name() -> None:
    """A rule that ran leaves one product per tangent: count convolutions."""
    calls = []
    conv = nn.Conv2d(2, 2, 3).to(D64).eval()
    conv.register_forward_hook(lambda *_: calls.append(1))
    h, t = torch.randn(1, 2, 5, 5, dtype=D64), torch.randn(1, 2, 5, 5, dtype=D64)
    with torch.profiler.profile() as prof:
        jvp(conv, h, t)
    n_conv = sum(e.count for e in prof.key_averages() if e.key == "aten::convolution")
    assert n_conv == 2  # primal and tangent; PyTorch's own formula runs three


def test_gradient_through_the_tangent_equals_pytorch() -> None:
    """Back-propagating a loss on the tangent (the regularizer's use) gives the same gradients."""
    torch.manual_seed(1)
    net = (
        nn.Sequential(
            nn.Conv2d(2, 3, 3, padding=1),
            _bn(nn.BatchNorm2d, 3),
            nn.Tanh(),
            nn.Flatten(),
            nn.Linear(48, 4),
        )
        .to(D64)
        .eval()
    )
    h, t = torch.randn(3, 2, 4, 4, dtype=D64), torch.randn(3, 2, 4, 4, dtype=D64)
    grads = []
    ready_forward_ad()
    for rules in (None, TangentRules(), TangentRules(stacked=True)):
        net.zero_grad()
        with rules or torch.autograd.set_grad_enabled(True), fwAD.dual_level():
            p, tan = fwAD.unpack_dual(net(fwAD.make_dual(h, t)))
        (tan.pow(2).sum() + p.sum()).backward()
        grads.append(torch.cat([q.grad.flatten() for q in net.parameters()]))  # type: ignore[union-attr]
    torch.testing.assert_close(grads[1], grads[0], rtol=0, atol=1e-10)
    torch.testing.assert_close(grads[2], grads[0], rtol=0, atol=1e-10)


def test_push_tangents_equals_one_jvp_per_tangent() -> None:
    torch.manual_seed(2)
    stage = nn.Sequential(nn.Conv2d(3, 4, 3), _bn(nn.BatchNorm2d, 4), nn.GELU()).to(D64).eval()
    h, ts = torch.randn(2, 3, 6, 6, dtype=D64), torch.randn(2, 5, 3, 6, 6, dtype=D64)
    out, pushed = push_tangents(stage, h, ts)  # (B, k, ...)
    for i in range(5):
        ref = _native_jvp(stage, h, ts[:, i])
        torch.testing.assert_close(out, ref[0], rtol=0, atol=1e-12)
        torch.testing.assert_close(pushed[:, i], ref[1], rtol=0, atol=1e-12)


def test_linearized_replay_equals_fresh_jvps_with_inplace_layers() -> None:
    """In-place ReLU overwrites a layer's output: the replay must hand out copies."""
    torch.manual_seed(3)
    net = (
        nn.Sequential(
            nn.Conv2d(2, 3, 3, padding=1),
            _bn(nn.BatchNorm2d, 3),
            nn.ReLU(inplace=True),
            nn.Conv2d(3, 3, 3, padding=1),
            _bn(nn.BatchNorm2d, 3),
            nn.ReLU(inplace=True),
            nn.Flatten(),
            nn.Linear(48, 5),
        )
        .to(D64)
        .eval()
    )
    x = torch.randn(2, 2, 4, 4, dtype=D64)
    lin = Linearized(net, x)
    for seed in range(3):
        v = torch.randn(x.shape, dtype=D64, generator=torch.Generator().manual_seed(seed))
        torch.testing.assert_close(lin(v), _native_jvp(net, x, v)[1], rtol=0, atol=1e-12)
    assert len(lin.cache.outputs) == 5  # two convolutions, two batch norms, one linear


def test_linearized_refuses_a_pass_that_differs_from_the_recorded_one() -> None:
    lin_layer = nn.Linear(3, 3).to(D64)
    x = torch.randn(2, 3, dtype=D64)
    calls = {"n": 0}

    def changing(z: torch.Tensor) -> torch.Tensor:
        calls["n"] += 1
        return lin_layer(lin_layer(z)) if calls["n"] > 1 else lin_layer(z)

    lin = Linearized(changing, x)
    lin(torch.randn_like(x))
    with pytest.raises(RuntimeError, match="differs from the recorded one"):
        lin(torch.randn_like(x))


@pytest.mark.parametrize("k", [1, 3])
def test_orthonormalise(k: int) -> None:
    t = torch.randn(4, k, 2, 5, dtype=D64)
    q, r = orthonormalise(t)
    flat = q.reshape(4, k, -1)
    torch.testing.assert_close(flat @ flat.transpose(1, 2), torch.eye(k, dtype=D64).expand(4, k, k))
    # The first direction keeps its orientation and r_1 is its norm.
    torch.testing.assert_close(r[:, 0], t[:, 0].reshape(4, -1).norm(dim=1))
    assert ((flat[:, 0] * t[:, 0].reshape(4, -1)).sum(1) > 0).all()


def test_orthonormalise_bfloat16_factorises_in_float32() -> None:
    t = torch.randn(2, 3, 8).to(torch.bfloat16)
    q, r = orthonormalise(t)
    assert q.dtype == torch.bfloat16 and r.dtype == torch.float32
    assert math.isclose(float(r[0, 0]), float(t[0, 0].float().norm()), rel_tol=1e-6)


@pytest.mark.parametrize("batch_first", [True, False])
def test_attention_rule_equals_pytorch_forward_ad(batch_first: bool) -> None:
    """``nn.MultiheadAttention`` as ViTs call it (self-attention, no weights returned)."""
    torch.manual_seed(4)
    mha = nn.MultiheadAttention(8, 2, batch_first=batch_first).to(D64).eval()

    def attend(z: torch.Tensor) -> torch.Tensor:
        return mha(z, z, z, need_weights=False)[0]

    h, t = torch.randn(3, 5, 8, dtype=D64), torch.randn(3, 5, 8, dtype=D64)
    with eval_mode([mha]):
        want = _native_jvp(attend, h, t)  # type: ignore[arg-type]
        with torch.profiler.profile() as prof:
            got = jvp(attend, h, t)
    torch.testing.assert_close(got[0], want[0], rtol=0, atol=1e-12)
    torch.testing.assert_close(got[1], want[1], rtol=0, atol=1e-12)
    n_mm = sum(e.count for e in prof.key_averages() if e.key in ("aten::mm", "aten::addmm"))
    assert n_mm == 4  # two projections, primal and tangent each


def test_attention_with_a_mask_uses_pytorch_rules() -> None:
    torch.manual_seed(5)
    mha = nn.MultiheadAttention(4, 2, batch_first=True).to(D64).eval()
    mask = torch.triu(torch.ones(3, 3, dtype=torch.bool), 1)

    def attend(z: torch.Tensor) -> torch.Tensor:
        return mha(z, z, z, attn_mask=mask, need_weights=False)[0]

    h, t = torch.randn(2, 3, 4, dtype=D64), torch.randn(2, 3, 4, dtype=D64)
    with eval_mode([mha]):
        torch.testing.assert_close(jvp(attend, h, t)[1], _native_jvp(attend, h, t)[1])  # type: ignore[arg-type]


class _PerSample(nn.Module):
    """A stage holding per-sample data of ``B`` rows (like a time step's inputs): stacking its
    tangents as extra batch entries would misalign rows, so it must take the per-tangent path."""

    def __init__(self, x: torch.Tensor) -> None:
        super().__init__()
        self.lin = nn.Linear(x.shape[1], x.shape[1], dtype=x.dtype)
        self.register_buffer("x", x)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        if h.shape[0] != self.x.shape[0]:
            raise RuntimeError(f"per-sample stage got {h.shape[0]} rows for {self.x.shape[0]}")
        return torch.tanh(self.lin(h) + self.x)


def _rows_seen(stage: nn.Module) -> tuple[list[int], Callable[[], None]]:
    """Batch sizes of the stage's calls (a forward pre-hook) and the hook's remover."""
    rows: list[int] = []
    handle = stage.register_forward_pre_hook(lambda m, args: rows.append(args[0].shape[0]))
    return rows, handle.remove


def _mlp_stage(dtype: torch.dtype) -> tuple[nn.Module, torch.Tensor]:
    return nn.Sequential(nn.Linear(6, 5), nn.Tanh()).to(dtype).eval(), torch.randn(3, 6)


def _cnn_stage(dtype: torch.dtype) -> tuple[nn.Module, torch.Tensor]:
    stage = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        _bn(nn.BatchNorm2d, 4),
        nn.ReLU(inplace=True),
        nn.Conv2d(4, 4, 3, stride=2),
        _bn(nn.BatchNorm2d, 4),
        nn.GELU(),
        nn.Flatten(),
    )
    return stage.to(dtype).eval(), torch.randn(2, 3, 7, 7)


@pytest.mark.parametrize("build", [_mlp_stage, _cnn_stage], ids=["mlp", "cnn-batchnorm-eval"])
def test_stacked_tangents_equal_the_per_tangent_path(
    build: Callable[[torch.dtype], tuple[nn.Module, torch.Tensor]],
) -> None:
    """``B·k`` stacked rows, ``vmap`` and one native JVP per tangent agree: to rounding in
    float64 against PyTorch's own rules, to float32 round-off between the two paths."""
    torch.manual_seed(4)
    for dtype in (D64, torch.float32):
        stage, h = build(dtype)
        h = h.to(dtype)
        ts = torch.randn(h.shape[0], 5, *h.shape[1:], dtype=dtype)  # (B, k, ...)
        rows, remove = _rows_seen(stage)
        out_s, pushed_s = push_tangents(stage, h, ts, how="stacked")
        out_v, pushed_v = push_tangents(stage, h, ts, how="vmap")
        remove()
        assert rows == [h.shape[0] * 5, h.shape[0]]  # stacked: one call of B·k rows
        if dtype == D64:
            for i in range(5):
                ref = _native_jvp(stage, h, ts[:, i])
                torch.testing.assert_close(out_s, ref[0], rtol=0, atol=1e-12)
                torch.testing.assert_close(pushed_s[:, i], ref[1], rtol=0, atol=1e-12)
        torch.testing.assert_close(out_s, out_v)  # float32: rtol 1.3e-6, atol 1e-5
        torch.testing.assert_close(pushed_s, pushed_v)


def test_stage_that_refuses_stacking_takes_the_per_tangent_path() -> None:
    torch.manual_seed(5)
    h, ts = torch.randn(3, 4, dtype=D64), torch.randn(3, 2, 4, dtype=D64)
    stage = _PerSample(torch.randn(3, 4, dtype=D64))
    assert not batch_independent(stage)
    for how in ("stacked", "auto"):  # asked for, or chosen for a small flat state
        rows, remove = _rows_seen(stage)
        out, pushed = push_tangents(stage, h, ts, how=how)  # type: ignore[arg-type]
        remove()
        assert rows == [3]
        for i in range(2):
            ref = _native_jvp(stage, h, ts[:, i])
            torch.testing.assert_close(out, ref[0], rtol=0, atol=1e-12)
            torch.testing.assert_close(pushed[:, i], ref[1], rtol=0, atol=1e-12)
    # A stage of plain layers declared dependent is not stacked either.
    plain = nn.Sequential(nn.Linear(4, 4), nn.Tanh()).to(D64)
    declared = Stage("s", plain, batch_independent=False)
    rows, remove = _rows_seen(declared)
    push_tangents(declared, h, ts, how="stacked")
    remove()
    assert rows == [3]


def test_auto_stacks_only_small_flat_states() -> None:
    """``"auto"`` stacks flat states up to :data:`STACK_WORK` and leaves images to ``vmap``."""
    torch.manual_seed(6)
    small, _ = _mlp_stage(torch.float32)
    cnn, x = _cnn_stage(torch.float32)
    wide = nn.Linear(1024, 8)
    rows_at_limit = STACK_WORK // 1024**2  # B·k·D² = STACK_WORK
    cases = [
        (small, torch.randn(3, 6), 4, 12),
        (cnn, x, 4, 2),
        (wide, torch.randn(rows_at_limit // 2, 1024), 2, rows_at_limit),
        (wide, torch.randn(rows_at_limit, 1024), 2, rows_at_limit),  # twice the work: vmap
    ]
    for stage, h, k, expected in cases:
        rows, remove = _rows_seen(stage)
        push_tangents(stage, h, torch.randn(h.shape[0], k, *h.shape[1:]))
        remove()
        assert rows == [expected]
