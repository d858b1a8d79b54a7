"""Robustness of a classifier: Gaussian noise, MNIST-C-style corruptions, FGSM and PGD.

Attacks are untargeted and bounded in the L∞ norm on inputs in ``[0, 1]``:

* FGSM (Goodfellow et al. 2015): ``x' = clip(x + ε sign ∇_x L(f(x), y))``.
* PGD (Madry et al. 2018): from ``x`` (or a uniform random start in the ε-ball), ``steps``
  iterations of ``x ← clip_{x0,ε}(x + α sign ∇_x L)``, with ``α = 2.5 ε / steps`` by default.

``L`` is the cross-entropy. The model runs in ``eval()`` mode throughout; its flags are restored.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from criticality.measures.prepared import eval_mode
from criticality.measures.results import Result
from criticality.seeding import mix_seed
from criticality.training.corruptions import CORRUPTIONS, corrupt, gaussian_noise


def _input_grad(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``∇_x`` of the summed cross-entropy, shape of ``x``; parameters get no gradient."""
    x = x.detach().requires_grad_(True)
    loss = F.cross_entropy(model(x), y, reduction="sum")
    (grad,) = torch.autograd.grad(loss, x)
    return grad


def fgsm(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, *, clip: bool = True
) -> torch.Tensor:
    """Fast gradient sign attack: ``clip(x + ε sign ∇_x L)``, shape of ``x``.

    Args:
        model: classifier ``(B, ...) -> (B, C)`` logits.
        x: inputs in ``[0, 1]``, shape ``(B, ...)``.
        y: labels, shape ``(B,)``.
        eps: L∞ budget.
        clip: clamp the result to ``[0, 1]``.
    """
    with eval_mode([model]):
        x_adv = x + eps * _input_grad(model, x, y).sign()
    return (x_adv.clamp(0.0, 1.0) if clip else x_adv).detach()


def pgd(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    *,
    steps: int = 10,
    alpha: float | None = None,
    random_start: bool = True,
    clip: bool = True,
    seed: int = 0,
) -> torch.Tensor:
    """Projected gradient descent in the L∞ ball of radius ``eps`` (Madry et al. 2018).

    Args:
        model: classifier ``(B, ...) -> (B, C)`` logits.
        x: inputs in ``[0, 1]``, shape ``(B, ...)``.
        y: labels, shape ``(B,)``.
        eps: L∞ budget.
        steps: iterations.
        alpha: step size; default ``2.5 ε / steps``.
        random_start: start from a uniform point of the ball (seeded by ``seed``).
        clip: keep iterates in ``[0, 1]``.
        seed: seed of the random start.

    Returns:
        Adversarial inputs, shape of ``x``.
    """
    if steps < 1 or eps < 0:
        raise ValueError(f"need steps >= 1 and eps >= 0, got steps={steps}, eps={eps}")
    step_size = 2.5 * eps / steps if alpha is None else alpha
    x0 = x.detach()
    x_adv = x0.clone()
    if random_start:
        gen = torch.Generator(device=x.device).manual_seed(seed)
        noise = torch.rand(x.shape, generator=gen, dtype=x.dtype, device=x.device)
        x_adv = x_adv + eps * (2 * noise - 1)
        x_adv = x_adv.clamp(0.0, 1.0) if clip else x_adv
    with eval_mode([model]):
        for _ in range(steps):
            x_adv = x_adv + step_size * _input_grad(model, x_adv, y).sign()
            x_adv = torch.min(torch.max(x_adv, x0 - eps), x0 + eps)
            x_adv = x_adv.clamp(0.0, 1.0) if clip else x_adv
    return x_adv.detach()


@torch.no_grad()
def accuracy(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, batch_size: int = 1000
) -> float:
    """Fraction of inputs ``x`` (shape ``(N, ...)``) whose arg-max logit equals ``y``."""
    device = next(model.parameters()).device
    correct = 0
    with eval_mode([model]):
        for xb, yb in zip(x.split(batch_size), y.split(batch_size), strict=True):
            correct += int((model(xb.to(device)).argmax(dim=1) == yb.to(device)).sum())
    return correct / x.shape[0]


