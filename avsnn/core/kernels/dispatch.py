"""One dispatcher for the fused LIF scan: picks a backend per call and wraps it as one autograd node.

Backends (each a module with the same ``forward`` / ``backward`` on ``[T, N]`` buffers):

* ``"cpp"`` -- CPU, float32/float64: the C++ kernel (:mod:`.cpp`); ``AVSNN_FUSED_CPP=0`` disables it.
* ``"triton"`` -- CUDA, float16/bfloat16/float32/float64, when Triton is installed (:mod:`.triton`);
  ``AVSNN_FUSED_TRITON=0`` disables it, and a launch that raises warns once and falls back to torch ops.
* ``"torch"`` -- everything else: plain torch ops (:mod:`.torch_ops`).

All three work on a ``[T, N]`` view of the neurons in *memory order*: time outermost, the ``N``
neurons of one step dense in any order. A contiguous tensor, a channels-last one (the batch axis,
split into T and B, stays outermost) and a current broadcast over T (stride 0) all have such a
view, so outputs and gradients keep the input's layout; anything else is copied once.
"""

from __future__ import annotations

import warnings

import torch
from torch.autograd.function import once_differentiable

from ...device import env_switch
from ..surrogate import Surrogate
from . import cpp, torch_ops
from .codes import RESETS
from .reference import lif_loop

_triton_state: dict = {}


def triton_kernels():
    """The Triton backend module :mod:`.triton`, or ``None``.

    ``None`` when it is not installed, ``AVSNN_FUSED_TRITON=0``, or a launch failed. Imported on first
    use: importing ``triton`` is slow and optional.
    """
    if "module" not in _triton_state:
        module = None
        if env_switch("AVSNN_FUSED_TRITON"):
            try:
                from . import triton as module
            except Exception as e:  # no triton: the torch-op path serves CUDA too
                _triton_state["error"] = f"{type(e).__name__}: {e}"
        _triton_state["module"] = module
    return _triton_state["module"]


def _triton_failed(error: Exception) -> None:
    """A Triton launch raised (e.g. a compiler too old for the kernels): warn once, use torch ops."""
    msg = f"{type(error).__name__}: {(str(error).strip().splitlines() or [''])[0][:300]}"
    _triton_state.update(module=None, error=msg)
    warnings.warn(f"avsnn fused LIF: Triton kernels failed, using torch ops from now on ({msg})")


def backend(t: torch.Tensor) -> str:
    """Which backend runs the scan for tensors like ``t``.

    ``"cpp"`` (CPU kernel), ``"triton"`` (CUDA) or ``"torch"`` (torch ops: any device and dtype).
    """
    if t.device.type == "cpu":
        if t.dtype in (torch.float32, torch.float64) and cpp.cpu_kernel() is not None:
            return "cpp"
    elif (
        t.is_cuda
        and t.dtype in (torch.float16, torch.bfloat16, torch.float32, torch.float64)
        and t.numel() < 2**31
        and triton_kernels() is not None
    ):
        return "triton"
    return "torch"


def _call(how: str, direction: str, *args):
    """Run ``direction`` (``"forward"`` or ``"backward"``) of backend ``how``.

    A failing Triton launch falls back to the torch ops, which give the same result.
    """
    if how == "triton":
        try:
            return getattr(triton_kernels(), direction)(*args)
        except Exception as e:
            _triton_failed(e)
    return getattr(cpp if how == "cpp" else torch_ops, direction)(*args)


# --------------------------------------------------------------------------- layout


def _dense(x: torch.Tensor) -> bool:
    """Non-overlapping and dense (some permutation of a contiguous tensor)."""
    expected = 1
    for size, stride in sorted(((sz, st) for sz, st in zip(x.shape, x.stride()) if sz > 1), key=lambda p: p[1]):
        if stride != expected:
            return False
        expected *= size
    return True


