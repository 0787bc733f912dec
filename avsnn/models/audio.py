"""The spiking audio feature network (Section IV-D, Fig. 4; ablations of Section V-E, Table III).

Input: a log-mel spectrogram ``[B, 1, n_mels, n_frames]`` (64 mel bins, f_max 8 kHz,
power-to-dB), the input current at every timestep (direct encoding). Layout::

    block1..3:  conv3x3 (pad 1) -> BN -> LIF -> MaxPool2d(2)      ("Conv-BN-LIF-Pool", Sec. V-E)
    dropout:    Dropout(p)                                        (the "last dropout layer")
    flatten:    [T, B, C*H*W] per-timestep feature
    head:       SpikingHead ("l2": L2 layer + output LIF, as Fig. 4)

The first block's conv+BN is stateless and its input identical at every step, so it is
computed once on ``[B, ...]`` and broadcast over T: exact (same outputs, same BN statistics).
Max-pooling spikes gives spikes, so the flattened feature is binary per step (before dropout).

Variants (``variant=``):
``"full"`` the paper's network; ``"no_dropout"`` drops the last dropout layer;
``"no_third_block"`` keeps only blocks 1-2 (feature ``channels[1] * n_mels/4 * n_frames/4``);
``"no_pooling"`` removes all three max-pools, so the feature is about 64x larger
(``channels[2] * n_mels * n_frames``: 516,096-d for the defaults, which the head's weight must match).

Sizes: each 2x2 pool floors odd sizes. The paper's fused audio feature is 27136-d; with
three pools ``64 ch x 8 mel x 53 frames = 27136`` needs 64 mel bins (given) and
424..431 frames (n_fft/hop/sample rate are not given), see :data:`PAPER_AUDIO_CONFIG`.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ..core import surrogate as sg
from .heads import SpikingHead, check_head
from .layers import (
    BandNorm,
    BatchNorm2d,
    InputNorm,
    MaxPool2x2,
    NeuronFactory,
    SeqToANN,
    check_timesteps,
    neuron_factory,
    repeat_over_time,
)
from .output import ModelOutput

AUDIO_VARIANTS = ("full", "no_dropout", "no_third_block", "no_pooling")
#: how ``input_norm`` normalises spectrograms: per mel band with training statistics; that and then each
#: clip's bands over their own variation in time (:class:`~avsnn.models.layers.BandNorm`); and that with the
#: clip's band means and spreads as two more input channels (``BandNorm(stats=True)``)
SPECTROGRAM_NORMS = ("dataset", "clip", "clip_stats")

#: The configuration that reproduces the paper's 27136-d audio feature (Section IV-D):
#: 64 mel bins -> 8 after three 2x pools; 424 frames -> 212 -> 106 -> 53; 64 channels at
#: the end: 64 * 8 * 53 = 27136. The paper gives only the product (and 64 mel bins); 64 final
#: channels is the power-of-two factor that leaves a whole frame count (27136 / (64*8) = 53).
#: Any n_frames in 424..431 floors to 53. Earlier channels (16, 32) keep the doubling pattern
#: of the class default -- the paper gives no counts, and they do not change the feature size.
PAPER_AUDIO_CONFIG = dict(n_mels=64, n_frames=424, channels=(16, 32, 64))


class ConvBNLIFPool(nn.Module):
    """One Conv-BN-LIF-Pool block: conv3x3 (pad 1) -> BN -> LIF -> MaxPool2d(2) (or no pool).

    The pool is :class:`~avsnn.models.layers.MaxPool2x2`: ``nn.MaxPool2d(2)``, on CPU on a faster kernel.
    """

    def __init__(self, in_channels: int, out_channels: int, pool: bool, neuron: NeuronFactory, pool_grad: str = "max"):
        super().__init__()
        self.conv_bn = SeqToANN(
            nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False), BatchNorm2d(out_channels)
        )
        self.lif = neuron()
        self.pool = SeqToANN(MaxPool2x2(pool_grad)) if pool else nn.Identity()

    def forward(self, x: torch.Tensor, timesteps: int | None = None) -> torch.Tensor:
        """Block output for ``x [T, B, C, H, W]``, or for a static ``[B, C, H, W]`` with ``timesteps``.

        The static input is direct encoding: conv+BN once, then broadcast over T.
        """
        if timesteps is None:
            current = self.conv_bn(x)
        else:
            current = repeat_over_time(self.conv_bn.forward_static(x), timesteps)
        return self.pool(self.lif(current))


class SpikingAudioNet(nn.Module):
    """Spiking audio network (Fig. 4): ``forward(x [B, 1, n_mels, n_frames]) -> ModelOutput``.

    Every spiking layer, the head's output layer included, is made by ``neuron`` (default: a LIF with
    ``beta``, ``threshold``, ``surrogate``, see :func:`~avsnn.models.layers.neuron_factory`). Surrogate
    default: ``fast_sigmoid(5)``. ``head_threshold`` gives the default output LIF its own threshold: its
    current is a cosine in ``[-1, 1]`` (Eq. 13), so the threshold sets which cosine a target rate needs.
    With ``input_norm``, ``spectrogram_norm`` (one of :data:`SPECTROGRAM_NORMS`) says how the log-mel
    input is standardised: per mel band with training statistics, then (``"clip"``) each clip's bands over
    their own variation in time, and (``"clip_stats"``) with the clip's band statistics as two more channels
    of the first convolution's input. ``pool_grad`` (:data:`~avsnn.core.spike_pool.POOL_GRADS`) says how the
    max-pools over spikes are differentiated: ``"max"`` as ``F.max_pool2d``, ``"or"`` as the OR of the spikes.
    """

    def __init__(
        self,
        num_classes: int = 10,
        n_mels: int = 64,
        n_frames: int = 126,
        channels: Sequence[int] = (16, 32, 64),
        timesteps: int = 4,
        head: str = "l2",
        variant: str = "full",
        dropout: float = 0.5,
        beta: float = 0.9,
        threshold: float = 1.0,
        surrogate: sg.Surrogate | None = None,
        input_norm: bool = False,
        neuron: NeuronFactory | None = None,
        spectrogram_norm: str = "dataset",
        head_threshold: float | None = None,
        pool_grad: str = "max",
    ):
        super().__init__()
        if variant not in AUDIO_VARIANTS:
            raise ValueError(f"variant must be one of {AUDIO_VARIANTS}, got {variant!r}")
        check_head(head)
        channels = tuple(int(c) for c in channels)
        if len(channels) != 3 or min(channels) < 1:
            raise ValueError(f"channels must be three positive ints (one per block), got {channels}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {dropout}")
        self.timesteps = check_timesteps(timesteps)
        self.n_mels, self.n_frames, self.channels, self.variant = n_mels, n_frames, channels, variant
        surrogate = sg.fast_sigmoid(5.0) if surrogate is None else surrogate
        given, neuron = neuron, neuron_factory(neuron, beta, threshold, surrogate)
        # the output layer's threshold: its own where given (a caller's neuron factory, if any, is used as it is)
        head_neuron = neuron if head_threshold is None else neuron_factory(given, beta, head_threshold, surrogate)

        if spectrogram_norm not in SPECTROGRAM_NORMS:
            raise ValueError(f"spectrogram_norm must be one of {SPECTROGRAM_NORMS}, got {spectrogram_norm!r}")
        # input normalisation per mel band: training statistics (set by .fit), then ("clip") each clip's own scale
        if not input_norm:
            self.input_norm = nn.Identity()
        elif spectrogram_norm in ("clip", "clip_stats"):
            self.input_norm = BandNorm(n_mels, stats=spectrogram_norm == "clip_stats")
        else:
            self.input_norm = InputNorm((1, n_mels, 1), dims=(1,))
        pool = variant != "no_pooling"
        used = channels[:2] if variant == "no_third_block" else channels
        blocks, in_ch, (h, w) = [], getattr(self.input_norm, "out_channels", 1), (n_mels, n_frames)
        for out_ch in used:
            blocks.append(ConvBNLIFPool(in_ch, out_ch, pool, neuron, pool_grad))
            in_ch = out_ch
            if pool:
                h, w = h // 2, w // 2
        if h < 1 or w < 1:
            raise ValueError(
                f"n_mels={n_mels} and n_frames={n_frames} must be >= {2 ** len(used)} "
                f"to survive {len(used)} 2x2 max-pools"
            )
        self.blocks = nn.ModuleList(blocks)
        self.dropout = SeqToANN(nn.Dropout(dropout)) if variant != "no_dropout" else nn.Identity()
        self._feature_dim = in_ch * h * w
        self.head = SpikingHead(self._feature_dim, num_classes, head, beta, threshold, surrogate, neuron=head_neuron)

    @property
    def feature_dim(self) -> int:
        """Size of the flattened per-step feature (the vector fusion consumes)."""
        return self._feature_dim

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Log-mel ``[B, 1, n_mels, n_frames]`` -> flattened features ``[T, B, feature_dim]``."""
        expected = (1, self.n_mels, self.n_frames)
        if x.dim() != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(
                f"SpikingAudioNet expects x shaped [B, 1, {self.n_mels}, {self.n_frames}] "
                f"(1 channel, n_mels, n_frames), got shape {tuple(x.shape)}"
            )
        out = self.blocks[0](self.input_norm(x), timesteps=self.timesteps)
        for block in self.blocks[1:]:
            out = block(out)
        out = self.dropout(out)
        return out.flatten(2)

    def forward(self, x: torch.Tensor) -> ModelOutput:
        """Log-mel ``[B, 1, n_mels, n_frames]`` -> the head's ``ModelOutput``."""
        return self.head(self.forward_features(x))
