"""One dispatcher for the fused LIF scan: resolves a backend per call and wraps it as one autograd node.

Backends, chosen by name (the LIF's ``backend=``, the config's ``lif_backend``):

* ``"cpp"`` -- CPU, float32/float64: the C++ kernel (:mod:`.cpp`); ``AVSNN_FUSED_CPP=0`` disables it.
* ``"triton"`` -- CUDA, float16/bfloat16/float32/float64, fewer than ``2**31`` elements, when Triton
  is installed (:mod:`.triton`); ``AVSNN_FUSED_TRITON=0`` disables it.
* ``"torch"`` -- any device and dtype: plain torch ops (:mod:`.torch_ops`).
* ``"loop"`` -- any device and dtype: the reference per-step loop (:func:`.reference.lif_loop`, one
  autograd node per step), the only one for per-neuron (non-scalar) beta or threshold.
* ``"auto"`` -- the first of :func:`supported_backends`: ``cpp`` on CPU (float32/float64), ``triton``
  on CUDA, else ``torch``. When the preferred one is unavailable (disabled by its environment
  switch, a failed build, no Triton, a Triton launch that raised) ``auto`` uses ``torch`` and says so
  once per backend and reason (a :class:`BackendFallback` warning, listed by :func:`fallbacks`).

An explicit backend that cannot run a call raises :class:`BackendUnavailable` (one line naming it
and why) and is never swapped for another. All compute the same function (``tests/test_fused.py``).

The fused ones work on a ``[T, N]`` view of the neurons in *memory order*: time outermost, the ``N``
neurons of one step dense in any order. A contiguous tensor, a channels-last one (the batch axis,
split into T and B, stays outermost) and a current broadcast over T (stride 0) all have such a
view, so outputs and gradients keep the input's layout; anything else is copied once.
"""

from __future__ import annotations

import warnings
from typing import Optional

import torch
from torch.autograd.function import once_differentiable

from ...device import env_switch
from ..surrogate import Surrogate
from . import cpp, torch_ops
from .codes import RESETS
from .reference import lif_loop

#: the names ``backend=`` accepts: ``"auto"`` and the concrete backends
BACKENDS = ("auto", "cpp", "triton", "torch", "loop")
_CPP_DTYPES = (torch.float32, torch.float64)
_TRITON_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)

_triton_state: dict = {}
_fallbacks: dict = {}  # backend -> the reason "auto" did not use it (reported once)


class BackendUnavailable(RuntimeError):
    """An explicitly chosen LIF backend cannot run here (a user's choice, reported in one line)."""


class BackendFallback(UserWarning):
    """``backend="auto"`` runs on another backend than the one it prefers (the message says why)."""


def triton_kernels():
    """The Triton backend module :mod:`.triton`, or ``None`` (the reason: :func:`unavailable`).

    ``None`` when it is not installed, ``AVSNN_FUSED_TRITON=0``, or a launch failed. Imported on first
    use: importing ``triton`` is slow and optional.
    """
    if "module" not in _triton_state:
        module = None
        if not env_switch("AVSNN_FUSED_TRITON"):
            _triton_state["error"] = "disabled by AVSNN_FUSED_TRITON=0"
        else:
            try:
                from . import triton as module
            except Exception as e:  # no triton: the torch-op path serves CUDA too
                _triton_state["error"] = f"{type(e).__name__}: {e}"
        _triton_state["module"] = module
    return _triton_state["module"]


def _first_line(error: Exception) -> str:
    return f"{type(error).__name__}: {(str(error).strip().splitlines() or [''])[0][:300]}"


def unavailable(name: str, device, dtype: torch.dtype = torch.float32, numel: int = 0) -> Optional[str]:
    """Why backend ``name`` cannot run the scan of ``dtype`` tensors on ``device``; ``None`` if it can.

    ``numel``: elements of the tensor (Triton indexes with 32-bit offsets). Checking ``"cpp"`` builds
    the CPU kernel and checking ``"triton"`` imports Triton, on first use.
    """
    device = torch.device(device)
    if name in ("torch", "loop"):
        return None
    if name == "cpp":
        if device.type != "cpu":
            return f"it runs on CPU only, not {device.type}"
        if dtype not in _CPP_DTYPES:
            return f"it supports float32 and float64 only, not {dtype}"
        if cpp.cpu_kernel() is None:
            return cpp.cpu_kernel_error()
        return None
    if name == "triton":
        if device.type != "cuda":
            return f"it runs on CUDA only, not {device.type}"
        if dtype not in _TRITON_DTYPES:
            return f"it supports float16, bfloat16, float32 and float64 only, not {dtype}"
        if numel >= 2**31:
            return f"a tensor of {numel} elements needs 64-bit offsets (limit 2**31)"
        if triton_kernels() is None:
            return _triton_state.get("error")
        return None
    raise ValueError(f"LIF backend must be one of {BACKENDS}, got {name!r}")


def _preferred(device: torch.device, dtype: torch.dtype) -> str:
    """The backend ``auto`` tries first for ``dtype`` tensors on ``device``."""
    if device.type == "cpu" and dtype in _CPP_DTYPES:
        return "cpp"
    if device.type == "cuda" and dtype in _TRITON_DTYPES:
        return "triton"
    return "torch"


