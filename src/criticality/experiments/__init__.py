"""Experiments: each one package ``experiments/<name>/`` (or one file ``<name>.py``) that
composes the library.

An experiment is a config dataclass (``tiny()``, ``demo()``, and its defaults as the full
preset), ``run(cfg, out_dir)``, typed results and ``sections(data, out_dir)``, registered once
with :func:`register_experiment`. Modules and packages here whose name does not start with
``_`` are found automatically, so adding an experiment is one new package (docs/architecture.md).
"""

from criticality.experiments._registry import ExperimentSpec as ExperimentSpec
from criticality.experiments._registry import demo_parts as demo_parts
from criticality.experiments._registry import get_experiment as get_experiment
from criticality.experiments._registry import list_experiments as list_experiments
from criticality.experiments._registry import register_experiment as register_experiment
from criticality.experiments._registry import render as render
