"""The LIF scan in plain torch ops: any device and dtype (the fallback of the compiled backends).

Works on contiguous ``[T, N]`` buffers allocated once per call by the dispatcher. Forward: per step
one ``addcmul`` (``I + beta V``), one in-place reset and one ``ge`` written straight into the float
spike buffer (about ``3T`` kernels). Backward: the direct gradient ``gS * surrogate'(V - thr) + gV``
over all steps at once (the derivative is :meth:`avsnn.core.surrogate.Surrogate.grad`), then one
in-place ``addcmul_`` per step of the reverse scan and ``dot`` reductions for beta and the threshold.
"""

from __future__ import annotations

import torch

from ..surrogate import Surrogate


def forward(inp, S, V, beta: torch.Tensor, thr: torch.Tensor, reset: str) -> None:
    """Fill ``S`` and ``V`` (contiguous ``[T, N]``) from ``inp`` (``[T, N]``, unit column stride)."""
    T = inp.shape[0]
    V[0].copy_(inp[0])  # V[0] = beta*0 + I[0] (- thr*0)
    if reset == "none":
        for t in range(1, T):
            torch.addcmul(inp[t], V[t - 1], beta, out=V[t])
        torch.ge(V, thr, out=S)  # one comparison over all steps
        return
    torch.ge(V[0], thr, out=S[0])
    if reset == "subtract":
        neg_thr = -thr
        for t in range(1, T):
            torch.addcmul(inp[t], V[t - 1], beta, out=V[t])  # I + beta*V
            V[t].addcmul_(S[t - 1], neg_thr)  # - thr*S[t-1] (exact: S is 0/1)
            torch.ge(V[t], thr, out=S[t])
    else:  # zero
        neg_beta = -beta
        keep = torch.empty_like(V[0])
        for t in range(1, T):
            torch.addcmul(beta, S[t - 1], neg_beta, out=keep)  # beta*(1-S[t-1]): beta or exactly 0
            torch.addcmul(inp[t], V[t - 1], keep, out=V[t])
            torch.ge(V[t], thr, out=S[t])


def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    a, b = a.reshape(-1), b.reshape(-1)
    if a.numel() == 0:
        return torch.zeros((), dtype=a.dtype, device=a.device)
    if a.dtype in (torch.float32, torch.float64):
        return torch.dot(a, b)
    return torch.dot(a.float(), b.float()).to(a.dtype)


def backward(
    V,
    GI,
    g_spk,
    g_mem,
    beta: torch.Tensor,
    thr: torch.Tensor,
    reset: str,
    surrogate: Surrogate,
    grad_beta: bool,
    grad_thr: bool,
) -> torch.Tensor:
    """Write ``dL/dI`` into ``GI`` (contiguous ``[T, N]``); return ``[dL/dbeta, dL/dthr]``.

    The two sums are zero where not wanted. ``g_spk`` / ``g_mem`` (``[T, N]`` or ``None``) are the
    gradients of spikes and membrane.
    """
    T = V.shape[0]
    g_beta = g_thr = torch.zeros((), dtype=V.dtype, device=V.device)
    # GI starts as the direct gradient and becomes dL/dI in place.
    if g_spk is None:
        GI.copy_(g_mem)
    else:
        torch.mul(surrogate.grad(V - thr), g_spk, out=GI)  # gS * surrogate'(V - thr)
        if grad_thr:
            g_thr = -GI.sum()  # through S[t] = H(V[t] - thr)
        if g_mem is not None:
            GI.add_(g_mem)
    prev_spk = None
    if T > 1 and (reset == "zero" or (reset == "subtract" and grad_thr)):
        prev_spk = torch.ge(V[:-1], thr).to(V.dtype)  # S[t-1] for t = 1..T-1
    if reset == "zero" and T > 1:
        factor = torch.addcmul(beta, prev_spk, -beta)  # dV[t+1]/dV[t] = beta*(1-S[t]): beta or 0
        for t in range(T - 2, -1, -1):
            GI[t].addcmul_(GI[t + 1], factor[t])
    else:
        for t in range(T - 2, -1, -1):
            GI[t].addcmul_(GI[t + 1], beta)
    if grad_beta:
        prev_mem = V[:-1]
        if reset == "zero" and T > 1:
            prev_mem = torch.addcmul(prev_mem, prev_mem, prev_spk, value=-1)  # V[t-1] * (1 - S[t-1])
        g_beta = _dot(GI[1:], prev_mem)
    if grad_thr and reset == "subtract" and T > 1:
        g_thr = g_thr - _dot(GI[1:], prev_spk)
    return torch.stack((g_beta, g_thr))