def _rows(x: torch.Tensor):
    """``x`` ``[T, ...]`` as a ``[T, N]`` view with unit column stride in memory order, or ``None``."""
    T, n = x.shape[0], x[0].numel()
    if x.is_contiguous():
        return x.view(T, n)
    if (T > 1 and x.stride(0) not in (0, n)) or not _dense(x[0]):
        return None
    return x.as_strided((T, n), (x.stride(0) if T > 1 else n, 1))


def _like(x: torch.Tensor) -> torch.Tensor:
    """A new dense tensor with ``x``'s shape and per-step layout (``x`` must have a ``_rows`` view)."""
    n = x[0].numel()
    return torch.empty_strided(x.shape, (n,) + tuple(x.stride()[1:]), dtype=x.dtype, device=x.device)


def _flat(x: torch.Tensor) -> torch.Tensor:
    """The contiguous ``[T, N]`` view of a tensor made by :func:`_like`."""
    n = x[0].numel()
    return x.as_strided((x.shape[0], n), (n, 1))


def _rows_as(g, like: torch.Tensor):
    """Gradient ``g`` as a contiguous ``[T, N]`` view in the memory order of ``like`` (copied if needed)."""
    if g is None:
        return None
    if g.stride() != like.stride():
        g = torch.empty_like(like).copy_(g)
    return _flat(g)


# --------------------------------------------------------------------------- autograd node


class _FusedLIF(torch.autograd.Function):
    """The whole scan as one node; only the membrane is saved (spikes are recomputed from it)."""

    @staticmethod
    def forward(ctx, current, beta, thr, reset, surrogate):
        inp = _rows(current)
        if inp is None:
            current = current.contiguous()
            inp = current.view(current.shape[0], -1)
        spikes, mem = _like(current), _like(current)
        if inp.shape[1]:
            _call(backend(current), "forward", inp, _flat(spikes), _flat(mem), beta, thr, reset)
        ctx.save_for_backward(mem, beta, thr)
        ctx.reset, ctx.surrogate = reset, surrogate
        ctx.set_materialize_grads(False)  # an unused membrane output gets no zero-filled gradient
        return spikes, mem

    @staticmethod
    @once_differentiable
    def backward(ctx, g_spikes, g_mem):
        mem, beta, thr = ctx.saved_tensors
        need_beta, need_thr = ctx.needs_input_grad[1], ctx.needs_input_grad[2]
        if g_spikes is None and g_mem is None:
            return None, None, None, None, None
        g_cur = torch.empty_like(mem)
        if mem[0].numel():
            sums = _call(
                backend(mem),
                "backward",
                _flat(mem),
                _flat(g_cur),
                _rows_as(g_spikes, mem),
                _rows_as(g_mem, mem),
                beta,
                thr,
                ctx.reset,
                ctx.surrogate,
                need_beta,
                need_thr,
            )
            sums = sums.to(mem.dtype)
        else:
            sums = torch.zeros(2, dtype=mem.dtype, device=mem.device)
        return (
            g_cur,
            sums[0].reshape(beta.shape) if need_beta else None,
            sums[1].reshape(thr.shape) if need_thr else None,
            None,
            None,
        )


def lif_fused(
    current: torch.Tensor,
    beta: torch.Tensor,
    threshold: torch.Tensor,
    reset: str,
    surrogate: Surrogate,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fused LIF scan, the same function as :func:`.reference.lif_loop` (Eqs. 1 and 17).

    Returns ``(spikes, membrane)``, both ``[T, B, ...]`` in ``current``'s layout (contiguous or
    channels-last stay so).

    ``beta`` and ``threshold`` are scalars (Python numbers or one-element tensors, learnable or not).
    Tensors with more than one element (per-neuron parameters) fall back to the reference loop.
    """
    if reset not in RESETS:
        raise ValueError(f"LIF reset must be one of {RESETS}, got {reset!r}")
    beta = torch.as_tensor(beta, dtype=current.dtype, device=current.device)
    threshold = torch.as_tensor(threshold, dtype=current.dtype, device=current.device)
    if beta.numel() != 1 or threshold.numel() != 1:
        return lif_loop(current, beta, threshold, reset, surrogate)
    return _FusedLIF.apply(current, beta.reshape(()), threshold.reshape(()), reset, surrogate)
