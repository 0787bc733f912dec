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

**Speed.** Three implementations of the same scan; :func:`backend` picks one per call:

* ``"cpp"`` -- CPU, float32/float64: a small C++ kernel (built once with
  ``torch.utils.cpp_extension``, see :func:`cpu_kernel`) that runs the whole T-step scan on
  cache-sized chunks of neurons, one pass over memory forward (reads I, writes S and V) and one
  backward (reads V, gS, gV, writes dL/dI; beta/threshold gradients reduced per chunk in float64,
  and skipped -- with the reads of ``V[t-1]`` -- when both are frozen). ``AVSNN_FUSED_CPP=0``
  disables it; if it cannot be built (no compiler) the torch-op path is used.
* ``"triton"`` -- CUDA, float16/bfloat16/float32/float64, when Triton is installed: the same
  one-pass-per-direction plan as two Triton kernels (:mod:`avsnn.core.triton_lif`; one launch
  per direction, arithmetic in float32, beta/threshold read on the device: no host sync).
  ``AVSNN_FUSED_TRITON=0`` disables it.
* ``"torch"`` -- everywhere else: torch ops on contiguous ``[T, N]`` buffers allocated once per
  call -- per step one ``addcmul`` (``I + beta*V``), one in-place reset and one ``ge`` written
  straight into the float spike buffer; backward fuses the surrogate derivative and
  ``gS * g + gV`` into 2-4 whole-tensor kernels (``addcdiv``), the reverse scan is one in-place
  ``addcmul_`` per step and the beta/threshold gradients are ``dot`` reductions.

All three work on a ``[T, N]`` view in memory order, so channels-last activations stay
channels-last (no copies), and a current broadcast over T (direct encoding) is read in place.
The membrane output, when unused, gets no zero-filled gradient (``set_materialize_grads(False)``).

Results equal the reference loop: spikes bit-identical (same arithmetic order; the kernel is
built without FMA contraction), membrane and gradients to rounding (tests/test_fused.py).
"""
from __future__ import annotations

import hashlib
import logging
import math
import os
import sys
import sysconfig
import threading
import warnings

import torch
from torch.autograd.function import once_differentiable

from ..device import env_switch
from .surrogate import Surrogate

_RESETS = ("subtract", "zero", "none")
_RESET_CODE = {"subtract": 0, "zero": 1, "none": 2}
_SURROGATE_CODE = {"atan": 0, "fast_sigmoid": 1}

# --------------------------------------------------------------------------- optional CPU kernel
# One pass over the data per direction: each thread takes chunks of neurons and runs the whole
# T-step scan on them while they sit in cache (the torch-op path below makes ~3 passes forward and
# ~5 backward). Built on first use with torch.utils.cpp_extension (g++ + ninja, ~1 min, cached in
# ~/.cache/torch_extensions under a name keyed by cpp_build_key()); set AVSNN_FUSED_CPP=0 to
# disable. Any build failure falls back to the torch-op path with one warning. Same arithmetic as
# lif_loop (no FMA: built without -march).
_CPP_SOURCE = r"""
#include <torch/extension.h>
#include <ATen/Parallel.h>
#include <cmath>

// reset: 0 subtract, 1 zero, 2 none.  surrogate: 0 atan, 1 fast_sigmoid.
// Neurons are processed in chunks of CHUNK; a chunk's whole T-step scan runs while it is in cache.
static constexpr int64_t CHUNK = 2048;

