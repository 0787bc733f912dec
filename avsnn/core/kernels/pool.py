"""The 2x2 max pool of the audio network on CPU: one pass per direction in the C++ extension of :mod:`.cpp`.

ATen's CPU ``max_pool2d`` on a contiguous (NCHW) tensor is a scalar loop that also writes an int64
index per output, and its backward zero-fills the whole input gradient before it scatters into it;
in the default audio network that pool takes more time than its three convolutions. The kernel here
keeps one byte per window and writes the input gradient in one pass. It selects exactly as ATen does
(the first element greater than the running maximum, which starts at ``-inf``; any NaN wins), so the
pooled values and the gradients equal :func:`torch.nn.functional.max_pool2d`'s bit for bit
(``tests/test_pool.py``): stored runs and their numbers do not change.

:func:`max_pool2x2` serves CPU float32/float64 tensors of at least three dimensions when the C++
extension is available (``AVSNN_FUSED_CPP=0`` disables it, ``AVSNN_POOL_CPP=0`` only this kernel) and
:func:`aten_pool` has not switched it off (the benchmark's "before"); anything else goes to ATen.
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from ...device import env_switch
from . import cpp

__all__ = ["max_pool2x2", "kernel_serves", "aten_pool"]

_switched_off: list = []  # non-empty inside aten_pool()


def kernel_serves(x: torch.Tensor) -> bool:
    """Whether :func:`max_pool2x2` runs ``x`` on the C++ kernel (else on ATen's ``max_pool2d``)."""
    return (
        not _switched_off
        and x.device.type == "cpu"
        and x.dtype in (torch.float32, torch.float64)
        and x.dim() >= 3
        and x.shape[-1] >= 2
        and x.shape[-2] >= 2
        and env_switch("AVSNN_POOL_CPP")
        and cpp.cpu_kernel() is not None
    )


@contextlib.contextmanager
def aten_pool():
    """Within the block, :func:`max_pool2x2` runs on ATen's ``max_pool2d`` (the benchmark's "before")."""
    _switched_off.append(True)
    try:
        yield
    finally:
        _switched_off.pop()


class _MaxPool2x2(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        planes = x.reshape(-1, *x.shape[-2:]).contiguous()
        out, winners = cpp.cpu_kernel().max_pool2x2_forward(planes)
        ctx.save_for_backward(winners)
        ctx.in_shape = x.shape
        return out.reshape(*x.shape[:-2], *out.shape[-2:])

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        (winners,) = ctx.saved_tensors
        h, w = ctx.in_shape[-2:]
        gi = cpp.cpu_kernel().max_pool2x2_backward(g.reshape(-1, *g.shape[-2:]), winners, h, w)
        return gi.reshape(ctx.in_shape)


def max_pool2x2(x: torch.Tensor) -> torch.Tensor:
    """``F.max_pool2d(x, 2)`` (kernel 2, stride 2, floor mode) over the last two dimensions of ``x``.

    The same values and gradients, bit for bit; on the C++ kernel where :func:`kernel_serves` says so.
    """
    if kernel_serves(x):
        return _MaxPool2x2.apply(x)
    return F.max_pool2d(x, 2)
