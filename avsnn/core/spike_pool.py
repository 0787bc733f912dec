r"""Max-pooling spikes with a surrogate gradient: the 2x2 max of binary spikes is their logical OR.

The audio network pools spikes (Conv-BN-LIF-Pool, Section V-E). Over spikes ``s_1..s_4 \in \{0, 1\}`` a
2x2 window's max is their OR, and the gradient of ``max`` picks one input: ``F.max_pool2d`` sends the
whole output gradient to the first of the window's maxima. Among spikes nearly every window is a tie
(all silent, or several firing), so that choice is the window's top-left neuron, or its first spiking
one, whatever the membranes say; the other three receive nothing. A ReLU network has no such ties.

:func:`spike_max_pool2x2` keeps the forward value (``max``, bit for bit) and replaces the backward by the
derivative of the OR's multilinear extension, ``1 - \prod_j (1 - s_j)``:

.. math::

    \frac{\partial}{\partial s_i}\Bigl(1 - \prod_{j} (1 - s_j)\Bigr) = \prod_{j \ne i} (1 - s_j),

so a silent window passes its gradient to all four neurons (each of them firing would turn the output
on), a window with one spike to that neuron only (silencing it would turn the output off), and a window
with two or more spikes to none (no single neuron changes its output). On binary inputs it is the exact
finite difference of the OR in each input. The paper does not say how its spiking max-pools are
differentiated; this is a choice of the training recipe (``pool_grad="or"``), not of the architecture.
"""

from __future__ import annotations

import torch

from .kernels.pool import max_pool2x2

__all__ = ["POOL_GRADS", "spike_max_pool2x2"]

#: how a 2x2 max-pool over spikes is differentiated: ``"max"`` as ``F.max_pool2d`` (one input of each window),
#: ``"or"`` as the OR of its spikes (:func:`spike_max_pool2x2`)
POOL_GRADS = ("max", "or")


def _or_gradient(s: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """``d OR / d s_i = prod_{j != i} (1 - s_j)`` times ``g``, for ``s [N, H, W]`` and ``g [N, H // 2, W // 2]``."""
    n, h, w = s.shape
    h2, w2 = h // 2, w // 2
    q = (1 - s[:, : 2 * h2, : 2 * w2]).reshape(n, h2, 2, w2, 2).permute(0, 1, 3, 2, 4).reshape(n, h2, w2, 4)
    a, b, c, d = q.unbind(-1)
    ab, cd = a * b, c * d
    others = torch.stack((b * cd, a * cd, d * ab, c * ab), dim=-1)  # the product over the other three
    grad = (others * g.unsqueeze(-1)).reshape(n, h2, w2, 2, 2).permute(0, 1, 3, 2, 4).reshape(n, 2 * h2, 2 * w2)
    if (2 * h2, 2 * w2) == (h, w):
        return grad
    full = s.new_zeros(s.shape)  # floor mode: an odd last row or column is not pooled
    full[:, : 2 * h2, : 2 * w2] = grad
    return full


class _SpikeMaxPool2x2(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        with torch.no_grad():
            out = max_pool2x2(x)
        ctx.save_for_backward(x)
        return out

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        s = x.reshape(-1, *x.shape[-2:])
        return _or_gradient(s, g.reshape(-1, *g.shape[-2:])).reshape(x.shape)


def spike_max_pool2x2(x: torch.Tensor) -> torch.Tensor:
    """``F.max_pool2d(x, 2)`` over the last two dimensions of spikes ``x``, differentiated as their OR (see above).

    Meant for binary ``x`` (a LIF layer's spikes); on other values the backward is the multilinear formula.
    """
    if x.dim() < 3 or x.shape[-1] < 2 or x.shape[-2] < 2:
        raise ValueError(f"spike_max_pool2x2 expects [..., H, W] with H, W >= 2 and 3+ dims, got {tuple(x.shape)}")
    return _SpikeMaxPool2x2.apply(x)
