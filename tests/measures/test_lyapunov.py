"""Lyapunov spectrum against analytic references (float64), then behaviour and errors."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np
import pytest
import torch
from torch import nn

from criticality.collapse.intime import time_stages
from criticality.measures import critical_sigma_w, ftle, lyapunov_spectrum, meanfield
from criticality.measures import lyapunov as lyapunov_module
from criticality.measures.tangents import push_tangents
from criticality.stages import Stage, batch_independent
from criticality.zoo import fixed_point_inputs, mlp, orthogonal_chain

D64 = torch.float64


def _linear_chain(mats: list[torch.Tensor]) -> list[nn.Module]:
    chain = []
    for m in mats:
        lin = nn.Linear(m.shape[1], m.shape[0], bias=False, dtype=D64)
        with torch.no_grad():
            lin.weight.copy_(m)
        chain.append(lin)
    return chain


def _orthogonal(d: int, gen: torch.Generator) -> torch.Tensor:
    q, r = torch.linalg.qr(torch.randn(d, d, generator=gen, dtype=D64))
    return q * torch.sign(torch.diagonal(r))


def test_orthogonal_chain_has_zero_exponents() -> None:
    gen = torch.Generator().manual_seed(1)
    chain = _linear_chain([_orthogonal(8, gen) for _ in range(6)])
    res = lyapunov_spectrum(chain, torch.randn(3, 8, dtype=D64), k=8)
    torch.testing.assert_close(
        torch.from_numpy(res.exponents), torch.zeros(8, dtype=D64), atol=1e-12, rtol=0
    )


@pytest.mark.parametrize("g", [0.5, 1.0, 2.0])
def test_scaled_orthogonal_chain_has_exponents_ln_g(g: float) -> None:
    chain = orthogonal_chain(g, width=6, depth=5, seed=2)
    res = lyapunov_spectrum(chain, torch.randn(2, 6, dtype=D64), k=6)
    assert res.exponents == pytest.approx([math.log(g)] * 6, abs=1e-12)
    assert res.local[..., 0] == pytest.approx(math.log(g), abs=1e-12)


def test_deep_linear_chain_matches_matrix_product() -> None:
    """QR along the chain equals QR of the product applied to the same start vectors."""
    gen = torch.Generator().manual_seed(3)
    d, depth = 5, 12
    mats = [torch.randn(d, d, generator=gen, dtype=D64) / math.sqrt(d) for _ in range(depth)]
    q0 = _orthogonal(d, gen)  # columns: initial tangent vectors
    res = lyapunov_spectrum(_linear_chain(mats), torch.zeros(1, d, dtype=D64), k=d, init=q0.T)
    product = torch.eye(d, dtype=D64)
    for m in mats:
        product = m @ product
    r = torch.linalg.qr(product @ q0).R
    expected = torch.log(torch.diagonal(r).abs()) / depth
    # The direct product has condition number ~1e7 here, so it carries ~1e-9 rounding error.
    assert res.exponents == pytest.approx(expected.tolist(), rel=1e-8)


def test_sum_of_exponents_is_mean_log_det() -> None:
    """For square stages, Σ_i λ_i = (1/L) Σ_l ln |det J_l| at every input (tanh MLP)."""
    net = mlp(depth=6, width=7, sigma_w=1.5, sigma_b=0.3, seed=4, dtype=D64)
    x = torch.randn(3, 7, dtype=D64)
    res = lyapunov_spectrum(net, x, k=7)
    logdets = torch.zeros(3, dtype=D64)
    h = x
    for i in range(0, len(net), 2):
        stage = net[i : i + 2]
        for b in range(3):
            jac = torch.func.jacrev(stage)(h[b])
            logdets[b] += torch.linalg.slogdet(jac).logabsdet
        h = stage(h).detach()
    assert res.per_input.sum(axis=1) == pytest.approx((logdets / 6).tolist(), abs=1e-9)


def test_top_singular_start_gives_exact_ftle() -> None:
    """Started on J's top right-singular vector, QR's λ_1 is (1/L) ln s_max, as are the FTLEs."""
    net = mlp(depth=5, width=10, sigma_w=1.3, sigma_b=0.1, seed=5, dtype=D64)
    x = torch.randn(1, 10, dtype=D64)
    jac = torch.func.jacrev(lambda z: net(z.unsqueeze(0)).squeeze(0))(x[0])
    _, s, vh = torch.linalg.svd(jac)
    res = lyapunov_spectrum(net, x, k=1, init=vh[:1])
    exact = math.log(s[0].item()) / 5
    assert res.exponents[0] == pytest.approx(exact, abs=1e-10)
    assert ftle(net, x, method="svd").per_input[0] == pytest.approx(exact, abs=1e-10)
    power = ftle(net, x, method="power", n_iter=200, tol=1e-12)
    assert power.per_input[0] == pytest.approx(exact, abs=1e-8)


def test_qr_spectrum_and_ftle_agree_on_long_chains() -> None:
    """On a long random chain, QR's λ_1 from a random start and the FTLE converge together."""
    net = mlp(depth=60, width=24, sigma_w=1.4, sigma_b=0.1, seed=6, dtype=D64)
    x = torch.randn(4, 24, dtype=D64)
    qr = lyapunov_spectrum(net, x, k=1).per_input[:, 0]
    ft = ftle(net, x, method="svd").per_input
    assert qr == pytest.approx(ft, abs=0.05)  # O(1/L) transient: (1/60) ln(const)


