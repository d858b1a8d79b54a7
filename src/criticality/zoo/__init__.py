"""The model zoo: built-in nets, every torchvision ImageNet classifier, and any timm model.

``create_model(name)`` builds a model by name; ``list_models(pattern)`` lists names. Name
resolution: built-in names first, then torchvision's classification builders, then timm's
architectures; the prefix ``timm/`` forces timm (``timm/resnet18``). The small networks of the
experiments live here too, all seeded by one rule (:func:`init_generator`).
"""

from criticality.zoo._builtin import cnn as cnn
from criticality.zoo._builtin import fixed_point_inputs as fixed_point_inputs
from criticality.zoo._builtin import init_gaussian_ as init_gaussian_
from criticality.zoo._builtin import init_generator as init_generator
from criticality.zoo._builtin import make_activation as make_activation
from criticality.zoo._builtin import mlp as mlp
from criticality.zoo._builtin import orthogonal_chain as orthogonal_chain
from criticality.zoo._classifiers import NetSpec as NetSpec
from criticality.zoo._classifiers import build_net as build_net
from criticality.zoo._classifiers import cnn_classifier as cnn_classifier
from criticality.zoo._classifiers import mlp_classifier as mlp_classifier
from criticality.zoo._registry import ModelInfo as ModelInfo
from criticality.zoo._registry import create_model as create_model
from criticality.zoo._registry import list_models as list_models
from criticality.zoo._registry import model_info as model_info
from criticality.zoo._small_images import SMALL_NETS as SMALL_NETS
from criticality.zoo._small_images import SmallNet as SmallNet
from criticality.zoo._small_images import list_small_nets as list_small_nets
from criticality.zoo._small_images import pad_to_32 as pad_to_32
from criticality.zoo._small_images import small_image_net as small_image_net
from criticality.zoo._small_images import stride1_stem as stride1_stem
from criticality.zoo.metadata import zoo_metadata as zoo_metadata
