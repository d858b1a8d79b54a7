"""Wall-clock cost of the measures of issue 3, for ``benchmarks/measure_cost.py``.

``extra_costs(model, inputs)`` times each of ``branching``, ``dynamic_range``, ``avalanches``,
``weight_alpha`` and ``susceptibility`` once, with its default options, on the given model and
probe batch, and returns seconds per measure. A measure that cannot run on the model (e.g. too
few avalanches end inside a shallow network) is reported as ``nan`` and the reason logged.
"""

from __future__ import annotations

import logging
import math
import time

import torch

from criticality.measures import get_measure

logger = logging.getLogger(__name__)

EXTRA_MEASURES = ("branching", "dynamic_range", "avalanches", "weight_alpha", "susceptibility")


def extra_costs(model: torch.nn.Module, inputs: torch.Tensor) -> dict[str, float]:
    """Seconds taken by one default run of each measure of issue 3 on ``model`` and ``inputs``."""
    costs: dict[str, float] = {}
    for name in EXTRA_MEASURES:
        start = time.perf_counter()
        try:
            get_measure(name).run(model, inputs, seed=0)
        except ValueError as err:
            logger.warning("%s did not run: %s", name, err)
            costs[name] = math.nan
            continue
        costs[name] = time.perf_counter() - start
    return costs


if __name__ == "__main__":
    from criticality.zoo import mlp

    net = mlp(20, 256, sigma_w=1.4, sigma_b=0.3, seed=0)
    x = torch.randn(16, 256)
    for measure, seconds in extra_costs(net, x).items():
        print(f"{measure:>16s} {seconds:8.3f} s")
