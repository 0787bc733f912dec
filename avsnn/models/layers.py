"""Small multi-step building blocks (SpikingJelly-style ``[T, B, ...]`` tensors).

Stateless layers (convolution, batch norm, pooling, linear, dropout) have no memory
across timesteps, so they run on all ``T*B`` samples at once; only the LIF neurons
scan over ``T``. :class:`SeqToANN` does the flatten / unflatten around them.
"""
from __future__ import annotations

import torch
from torch import nn

from ..core.lif import LIF
from ..core import surrogate as sg


class SeqToANN(nn.Sequential):
    """Apply stateless ``modules`` to a ``[T, B, ...]`` tensor as one ``[T*B, ...]`` batch.

    Batch norm inside therefore normalises over time and batch together (the tdBN
    convention). ``nn.Dropout`` draws an independent mask per timestep.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() < 3:
            raise ValueError(f"SeqToANN expects a [T, B, ...] tensor, got shape {tuple(x.shape)}")
        steps, batch = x.shape[:2]
        y = super().forward(x.flatten(0, 1))
        return y.unflatten(0, (steps, batch))

    def forward_static(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the modules to a time-free ``[B, ...]`` tensor (the direct-encoding shortcut)."""
        return super().forward(x)


def repeat_over_time(x: torch.Tensor, timesteps: int) -> torch.Tensor:
    """Direct input encoding: the static ``[B, ...]`` tensor is the input current at every step.

    Returns a ``[T, B, ...]`` broadcast view (no copy).
    """
    return x.unsqueeze(0).expand(timesteps, *x.shape)


def make_lif(beta: float, threshold: float, surrogate: sg.Surrogate | None) -> LIF:
    """One LIF layer with the network's shared neuron settings."""
    return LIF(beta=beta, threshold=threshold, surrogate=surrogate)


def check_timesteps(timesteps: int) -> int:
    if not isinstance(timesteps, int) or timesteps < 1:
        raise ValueError(f"timesteps must be a positive int, got {timesteps!r}")
    return timesteps
