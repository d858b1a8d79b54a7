"""The numbers quoted in ``docs/measures.md`` for the measures of issue 3 on random tanh MLPs.

Random tanh MLPs (``σ_b = 0.3``, float64) over ``σ_w / σ_w*`` with inputs at the mean-field
fixed point; prints, per ``σ_w``: mean-field ``√χ_1``, cascade ``σ``, ``σ_inf``, ``Δ`` (dB), and
the susceptibility's effective peak ``σ_w g* / σ_w*``; then the avalanche exponents of a
critical Galton–Watson process. Run: ``python benchmarks/extra_measures_tanh.py [--width 128]``.
"""

from __future__ import annotations

import argparse
import math

import numpy as np
import torch

from criticality.measures import (
    branching_ratio,
    critical_sigma_w,
    dynamic_range,
    fit_avalanches,
    meanfield,
    susceptibility,
)
from criticality.zoo import mlp

SIGMA_B = 0.3


def fixed_point_inputs(sigma_w: float, width: int, n: int, seed: int = 1) -> torch.Tensor:
    q = meanfield("tanh", sigma_w, SIGMA_B).q_star
    z = torch.randn(n, width, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return torch.tanh(math.sqrt(q) * z)


def sweep(width: int, depth: int, n_inputs: int) -> None:
    sc = critical_sigma_w("tanh", SIGMA_B)
    print(f"σ_w* = {sc:.4f} (tanh, σ_b = {SIGMA_B}); width {width}, depth {depth}")
    print("σ_w/σ_w*   √χ_1      σ   σ_inf   Δ(dB)  σ_w·g*/σ_w*")
    for f in (0.6, 0.8, 0.9, 1.0, 1.1, 1.25, 1.5, 2.0):
        sw = f * sc
        net = mlp(depth, width, sigma_w=sw, sigma_b=SIGMA_B, seed=1, dtype=torch.float64)
        x = fixed_point_inputs(sw, width, n_inputs)
        br = branching_ratio(net, x)
        dr = dynamic_range(net, x)
        su = susceptibility(net, x)
        chi = meanfield("tanh", sw, SIGMA_B).chi_1
        print(
            f"{f:8.2f} {math.sqrt(chi):6.3f} {br.sigma.mean:6.3f} {br.sigma_inf.mean:7.3f} "
            f"{dr.delta.mean:7.2f} {f * su.peak_gain.mean:10.3f}"
        )


def galton_watson(n: int = 20000, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    current, sizes, durations = (np.ones(n, dtype=np.int64) for _ in range(3))
    for _ in range(2000):
        current = rng.poisson(current)
        sizes += current
        durations += current > 0
    ended = current == 0
    res = fit_avalanches(sizes[ended], durations[ended])
    print(
        f"critical Galton–Watson: τ_S = {res.size_fit.exponent.mean:.3f}, "
        f"τ_T = {res.duration_fit.exponent.mean:.3f}, γ = {res.gamma_fit:.3f}, "
        f"(τ_T − 1)/(τ_S − 1) = {res.gamma_predicted:.3f}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--depth", type=int, default=20)
    parser.add_argument("--inputs", type=int, default=32)
    args = parser.parse_args()
    torch.set_num_threads(2)
    sweep(args.width, args.depth, args.inputs)
    galton_watson()