@dataclasses.dataclass(frozen=True)
class RobustnessResult(Result):
    """Accuracies of one classifier on clean and perturbed test inputs.

    Attributes:
        clean: clean accuracy.
        noise_levels: std of the additive Gaussian noise, ``n`` entries.
        noise: accuracy at each noise level, ``n`` entries.
        corruptions: corruption names, ``c`` entries.
        severities: severities used (1..5), ``s`` entries.
        corrupted: accuracy per corruption and severity, ``c`` tuples of ``s`` entries.
        fgsm_eps: FGSM budgets, ``f`` entries.
        fgsm: accuracy under FGSM at each budget.
        pgd_eps: PGD budgets, ``p`` entries.
        pgd: accuracy under PGD at each budget.
        pgd_steps: PGD iterations (step size ``2.5 ε / steps``, random start).
        n: number of test inputs.
        seed: seed of the noise, corruptions and PGD starts.
    """

    clean: float
    noise_levels: tuple[float, ...]
    noise: tuple[float, ...]
    corruptions: tuple[str, ...]
    severities: tuple[int, ...]
    corrupted: tuple[tuple[float, ...], ...]
    fgsm_eps: tuple[float, ...]
    fgsm: tuple[float, ...]
    pgd_eps: tuple[float, ...]
    pgd: tuple[float, ...]
    pgd_steps: int
    n: int
    seed: int

    def summary(self) -> dict[str, float]:
        """One number per kind: clean, mean over noise levels, corruptions, FGSM and PGD budgets."""

        def mean(v: Sequence[float]) -> float:
            return float(sum(v) / len(v)) if v else float("nan")

        return {
            "clean": self.clean,
            "noise": mean(self.noise),
            "corruption": mean([a for row in self.corrupted for a in row]),
            "fgsm": mean(self.fgsm),
            "pgd": mean(self.pgd),
        }


def evaluate_robustness(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    noise_levels: Sequence[float] = (0.1, 0.2, 0.3, 0.5),
    corruptions: Sequence[str] = tuple(CORRUPTIONS),
    severities: Sequence[int] = (1, 3, 5),
    fgsm_eps: Sequence[float] = (0.05, 0.1, 0.2),
    pgd_eps: Sequence[float] = (0.05, 0.1),
    pgd_steps: int = 10,
    seed: int = 0,
    batch_size: int = 1000,
) -> RobustnessResult:
    """Accuracy of ``model`` on test inputs ``x`` (``(N, ...)`` in ``[0, 1]``), labels ``y``.

    Corruptions other than ``"noise"`` need images ``(N, C, H, W)``; pass ``corruptions=()``
    for other inputs. The Gaussian noise draws from ``seed``; each corruption and severity, and
    each batch's PGD start, from :func:`~criticality.seeding.mix_seed` of ``seed`` and its name.
    """
    device = next(model.parameters()).device
    x, y = x.to(device), y.to(device)
    gen = torch.Generator(device=device).manual_seed(seed)
    noisy = [
        accuracy(model, gaussian_noise(x, s, gen), y, batch_size=batch_size) for s in noise_levels
    ]
    corrupted = tuple(
        tuple(
            accuracy(
                model,
                corrupt(x, name, sev, seed=mix_seed(seed, name, sev)),
                y,
                batch_size=batch_size,
            )
            for sev in severities
        )
        for name in corruptions
    )

    def attacked(attack_eps: float, use_pgd: bool) -> float:
        parts = []
        for i, (xb, yb) in enumerate(zip(x.split(batch_size), y.split(batch_size), strict=True)):
            if use_pgd:
                parts.append(
                    pgd(model, xb, yb, attack_eps, steps=pgd_steps, seed=mix_seed(seed, "pgd", i))
                )
            else:
                parts.append(fgsm(model, xb, yb, attack_eps))
        return accuracy(model, torch.cat(parts), y, batch_size=batch_size)

    return RobustnessResult(
        clean=accuracy(model, x, y, batch_size=batch_size),
        noise_levels=tuple(float(s) for s in noise_levels),
        noise=tuple(noisy),
        corruptions=tuple(corruptions),
        severities=tuple(int(s) for s in severities),
        corrupted=corrupted,
        fgsm_eps=tuple(float(e) for e in fgsm_eps),
        fgsm=tuple(attacked(e, False) for e in fgsm_eps),
        pgd_eps=tuple(float(e) for e in pgd_eps),
        pgd=tuple(attacked(e, True) for e in pgd_eps),
        pgd_steps=pgd_steps,
        n=int(x.shape[0]),
        seed=seed,
    )