template <typename scalar_t, int RESET>
static void fwd_kernel(const scalar_t* __restrict__ I, scalar_t* __restrict__ S, scalar_t* __restrict__ V,
                       int64_t T, int64_t N, int64_t istride, scalar_t beta, scalar_t thr) {
  const int64_t nchunk = (N + CHUNK - 1) / CHUNK;
  at::parallel_for(0, nchunk, 1, [&](int64_t cb, int64_t ce) {
    for (int64_t c = cb; c < ce; ++c) {
      const int64_t b = c * CHUNK, n = std::min(N, b + CHUNK) - b;
      {
        const scalar_t* __restrict__ x = I + b; scalar_t* __restrict__ vo = V + b; scalar_t* __restrict__ so = S + b;
#pragma omp simd
        for (int64_t i = 0; i < n; ++i) {
          const scalar_t v = x[i];
          vo[i] = v;
          so[i] = v >= thr ? scalar_t(1) : scalar_t(0);
        }
      }
      for (int64_t t = 1; t < T; ++t) {
        const scalar_t* __restrict__ x = I + t * istride + b;
        const scalar_t* __restrict__ vp = V + (t - 1) * N + b;
        const scalar_t* __restrict__ sp = S + (t - 1) * N + b;
        scalar_t* __restrict__ vo = V + t * N + b;
        scalar_t* __restrict__ so = S + t * N + b;
#pragma omp simd
        for (int64_t i = 0; i < n; ++i) {
          scalar_t v;
          if (RESET == 0) {
            v = beta * vp[i] + x[i];
            v = v - thr * sp[i];
          } else if (RESET == 1) {
            v = (beta * (scalar_t(1) - sp[i])) * vp[i] + x[i];
          } else {
            v = beta * vp[i] + x[i];
          }
          vo[i] = v;
          so[i] = v >= thr ? scalar_t(1) : scalar_t(0);
        }
      }
    }
  });
}

void lif_forward(torch::Tensor inp, torch::Tensor S, torch::Tensor V, double beta, double thr, int64_t reset) {
  // inp: [T, N] rows contiguous; its row stride may be anything (0 for a current broadcast over T).
  TORCH_CHECK(inp.dim() == 2 && inp.stride(1) == 1 && S.is_contiguous() && V.is_contiguous() &&
              S.sizes() == inp.sizes() && V.sizes() == inp.sizes(), "lif_forward expects contiguous [T, N] tensors");
  const int64_t T = inp.size(0), N = inp.size(1);
  AT_DISPATCH_FLOATING_TYPES(inp.scalar_type(), "lif_forward", [&] {
    const scalar_t* I = inp.data_ptr<scalar_t>(); scalar_t* s = S.data_ptr<scalar_t>(); scalar_t* v = V.data_ptr<scalar_t>();
    if (reset == 0) fwd_kernel<scalar_t, 0>(I, s, v, T, N, inp.stride(0), (scalar_t)beta, (scalar_t)thr);
    else if (reset == 1) fwd_kernel<scalar_t, 1>(I, s, v, T, N, inp.stride(0), (scalar_t)beta, (scalar_t)thr);
    else fwd_kernel<scalar_t, 2>(I, s, v, T, N, inp.stride(0), (scalar_t)beta, (scalar_t)thr);
  });
}

// One time step of the reverse scan over one chunk row. NEXT: a later step exists (carry its
// delta); PREV: an earlier step exists and beta's gradient is wanted (reads V[t-1]); GRAD_T: the
// threshold's gradient is wanted. Returns via sb, st.
template <typename scalar_t, int RESET, int SURR, bool HAS_GS, bool HAS_GV, bool NEXT, bool PREV, bool GRAD_T>
static inline void bwd_row(const scalar_t* __restrict__ v, const scalar_t* __restrict__ vprev,
                           const scalar_t* __restrict__ gs, const scalar_t* __restrict__ gv,
                           const scalar_t* __restrict__ gnext, scalar_t* __restrict__ gi, int64_t n,
                           scalar_t beta, scalar_t thr, scalar_t k, scalar_t cnum, scalar_t& sb_out, scalar_t& st_out) {
  scalar_t sb = 0, st = 0;
#pragma omp simd reduction(+ : sb, st)
  for (int64_t i = 0; i < n; ++i) {
    scalar_t d = scalar_t(0);
    if (HAS_GV) d = gv[i];
    if (HAS_GS) {
      const scalar_t x = v[i] - thr;
      scalar_t den;
      if (SURR == 0) { const scalar_t z = k * x; den = scalar_t(1) + z * z; }
      else { const scalar_t z = scalar_t(1) + k * std::abs(x); den = z * z; }
      const scalar_t ds = gs[i] * cnum / den;
      d += ds;
      if (GRAD_T) st -= ds;
    }
    if (NEXT) {
      const scalar_t f = RESET == 1 ? (v[i] >= thr ? scalar_t(0) : beta) : beta;
      d += f * gnext[i];
    }
    gi[i] = d;
    if (PREV) {
      const scalar_t sp = vprev[i] >= thr ? scalar_t(1) : scalar_t(0);
      sb += d * (RESET == 1 ? vprev[i] * (scalar_t(1) - sp) : vprev[i]);
      if (RESET == 0 && GRAD_T) st -= d * sp;
    }
  }
  sb_out = sb; st_out = st;
}

