"""The operations of the loss-of-plasticity baselines, as plain stateful objects.

Each is independent of any training loop: :mod:`criticality.training.methods.continual` wraps
them as training-method rows. They act on ordinary networks and on ensembles alike (see
:mod:`criticality.continual.units`), and every random draw comes from the object's own seeded
generator, saved in its ``state_dict`` so that a resumed run draws the same numbers.

* :func:`perturb_` and :class:`L2Init`: Shrink & Perturb's noise (Ash & Adams 2020, run after
  every step as Dohare et al. 2024 do) and the regenerative penalty of Kumar et al. (2023).
* :class:`ContinualBackprop`: Dohare et al. (2024), Algorithm 1: a running *contribution
  utility* per hidden unit, and each step a small fraction of the mature units with the lowest
  utility is re-initialised.
* :class:`ReDo`: Sokar et al. (2023): every ``interval`` steps, re-initialise the τ-dormant
  units.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from criticality.continual.metrics import dormancy_scores
from criticality.continual.units import hidden_layers, reinit_units

Utility = Literal["contribution", "adaptable_contribution"]


def mixed_generator(seed: int, salt: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A generator on ``device`` seeded from ``(seed, salt)`` mixed (never the raw ``seed``, so
    it shares no stream with a network initialised from the same small integer)."""
    mixed = int(np.random.SeedSequence([int(seed), int(salt)]).generate_state(1)[0])
    return torch.Generator(device=device).manual_seed(mixed)


@torch.no_grad()
def perturb_(params: Iterable[torch.Tensor], std: float, generator: torch.Generator) -> None:
    """Add independent Gaussian noise ``N(0, std²)`` to every entry of every tensor, in place,
    tensor by tensor in order (the perturbation of Shrink & Perturb)."""
    for p in params:
        p.add_(torch.randn(p.shape, generator=generator, device=p.device, dtype=p.dtype), alpha=std)


class L2Init(nn.Module):
    """The L2-init penalty ``λ Σ_i (θ_i − θ_i^0)²`` toward the initial parameters (Kumar et al.
    2023, *Maintaining plasticity in continual learning via regenerative regularization*).

    Its gradient is ``2λ (θ − θ^0)``. Called as ``term(model, x)``, like every loss term; the
    initial parameters are buffers, so they are saved with the term's ``state_dict``.

    Args:
        model: the network at initialisation (its parameters are copied).
        weight: ``λ``.
    """

    separable = True  # acts on each ensemble member's own parameters

    def __init__(self, model: nn.Module, weight: float) -> None:
        super().__init__()
        if weight < 0:
            raise ValueError(f"the L2-init weight must be >= 0, got {weight}")
        self.weight = float(weight)
        for i, p in enumerate(model.parameters()):
            self.register_buffer(f"init_{i}", p.detach().clone())

    def forward(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """The penalty, a scalar tensor (``x`` is not used)."""
        inits = list(self.buffers())
        params = list(model.parameters())
        if len(params) != len(inits):
            raise ValueError("L2Init was built for a different model (parameter count differs)")
        total = sum(((p - p0) ** 2).sum() for p, p0 in zip(params, inits, strict=True))
        return self.weight * torch.as_tensor(total)


class _UnitState:
    """Per-unit running state shared by the unit-resetting methods (tensors ``(*E, units)``)."""

    def __init__(self, model: nn.Module, seed: int, salt: int) -> None:
        self.layers = hidden_layers(model)
        if not self.layers:
            raise ValueError("the network has no hidden layer whose units could be reset")
        self.generator = mixed_generator(seed, salt)
        self.replaced = 0

    def zeros(self) -> list[torch.Tensor]:
        return [
            torch.zeros(
                layer.in_rows().shape[:-1], device=layer.in_rows().device, dtype=torch.float64
            )
            for layer in self.layers
        ]

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state(), "replaced": self.replaced}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.generator.set_state(state["generator"])
        self.replaced = int(state["replaced"])


