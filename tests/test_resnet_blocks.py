"""Tests for the spiking basic-block family of avsnn.models.resnet and the injectable neuron / norm / depth."""

from __future__ import annotations

import pickle
from functools import partial

import pytest
import torch
from torch import nn

import avsnn.models as M
from avsnn.core import surrogate as sg
from avsnn.core.lif import LIF
from avsnn.models.layers import neuron_factory

# (block, zero_init_residual) -> (sum of (i+1) * sum(parameter i), sum of features, sum of current, sum |grad|)
# of `_fingerprint`, computed with the three separate block classes the family replaced (commit a0cc8da)
REFERENCE = {
    ("act_after_add", False): (12088.731231197926, 26.0, 1.7992973327636719, 6901532875626.758),
    ("act_after_add", True): (6856.731231197927, 29.0, 0.39518945664167404, 601.739819907918),
    ("lif_after_bn", False): (12088.731231197926, 53.0, 1.014117792248726, 12703.280732280014),
    ("lif_after_bn", True): (6856.731231197927, 29.0, 1.845263434574008, 625.9522989226825),
    ("lif_before_add", False): (12088.731231197926, 59.0, -0.4309394508600235, 60197672400.51805),
    ("lif_before_add", True): (6856.731231197927, 29.0, 0.39518945664167404, 486.98131292144535),
}
# the same fingerprint of SpikingAudioNet and SMLP with their default neuron (commit a0cc8da)
REFERENCE_AUDIO = (40.67072837415617, 88.0, -2.3844027370214462, 330.14573077159)
REFERENCE_SMLP = (80.00700434693135, 30.0, -4.573280319571495, 1143.553922303021)

BN = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def _bn(prefix: str) -> list[str]:
    return [f"{prefix}.{k}" for k in BN]


def _lif(prefix: str) -> list[str]:
    return [f"{prefix}.beta", f"{prefix}.threshold"]


PROJECTION = ["shortcut.0.weight", *_bn("shortcut.1")]
# state-dict keys of one block, with the projection shortcut's place marked
BLOCK_KEYS = {
    "act_after_add": ["conv1.0.weight", *_lif("lif1"), *_bn("bn1.0"), "conv2.0.weight", *_bn("bn2.0"), "SC"]
    + _lif("lif_out"),
    "lif_after_bn": ["conv1.0.weight", *_bn("bn1.0"), *_lif("lif1"), "conv2.0.weight", *_bn("bn2.0"), "SC"]
    + _lif("lif_out"),
    "lif_before_add": ["conv1.0.weight", *_lif("lif1"), *_bn("bn1.0"), "conv2.0.weight", *_bn("bn2.0")]
    + [*_lif("lif_residual"), "SC", *_lif("lif_shortcut")],
}
STEM_KEYS = {
    "act_after_add": ["stem.conv.0.weight", *_lif("stem.lif"), *_bn("stem.bn.0")],
    "lif_after_bn": ["stem.conv_bn.0.weight", *_bn("stem.conv_bn.1"), *_lif("stem.lif")],
    "lif_before_add": ["stem.conv.0.weight", *_lif("stem.lif"), *_bn("stem.bn.0")],
}
HEAD_KEYS = ["head.classifier.weight", *_lif("head.output_lif")]
BUILDERS = {
    "act_after_add": M.l2_actspikenet,
    "lif_after_bn": M.lif_after_bn_resnet18,
    "lif_before_add": M.lif_before_add_resnet18,
}


def _fingerprint(net: nn.Module, x) -> tuple[float, float, float, float]:
    out = net(x)
    (out.current.square().sum() + out.features.sum()).backward()
    params = list(net.parameters())
    weighted = sum((i + 1) * p.detach().double().sum().item() for i, p in enumerate(params))
    grads = sum(p.grad.double().abs().sum().item() for p in params if p.grad is not None)
    return weighted, out.features.double().sum().item(), out.current.double().sum().item(), grads


def _vision_fingerprint(make) -> tuple[float, float, float, float]:
    torch.manual_seed(0)
    net = make()
    return _fingerprint(net, torch.randn(3, 3, 8, 8, generator=torch.Generator().manual_seed(1)))


def _small(**kw) -> M.L2ActSpikeNet:
    return M.L2ActSpikeNet(**{"num_classes": 10, "width": 4, "timesteps": 2, **kw})


def _count(module: nn.Module, cls: type) -> int:
    return sum(type(m) is cls for m in module.modules())


# ---------------------------------------------------------------- the numbers of the separate classes
@pytest.mark.parametrize("block, zero_init", list(REFERENCE))
def test_numbers_match_the_separate_block_classes(block, zero_init):
    got = _vision_fingerprint(lambda: _small(block=block, zero_init_residual=zero_init))
    torch.testing.assert_close(got, REFERENCE[block, zero_init], rtol=1e-6, atol=0)


@pytest.mark.parametrize("block", M.VISION_BLOCKS)
def test_block_class_and_builder_build_the_same_network(block):
    cls = {"act_after_add": M.ActAfterAddBlock, "lif_after_bn": M.LIFAfterBNBlock}.get(block, M.LIFBeforeAddBlock)
    for make in (lambda: _small(block=cls), lambda: BUILDERS[block](num_classes=10, width=4, timesteps=2)):
        torch.testing.assert_close(_vision_fingerprint(make), REFERENCE[block, False], rtol=1e-6, atol=0)
        assert make().block == block