@pytest.mark.parametrize("sigma_w", [0.8, 1.3, 2.0])
def test_tanh_mlp_matches_mean_field(sigma_w: float) -> None:
    """λ_1 ≈ ½ ln χ_1 for wide random tanh MLPs with inputs at the fixed point q*."""
    mf = meanfield("tanh", sigma_w, 0.05)
    net = mlp(depth=30, width=400, sigma_w=sigma_w, sigma_b=0.05, seed=7, dtype=D64)
    x = fixed_point_inputs("tanh", sigma_w, 400, 4, sigma_b=0.05)
    lam = lyapunov_spectrum(net, x, k=1).lambda_max.mean
    assert lam == pytest.approx(mf.lambda_1, abs=0.04)


def test_sign_changes_at_critical_sigma_w() -> None:
    sc = critical_sigma_w("tanh", 0.05)
    signs = []
    for sw in (0.8 * sc, 1.25 * sc):
        net = mlp(depth=30, width=300, sigma_w=sw, sigma_b=0.05, seed=8, dtype=D64)
        x = fixed_point_inputs("tanh", sw, 300, 3, sigma_b=0.05)
        signs.append(math.copysign(1.0, lyapunov_spectrum(net, x).lambda_max.mean))
    assert signs == [-1.0, 1.0]


def test_rms_norm_removes_dimension_change() -> None:
    """A stage that copies its input twice gains ½ ln 2 in l2 norm and nothing in rms norm."""
    dup = [lambda_module(lambda h: torch.cat([h, h], dim=1))]
    x = torch.randn(2, 5, dtype=D64)
    assert lyapunov_spectrum(dup, x, k=3).exponents == pytest.approx([0.5 * math.log(2)] * 3)
    assert lyapunov_spectrum(dup, x, k=3, norm="rms").exponents == pytest.approx(
        [0.0] * 3, abs=1e-12
    )


class lambda_module(nn.Module):
    def __init__(self, fn: object) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.fn(h)  # type: ignore[operator]


def test_batch_size_chunks_agree_and_model_is_untouched() -> None:
    net = mlp(depth=4, width=16, sigma_w=1.2, seed=9)
    net.train()
    x = torch.randn(6, 16)
    whole = lyapunov_spectrum(net, x, k=2, dtype=D64, seed=3)
    assert whole.per_input.shape == (6, 2) and whole.local.shape == (6, 4, 2)
    assert net.training and next(net.parameters()).dtype == torch.float32
    again = lyapunov_spectrum(net, x, k=2, dtype=D64, seed=3)
    assert (again.per_input == whole.per_input).all()


def test_bad_inputs_get_clear_errors() -> None:
    net = mlp(depth=3, width=8)
    with pytest.raises(ValueError, match="NaN or inf"):
        lyapunov_spectrum(net, torch.full((2, 8), float("nan")))
    with pytest.raises(ValueError, match="do not fit"):
        lyapunov_spectrum(net, torch.randn(2, 5))
    with pytest.raises(ValueError, match="batch dimension"):
        lyapunov_spectrum(net, torch.randn(8))
    with pytest.raises(ValueError, match=r"k=9 exceeds the state dimension 8"):
        lyapunov_spectrum(net, torch.randn(2, 8), k=9)
    with pytest.raises(TypeError, match=r"torch\.Tensor"):
        lyapunov_spectrum(net, [[0.0] * 8])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="norm"):
        lyapunov_spectrum(net, torch.randn(2, 8), norm="l1")  # type: ignore[arg-type]


def _declared(stage_list: list[nn.Module], independent: bool) -> list[nn.Module]:
    """The same stage bodies, declared to allow stacking tangents along the batch or not."""
    return [Stage(f"s{i}", s, batch_independent=independent) for i, s in enumerate(stage_list)]