// Writes dL/dI into GI; partial[2c], partial[2c+1] get chunk c's dL/dbeta and dL/dthr.
template <typename scalar_t, int RESET, int SURR, bool HAS_GS, bool HAS_GV, bool GRAD_B, bool GRAD_T>
static void bwd_kernel(const scalar_t* __restrict__ V, const scalar_t* __restrict__ GS,
                       const scalar_t* __restrict__ GV, scalar_t* __restrict__ GI, int64_t T, int64_t N,
                       scalar_t beta, scalar_t thr, scalar_t scale, double* partial) {
  const int64_t nchunk = (N + CHUNK - 1) / CHUNK;
  const scalar_t k = SURR == 0 ? scalar_t(M_PI) * scale / scalar_t(2) : scale;
  const scalar_t cnum = SURR == 0 ? scale / scalar_t(2) : scalar_t(1);
  at::parallel_for(0, nchunk, 1, [&](int64_t cb, int64_t ce) {
    for (int64_t c = cb; c < ce; ++c) {
      const int64_t b = c * CHUNK, n = std::min(N, b + CHUNK) - b;
      double gb = 0.0, gt = 0.0;
      for (int64_t t = T - 1; t >= 0; --t) {
        const scalar_t* v = V + t * N + b;
        scalar_t* gi = GI + t * N + b;
        const scalar_t* gs = HAS_GS ? GS + t * N + b : nullptr;
        const scalar_t* gv = HAS_GV ? GV + t * N + b : nullptr;
        const scalar_t* gnext = t + 1 < T ? GI + (t + 1) * N + b : nullptr;
        const scalar_t* vprev = t >= 1 ? V + (t - 1) * N + b : nullptr;
        scalar_t sb = 0, st = 0;
        // V[t-1] is read only for the parameter gradients (beta always, threshold under subtract).
        const bool prev = vprev != nullptr && (GRAD_B || (GRAD_T && RESET == 0));
        if (gnext && prev)
          bwd_row<scalar_t, RESET, SURR, HAS_GS, HAS_GV, true, true, GRAD_T>(v, vprev, gs, gv, gnext, gi, n, beta, thr, k, cnum, sb, st);
        else if (gnext)
          bwd_row<scalar_t, RESET, SURR, HAS_GS, HAS_GV, true, false, GRAD_T>(v, vprev, gs, gv, gnext, gi, n, beta, thr, k, cnum, sb, st);
        else if (prev)
          bwd_row<scalar_t, RESET, SURR, HAS_GS, HAS_GV, false, true, GRAD_T>(v, vprev, gs, gv, gnext, gi, n, beta, thr, k, cnum, sb, st);
        else
          bwd_row<scalar_t, RESET, SURR, HAS_GS, HAS_GV, false, false, GRAD_T>(v, vprev, gs, gv, gnext, gi, n, beta, thr, k, cnum, sb, st);
        gb += (double)sb; gt += (double)st;
      }
      partial[2 * c] = gb; partial[2 * c + 1] = gt;
    }
  });
}

