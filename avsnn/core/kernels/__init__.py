"""The LIF scan kernels: the whole ``T``-step scan as one autograd node with a hand-written backward.

Forward (the equations of :mod:`avsnn.core.lif`, Eqs. 1 and 17)::

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

Only the membrane ``V`` is saved (spikes are recomputed from it): one ``[T, B, ...]`` tensor per
layer instead of the several per step that the loop's autograd graph keeps.

One file per backend, one dispatcher:

* :mod:`.codes` -- the reset and surrogate names and the codes the compiled kernels take;
* :mod:`.reference` -- :func:`lif_loop`, the readable per-step loop every backend is tested against;
* :mod:`.torch_ops` -- the scan in torch ops (any device and dtype);
* :mod:`.cpp` -- the CPU C++ kernel (source ``lif_scan.cpp``), built on first use;
* :mod:`.triton` -- the CUDA Triton kernels (imported only when needed);
* :mod:`.dispatch` -- the backend names (:data:`BACKENDS`, :func:`supported_backends`), the choice
  per call (:func:`resolve_backend`) and :func:`lif_fused`, the public function.

Beside the scan, the same C++ extension serves two CPU speed-ups that keep ATen's numbers bit for bit:
:mod:`.pool` (the audio network's 2x2 max pool, one pass per direction) and :mod:`.norm` (training-mode
batch-norm statistics, several channels' sums side by side).

Spikes equal the reference loop's bit for bit (same arithmetic order, no FMA contraction) and the
membrane and gradients agree to rounding (``tests/test_fused.py``).
"""

from .codes import RESETS, SURROGATES
from .cpp import cpu_kernel
from .dispatch import (
    BACKENDS,
    BackendFallback,
    BackendUnavailable,
    fallbacks,
    lif_fused,
    resolve_backend,
    supported_backends,
)
from .reference import lif_loop

__all__ = [
    "BACKENDS",
    "RESETS",
    "SURROGATES",
    "BackendFallback",
    "BackendUnavailable",
    "cpu_kernel",
    "fallbacks",
    "lif_fused",
    "lif_loop",
    "resolve_backend",
    "supported_backends",
]