def test_audio_and_smlp_default_neuron_numbers_unchanged():
    torch.manual_seed(0)
    audio = M.SpikingAudioNet(num_classes=10, n_mels=16, n_frames=16, channels=(2, 3, 4), timesteps=2, threshold=0.3)
    got = _fingerprint(audio, torch.randn(3, 1, 16, 16, generator=torch.Generator().manual_seed(1)))
    torch.testing.assert_close(got, REFERENCE_AUDIO, rtol=1e-6, atol=0)
    torch.manual_seed(0)
    smlp = M.SMLP({"a": 6, "v": 5}, num_classes=4, timesteps=3, hidden=(7, 5), threshold=0.3)
    g = torch.Generator().manual_seed(1)
    got = _fingerprint(smlp, {"a": torch.randn(4, 6, generator=g), "v": torch.randn(4, 5, generator=g)})
    torch.testing.assert_close(got, REFERENCE_SMLP, rtol=1e-6, atol=0)


@pytest.mark.parametrize("block", M.VISION_BLOCKS)
def test_state_dict_keys_and_order(block):
    expected = list(STEM_KEYS[block])
    for stage in range(1, 5):
        for j in range(2):
            shortcut = PROJECTION if stage > 1 and j == 0 else []
            for key in BLOCK_KEYS[block]:
                expected += [f"layer{stage}.{j}.{k}" for k in (shortcut if key == "SC" else [key])]
    expected += HEAD_KEYS
    assert list(_small(block=block).state_dict()) == expected
    assert len(expected) == {"act_after_add": 157, "lif_after_bn": 157, "lif_before_add": 173}[block]


# ---------------------------------------------------------------- block=
def test_block_subclass_and_bad_blocks():
    class Plain(M.ActAfterAddBlock):
        pass

    model = _small(block=Plain)
    assert model.block == "Plain" and isinstance(model.layer3[1], Plain)
    assert model(torch.randn(2, 3, 8, 8)).spikes.shape == (2, 2, 10)
    for bad in ("bottleneck", nn.Conv2d, None):
        with pytest.raises(ValueError, match="block must be one of") as err:
            _small(block=bad)
        assert "\n" not in str(err.value)


# ---------------------------------------------------------------- layers=
def test_layers_sets_the_depth():
    shallow = _small(layers=(1, 1, 1, 1))
    assert [len(getattr(shallow, f"layer{i}")) for i in range(1, 5)] == [1, 1, 1, 1]
    assert M.count_parameters(shallow) < M.count_parameters(_small())
    out = shallow(torch.randn(2, 3, 8, 8))
    assert out.features.shape == (2, 2, 32)
    out.current.sum().backward()
    assert [len(getattr(_small(layers=(1, 2, 3, 1)), f"layer{i}")) for i in range(1, 5)] == [1, 2, 3, 1]
    for bad in ((2, 2, 2), (2, 0, 2, 2), (2, 2.0, 2, 2), "2222"):
        with pytest.raises(ValueError, match="layers must be four positive ints"):
            _small(layers=bad)


# ---------------------------------------------------------------- neuron=
class CountedLIF(LIF):
    """A LIF subclass, so every spiking layer it makes can be counted."""


@pytest.mark.parametrize("block", M.VISION_BLOCKS)
def test_custom_neuron_is_every_spiking_layer(block):
    default = _count(_small(block=block), LIF)
    calls = []

    def make():
        calls.append(1)
        return CountedLIF(beta=0.5, threshold=0.2)

    model = _small(block=block, neuron=make)
    assert _count(model, CountedLIF) == len(calls) == default and _count(model, LIF) == 0
    assert model(torch.randn(2, 3, 8, 8)).spikes.shape == (2, 2, 10)
    twin = M.ann_twin(model)
    assert _count(twin, CountedLIF) == 0 and _count(twin, nn.ReLU) == default


def test_custom_neuron_in_audio_and_smlp():
    make = partial(CountedLIF, beta=0.5, threshold=0.2)
    audio = M.SpikingAudioNet(n_mels=16, n_frames=16, channels=(2, 3, 4), timesteps=2, neuron=make)
    assert _count(audio, CountedLIF) == 4 and _count(audio, LIF) == 0
    smlp = M.SMLP({"a": 6, "v": 5}, hidden=(7, 5), timesteps=2, neuron=make)
    assert _count(smlp, CountedLIF) == 3 and _count(smlp, LIF) == 0
    assert smlp({"a": torch.randn(4, 6), "v": torch.randn(4, 5)}).spikes.shape == (2, 4, 10)
    with pytest.raises(ValueError, match="neuron must be a callable"):
        M.SMLP({"a": 6}, neuron="lif")


def test_default_neuron_is_picklable():
    make = neuron_factory(None, 0.8, 0.5, sg.atan(2.0))
    lif = pickle.loads(pickle.dumps(make))()
    assert type(lif) is LIF and float(lif.beta) == pytest.approx(0.8) and float(lif.threshold) == 0.5
    model = pickle.loads(pickle.dumps(_small()))
    assert list(model.state_dict()) == list(_small().state_dict())


# ---------------------------------------------------------------- norm_layer=
def test_norm_layer_is_every_normalisation():
    model = _small(norm_layer=partial(nn.GroupNorm, 2), zero_init_residual=True)
    # stem + 8 blocks x 2 + 3 projection shortcuts
    assert _count(model, nn.GroupNorm) == 1 + 16 + 3 and _count(model, nn.BatchNorm2d) == 0
    assert all(block.bn2[0].weight.detach().abs().sum() == 0 for block in model.layer2)
    model(torch.randn(2, 3, 8, 8)).current.sum().backward()
    plain = _small(block="lif_after_bn", norm_layer=lambda channels: nn.Identity(), zero_init_residual=True)
    assert _count(plain, nn.BatchNorm2d) == 0
    assert plain(torch.randn(2, 3, 8, 8)).features.shape == (2, 2, 32)
