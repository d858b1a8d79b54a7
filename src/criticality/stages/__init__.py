"""Split a network into stages ``h_l = f_l(h_{l-1})``: depth read as time (DESIGN §1).

:func:`stages` returns a model's stages (see :mod:`._core` for how models are split);
:func:`verify_stages` checks that composing them reproduces the model; :func:`batch_independent`
tells whether a stage lets a measure stack extra entries along the batch; :func:`split_after`
starts the chain after a named stage (a language model measured from its embedding output on;
:func:`embeds_tokens` tells whether a stage looks token ids up).
Model-family adapters live in their own modules and register here, one import per module;
adding a family is one function with ``@register_adapter`` in such a module.
"""

from criticality.stages import _adapters as _adapters  # registers the family adapters
from criticality.stages._core import ADAPTERS as ADAPTERS
from criticality.stages._core import Fn as Fn
from criticality.stages._core import Stage as Stage
from criticality.stages._core import Unit as Unit
from criticality.stages._core import batch_independent as batch_independent
from criticality.stages._core import blocks as blocks
from criticality.stages._core import compose as compose
from criticality.stages._core import embeds_tokens as embeds_tokens
from criticality.stages._core import group as group
from criticality.stages._core import register_adapter as register_adapter
from criticality.stages._core import split_after as split_after
from criticality.stages._core import split_at as split_at
from criticality.stages._core import stages as stages
from criticality.stages._core import units as units
from criticality.stages._core import verify_stages as verify_stages
from criticality.stages._transformers import language_model_stages as language_model_stages
