"""The old import path of :mod:`criticality.experiments.zoo.scan` (kept: the scan's Python API
(``criticality.experiments.scan.run``) as scripts and notebooks import it).

The name is an alias of that module, not a copy: ``sys.modules`` maps it to the module itself,
so an attribute set here (a test's monkeypatch) is set there.
"""

import sys

from criticality.experiments.zoo import scan as _module

sys.modules[__name__] = _module
