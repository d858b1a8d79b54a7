"""The trained zoo's architectures: real torchvision builders, adapted by stem and head only."""

from __future__ import annotations

from collections import Counter

import pytest
import torch
from torch import nn

from criticality.zoo import SMALL_NETS, list_small_nets, pad_to_32, small_image_net
from criticality.zoo._builtin import init_generator
from criticality.zoo._small_images import stem_and_head
from criticality.zoo.metadata import FAMILIES

CPU_CAP = 6_000_000
GPU_ONLY = ("resnet18", "wide_resnet14_w128", "vgg11", "vgg11_bn", "alexnet")


def _builder(name: str, seed: int = 0) -> nn.Module:
    with torch.random.fork_rng():
        torch.manual_seed(int(init_generator(seed).initial_seed()))
        return SMALL_NETS[name].build_builder().eval()


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _body_params(model: nn.Module) -> int:
    stem, head = stem_and_head_any(model)
    return _count(model) - _count(model.get_submodule(stem)) - _count(model.get_submodule(head))


def stem_and_head_any(model: nn.Module) -> tuple[str, str]:
    """The stem (first Conv2d) and head (last Linear/Conv2d) of the builder or adapted net."""
    convs = [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    heads = [n for n, m in model.named_modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    return convs[0], heads[-1]


@pytest.mark.parametrize("name", list_small_nets(CPU_CAP))
def test_body_is_the_builders_and_output_is_10_way(name: str) -> None:
    ref = _builder(name)
    stem, head = stem_and_head(ref)
    assert (stem, head) == stem_and_head_any(ref)  # the rule's layers are the first and last
    net = small_image_net(name, seed=0)
    assert _body_params(net) == _body_params(ref)
    body = {k: v for k, v in ref.state_dict().items()
            if not k.startswith((stem + ".", head + "."))}  # fmt: skip
    adapted = net.state_dict()
    assert body.keys() <= adapted.keys()
    assert all(torch.equal(adapted[k], v) for k, v in body.items())  # same init, same seed
    assert net.get_submodule(stem).in_channels == 1  # type: ignore[union-attr]
    assert net(torch.zeros(2, 1, 32, 32)).shape == (2, 10)


@pytest.mark.parametrize("name", ["resnet10", "squeezenet1_1", "densenet_g12_2222",
                                  "mobilenet_v3_small_0.5", "vit_p4_l2_d64", "swin_p2_e32_short",
                                  "convnext_c32", "maxvit_c16", "regnet_y_small"])  # fmt: skip
def test_grey_image_gives_the_builders_first_ten_logits_on_rgb(name: str) -> None:
    x = torch.randn(3, 1, 32, 32, generator=torch.Generator().manual_seed(1))
    ref = _builder(name, seed=3)
    net = small_image_net(name, seed=3)
    with torch.no_grad():
        want = ref(x.repeat(1, 3, 1, 1))[:, :10]
        got = net(x)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


def test_zoo_covers_families_and_traits_several_times() -> None:
    names = list_small_nets(CPU_CAP)
    assert len(names) >= 40 and set(GPU_ONLY).isdisjoint(names)
    assert set(list_small_nets()) == set(SMALL_NETS)
    fams = Counter(SMALL_NETS[n].family for n in names)
    assert all(f in FAMILIES for f in fams)
    assert sum(c >= 2 for c in fams.values()) >= 15
    rows = [(FAMILIES[SMALL_NETS[n].family], SMALL_NETS[n]) for n in names]
    traits = {
        "residual": sum(f.skip == "residual" for f, _ in rows),
        "dense": sum(f.skip == "dense" for f, _ in rows),
        "concat": sum(f.skip == "concat" for f, _ in rows),
        "no skip": sum(f.skip == "none" for f, _ in rows),
        "batch norm": sum("batch" in f.norm for f, _ in rows),
        "layer norm": sum("layer" in f.norm for f, _ in rows),
        "attention": sum(s.attention for _, s in rows),
        "depthwise": sum(s.depthwise for _, s in rows),
    }
    assert min(traits.values()) >= 2, traits
    # a different seed draws a different initialisation
    a, b = small_image_net("convnext_c32", seed=0), small_image_net("convnext_c32", seed=1)
    assert not torch.equal(a.features[1][0].block[0].weight, b.features[1][0].block[0].weight)


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown small-image net"):
        small_image_net("resnet9000")
    with pytest.raises(ValueError, match="28 or 32 px"):
        pad_to_32(torch.zeros(1, 1, 30, 30))
    assert pad_to_32(torch.zeros(2, 1, 28, 28)).shape == (2, 1, 32, 32)


@pytest.mark.slow
@pytest.mark.parametrize("name", GPU_ONLY)
def test_gpu_only_nets_keep_their_body(name: str) -> None:
    ref = _builder(name)
    net = small_image_net(name, seed=0)
    assert _body_params(net) == _body_params(ref) and _count(net) > CPU_CAP


def test_stride1_stem_keeps_resolution_and_leaves_patch_embeddings() -> None:
    import torch

    from criticality.zoo import small_image_net, stride1_stem

    net = stride1_stem(small_image_net("resnet10", seed=0))
    assert net.conv1.stride == (1, 1) and isinstance(net.maxpool, torch.nn.Identity)
    feats = torch.nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool, net.layer1)
    assert feats(torch.zeros(1, 1, 32, 32)).shape[-1] == 32  # 224-px strides: 8
    assert net(torch.zeros(2, 1, 32, 32)).shape == (2, 10)
    vit = small_image_net("vit_p4_l2_d64", seed=0)
    before = vit.conv_proj.stride
    assert stride1_stem(vit).conv_proj.stride == before == (4, 4)
    with pytest.raises(ValueError, match="adapt"):
        stride1_stem(torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3)))