class ContinualBackprop(_UnitState):
    """Continual backprop (Dohare et al. 2024): generate-and-test on the hidden units.

    Call :meth:`step` after each optimizer step with the activations ``h`` of that step's
    forward pass. For every hidden layer and unit ``i``:

    1. ``age_i += 1``;
    2. utility ``u_i ← η u_i + (1 − η) y_i`` with, for ``utility="contribution"`` (the paper's
       Algorithm 1), ``y_i = mean_batch |h_i| · Σ_k |w_out[k, i]|``; for
       ``"adaptable_contribution"`` (the variant their permuted-MNIST code runs),
       ``y_i = mean_batch |h_i − f̂_i| · mean_k |w_out[k, i]| / mean_j |w_in[i, j]|`` with
       ``f̂`` the bias-corrected running mean of ``h_i``;
    3. units older than ``maturity_threshold`` are eligible; ``replacement_rate × eligible``
       units are due (fractions accumulate across steps); the due number of eligible units
       with the lowest bias-corrected utility ``u_i / (1 − η^age_i)`` are re-initialised by
       :func:`~criticality.continual.units.reinit_units` (fresh incoming weights, zero
       outgoing weights, optimizer state zeroed), and their utility, mean and age reset to 0.

    For an ensemble, every member does this on its own units.

    Args:
        model: the network (ordinary or ensemble).
        replacement_rate: ``ρ``, fraction of eligible units replaced per step.
        decay_rate: ``η`` of the running utility.
        maturity_threshold: steps a unit is protected after its (re)initialisation.
        utility: ``"contribution"`` or ``"adaptable_contribution"``.
        seed: seed of the new weights.
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        replacement_rate: float = 1e-4,
        decay_rate: float = 0.99,
        maturity_threshold: int = 100,
        utility: Utility = "contribution",
        seed: int = 0,
    ) -> None:
        super().__init__(model, seed, salt=0xCB)
        if not 0.0 <= replacement_rate <= 1.0:
            raise ValueError(f"replacement_rate must be in [0, 1], got {replacement_rate}")
        if not 0.0 <= decay_rate < 1.0:
            raise ValueError(f"decay_rate must be in [0, 1), got {decay_rate}")
        if utility not in ("contribution", "adaptable_contribution"):
            raise ValueError(
                f"utility must be 'contribution' or 'adaptable_contribution', got {utility!r}"
            )
        self.rate, self.decay, self.maturity = replacement_rate, decay_rate, maturity_threshold
        self.utility_kind = utility
        self.utility, self.mean, self.age = self.zeros(), self.zeros(), self.zeros()
        self.due = [u.new_zeros(u.shape[:-1]) for u in self.utility]

    @torch.no_grad()
    def step(
        self, features: Mapping[int, torch.Tensor], optimizer: torch.optim.Optimizer | None
    ) -> int:
        """Update utilities from ``features`` (layer index -> ``(*E, B, units)``) and replace the
        due units; returns how many units were replaced."""
        replaced = 0
        for layer in self.layers:
            i = layer.index
            h = features[i].to(torch.float64)
            self.age[i] += 1
            self.utility[i].mul_(self.decay).add_(self._instant(layer, h), alpha=1 - self.decay)
            eligible = self.age[i] > self.maturity
            self.due[i] += self.rate * eligible.sum(dim=-1)
            n_due = torch.floor(self.due[i])
            self.due[i] -= n_due
            if float(n_due.max()) < 1:
                continue
            mask = self._lowest(i, eligible, n_due)
            replaced += reinit_units(layer, mask, self.generator, optimizer)
            for state in (self.utility[i], self.mean[i], self.age[i]):
                state[mask] = 0.0
        self.replaced += replaced
        return replaced

    def _instant(self, layer: Any, h: torch.Tensor) -> torch.Tensor:
        """This step's utility ``y`` per unit, shape ``(*E, units)``.

        The weights' row statistics (``Σ_k |w_out[k, i]|``, ``mean_j |w_in[i, j]|``) are
        reduced in the weights' own dtype, as the reference does, and only the per-unit
        results are promoted to float64: converting the whole incoming matrix every step cost
        a third of a batch-1 training step (784-100-100-100 ensembles)."""
        i = layer.index
        out = _row_abs(layer.outgoing, units_last=not layer.transposed, mean=False)
        if self.utility_kind == "contribution":
            return h.abs().mean(dim=-2) * out
        self.mean[i].mul_(self.decay).add_(h.mean(dim=-2), alpha=1 - self.decay)
        centred = h - (self.mean[i] / (1 - self.decay ** self.age[i])).unsqueeze(-2)
        w_in = _row_abs(layer.incoming, units_last=layer.transposed, mean=True)
        out_mean = out / layer.out_rows().shape[-1]
        return centred.abs().mean(dim=-2) * out_mean / w_in.clamp_min(1e-30)

    def _lowest(self, i: int, eligible: torch.Tensor, n_due: torch.Tensor) -> torch.Tensor:
        """Mask of the ``n_due`` eligible units with the lowest bias-corrected utility, per
        member."""
        corrected = self.utility[i] / (1 - self.decay ** self.age[i]).clamp_min(1e-30)
        mask = torch.zeros_like(eligible)
        for e in itertools.product(*(range(n) for n in eligible.shape[:-1])):
            k = int(n_due[e])
            candidates = torch.nonzero(eligible[e]).flatten()
            k = min(k, candidates.numel())
            if k > 0:
                pick = candidates[torch.topk(-corrected[e][candidates], k).indices]
                mask[e][pick] = True
        return mask

    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "utility": [t.clone() for t in self.utility],
            "mean": [t.clone() for t in self.mean],
            "age": [t.clone() for t in self.age],
            "due": [t.clone() for t in self.due],
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        for name in ("utility", "mean", "age", "due"):
            for mine, saved in zip(getattr(self, name), state[name], strict=True):
                mine.copy_(saved)


def _row_abs(linear: nn.Module, *, units_last: bool, mean: bool) -> torch.Tensor:
    """Per unit, the sum (or mean) of ``|w|`` over a linear layer's weight entries that belong
    to that unit, in float64, shape ``(*E, units)``. ``units_last``: the units index the
    weight's last dimension (an ``nn.Linear`` read by the unit, or an ensemble's incoming
    layer); otherwise they index the one before it."""
    weight = linear.weight
    assert isinstance(weight, torch.Tensor)
    w = weight.detach().abs()
    dim = -2 if units_last else -1
    reduced = w.mean(dim=dim) if mean else w.sum(dim=dim)
    return reduced.to(torch.float64)


class ReDo(_UnitState):
    """ReDo (Sokar et al. 2023, *The dormant neuron phenomenon in deep reinforcement learning*).

    Every ``interval`` steps, each hidden unit's score ``s_i = E|h_i| / ((1/H) Σ_k E|h_k|)`` is
    computed and the units with ``s_i ≤ τ`` are re-initialised (fresh incoming weights, zero
    outgoing weights, optimizer state zeroed). Where the expectation is taken is ``window``:

    * ``"batch"`` (the reference): on the training batch of the step at the check, as Sokar et
      al. do and as Dohare et al.'s ReDo baseline does (``lop/algos/gntRedo.py:52-58`` scores
      the features passed at the check, every ``reset_period`` = 100 steps in
      ``lop/rl/cfg/ant/redo.yml:18``). At batch size 1 this is a one-example score: every unit
      that is zero on that example counts as dormant.
    * ``"interval"`` (ours): over every training example since the last check, the same
      expectation with far less noise at batch size 1.

    Args:
        model: the network (ordinary or ensemble).
        tau: the dormancy threshold ``τ``.
        interval: steps between checks.
        seed: seed of the new weights.
        window: ``"interval"`` or ``"batch"``, see above.
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        tau: float = 0.1,
        interval: int = 1000,
        seed: int = 0,
        window: str = "interval",
    ):
        super().__init__(model, seed, salt=0x4ED0)
        if tau < 0:
            raise ValueError(f"tau must be >= 0, got {tau}")
        if interval < 1:
            raise ValueError(f"interval must be a positive number of steps, got {interval}")
        if window not in ("interval", "batch"):
            raise ValueError(f"window must be 'interval' or 'batch', got {window!r}")
        self.tau, self.interval, self.window = tau, interval, window
        self.sum_abs, self.count, self.steps = self.zeros(), 0, 0

    @torch.no_grad()
    def step(
        self, features: Mapping[int, torch.Tensor], optimizer: torch.optim.Optimizer | None
    ) -> int:
        """Accumulate ``|h|`` (layer index -> ``(*E, B, units)``); at every ``interval``-th call
        reset the τ-dormant units. Returns how many units were reset."""
        self.steps += 1
        if self.window == "batch" and self.steps % self.interval:
            return 0  # only the batch at the check is scored
        for layer in self.layers:
            self.sum_abs[layer.index] += features[layer.index].abs().sum(dim=-2).to(torch.float64)
        self.count += features[self.layers[0].index].shape[-2]
        if self.steps % self.interval:
            return 0
        replaced = 0
        for layer in self.layers:
            mask = dormancy_scores(self.sum_abs[layer.index] / self.count) <= self.tau
            replaced += reinit_units(layer, mask, self.generator, optimizer)
            self.sum_abs[layer.index].zero_()
        self.count = 0
        self.replaced += replaced
        return replaced

    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "sum_abs": [t.clone() for t in self.sum_abs],
            "count": self.count,
            "steps": self.steps,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        for mine, saved in zip(self.sum_abs, state["sum_abs"], strict=True):
            mine.copy_(saved)
        self.count, self.steps = int(state["count"]), int(state["steps"])