def _rows(stage_list: list[nn.Module]) -> tuple[list[int], Callable[[], None]]:
    rows: list[int] = []
    handles = [
        s.register_forward_pre_hook(lambda m, args: rows.append(args[0].shape[0]))
        for s in stage_list
    ]
    return rows, lambda: [h.remove() for h in handles]  # type: ignore[func-returns-value]


def _small_cnn() -> list[nn.Module]:
    def bn(c: int) -> nn.BatchNorm2d:
        norm = nn.BatchNorm2d(c)
        with torch.no_grad():
            norm.running_mean.uniform_(-0.5, 0.5)  # type: ignore[union-attr]
            norm.running_var.uniform_(0.5, 2.0)  # type: ignore[union-attr]
            norm.weight.uniform_(0.5, 1.5)
        return norm

    return [
        nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), bn(4), nn.ReLU()),
        nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), bn(4), nn.Tanh()),
        nn.Sequential(nn.Flatten(), nn.Linear(4 * 5 * 5, 12), nn.Tanh()),
        nn.Linear(12, 10),
    ]


@pytest.mark.parametrize("net", ["mlp", "cnn"])
def test_spectrum_with_stacked_tangents_equals_the_per_tangent_path(
    net: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tangents as ``B·k`` batch rows and the per-tangent ``vmap`` path give the same spectrum
    to float32 round-off (the MLP's small flat states are stacked unasked, the CNN's on
    request); a stage declared dependent is never stacked."""
    torch.manual_seed(0)
    if net == "mlp":
        stage_list: list[nn.Module] = list(mlp(depth=6, width=16, sigma_w=1.5, out_dim=10))
        x = torch.randn(3, 16)
    else:
        stage_list, x = _small_cnn(), torch.randn(3, 2, 5, 5)
        stacked_push = functools.partial(push_tangents, how="stacked")
        monkeypatch.setattr(lyapunov_module, "push_tangents", stacked_push)
    k = 8
    results, seen = [], []
    for independent in (True, False):
        staged = _declared(stage_list, independent)
        rows, remove = _rows(staged)
        results.append(lyapunov_spectrum(staged, x, k=k))
        remove()
        seen.append(rows)
    # the first row count is prepared()'s check of the first stage on two inputs
    assert set(seen[0][1:]) == {3 * k} and set(seen[1][1:]) == {3}
    stacked, per_tangent = results
    np.testing.assert_allclose(stacked.local, per_tangent.local, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(stacked.exponents, per_tangent.exponents, rtol=1e-5, atol=1e-6)


def test_time_step_stages_are_not_stacked_and_keep_their_spectrum() -> None:
    """The collapse package's time steps hold ``B`` rows of inputs: they refuse stacking, and
    their spectrum equals one native JVP per tangent with QR (float64)."""
    torch.manual_seed(1)
    b, t_len, d, k = 3, 5, 6, 4
    step = _TanhStep(d).to(D64)
    inputs, h0 = torch.randn(b, t_len, d, dtype=D64), torch.randn(b, d, dtype=D64)
    stage_list = time_stages(step, inputs)
    assert not any(batch_independent(s) for s in stage_list)
    res = lyapunov_spectrum(stage_list, h0, k=k)  # a stacked state would fail in TimeStep
    gen = torch.Generator().manual_seed(0)  # the measure's draw of the initial tangents
    q, _ = torch.linalg.qr(torch.randn(b, k, d, generator=gen, dtype=D64).transpose(1, 2))
    h, logs = h0, []
    for stage in stage_list:
        pushed = [torch.func.jvp(stage, (h,), (q[:, :, i],)) for i in range(k)]
        h = pushed[0][0]
        q, r = torch.linalg.qr(torch.stack([p[1] for p in pushed], dim=2))  # (B, D, k)
        logs.append(r.diagonal(dim1=-2, dim2=-1).abs().log())
    expected = torch.stack(logs, dim=1).detach().numpy()  # (B, T, k)
    np.testing.assert_allclose(res.local, expected, rtol=0, atol=1e-10)


class _TanhStep(nn.Module):
    """``h' = tanh(W h + U x)``, a step with ``forward(x_t, h)`` as the time stages take it."""

    def __init__(self, d: int) -> None:
        super().__init__()
        self.w, self.u = nn.Linear(d, d, bias=False), nn.Linear(d, d)
        with torch.no_grad():
            self.w.weight.mul_(3.0)

    def forward(self, x_t: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.w(h) + self.u(x_t))
