"""Small multi-step building blocks (SpikingJelly-style ``[T, B, ...]`` tensors).

Stateless layers (convolution, batch norm, pooling, linear, dropout) have no memory
across timesteps, so they run on all ``T*B`` samples at once; only the LIF neurons
scan over ``T``. :class:`SeqToANN` does the flatten / unflatten around them.
"""

from __future__ import annotations

from functools import partial
from typing import Callable

import torch
from torch import nn

from ..core import surrogate as sg
from ..core.kernels.norm import batch_norm_train
from ..core.kernels.pool import max_pool2x2
from ..core.lif import LIF
from ..core.spike_pool import POOL_GRADS, spike_max_pool2x2


class SeqToANN(nn.Sequential):
    """Apply stateless ``modules`` to a ``[T, B, ...]`` tensor as one ``[T*B, ...]`` batch.

    Any layer without state across timesteps goes inside: convolutions, batch norm, pooling,
    linear layers, dropout. Each then runs once on all ``T`` steps as if they were more samples;
    a spiking layer, whose membrane carries over from step to step, stays outside. The name is
    SpikingJelly's (``SeqToANNContainer``): the sequence goes to ANN layers.

    Batch norm inside therefore normalises over time and batch together (the tdBN
    convention). ``nn.Dropout`` draws an independent mask per timestep.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the modules to ``x [T, B, ...]`` as one ``[T*B, ...]`` batch."""
        if x.dim() < 3:
            raise ValueError(f"SeqToANN expects a [T, B, ...] tensor, got shape {tuple(x.shape)}")
        steps, batch = x.shape[:2]
        y = super().forward(x.flatten(0, 1))
        return y.unflatten(0, (steps, batch))

    def forward_static(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the modules to a time-free ``[B, ...]`` tensor (the direct-encoding shortcut)."""
        return super().forward(x)


class MaxPool2x2(nn.MaxPool2d):
    """``nn.MaxPool2d(2)`` computed by :func:`avsnn.core.kernels.pool.max_pool2x2`: the same values and gradients.

    On CPU a one-pass C++ kernel instead of ATen's (several times faster on the audio network's spike
    maps); no parameters or buffers, so a state dict does not see the difference. With ``grad="or"`` (one of
    :data:`~avsnn.core.spike_pool.POOL_GRADS`) the same values, differentiated as the OR of spikes
    (:func:`~avsnn.core.spike_pool.spike_max_pool2x2`); the ANN twin sets it back to ``"max"``.
    """

    def __init__(self, grad: str = "max"):
        super().__init__(2)
        if grad not in POOL_GRADS:
            raise ValueError(f"pool_grad must be one of {POOL_GRADS}, got {grad!r}")
        self.grad = grad

    def extra_repr(self) -> str:
        """``nn.MaxPool2d``'s, and the gradient where it is not max-pooling's own."""
        return super().extra_repr() + ("" if self.grad == "max" else f", grad={self.grad}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Max over each 2x2 window of the last two dimensions (stride 2, floor mode)."""
        return spike_max_pool2x2(x) if self.grad == "or" else max_pool2x2(x)


class BatchNorm2d(nn.BatchNorm2d):
    """``nn.BatchNorm2d`` whose training-mode statistics run on :func:`avsnn.core.kernels.norm.batch_norm_train`.

    The same outputs, gradients and running statistics, bit for bit; on CPU faster. The same name,
    parameters and buffers as ``nn.BatchNorm2d``, so state dicts and printouts do not change.
    ``momentum=None`` (a cumulative average) and eval mode run ``nn.BatchNorm2d`` itself.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Batch norm of ``x [N, C, H, W]``; in training, updates the running statistics as ``nn.BatchNorm2d``."""
        if not (self.training and self.track_running_stats and self.affine and self.momentum is not None):
            return super().forward(x)
        self._check_input_dim(x)
        self.num_batches_tracked.add_(1)
        return batch_norm_train(x, self.weight, self.bias, self.running_mean, self.running_var, self.momentum, self.eps)


class InputNorm(nn.Module):
    """``(x - mean) / std`` with statistics of the training data, stored as buffers (saved with the model).

    ``dims`` are the input dimensions (after the batch) that keep their own statistics, the rest are
    pooled: ``(0,)`` per image channel of ``[B, C, H, W]``, ``(1,)`` per mel band of ``[B, 1, n_mels, n_frames]``.
    Until :meth:`fit` is called it is the identity (mean 0, std 1).
    """

    def __init__(self, shape: tuple[int, ...], dims: tuple[int, ...]):
        super().__init__()
        stat_shape = [1] + [shape[d] if d in dims else 1 for d in range(len(shape))]
        self.dims = tuple(dims)
        self.register_buffer("mean", torch.zeros(stat_shape))
        self.register_buffer("std", torch.ones(stat_shape))

    def extra_repr(self) -> str:
        """The statistics' shape shown by ``repr``."""
        return f"stats over {tuple(self.mean.shape)}"

    @torch.no_grad()
    def fit(self, x: torch.Tensor, eps: float = 1e-6) -> "InputNorm":
        """Set mean/std from the (training) inputs ``x [N, ...]``; returns ``self``."""
        if x.dim() != self.mean.dim() or len(x) < 2:
            raise ValueError(
                f"InputNorm.fit expects at least 2 inputs shaped [N, ...{tuple(self.mean.shape[1:])}], "
                f"got shape {tuple(x.shape)}"
            )
        pooled = [0] + [d + 1 for d in range(x.dim() - 1) if d not in self.dims]
        x = x.double()
        self.mean.copy_(x.mean(pooled, keepdim=True))
        self.std.copy_(x.std(pooled, keepdim=True).clamp_min(eps))
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(x - mean) / std``."""
        return (x - self.mean) / self.std


class ImageNorm(nn.Module):
    """Each image standardised on its own: minus its per-channel mean, over its std (one per image, all channels).

    Removes what is constant over an image (its colour and brightness) and scales its contrast to 1, so the
    first spiking layer's current varies with the image's shapes; the channels keep their relative contrast.
    Nothing to fit: statistics of the image itself, the same at training and test time.
    """

    def __init__(self, eps: float = 1e-3):
        super().__init__()
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C, H, W]`` -> ``(x - mean over H, W) / std over C, H, W`` per image."""
        centred = x - x.mean((2, 3), keepdim=True)
        return centred / centred.pow(2).mean((1, 2, 3), keepdim=True).sqrt().clamp_min(self.eps)


