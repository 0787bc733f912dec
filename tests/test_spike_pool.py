"""Max-pooling spikes differentiated as their OR (``pool_grad="or"``, avsnn.core.spike_pool)."""

import pytest
import torch
import torch.nn.functional as F

from avsnn.core.spike_pool import spike_max_pool2x2
from avsnn.models import SpikingAudioNet
from avsnn.models.layers import MaxPool2x2
from avsnn.models.twin import ann_twin
from avsnn.train.config import RunConfig


def _grad(fn, x, g):
    t = x.detach().clone().requires_grad_()
    fn(t).backward(g)
    return t.grad


@pytest.mark.parametrize("shape", [(3, 2, 6, 8), (2, 5, 7), (2, 4, 4)])
def test_values_are_max_pool_and_gradient_is_the_or_finite_difference(shape):
    gen = torch.Generator().manual_seed(sum(shape))
    s = (torch.rand(shape, generator=gen) < 0.3).double()
    assert torch.equal(spike_max_pool2x2(s), F.max_pool2d(s, 2))
    g = torch.randn(F.max_pool2d(s, 2).shape, generator=gen, dtype=torch.double)
    got = _grad(spike_max_pool2x2, s, g)
    # on spikes the OR's derivative in s_i is the change of the output when s_i goes from 0 to 1
    flat, want = s.reshape(-1), torch.zeros(s.numel(), dtype=torch.double)
    for i in range(flat.numel()):
        on, off = flat.clone(), flat.clone()
        on[i], off[i] = 1.0, 0.0
        want[i] = ((F.max_pool2d(on.view(s.shape), 2) - F.max_pool2d(off.view(s.shape), 2)) * g).sum()
    assert torch.equal(got, want.view(s.shape))
    # unlike max-pooling's gradient, which a silent window sends to its first neuron only
    assert not torch.equal(got, _grad(lambda t: F.max_pool2d(t, 2), s, g))


def test_gradient_on_values_in_between_is_the_multilinear_or():
    x = torch.rand(2, 5, 6, dtype=torch.double, generator=torch.Generator().manual_seed(1))
    g = torch.randn(2, 2, 3, dtype=torch.double, generator=torch.Generator().manual_seed(2))

    def soft_or(t):
        q = (1 - t[:, :4, :6]).reshape(2, 2, 2, 3, 2)
        return 1 - q.prod(4).prod(2)

    assert torch.allclose(_grad(spike_max_pool2x2, x, g), _grad(soft_or, x, g))


def test_audio_network_uses_it_and_its_twin_does_not():
    net = SpikingAudioNet(n_mels=16, n_frames=16, channels=(2, 2, 2), pool_grad="or")
    pools = [m for m in net.modules() if isinstance(m, MaxPool2x2)]
    assert len(pools) == 3 and all(p.grad == "or" for p in pools)
    assert all(m.grad == "max" for m in ann_twin(net).modules() if isinstance(m, MaxPool2x2))
    assert all(p.grad == "or" for p in pools)  # the twin is a copy


def test_config_names_the_choice_once():
    assert "pool_grad" not in RunConfig(modality="audio").canonical()  # off: old hashes hold
    assert RunConfig(modality="audio", pool_grad="or").canonical()["pool_grad"] == "or"
    assert RunConfig(modality="audio", pool_grad="or", neuron="relu").pool_grad == "max"
    with pytest.raises(ValueError, match="pool_grad must be one of"):
        RunConfig(modality="audio", pool_grad="mean")
    with pytest.raises(ValueError, match="pool_grad must be one of"):
        MaxPool2x2("mean")