template <typename scalar_t, int RESET, int SURR, bool GRAD_B, bool GRAD_T>
static void bwd_dispatch_p(const scalar_t* V, const scalar_t* GS, const scalar_t* GV, scalar_t* GI, int64_t T,
                           int64_t N, scalar_t beta, scalar_t thr, scalar_t scale, double* partial) {
  if (GS && GV) bwd_kernel<scalar_t, RESET, SURR, true, true, GRAD_B, GRAD_T>(V, GS, GV, GI, T, N, beta, thr, scale, partial);
  else if (GS) bwd_kernel<scalar_t, RESET, SURR, true, false, GRAD_B, GRAD_T>(V, GS, GV, GI, T, N, beta, thr, scale, partial);
  else bwd_kernel<scalar_t, RESET, SURR, false, true, GRAD_B, GRAD_T>(V, GS, GV, GI, T, N, beta, thr, scale, partial);
}

template <typename scalar_t, int RESET, int SURR>
static void bwd_dispatch_g(const scalar_t* V, const scalar_t* GS, const scalar_t* GV, scalar_t* GI, int64_t T,
                           int64_t N, scalar_t beta, scalar_t thr, scalar_t scale, double* partial,
                           bool grad_b, bool grad_t) {
  // Frozen beta and threshold (the usual case) skip the reductions and the reads of V[t-1].
  if (grad_b && grad_t) bwd_dispatch_p<scalar_t, RESET, SURR, true, true>(V, GS, GV, GI, T, N, beta, thr, scale, partial);
  else if (grad_b) bwd_dispatch_p<scalar_t, RESET, SURR, true, false>(V, GS, GV, GI, T, N, beta, thr, scale, partial);
  else if (grad_t) bwd_dispatch_p<scalar_t, RESET, SURR, false, true>(V, GS, GV, GI, T, N, beta, thr, scale, partial);
  else bwd_dispatch_p<scalar_t, RESET, SURR, false, false>(V, GS, GV, GI, T, N, beta, thr, scale, partial);
}

template <typename scalar_t>
static void bwd_dispatch(int64_t reset, int64_t surr, const scalar_t* V, const scalar_t* GS, const scalar_t* GV,
                         scalar_t* G, int64_t T, int64_t N, scalar_t b, scalar_t th, scalar_t sc, double* P,
                         bool gb, bool gt) {
  if (surr == 0) {
    if (reset == 0) bwd_dispatch_g<scalar_t, 0, 0>(V, GS, GV, G, T, N, b, th, sc, P, gb, gt);
    else if (reset == 1) bwd_dispatch_g<scalar_t, 1, 0>(V, GS, GV, G, T, N, b, th, sc, P, gb, gt);
    else bwd_dispatch_g<scalar_t, 2, 0>(V, GS, GV, G, T, N, b, th, sc, P, gb, gt);
  } else {
    if (reset == 0) bwd_dispatch_g<scalar_t, 0, 1>(V, GS, GV, G, T, N, b, th, sc, P, gb, gt);
    else if (reset == 1) bwd_dispatch_g<scalar_t, 1, 1>(V, GS, GV, G, T, N, b, th, sc, P, gb, gt);
    else bwd_dispatch_g<scalar_t, 2, 1>(V, GS, GV, G, T, N, b, th, sc, P, gb, gt);
  }
}