class BandNorm(nn.Module):
    r"""Each mel band of each clip standardised over the clip's frames (cepstral mean and variance normalisation).

    The audio counterpart of :class:`ImageNorm`: minus the band's mean over the clip, over its standard
    deviation over the clip, measured in units of the band's training statistics (:class:`InputNorm`, set by
    :meth:`fit`) and floored at ``floor`` of them, so a band that hardly varies in a clip is scaled up at most
    ``1 / floor`` times. What the clip's loudness and background noise set in a band (its level, its spread)
    is divided out, and the first spiking layer's current follows the clip's events on the threshold's scale.

    With ``stats`` what was divided out comes back as two more channels, constant over the frames: each
    band's clip mean and the logarithm of its (floored) clip standard deviation, in the same units,

    .. math::

        x_{b,t} \mapsto \Bigl(\frac{z_{b,t} - \bar z_b}{\max(s_b, f)},\; \bar z_b,\; \log \max(s_b, f)\Bigr),

    so a steady sound, whose class lies in its band levels rather than in their changes, still reaches
    the network.
    """

    def __init__(self, n_mels: int, floor: float = 0.25, stats: bool = False):
        super().__init__()
        if not floor > 0:
            raise ValueError(f"BandNorm floor must be > 0, got {floor}")
        self.dataset, self.floor, self.stats = InputNorm((1, n_mels, 1), dims=(1,)), float(floor), bool(stats)

    @property
    def out_channels(self) -> int:
        """Channels of the output: 1, or 3 with ``stats``."""
        return 3 if self.stats else 1

    def extra_repr(self) -> str:
        """The floor (and ``stats``) shown by ``repr``."""
        return f"floor={self.floor:g}" + (", stats=True" if self.stats else "")

    def fit(self, x: torch.Tensor) -> "BandNorm":
        """Set the per-band training statistics from ``x [N, 1, n_mels, n_frames]``; returns ``self``."""
        self.dataset.fit(x)
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, 1, n_mels, n_frames]`` -> ``(z - mean_t z) / max(std_t z, floor)`` (with ``stats``: and 2 more)."""
        z = self.dataset(x)
        mean = z.mean(-1, keepdim=True)
        centred = z - mean
        scale = centred.std(-1, keepdim=True).clamp_min(self.floor)
        out = centred / scale
        if not self.stats:
            return out
        return torch.cat([out, mean.expand_as(z), scale.log().expand_as(z)], dim=1)


def repeat_over_time(x: torch.Tensor, timesteps: int) -> torch.Tensor:
    """Direct input encoding: the static ``[B, ...]`` tensor is the input current at every step.

    Returns a ``[T, B, ...]`` broadcast view (no copy).
    """
    return x.unsqueeze(0).expand(timesteps, *x.shape)


#: Makes one spiking layer per call: a fresh LIF-like module, ``[T, B, ...]`` currents in, spikes out.
NeuronFactory = Callable[[], nn.Module]


def make_lif(beta: float, threshold: float, surrogate: sg.Surrogate | None) -> LIF:
    """One LIF layer with the network's shared neuron settings."""
    return LIF(beta=beta, threshold=threshold, surrogate=surrogate)


def neuron_factory(
    neuron: NeuronFactory | None, beta: float, threshold: float, surrogate: sg.Surrogate | None
) -> NeuronFactory:
    """The factory a network builds its spiking layers with.

    Parameters
    ----------
    neuron : callable or None
        A factory given by the caller, returned as it is; ``None`` for the default.
    beta, threshold, surrogate
        The settings of the default, :func:`make_lif` bound to them (a ``functools.partial``, so picklable).

    Returns
    -------
    callable
        A zero-argument factory of LIF-like modules.
    """
    if neuron is None:
        return partial(make_lif, beta, threshold, surrogate)
    if not callable(neuron):
        raise ValueError(f"neuron must be a callable returning a LIF-like module, got {neuron!r}")
    return neuron


def check_timesteps(timesteps: int) -> int:
    """``timesteps`` when it is a positive int, else a ``ValueError``."""
    if not isinstance(timesteps, int) or timesteps < 1:
        raise ValueError(f"timesteps must be a positive int, got {timesteps!r}")
    return timesteps
