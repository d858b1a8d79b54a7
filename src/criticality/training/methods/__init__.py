"""Training methods: one registered row each (see :mod:`._registry`).

``build_method(name, model)`` gives what a method adds to a run; :func:`criticality.training.fit`
accepts ``method=NAME``. Rows live in the files imported below, one import per file.
"""

from criticality.training.methods import basic as _basic
from criticality.training.methods._registry import KINDS as KINDS
from criticality.training.methods._registry import LossTerm as LossTerm
from criticality.training.methods._registry import MethodContext as MethodContext
from criticality.training.methods._registry import MethodParts as MethodParts
from criticality.training.methods._registry import MethodSpec as MethodSpec
from criticality.training.methods._registry import build_method as build_method
from criticality.training.methods._registry import get_method as get_method
from criticality.training.methods._registry import list_methods as list_methods
from criticality.training.methods._registry import method_options as method_options
from criticality.training.methods._registry import register_method as register_method

del _basic
