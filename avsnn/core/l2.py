"""The L2-normalised classification layer (paper Section IV-B, Eqs. 10-13).

Given per-timestep features ``Z = [z_1 .. z_T]`` of the last hidden layer:

* Eq. 10  ``z_av = (1/T) sum_t z_t``                 (time average)
* Eq. 11  ``z = z_av / ||z_av||_2``                  (feature on the unit hypersphere)
* Eq. 12  ``w_j = w_j / ||w_j||_2``                  (each class weight normalised)
* Eq. 13  ``L_ij = z_i . w_j``                        (cosine logits in [-1, 1])

The logits then drive the output LIF layer at every timestep (see
:class:`avsnn.models.heads.SpikingHead`). A zero feature vector (a silent layer)
gives zero logits instead of NaN: norms are clamped below by ``eps``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def time_average(features: torch.Tensor) -> torch.Tensor:
    """Eq. 10: average ``[T, B, d]`` features over time -> ``[B, d]``."""
    if features.dim() != 3:
        raise ValueError(f"features must be shaped [T, B, d], got shape {tuple(features.shape)}")
    return features.mean(dim=0)


def cosine_logits(z_av: torch.Tensor, weight: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Eqs. 11-13: cosine similarity between each feature ``[B, d]`` and each class weight ``[C, d]``."""
    return F.normalize(z_av, dim=1, eps=eps) @ F.normalize(weight, dim=1, eps=eps).t()


class L2Classifier(nn.Module):
    """Cosine classifier on time-averaged spiking features (Eqs. 10-13).

    ``forward(features [T, B, d]) -> logits [B, C]``; with ``return_features=True``
    it returns ``(logits, z_av)`` where ``z_av`` is the Eq. 10 average used by the
    feature-discrimination figures. The layer has no bias: Eq. 13 is a pure cosine.
    """

    def __init__(self, in_features: int, num_classes: int, eps: float = 1e-12):
        super().__init__()
        if in_features < 1 or num_classes < 2:
            raise ValueError(
                f"L2Classifier needs in_features >= 1 and num_classes >= 2, got {in_features}, {num_classes}"
            )
        self.in_features, self.num_classes, self.eps = in_features, num_classes, eps
        self.weight = nn.Parameter(torch.empty(num_classes, in_features))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))

    def extra_repr(self) -> str:
        """The layer sizes shown by ``repr``."""
        return f"in_features={self.in_features}, num_classes={self.num_classes}"

    def forward(self, features: torch.Tensor, return_features: bool = False):
        """Eqs. 10-13: ``features [T, B, d] -> logits [B, C]``, or ``(logits, z_av)`` with ``return_features=True``."""
        if features.dim() != 3 or features.shape[-1] != self.in_features:
            raise ValueError(
                f"L2Classifier expects features [T, B, {self.in_features}], got shape {tuple(features.shape)}"
            )
        z_av = time_average(features)
        logits = cosine_logits(z_av, self.weight, self.eps)
        return (logits, z_av) if return_features else logits
