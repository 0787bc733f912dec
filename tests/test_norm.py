"""Training-mode batch norm with the C++ statistics: ATen's outputs, gradients and running statistics, bit for bit."""

import copy

import pytest
import torch
from torch import nn

from avsnn.core.kernels import cpu_kernel
from avsnn.core.kernels.norm import aten_norm, batch_norm_serves
from avsnn.models import L2ActSpikeNet
from avsnn.models.layers import BatchNorm2d

needs_kernel = pytest.mark.skipif(cpu_kernel() is None, reason="the C++ CPU kernel is not available here")


def _bits(t: torch.Tensor) -> torch.Tensor:
    return t.detach().contiguous().view(torch.int32)


@needs_kernel
@pytest.mark.parametrize(
    "shape, scale, shift",
    [
        ((64, 16, 8, 8), 1.0, 0.0),
        ((16, 8, 32, 63), 3.0, 5.0),
        ((32, 32, 4, 4), 0.01, 100.0),
        ((9, 11, 3, 1), 2.0, -1.0),
    ],
)
def test_matches_nn_batchnorm_bit_for_bit_over_steps(shape, scale, shift):
    g = torch.Generator().manual_seed(shape[1])
    ref = nn.BatchNorm2d(shape[1])
    with torch.no_grad():
        ref.weight.normal_(generator=g)
        ref.bias.normal_(generator=g)
        ref.running_mean.normal_(generator=g)
        ref.running_var.uniform_(0.5, 2.0, generator=g)
    fast = BatchNorm2d(shape[1])
    fast.load_state_dict(ref.state_dict())
    for step in range(3):
        x = torch.randn(shape, generator=g) * scale + shift
        if step == 1:
            x = (x > shift).float()  # spikes: many equal values
        xr, xf = x.clone().requires_grad_(), x.clone().requires_grad_()
        assert batch_norm_serves(xf)
        yr, yf = ref(xr), fast(xf)
        grad = torch.randn(shape, generator=g)
        yr.backward(grad)
        yf.backward(grad)
        assert torch.equal(_bits(yr), _bits(yf))
        assert torch.equal(_bits(xr.grad), _bits(xf.grad))
        for name in ("weight", "bias"):
            assert torch.equal(_bits(getattr(ref, name).grad), _bits(getattr(fast, name).grad))
        for name, buf in ref.state_dict().items():
            assert torch.equal(buf, fast.state_dict()[name]), name


def test_falls_back_to_nn_batchnorm_where_the_kernel_does_not_serve():
    bn = BatchNorm2d(3)
    x = torch.randn(4, 3, 5, 5)
    assert not batch_norm_serves(x.double()) and not batch_norm_serves(torch.randn(1, 3, 1, 1))
    with aten_norm():
        assert not batch_norm_serves(x)
    ref = nn.BatchNorm2d(3, momentum=None)
    cum = BatchNorm2d(3, momentum=None)  # cumulative average: nn.BatchNorm2d's own path
    torch.testing.assert_close(cum(x), ref(x))
    assert torch.equal(cum.running_var, ref.running_var) and int(cum.num_batches_tracked) == 1
    bn.eval()
    torch.testing.assert_close(bn(x), nn.functional.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias))
    assert type(bn).__name__ == "BatchNorm2d" and isinstance(bn, nn.BatchNorm2d)


@needs_kernel
def test_vision_training_step_is_bit_identical_with_and_without_the_kernel():
    """A training step of the spiking ResNet: the same loss, gradients, weights and running statistics."""
    torch.manual_seed(0)
    net = L2ActSpikeNet(num_classes=4, width=4, timesteps=2, input_norm=True, image_norm="image").train()
    x, y = torch.rand(6, 3, 16, 16), torch.arange(6) % 4
    results = []
    for fast in (False, True):
        model = copy.deepcopy(net)
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        with aten_norm() if not fast else torch.enable_grad():
            out = model(x)
            loss = nn.functional.cross_entropy(out.current.mean(0), y) + out.spikes.mean()
            loss.backward()
            grads = [p.grad.clone() for p in model.parameters()]
            opt.step()
        results.append((loss.detach(), grads, copy.deepcopy(model.state_dict())))
    (la, ga, sa), (lf, gf, sf) = results
    assert torch.equal(la, lf)
    assert all(torch.equal(a, b) for a, b in zip(ga, gf))
    assert all(torch.equal(sa[k], sf[k]) for k in sa)
    assert any(isinstance(m, BatchNorm2d) for m in net.modules())
