"""Training-time augmentation of the audio input (issue #30, round 10; the paper states none).

:func:`time_shift`: each training clip's log-mel spectrogram rolled along its frames by an offset of its
own, so that the network, whose flattened feature ties every frame position to a weight (Fig. 4), sees
each sound at several positions. A roll moves frames and keeps every band's values, so the clip's band
statistics (the second and third input channels of ``spectrogram_norm="clip_stats"``) are unchanged.
"""

from __future__ import annotations

import math
from typing import Optional

import torch

#: the largest offset :func:`time_shift` allows, as a share of the clip's frames (half: any roll is within it)
TIME_SHIFT_MAX = 0.5


def time_shift(x: torch.Tensor, share: float, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    r"""Each clip of ``x [B, C, n_mels, n_frames]`` rolled in time by its own offset, uniform in ``[-s, s]``.

    .. math::

        x'_b[\ldots, f] = x_b[\ldots, (f - o_b) \bmod F], \qquad
        o_b \sim \mathcal{U}\{-s, \ldots, s\}, \quad s = \lfloor \mathrm{share} \cdot F \rfloor

    The offsets are drawn on the CPU (from ``generator``, else torch's global generator), so a seeded run
    draws the same offsets on any device. ``share`` 0 returns ``x`` itself.
    """
    if not 0.0 <= share <= TIME_SHIFT_MAX:
        raise ValueError(f"time_shift share must lie in [0, {TIME_SHIFT_MAX}], got {share!r}")
    if x.dim() != 4:
        raise ValueError(f"time_shift expects x shaped [B, C, n_mels, n_frames], got shape {tuple(x.shape)}")
    frames = x.shape[-1]
    s = math.floor(share * frames)
    if s == 0:
        return x
    offsets = torch.randint(-s, s + 1, (x.shape[0], 1, 1, 1), generator=generator)
    index = (torch.arange(frames).view(1, 1, 1, frames) - offsets) % frames
    return x.gather(-1, index.to(x.device).expand_as(x))
