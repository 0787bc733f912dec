"""The LIF scan on CUDA: two Triton kernels, one launch per direction.

Same equations and memory plan as the C++ CPU kernel (:mod:`.cpp`): one program owns ``BLOCK``
neurons and runs the whole ``T``-step scan on them in registers, so the forward reads ``I`` once and
writes ``S`` and ``V`` once, and the backward reads ``V``, ``dL/dS``, ``dL/dV`` once and writes
``dL/dI`` once, carrying ``delta[t+1]`` in registers. Arithmetic runs in float32 (float64 for
float64 tensors), also for bf16/fp16 tensors under autocast, and is launched without FMA
contraction, so float32 and float64 spikes equal the reference loop's bit for bit. ``beta`` and the
threshold are read from device memory inside the kernel (no host sync); the beta / threshold
gradients are per-program partial sums reduced by one ``torch.sum``.

Tested without a GPU: Triton's interpreter runs the kernels on CPU tensors
(``TRITON_INTERPRET=1``, ``tests/test_fused.py``) and Triton compiles them to cubins for sm_90 /
sm_80 (``tests/test_triton_compile.py``); ``tests/test_fused_cuda.py`` runs them on a GPU. This
module imports ``triton``: the dispatcher (:mod:`.dispatch`) imports it only when a CUDA tensor
reaches the fused LIF.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from .codes import RESET_CODE, SURROGATE_CODE

BLOCK = 1024


@triton.jit
def _lif_fwd_kernel(I, S, V, BETA, THR, T, N, stride_t, RESET: tl.constexpr, ACC: tl.constexpr, BLOCK: tl.constexpr):  # noqa: E741
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    beta = tl.load(BETA).to(ACC)
    thr = tl.load(THR).to(ACC)
    v = tl.zeros([BLOCK], dtype=ACC)
    s = v * 0
    for t in range(0, T):
        x = tl.load(I + t * stride_t + offs, mask=mask, other=0.0).to(v.dtype)
        if RESET == 0:  # subtract: V = beta V + I - thr S[t-1]
            v = beta * v + x
            v = v - thr * s
        elif RESET == 1:  # zero: V = beta (1 - S[t-1]) V + I
            v = (beta * (1.0 - s)) * v + x
        else:  # none
            v = beta * v + x
        s = tl.where(v >= thr, 1.0, 0.0).to(v.dtype)
        tl.store(V + t * N + offs, v.to(V.dtype.element_ty), mask=mask)
        tl.store(S + t * N + offs, s.to(S.dtype.element_ty), mask=mask)


@triton.jit
def _lif_bwd_kernel(
    V,
    GS,
    GV,
    GI,
    PART,
    BETA,
    THR,
    T,
    N,
    k,
    cnum,
    RESET: tl.constexpr,
    SURR: tl.constexpr,
    HAS_GS: tl.constexpr,
    HAS_GV: tl.constexpr,
    GRAD_B: tl.constexpr,
    GRAD_T: tl.constexpr,
    ACC: tl.constexpr,
    BLOCK: tl.constexpr,
):
    pid = tl.program_id(0)
    offs = pid.to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    beta = tl.load(BETA).to(ACC)
    thr = tl.load(THR).to(ACC)
    carry = tl.zeros([BLOCK], dtype=ACC)
    sb = carry * 0  # dL/dbeta partial
    st = carry * 0  # dL/dthr partial
    for i in range(0, T):
        t = T - 1 - i
        v = tl.load(V + t * N + offs, mask=mask, other=0.0).to(carry.dtype)
        d = carry * 0
        if HAS_GV:
            d += tl.load(GV + t * N + offs, mask=mask, other=0.0).to(carry.dtype)
        if HAS_GS:
            x = v - thr
            if SURR == 0:  # atan: alpha/2 / (1 + (pi alpha/2 x)^2)
                z = k * x
                den = 1.0 + z * z
            else:  # fast sigmoid: 1 / (1 + k|x|)^2
                z = 1.0 + k * tl.abs(x)
                den = z * z
            ds = tl.load(GS + t * N + offs, mask=mask, other=0.0).to(carry.dtype) * cnum / den
            d += ds
            if GRAD_T:
                st -= ds
        if RESET == 1:  # dV[t+1]/dV[t] = beta (1 - S[t])
            d += tl.where(v >= thr, 0.0, beta) * carry
        else:
            d += beta * carry
        tl.store(GI + t * N + offs, d.to(GI.dtype.element_ty), mask=mask)
        if GRAD_B or (GRAD_T and RESET == 0):
            has_prev = t >= 1
            vp = tl.load(V + (t - 1) * N + offs, mask=mask & has_prev, other=0.0).to(carry.dtype)
            sp = tl.where(vp >= thr, 1.0, 0.0).to(carry.dtype)
            if GRAD_B:
                if RESET == 1:
                    sb += tl.where(has_prev, d * (vp * (1.0 - sp)), 0.0)
                else:
                    sb += tl.where(has_prev, d * vp, 0.0)
            if GRAD_T and RESET == 0:
                st -= tl.where(has_prev, d * sp, 0.0)
        carry = d
    tl.store(PART + 2 * pid, tl.sum(tl.where(mask, sb, 0.0), axis=0))
    tl.store(PART + 2 * pid + 1, tl.sum(tl.where(mask, st, 0.0), axis=0))


def _acc(x: torch.Tensor):
    """The accumulation dtype: float64 for float64 tensors, else float32 (also for fp16/bf16)."""
    return tl.float64 if x.dtype == torch.float64 else tl.float32


def _launch_opts(x: torch.Tensor) -> dict:
    # No FMA contraction: the same roundings as the reference loop. (The interpreter ignores it.)
    return {"enable_fp_fusion": False} if x.is_cuda else {}


def forward(
    inp: torch.Tensor, S: torch.Tensor, V: torch.Tensor, beta: torch.Tensor, thr: torch.Tensor, reset: str
) -> None:
    """Fill ``S`` and ``V`` (contiguous ``[T, N]``) from ``inp`` (``[T, N]``, unit column stride)."""
    T, N = inp.shape
    grid = (triton.cdiv(N, BLOCK),)
    _lif_fwd_kernel[grid](
        inp,
        S,
        V,
        beta,
        thr,
        T,
        N,
        inp.stride(0) if T > 1 else N,
        RESET=RESET_CODE[reset],
        ACC=_acc(inp),
        BLOCK=BLOCK,
        **_launch_opts(inp),
    )


def backward(
    V: torch.Tensor,
    GI: torch.Tensor,
    g_spk,
    g_mem,
    beta: torch.Tensor,
    thr: torch.Tensor,
    reset: str,
    surrogate,
    grad_beta: bool,
    grad_thr: bool,
) -> torch.Tensor:
    """Write ``dL/dI`` into ``GI``; return ``[dL/dbeta, dL/dthr]`` (float32, float64 for float64 tensors)."""
    T, N = V.shape
    nprog = triton.cdiv(N, BLOCK)
    acc = torch.float64 if V.dtype == torch.float64 else torch.float32
    part = torch.zeros((max(nprog, 1), 2), dtype=acc, device=V.device)
    k, cnum = surrogate.constants
    dummy = V  # never read when the matching HAS_* flag is off
    _lif_bwd_kernel[(nprog,)](
        V,
        dummy if g_spk is None else g_spk,
        dummy if g_mem is None else g_mem,
        GI,
        part,
        beta,
        thr,
        T,
        N,
        k,
        cnum,
        RESET=RESET_CODE[reset],
        SURR=SURROGATE_CODE[surrogate.kind],
        HAS_GS=g_spk is not None,
        HAS_GV=g_mem is not None,
        GRAD_B=bool(grad_beta),
        GRAD_T=bool(grad_thr),
        ACC=_acc(V),
        BLOCK=BLOCK,
        **_launch_opts(V),
    )
    return part.sum(0)