def supported_backends(device, dtype: torch.dtype = torch.float32) -> tuple[str, ...]:
    """The concrete backends that can run the LIF scan of ``dtype`` tensors on ``device``.

    In the order ``"auto"`` prefers them: ``auto`` takes the first.
    """
    return tuple(name for name in BACKENDS[1:] if unavailable(name, device, dtype) is None)


def fallbacks() -> dict:
    """``{backend: reason}`` of each backend ``"auto"`` preferred but could not use in this process."""
    return dict(_fallbacks)


def _fall_back(name: str, reason: str) -> str:
    """Record and report (once per backend and reason) that ``auto`` runs ``torch`` instead of ``name``."""
    if _fallbacks.get(name) != reason:
        _fallbacks[name] = reason
        warnings.warn(f"avsnn LIF backend auto: {name} unavailable ({reason}); using torch", BackendFallback)
    return "torch"


def resolve_backend(t: torch.Tensor, requested: str = "auto", scalar: bool = True) -> str:
    """The concrete backend that runs the scan for tensors like ``t`` when ``requested`` is asked for.

    ``scalar``: beta and threshold are single numbers (per-neuron ones need ``"loop"``). An explicit
    backend that cannot run raises :class:`BackendUnavailable`; ``"auto"`` reports a fallback once.
    """
    if requested == "auto":
        if not scalar:
            return "loop"
        name = _preferred(t.device, t.dtype)
        reason = unavailable(name, t.device, t.dtype, t.numel())
        return name if reason is None else _fall_back(name, reason)
    reason = "per-neuron beta/threshold need backend 'loop'" if not scalar and requested != "loop" else None
    reason = reason or unavailable(requested, t.device, t.dtype, t.numel())
    if reason is not None:
        raise BackendUnavailable(f"LIF backend={requested!r} is unavailable for {t.dtype} on {t.device}: {reason}")
    return requested


def _call(how: str, auto: bool, direction: str, *args):
    """Run ``direction`` (``"forward"`` or ``"backward"``) of backend ``how``.

    A Triton launch that raises is a :class:`BackendUnavailable` error when Triton was chosen; under
    ``auto`` it is reported once and the torch ops (the same function) run from then on.
    """
    if how == "triton":
        try:
            return getattr(triton_kernels(), direction)(*args)
        except Exception as e:
            msg = f"launch failed: {_first_line(e)}"
            if not auto:
                raise BackendUnavailable(f"LIF backend='triton' {msg}") from e
            _triton_state.update(module=None, error=msg)
            how = _fall_back("triton", msg)
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
    def forward(ctx, current, beta, thr, reset, surrogate, how, auto):
        inp = _rows(current)
        if inp is None:
            current = current.contiguous()
            inp = current.view(current.shape[0], -1)
        spikes, mem = _like(current), _like(current)
        if inp.shape[1]:
            _call(how, auto, "forward", inp, _flat(spikes), _flat(mem), beta, thr, reset)
        ctx.save_for_backward(mem, beta, thr)
        ctx.reset, ctx.surrogate, ctx.how, ctx.auto = reset, surrogate, how, auto
        ctx.set_materialize_grads(False)  # an unused membrane output gets no zero-filled gradient
        return spikes, mem

    @staticmethod
    @once_differentiable
    def backward(ctx, g_spikes, g_mem):
        mem, beta, thr = ctx.saved_tensors
        need_beta, need_thr = ctx.needs_input_grad[1], ctx.needs_input_grad[2]
        if g_spikes is None and g_mem is None:
            return None, None, None, None, None, None, None
        g_cur = torch.empty_like(mem)
        if mem[0].numel():
            sums = _call(
                ctx.how,
                ctx.auto,
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
            None,
            None,
        )


def lif_fused(
    current: torch.Tensor,
    beta: torch.Tensor,
    threshold: torch.Tensor,
    reset: str,
    surrogate: Surrogate,
    backend: str = "auto",
) -> tuple[torch.Tensor, torch.Tensor]:
    """The LIF scan (Eqs. 1 and 17) on ``backend``, the same function as :func:`.reference.lif_loop`.

    Returns ``(spikes, membrane)``, both ``[T, B, ...]`` in ``current``'s layout (contiguous or
    channels-last stay so).

    ``beta`` and ``threshold`` are scalars (Python numbers or one-element tensors, learnable or not)
    or, with ``backend`` ``"loop"`` or ``"auto"``, per-neuron tensors (run by the reference loop).
    ``backend``: one of :data:`BACKENDS` (see the module docstring).
    """
    if reset not in RESETS:
        raise ValueError(f"LIF reset must be one of {RESETS}, got {reset!r}")
    beta = torch.as_tensor(beta, dtype=current.dtype, device=current.device)
    threshold = torch.as_tensor(threshold, dtype=current.dtype, device=current.device)
    how = resolve_backend(current, backend, scalar=beta.numel() == 1 and threshold.numel() == 1)
    if how == "loop":
        return lif_loop(current, beta, threshold, reset, surrogate)
    return _FusedLIF.apply(current, beta.reshape(()), threshold.reshape(()), reset, surrogate, how, backend == "auto")
