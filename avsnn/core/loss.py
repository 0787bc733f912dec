"""MSE spike-count loss (paper Eqs. 14-16).

* Eq. 14  ``S_i = sum_t s_{i,t}``                        spike count per class
* Eq. 15  target ``C_i = T * r_correct`` for the label, ``T * r_incorrect`` otherwise
* Eq. 16  ``L = 1/B sum_b 1/N sum_j (S_bj - C_bj)^2``

``truncate=True`` reproduces ``snntorch.functional.mse_count_loss`` exactly, which
differs from Eq. 15/16 in two ways: targets are truncated to integers,
``int(T * r)``, and the mean squared error is divided by ``T``. At T=8 with the
paper's rates 0.90/0.10 the targets become 7 and 0 spikes instead of 7.2 and 0.8:
the incorrect classes are pushed to silence rather than to 0.8 spikes.
"""

from __future__ import annotations

import torch

#: what a spiking network is trained on: ``"count"`` Eqs. 14-16 on its output spikes (the paper's loss);
#: ``"cosine_ce"`` cross-entropy on the L2 head's scaled cosine logits (Eq. 13), the ANN twin's loss
#: (:func:`avsnn.train.fit.loss_of`); ``"count+cosine_ce"`` the two added
LOSSES = ("count", "cosine_ce", "count+cosine_ce")


def _check_rate(name: str, value: float) -> None:
    if not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{name} must be a firing rate in [0, 1], got {value}")


def count_targets(
    labels: torch.Tensor, num_classes: int, T: int, correct_rate: float, incorrect_rate: float, truncate: bool = False
) -> torch.Tensor:
    """Eq. 15: the target spike-count matrix ``[B, C]``."""
    on, off = T * correct_rate, T * incorrect_rate
    if truncate:
        on, off = float(int(on)), float(int(off))
    target = torch.full((labels.shape[0], num_classes), off, dtype=torch.float32, device=labels.device)
    target[torch.arange(labels.shape[0], device=labels.device), labels] = on
    return target


def mse_count_loss(
    spikes: torch.Tensor, labels: torch.Tensor, correct_rate: float, incorrect_rate: float, truncate: bool = False
) -> torch.Tensor:
    """Eqs. 14-16 on output spikes ``[T, B, C]`` and integer labels ``[B]``."""
    if spikes.dim() != 3:
        raise ValueError(f"spikes must be shaped [T, B, C], got shape {tuple(spikes.shape)}")
    T, B, C = spikes.shape
    if labels.dim() != 1 or labels.shape[0] != B:
        raise ValueError(f"labels must be shaped [B]=[{B}], got shape {tuple(labels.shape)}")
    if labels.dtype.is_floating_point or labels.dtype == torch.bool:
        raise ValueError(f"labels must be integer class indices, got dtype {labels.dtype}")
    if B and (labels.min() < 0 or labels.max() >= C):
        raise ValueError(f"labels must lie in [0, {C - 1}], got range [{int(labels.min())}, {int(labels.max())}]")
    _check_rate("correct_rate", correct_rate)
    _check_rate("incorrect_rate", incorrect_rate)
    counts = spikes.sum(dim=0)  # Eq. 14
    target = count_targets(labels, C, T, correct_rate, incorrect_rate, truncate).to(counts.dtype)
    loss = ((counts - target) ** 2).mean()  # Eq. 16
    return loss / T if truncate else loss
