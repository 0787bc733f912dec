"""The ANN twin: a spiking network with every LIF layer replaced by ``nn.ReLU`` (the yardstick for spiking).

The twin keeps every other layer, every shape and the initialisation of the spiking network; only
the neurons change. With ``neuron="relu"`` the training engine builds it through :func:`ann_twin`
and trains it with cross-entropy on the head's logits (its ``current``: the cosine logits of
Eq. 13 for the L2 head, the linear output for the fc head), so the SNN and its twin differ only
in the neuron model and the loss that goes with it.
"""

from __future__ import annotations

import copy
from typing import Callable

from torch import nn

from ..core.lif import LIF
from .layers import MaxPool2x2


def replace_lifs(model: nn.Module, make: Callable[[LIF], nn.Module]) -> nn.Module:
    """Replace, in place, every :class:`LIF` submodule of ``model`` by ``make(lif)``; returns ``model``."""
    for name, child in list(model.named_children()):
        if isinstance(child, LIF):
            setattr(model, name, make(child))
        else:
            replace_lifs(child, make)
    return model


def ann_twin(model: nn.Module, copy_model: bool = True) -> nn.Module:
    """``model`` (a deep copy unless ``copy_model=False``) with every :class:`LIF` replaced by ``nn.ReLU``.

    Its max-pools are differentiated as max-pools (a pool over spikes may be set to their OR, ``pool_grad``).
    """
    twin = replace_lifs(copy.deepcopy(model) if copy_model else model, lambda lif: nn.ReLU())
    for module in twin.modules():
        if isinstance(module, MaxPool2x2):
            module.grad = "max"
    return twin
