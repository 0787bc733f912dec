"""Multi-step leaky integrate-and-fire layer (paper Eqs. 1, 2 and 17).

Dynamics, for ``t = 1..T`` with ``V[0] = 0`` and ``S[0] = 0``::

    V[t] = beta * V[t-1] + I[t] - reset term        (Eq. 1)
    S[t] = H(V[t] - V_th)    i.e. fires when V >= V_th   (Eq. 17)

Reset term, driven by the *previous* step's spike (detached from the graph, as
in snnTorch's ``Leaky`` with its default ``reset_delay=True``):

* ``"subtract"``: ``- V_th * S[t-1]``                 (snnTorch default)
* ``"zero"``:     ``V[t] = beta * (1 - S[t-1]) * V[t-1] + I[t]``
* ``"none"``:     no reset: the non-resetting membrane used by Lemma 2 (Eq. 8)

The returned membrane is the value compared with the threshold (before the next
step's reset), which is what ``snntorch.Leaky`` returns.

**Tie rule.** The paper's Eq. 2 writes ``V > V_th`` and Eq. 17 ``V >= V_th``; we
follow Eq. 17 (``>=``). snnTorch uses ``>``. The two differ only when ``V`` equals
the threshold exactly, which has probability zero for real-valued inputs.

**Multi-step.** Input currents are ``[T, B, ...]``; stateless layers before the
neuron run on all ``T*B`` samples at once and only this layer scans over ``T``.
The state lives inside the call (no hidden ``mem`` attribute), so identical calls
give identical results and nested models need no reset.

Two interchangeable implementations compute the same function:
``impl="loop"`` is the readable reference (one autograd node per step);
``impl="fused"`` runs the whole scan as one autograd node with a hand-written
backward (:mod:`avsnn.core.fused`). ``impl="auto"`` (default) picks the fused one.
"""
from __future__ import annotations

from typing import Union

import torch
from torch import nn

from . import surrogate as sg

RESETS = ("subtract", "zero", "none")
IMPLS = ("auto", "loop", "fused")


def lif_loop(
    current: torch.Tensor,
    beta: Union[float, torch.Tensor],
    threshold: Union[float, torch.Tensor],
    reset: str,
    spike_fn: sg.Surrogate,
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


def _check_unit_interval(name: str, value: float) -> None:
    if not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"LIF {name} must lie in [0, 1] (Eq. 1: beta is a decay rate), got {value}")


class LIF(nn.Module):
    """Multi-step LIF layer: currents ``[T, B, ...]`` -> spikes ``[T, B, ...]``.

    Parameters
    ----------
    beta : membrane decay rate in ``[0, 1]`` (Eq. 1).
    threshold : firing threshold ``V_th > 0`` (Eq. 17).
    reset : ``"subtract"`` (default), ``"zero"`` or ``"none"``.
    surrogate : a :class:`avsnn.surrogate.Surrogate` (default ``atan(alpha=2)``).
    learn_beta, learn_threshold : make beta / threshold trainable scalars.
        A learnt beta is clamped to ``[0, 1]`` in the forward pass, as in snnTorch.
    impl : ``"auto"``/``"fused"`` (one autograd node) or ``"loop"`` (reference).
    """

    def __init__(
        self,
        beta: float = 0.9,
        threshold: float = 1.0,
        reset: str = "subtract",
        surrogate: sg.Surrogate | None = None,
        learn_beta: bool = False,
        learn_threshold: bool = False,
        impl: str = "auto",
    ):
        super().__init__()
        _check_unit_interval("beta", beta)
        if not float(threshold) > 0:
            raise ValueError(f"LIF threshold must be > 0, got {threshold}")
        if reset not in RESETS:
            raise ValueError(f"LIF reset must be one of {RESETS}, got {reset!r}")
        if impl not in IMPLS:
            raise ValueError(f"LIF impl must be one of {IMPLS}, got {impl!r}")
        surrogate = sg.atan() if surrogate is None else surrogate
        if not isinstance(surrogate, sg.Surrogate):
            raise TypeError(f"LIF surrogate must be an avsnn.surrogate.Surrogate, got {type(surrogate).__name__}")
        self.reset, self.surrogate, self.impl = reset, surrogate, impl
        beta_t = torch.tensor(float(beta))
        thr_t = torch.tensor(float(threshold))
        if learn_beta:
            self.beta = nn.Parameter(beta_t)
        else:
            self.register_buffer("beta", beta_t)
        if learn_threshold:
            self.threshold = nn.Parameter(thr_t)
        else:
            self.register_buffer("threshold", thr_t)

    def extra_repr(self) -> str:
        return (f"beta={float(self.beta):.3g}, threshold={float(self.threshold):.3g}, "
                f"reset={self.reset!r}, surrogate={self.surrogate.name}")

    def forward(self, current: torch.Tensor, return_mem: bool = False):
        if current.dim() < 2:
            raise ValueError(
                f"LIF expects input current shaped [T, B, ...] (time first), got shape {tuple(current.shape)}")
        beta = self.beta.clamp(0, 1)
        threshold = self.threshold
        if self.impl == "loop":
            spikes, mem = lif_loop(current, beta, threshold, self.reset, self.surrogate)
        else:
            from .fused import lif_fused
            spikes, mem = lif_fused(current, beta, threshold, self.reset, self.surrogate)
        return (spikes, mem) if return_mem else spikes
