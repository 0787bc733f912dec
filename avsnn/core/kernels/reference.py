"""The reference LIF scan: a readable loop over ``T``, one autograd node per step (Eqs. 1, 17).

Every fused backend is tested against it; :func:`avsnn.core.kernels.lif_fused` also uses it for
per-neuron (tensor) beta or threshold, which the fused backends do not take.
"""

from __future__ import annotations

import torch

from ..surrogate import Surrogate


def lif_loop(
    current: torch.Tensor,
    beta: float | torch.Tensor,
    threshold: float | torch.Tensor,
    reset: str,
    spike_fn: Surrogate,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Reference scan over ``T`` (autograd records every step). Returns ``(spikes, membrane)``."""
    mem = torch.zeros_like(current[0])
    spk = torch.zeros_like(current[0])
    spikes, mems = [], []
    for x in current:
        prev = spk.detach()
        if reset == "zero":
            mem = beta * (1 - prev) * mem + x
        else:
            mem = beta * mem + x
            if reset == "subtract":
                mem = mem - threshold * prev
        spk = spike_fn(mem - threshold)
        spikes.append(spk)
        mems.append(mem)
    return torch.stack(spikes), torch.stack(mems)
