"""The output contract shared by every network in :mod:`avsnn.models`.

The training engine relies on these four fields and their shapes; keep them exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class ModelOutput:
    """What a spiking network returns (all tensors time-first).

    spikes : ``[T, B, C]`` class spikes of the output LIF layer (their count over T is
        the prediction, Eq. 14).
    features : ``[T, B, d]`` per-timestep features of the last hidden layer (the head's input).
    z_av : ``[B, d]`` their time average (Eq. 10): the feature the paper plots and fuses.
    current : ``[T, B, C]`` input current of the output LIF (``"l2"`` head: the cosine logits
        of Eq. 13 repeated over T; ``"fc"`` head: the per-step linear output).
    """

    spikes: torch.Tensor
    features: torch.Tensor
    z_av: torch.Tensor
    current: torch.Tensor
