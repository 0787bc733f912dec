"""Training-mode batch norm on CPU with faster statistics: ATen's numbers, bit for bit.

ATen's CPU batch norm of a contiguous (NCHW) float32 tensor sums each channel in one chain of
double additions, one channel after the other; the chain's add latency, not memory, bounds it, and
in the default networks those statistics take most of the forward batch norm's time. The C++
extension of :mod:`.cpp` (``bn_stats``) runs the same chains for eight channels side by side: each
channel's sums are the same operations in the same order, so the mean and the sum of squared
deviations are ATen's bit for bit. The rest is ATen's own code or ATen's arithmetic step by step:

* ``invstd = 1 / sqrt(var_sum / n + eps)`` (the division in float, the root in double, stored as float),
  and the running statistics ``m * mean + (1 - m) * running`` (float) and
  ``m * var_sum / (n - 1) + (1 - m) * running`` (the first product in double), as
  ``batch_norm_cpu_update_stats_template`` computes them;
* the output from ATen's own transform (its eval-mode batch norm with ``running_var = 0`` and
  ``eps = 1``, so that ``invstd = 1`` exactly and its scale is the float product ``invstd * weight``
  that training mode uses), and the gradients from ATen's ``native_batch_norm_backward`` with the
  saved mean and ``invstd``.

``tests/test_norm.py`` checks outputs, gradients and running statistics against ``nn.BatchNorm2d`` bit
for bit. :func:`batch_norm_serves` says which calls this path takes (CPU float32, training with
running statistics, affine, more than one value per channel, the C++ extension available,
``AVSNN_BN_CPP`` not ``0`` and not inside :func:`aten_norm`); the rest go to ATen unchanged.
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from ...device import env_switch
from . import cpp

__all__ = ["batch_norm_train", "batch_norm_serves", "aten_norm"]

_switched_off: list = []  # non-empty inside aten_norm()


def batch_norm_serves(x: torch.Tensor) -> bool:
    """Whether :func:`batch_norm_train` can take ``x`` (else ATen's batch norm runs)."""
    return (
        not _switched_off
        and x.device.type == "cpu"
        and x.dtype == torch.float32
        and x.dim() >= 3
        and x.numel() > x.shape[1]
        and x.shape[0] > 0
        and env_switch("AVSNN_BN_CPP")
        and cpp.cpu_kernel() is not None
    )


@contextlib.contextmanager
def aten_norm():
    """Within the block, batch norm runs on ATen's kernel alone (the benchmark's "before")."""
    _switched_off.append(True)
    try:
        yield
    finally:
        _switched_off.pop()


class _BatchNormTrain(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, momentum: float, eps: float):
        x = x.contiguous()
        mean, invstd, scale, zeros = cpp.cpu_kernel().bn_stats(
            x.reshape(x.shape[0], x.shape[1], -1), weight.detach(), running_mean, running_var, momentum, eps
        )
        out = F.batch_norm(x, mean, zeros, scale, bias.detach(), False, 0.0, 1.0)
        ctx.save_for_backward(x, weight, mean, invstd)
        ctx.eps = eps
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        x, weight, mean, invstd = ctx.saved_tensors
        mask = [ctx.needs_input_grad[0], ctx.needs_input_grad[1], ctx.needs_input_grad[2]]
        gi, gw, gb = torch.ops.aten.native_batch_norm_backward(
            g.contiguous(), x, weight, None, None, mean, invstd, True, ctx.eps, mask
        )
        return gi, gw, gb, None, None, None, None


def batch_norm_train(x, weight, bias, running_mean, running_var, momentum: float, eps: float) -> torch.Tensor:
    """``F.batch_norm(x, running_mean, running_var, weight, bias, True, momentum, eps)``, bit for bit.

    Updates the running statistics in place as ATen does. Takes the fast path only where
    :func:`batch_norm_serves` says so (and ``weight``, ``bias`` and both running statistics are given).
    """
    if batch_norm_serves(x) and None not in (weight, bias, running_mean, running_var):
        return _BatchNormTrain.apply(x, weight, bias, running_mean, running_var, float(momentum), float(eps))
    return F.batch_norm(x, running_mean, running_var, weight, bias, True, momentum, eps)
