"""The old import path of :mod:`criticality.experiments.zoo.pairs` (kept: tests/zoo/test_pairs.py
imports it).

The name is an alias of that module, not a copy: ``sys.modules`` maps it to the module itself,
so an attribute set here (a test's monkeypatch) is set there.
"""

import sys

from criticality.experiments.zoo import pairs as _module

sys.modules[__name__] = _module
