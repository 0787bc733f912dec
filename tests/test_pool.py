"""The audio network's 2x2 max pool on the C++ kernel: the same values and gradients as ATen's, bit for bit."""

import copy

import pytest
import torch
import torch.nn.functional as F

from avsnn.core.kernels import cpu_kernel
from avsnn.core.kernels.pool import aten_pool, kernel_serves, max_pool2x2
from avsnn.models import SpikingAudioNet
from avsnn.models.layers import MaxPool2x2

needs_kernel = pytest.mark.skipif(cpu_kernel() is None, reason="the C++ CPU kernel is not available here")


def _both(x: torch.Tensor, g: torch.Tensor):
    """(values, input gradient) of ATen's max_pool2d and of max_pool2x2 for input ``x`` and output gradient ``g``."""
    out = []
    for fn in (lambda t: F.max_pool2d(t, 2), max_pool2x2):
        t = x.detach().clone().requires_grad_()
        y = fn(t)
        y.backward(g)
        out.append((y.detach(), t.grad))
    return out


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Bit-equal, NaN included (and the sign of zero: the gradient's zeros must be +0 as ATen's)."""
    return a.dtype == b.dtype and torch.equal(a.view(-1).view(torch.uint8), b.view(-1).view(torch.uint8))


@needs_kernel
@pytest.mark.parametrize("shape", [(3, 2, 8, 10), (2, 3, 7, 9), (4, 5, 6), (1, 1, 2, 2), (2, 1, 3, 5)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_kernel_matches_aten_on_ties_nan_and_odd_sizes(shape, dtype):
    g = torch.Generator().manual_seed(sum(shape))
    spikes = (torch.rand(shape, generator=g) > 0.6).to(dtype)  # ties everywhere: the first maximum must win
    special = torch.randn(shape, generator=g, dtype=dtype)
    flat = special.view(-1)
    flat[::7] = float("nan")
    flat[1::11] = float("-inf")
    flat[2::13] = float("inf")
    flat[3::5] = -0.0
    flat[4::5] = 0.0
    assert kernel_serves(spikes)
    out_shape = (*shape[:-2], shape[-2] // 2, shape[-1] // 2)
    grad = torch.randn(out_shape, generator=g, dtype=dtype)
    grad.view(-1)[::3] = -grad.view(-1)[::3].abs()  # negative gradients: the zeros written must stay +0
    for x in (spikes, special):
        (ya, ga), (yk, gk) = _both(x, grad)
        assert _same(ya, yk) and _same(ga, gk)


@needs_kernel
def test_aten_pool_switches_the_kernel_off_and_other_inputs_go_to_aten():
    x = torch.rand(2, 3, 4, 4)
    assert kernel_serves(x)
    with aten_pool():
        assert not kernel_serves(x)
    assert kernel_serves(x)
    assert not kernel_serves(x.to(torch.bfloat16)) and not kernel_serves(torch.rand(3, 4))
    torch.testing.assert_close(max_pool2x2(x.to(torch.bfloat16)), F.max_pool2d(x.to(torch.bfloat16), 2))


def test_module_is_a_max_pool_without_state():
    pool = MaxPool2x2()
    assert isinstance(pool, torch.nn.MaxPool2d) and (pool.kernel_size, pool.stride) == (2, 2)
    assert not pool.state_dict() and not list(pool.parameters())
    x = torch.randn(2, 3, 5, 6)
    assert torch.equal(pool(x), F.max_pool2d(x, 2))


@needs_kernel
def test_audio_training_step_is_bit_identical_with_and_without_the_kernel():
    """One training step of the audio network (dropout included): the same loss, gradients and weights."""
    torch.manual_seed(0)
    net = SpikingAudioNet(num_classes=4, n_mels=16, n_frames=21, channels=(4, 4, 8), timesteps=3).train()
    x = torch.randn(6, 1, 16, 21) * 2
    y = torch.arange(6) % 4
    results = []
    for kernel in (False, True):
        model = copy.deepcopy(net)
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        torch.manual_seed(1)
        with aten_pool() if not kernel else torch.enable_grad():
            out = model(x)
            loss = F.cross_entropy(out.current.mean(0), y) + out.spikes.mean()
            loss.backward()
            grads = [p.grad.clone() for p in model.parameters()]
            opt.step()
        results.append((loss.detach(), grads, model.state_dict()))
    (la, ga, sa), (lk, gk, sk) = results
    assert torch.equal(la, lk)
    assert all(torch.equal(a, b) for a, b in zip(ga, gk))
    assert all(torch.equal(sa[k], sk[k]) for k in sa)
    assert any(g.abs().sum() > 0 for g in gk[:3])  # gradients reached the first blocks through the pools