torch::Tensor lif_backward(torch::Tensor mem, torch::Tensor GI, c10::optional<torch::Tensor> g_spk,
                           c10::optional<torch::Tensor> g_mem, double beta, double thr,
                           int64_t reset, int64_t surr, double scale, bool grad_beta, bool grad_thr) {
  TORCH_CHECK(mem.dim() == 2 && mem.is_contiguous() && GI.is_contiguous() && GI.sizes() == mem.sizes(),
              "lif_backward expects contiguous [T, N] tensors");
  TORCH_CHECK(g_spk.has_value() || g_mem.has_value(), "lif_backward needs a gradient");
  const int64_t T = mem.size(0), N = mem.size(1);
  const int64_t nchunk = (N + CHUNK - 1) / CHUNK;
  auto partial = torch::zeros({std::max<int64_t>(nchunk, 1), 2}, mem.options().dtype(torch::kFloat64));
  torch::Tensor gs, gv;
  if (g_spk.has_value()) gs = g_spk->contiguous();
  if (g_mem.has_value()) gv = g_mem->contiguous();
  AT_DISPATCH_FLOATING_TYPES(mem.scalar_type(), "lif_backward", [&] {
    const scalar_t* V = mem.data_ptr<scalar_t>();
    const scalar_t* GS = gs.defined() ? gs.data_ptr<scalar_t>() : nullptr;
    const scalar_t* GV = gv.defined() ? gv.data_ptr<scalar_t>() : nullptr;
    scalar_t* G = GI.data_ptr<scalar_t>();
    double* P = partial.data_ptr<double>();
    const scalar_t b = (scalar_t)beta, th = (scalar_t)thr, sc = (scalar_t)scale;
    bwd_dispatch<scalar_t>(reset, surr, V, GS, GV, G, T, N, b, th, sc, P, grad_beta, grad_thr);
  });
  return partial.sum(0);
}
"""

_cpp_lock = threading.Lock()
_cpp_state: dict = {}
_CPP_CFLAGS, _CPP_LDFLAGS = ["-O3", "-fopenmp"], ["-fopenmp"]


def cpp_build_key() -> str:
    """Short hash of everything that changes the C++ build: source, flags, compiler, torch, interpreter.

    It names the extension and so its build folder (``~/.cache/torch_extensions/.../avsnn_lif_cpu_<key>``):
    two virtual environments or checkouts (different ``sys.executable``, torch or Python include paths)
    get folders of their own instead of rebuilding each other's (~1 min each time, under a lock).
    """
    from torch.utils import cpp_extension
    parts = [_CPP_SOURCE, torch.__version__, sys.executable, sysconfig.get_paths()["include"],
             *cpp_extension.include_paths(), *_CPP_CFLAGS, *_CPP_LDFLAGS, os.environ.get("CXX", "c++")]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:12]


def cpu_kernel():
    """The compiled CPU extension module, or ``None`` (disabled, or the build failed: see ``cpu_kernel_error()``)."""
    if "module" in _cpp_state:
        return _cpp_state["module"]
    with _cpp_lock:
        if "module" in _cpp_state:
            return _cpp_state["module"]
        module, error = None, None
        if not env_switch("AVSNN_FUSED_CPP"):
            error = "disabled by AVSNN_FUSED_CPP=0"
        else:
            quiet = logging.getLogger("torch.utils.cpp_extension")  # its import logs CUDA_HOME notes
            level = quiet.level
            quiet.setLevel(logging.ERROR)
            try:
                from torch.utils.cpp_extension import load_inline
                module = load_inline(name=f"avsnn_lif_cpu_{cpp_build_key()}", cpp_sources=[_CPP_SOURCE],
                                     functions=["lif_forward", "lif_backward"],
                                     extra_cflags=_CPP_CFLAGS, extra_ldflags=_CPP_LDFLAGS, verbose=False)
            except Exception as e:  # no compiler / ninja / headers: keep working on the torch path
                error = f"{type(e).__name__}: {str(e).strip().splitlines()[0][:300]}"
                warnings.warn(f"avsnn fused LIF: CPU kernel unavailable, using torch ops ({error})")
            finally:
                quiet.setLevel(level)
        _cpp_state["module"], _cpp_state["error"] = module, error
        return module


def cpu_kernel_error():
    """Why :func:`cpu_kernel` is ``None`` (``None`` if it is available or was not tried yet)."""
    return _cpp_state.get("error")


_triton_state: dict = {}


def triton_kernels():
    """The Triton kernel module :mod:`avsnn.core.triton_lif`, or ``None`` (not installed, or
    ``AVSNN_FUSED_TRITON=0``). Used for CUDA tensors."""
    if "module" not in _triton_state:
        module = None
        if env_switch("AVSNN_FUSED_TRITON"):
            try:
                from . import triton_lif as module
            except Exception as e:  # no triton: the torch-op path serves CUDA too
                _triton_state["error"] = f"{type(e).__name__}: {e}"
        _triton_state["module"] = module
    return _triton_state["module"]


def _triton_failed(error: Exception) -> None:
    """A Triton launch raised (e.g. a compiler too old for the kernels): warn once, use torch ops."""
    msg = f"{type(error).__name__}: {str(error).strip().splitlines()[0][:300] if str(error).strip() else ''}"
    _triton_state.update(module=None, error=msg)
    warnings.warn(f"avsnn fused LIF: Triton kernels failed, using torch ops from now on ({msg})")


def backend(t: torch.Tensor) -> str:
    """Which implementation runs the scan for tensors like ``t``: ``"cpp"`` (CPU kernel),
    ``"triton"`` (CUDA) or ``"torch"`` (torch ops: any device and dtype)."""
    if t.device.type == "cpu":
        if t.dtype in (torch.float32, torch.float64) and cpu_kernel() is not None:
            return "cpp"
    elif t.is_cuda and t.dtype in (torch.float16, torch.bfloat16, torch.float32, torch.float64) \
            and t.numel() < 2**31 and triton_kernels() is not None:
        return "triton"
    return "torch"


# --------------------------------------------------------------------------- layout
# Every path works on a [T, N] view of the neurons in *memory order*: time outermost, the N
# neurons of one step dense in any order. A contiguous tensor, a channels-last one (the batch
# axis, split into T and B, stays outermost) and a current broadcast over T (stride 0) all have
# such a view, so outputs and gradients keep the input's layout; anything else is copied once.

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


def _rows_as(g, like: torch.Tensor):
    """Gradient ``g`` as a contiguous ``[T, N]`` view in the memory order of ``like`` (copied if needed)."""
    if g is None:
        return None
    if g.stride() != like.stride():
        g = torch.empty_like(like).copy_(g)
    return g.as_strided((like.shape[0], like[0].numel()), (like[0].numel(), 1))


# --------------------------------------------------------------------------- torch-op path

def _forward_rows_torch(inp, s, v, beta: torch.Tensor, thr: torch.Tensor, reset: str) -> None:
    """Fill ``s``, ``v`` (``[T, N]``) with torch ops: about ``3T`` kernels."""
    T = inp.shape[0]
    v[0].copy_(inp[0])                      # V[0] = beta*0 + I[0] (- thr*0)
    if reset == "none":
        for t in range(1, T):
            torch.addcmul(inp[t], v[t - 1], beta, out=v[t])
        torch.ge(v, thr, out=s)             # one comparison over all steps
        return
    torch.ge(v[0], thr, out=s[0])
    if reset == "subtract":
        neg_thr = -thr
        for t in range(1, T):
            torch.addcmul(inp[t], v[t - 1], beta, out=v[t])   # I + beta*V
            v[t].addcmul_(s[t - 1], neg_thr)                 # - thr*S[t-1] (exact: S is 0/1)
            torch.ge(v[t], thr, out=s[t])
    else:  # zero
        neg_beta = -beta
        keep = torch.empty_like(v[0])
        for t in range(1, T):
            torch.addcmul(beta, s[t - 1], neg_beta, out=keep)  # beta*(1-S[t-1]): beta or exactly 0
            torch.addcmul(inp[t], v[t - 1], keep, out=v[t])
            torch.ge(v[t], thr, out=s[t])


def surrogate_constants(surrogate: Surrogate) -> tuple[float, float]:
    """``(k, c)`` with surrogate'(x) = ``c / (1 + (k x)^2)`` (atan: ``k = pi alpha / 2``, ``c = alpha / 2``)
    or ``c / (1 + k |x|)^2`` (fast sigmoid: ``k`` = slope, ``c = 1``); the C++ kernel derives the same."""
    if surrogate.kind == "atan":
        return math.pi * surrogate.scale / 2, surrogate.scale / 2
    return float(surrogate.scale), 1.0


def _direct_grad(m, thr, gs, gv, surrogate: Surrogate, want_thr: bool):
    """``gS * surrogate'(V - thr) + gV`` as a fresh ``[T, N]`` buffer, and ``-sum(gS * g)`` if wanted.

    The surrogate derivative is written as ``c / den`` and folded into one ``addcdiv``:
    atan: ``den = 1 + (pi*alpha/2 * x)^2``, ``c = alpha/2``; fast sigmoid: ``den = (1 + k|x|)^2``, ``c = 1``.
    """
    g_thr_surr = None
    if gs is None:
        if want_thr:
            g_thr_surr = torch.zeros((), dtype=m.dtype, device=m.device)
        return gv.clone(), g_thr_surr
    one = torch.ones((), dtype=m.dtype, device=m.device)
    k_val, c = surrogate_constants(surrogate)
    k = torch.full((), k_val, dtype=m.dtype, device=m.device)
    if surrogate.kind == "atan":
        den = torch.addcmul(-thr * k, m, k)                  # k * (V - thr)
        torch.addcmul(one, den, den, out=den)                # 1 + (k x)^2
    else:
        den = torch.sub(m, thr).abs_()
        torch.addcmul(one, den, k, out=den)                  # 1 + k |x|
        den.mul_(den)
    zero = torch.zeros((), dtype=den.dtype, device=den.device)
    if gv is None or want_thr:
        torch.addcdiv(zero, gs, den, value=c, out=den)     # den <- gS * g
        if want_thr:
            g_thr_surr = -den.sum()
        if gv is not None:
            den.add_(gv)
    else:
        torch.addcdiv(gv, gs, den, value=c, out=den)
    return den, g_thr_surr


def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    a, b = a.reshape(-1), b.reshape(-1)
    if a.numel() == 0:
        return torch.zeros((), dtype=a.dtype, device=a.device)
    if a.dtype in (torch.float32, torch.float64):
        return torch.dot(a, b)
    return torch.dot(a.float(), b.float()).to(a.dtype)


def _backward_rows_torch(m, gs, gv, beta, thr, reset, surrogate, need_beta, need_thr):
    """Reverse scan with torch ops (``T + 6`` kernels): ``(dL/dI [T, N], dL/dbeta, dL/dthr)``."""
    T = m.shape[0]
    # delta starts as the direct gradient and becomes dL/dI in place.
    delta, g_thr = _direct_grad(m, thr, gs, gv, surrogate, need_thr)
    prev_spk = None
    if T > 1 and (reset == "zero" or (reset == "subtract" and need_thr)):
        prev_spk = torch.ge(m[:-1], thr).to(m.dtype)          # S[t-1] for t = 1..T-1
    if reset == "zero" and T > 1:
        # dV[t+1]/dV[t] = beta * (1 - S[t]): beta or exactly 0
        factor = torch.addcmul(beta, prev_spk, -beta)
        for t in range(T - 2, -1, -1):
            delta[t].addcmul_(delta[t + 1], factor[t])
    else:
        for t in range(T - 2, -1, -1):
            delta[t].addcmul_(delta[t + 1], beta)
    g_beta = None
    if need_beta:
        if reset == "zero" and T > 1:
            prev_mem = torch.addcmul(m[:-1], m[:-1], prev_spk, value=-1)   # V[t-1] * (1 - S[t-1])
        else:
            prev_mem = m[:-1]
        g_beta = _dot(delta[1:], prev_mem)
    if need_thr and reset == "subtract" and T > 1:
        g_thr = g_thr - _dot(delta[1:], prev_spk)
    return delta, g_beta, g_thr if need_thr else None


# --------------------------------------------------------------------------- autograd node

class _FusedLIF(torch.autograd.Function):
    @staticmethod
    def forward(ctx, current, beta, thr, reset, surrogate):
        T = current.shape[0]
        inp = _rows(current)
        if inp is None:
            current = current.contiguous()
            inp = current.view(T, -1)
        spikes, mem = _like(current), _like(current)
        n = inp.shape[1]
        s, v = spikes.as_strided((T, n), (n, 1)), mem.as_strided((T, n), (n, 1))
        how = backend(current)
        if n == 0:
            pass
        elif how == "cpp":
            cpu_kernel().lif_forward(inp, s, v, float(beta), float(thr), _RESET_CODE[reset])
        elif how == "triton":
            try:
                triton_kernels().forward(inp, s, v, beta, thr, reset)
            except Exception as e:  # compile-time failure on this machine: the torch ops are exact too
                _triton_failed(e)
                _forward_rows_torch(inp, s, v, beta, thr, reset)
        else:
            _forward_rows_torch(inp, s, v, beta, thr, reset)
        ctx.save_for_backward(mem, beta, thr)
        ctx.reset, ctx.surrogate = reset, surrogate
        ctx.set_materialize_grads(False)   # an unused membrane output gets no zero-filled gradient
        return spikes, mem

    @staticmethod
    @once_differentiable
    def backward(ctx, g_spikes, g_mem):
        mem, beta, thr = ctx.saved_tensors
        reset, surrogate = ctx.reset, ctx.surrogate
        need_beta, need_thr = ctx.needs_input_grad[1], ctx.needs_input_grad[2]
        if g_spikes is None and g_mem is None:
            return None, None, None, None, None
        T, n = mem.shape[0], mem[0].numel()
        m = mem.as_strided((T, n), (n, 1))
        gs, gv = _rows_as(g_spikes, mem), _rows_as(g_mem, mem)
        how = backend(mem)
        if how in ("cpp", "triton"):
            g_cur = torch.empty_like(mem)
            gi = g_cur.as_strided((T, n), (n, 1))
            sums = None
            if n == 0:
                sums = torch.zeros(2, dtype=mem.dtype, device=mem.device)
            elif how == "cpp":
                sums = cpu_kernel().lif_backward(m, gi, gs, gv, float(beta), float(thr), _RESET_CODE[reset],
                                                 _SURROGATE_CODE[surrogate.kind], float(surrogate.scale),
                                                 bool(need_beta), bool(need_thr))
            else:
                try:
                    sums = triton_kernels().backward(m, gi, gs, gv, beta, thr, reset, surrogate, need_beta, need_thr)
                except Exception as e:  # as in forward: fall through to the torch ops
                    _triton_failed(e)
            if sums is not None:
                sums = sums.to(mem.dtype)
                return (g_cur, sums[0].reshape(beta.shape) if need_beta else None,
                        sums[1].reshape(thr.shape) if need_thr else None, None, None)
        delta, g_beta, g_thr = _backward_rows_torch(m, gs, gv, beta, thr, reset, surrogate, need_beta, need_thr)
        g_cur = delta.as_strided(mem.shape, mem.stride())
        g_beta = None if g_beta is None else g_beta.reshape(beta.shape)
        g_thr = None if g_thr is None else g_thr.reshape(thr.shape)
        return g_cur, g_beta, g_thr, None, None


def lif_fused(
    current: torch.Tensor,
    beta: torch.Tensor,
    threshold: torch.Tensor,
    reset: str,
    surrogate: Surrogate,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fused LIF scan: returns ``(spikes, membrane)``, both ``[T, B, ...]`` in ``current``'s layout
    (contiguous or channels-last stay so).

    ``beta`` and ``threshold`` are scalars (Python numbers or one-element tensors, learnable or not).
    Tensors with more than one element (per-neuron parameters) fall back to the reference loop.
    """
    if reset not in _RESETS:
        raise ValueError(f"LIF reset must be one of {_RESETS}, got {reset!r}")
    beta = torch.as_tensor(beta, dtype=current.dtype, device=current.device)
    threshold = torch.as_tensor(threshold, dtype=current.dtype, device=current.device)
    if beta.numel() != 1 or threshold.numel() != 1:
        from .lif import lif_loop
        return lif_loop(current, beta, threshold, reset, surrogate)
    return _FusedLIF.apply(current, beta.reshape(()), threshold.reshape(()), reset, surrogate)
