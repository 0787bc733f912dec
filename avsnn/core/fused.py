"""The LIF scan as one autograd node with a hand-written backward.

Forward (same equations as :func:`avsnn.core.lif.lif_loop`, see Eq. 1 and 17)::

    R[t] = S[t-1]                         (previous spike, detached)
    V[t] = beta * V[t-1] + I[t] - thr * R[t]          reset="subtract"
    V[t] = beta * (1 - R[t]) * V[t-1] + I[t]          reset="zero"
    V[t] = beta * V[t-1] + I[t]                       reset="none"
    S[t] = H(V[t] - thr)

Backward, with ``g[t] = surrogate'(V[t] - thr)`` and ``delta[t] = dL/dV[t]``::

    delta[t] = gV[t] + gS[t] * g[t] + delta[t+1] * dV[t+1]/dV[t]
    dV[t+1]/dV[t] = beta            (subtract, none)
                  = beta * (1-S[t]) (zero)
    dL/dI[t]  = delta[t]
    dL/dbeta  = sum_t delta[t] * V[t-1]           (* (1-R[t]) for zero)
    dL/dthr   = sum_t [-gS[t] * g[t]] - sum_t delta[t] * R[t]   (subtract)

Only the membrane ``V`` is saved (spikes are recomputed from it), so memory is
one ``[T, B, ...]`` tensor per layer instead of the several tensors per step the
autograd graph of the loop keeps.
"""
from __future__ import annotations

import torch

from .surrogate import Surrogate, heaviside


def _scan(current, beta, thr, reset):
    mem = torch.empty_like(current)
    spikes = torch.empty_like(current)
    v = torch.zeros_like(current[0])
    s = torch.zeros_like(current[0])
    for t in range(current.shape[0]):
        if reset == "zero":
            v = beta * (1 - s) * v + current[t]
        elif reset == "subtract":
            v = beta * v + current[t] - thr * s
        else:
            v = beta * v + current[t]
        s = heaviside(v - thr)
        mem[t] = v
        spikes[t] = s
    return spikes, mem


class _FusedLIF(torch.autograd.Function):
    @staticmethod
    def forward(ctx, current, beta, thr, reset, surrogate):
        with torch.no_grad():
            spikes, mem = _scan(current, beta, thr, reset)
        ctx.save_for_backward(mem, beta, thr)
        ctx.reset, ctx.surrogate = reset, surrogate
        return spikes, mem

    @staticmethod
    def backward(ctx, g_spikes, g_mem):
        mem, beta, thr = ctx.saved_tensors
        reset, surrogate = ctx.reset, ctx.surrogate
        T = mem.shape[0]
        shifted = mem - thr
        spikes = heaviside(shifted)
        sg_spk = surrogate.grad(shifted)
        if g_spikes is None:
            g_spikes = torch.zeros_like(mem)
        direct = g_spikes * sg_spk
        if g_mem is not None:
            direct = direct + g_mem
        g_current = torch.empty_like(mem)
        delta_next = torch.zeros_like(mem[0])
        for t in range(T - 1, -1, -1):
            if t + 1 < T:
                carry = beta * delta_next
                if reset == "zero":
                    carry = carry * (1 - spikes[t])
                delta = direct[t] + carry
            else:
                delta = direct[t]
            g_current[t] = delta
            delta_next = delta
        g_beta = g_thr = None
        if ctx.needs_input_grad[1]:
            prev_mem = torch.cat([torch.zeros_like(mem[:1]), mem[:-1]])
            if reset == "zero":
                prev_spk = torch.cat([torch.zeros_like(spikes[:1]), spikes[:-1]])
                prev_mem = prev_mem * (1 - prev_spk)
            g_beta = (g_current * prev_mem).sum().reshape(beta.shape)
        if ctx.needs_input_grad[2]:
            g_thr = -(g_spikes * sg_spk).sum()
            if reset == "subtract":
                prev_spk = torch.cat([torch.zeros_like(spikes[:1]), spikes[:-1]])
                g_thr = g_thr - (g_current * prev_spk).sum()
            g_thr = g_thr.reshape(thr.shape)
        return g_current, g_beta, g_thr, None, None


def lif_fused(
    current: torch.Tensor,
    beta: torch.Tensor,
    threshold: torch.Tensor,
    reset: str,
    surrogate: Surrogate,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fused LIF scan: returns ``(spikes, membrane)``, both ``[T, B, ...]``."""
    beta = torch.as_tensor(beta, dtype=current.dtype, device=current.device)
    threshold = torch.as_tensor(threshold, dtype=current.dtype, device=current.device)
    return _FusedLIF.apply(current, beta, threshold, reset, surrogate)
