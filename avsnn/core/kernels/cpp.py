"""The LIF scan on CPU: the C++ kernel of ``lif_scan.cpp``, built on first use.

One pass over memory per direction: each thread takes chunks of neurons and runs the whole
``T``-step scan on them while they sit in cache. Forward reads ``I`` and writes ``S`` and ``V``;
backward reads ``V``, ``dL/dS``, ``dL/dV`` and writes ``dL/dI``, with the beta / threshold gradients
reduced per chunk in float64 and skipped (with the reads of ``V[t-1]``) when both are frozen.
float32 and float64 only. The same extension holds the 2x2 max pool of :mod:`.pool` and the batch-norm
statistics of :mod:`.norm`.

Built with ``torch.utils.cpp_extension`` (a C++ compiler and ninja; cached in
``~/.cache/torch_extensions``). ``AVSNN_FUSED_CPP=0`` disables it; after a failed build
:func:`cpu_kernel_error` says why, and the dispatcher (:mod:`.dispatch`) reports it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import sysconfig
import threading
from pathlib import Path

import torch

from ...device import env_switch
from ..surrogate import Surrogate
from .codes import RESET_CODE, SURROGATE_CODE

SOURCE = Path(__file__).with_name("lif_scan.cpp")

_lock = threading.Lock()
_state: dict = {}


CFLAGS, LDFLAGS = ["-O3", "-fopenmp"], ["-fopenmp"]


def cpp_build_key() -> str:
    """Short hash of everything that changes the build: source text and path, flags, compiler, torch, interpreter.

    Two virtual environments (another ``sys.executable``, torch or include paths) or two checkouts
    sharing one (another source path, which the build records) get build folders of their own
    instead of rebuilding each other's.
    """
    from torch.utils import cpp_extension

    parts = [
        SOURCE.read_text(),
        str(SOURCE.resolve()),
        torch.__version__,
        sys.executable,
        sysconfig.get_paths()["include"],
        *cpp_extension.include_paths(),
        *CFLAGS,
        *LDFLAGS,
        os.environ.get("CXX", "c++"),
    ]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:12]


def _build_name() -> str:
    """The extension's name, which is also its build folder under ``~/.cache/torch_extensions``."""
    return f"avsnn_lif_cpu_{cpp_build_key()}"


#: printed on stderr when the kernel is about to be compiled (not when a built one is loaded)
COMPILE_NOTICE = "avsnn: compiling the CPU LIF kernel (once, ~60 s; `make env` does it ahead)..."


def is_built() -> bool:
    """Whether the extension of this build key is compiled already (loading it then takes no compiler)."""
    from torch.utils.cpp_extension import _get_build_directory

    name = _build_name()
    return (Path(_get_build_directory(name, verbose=False)) / f"{name}.so").is_file()


def _build():
    """Compile and load the extension (raises if that fails); one line on stderr when it compiles."""
    quiet = logging.getLogger("torch.utils.cpp_extension")  # its import logs CUDA_HOME notes
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        from torch.utils.cpp_extension import load

        if not is_built():
            print(COMPILE_NOTICE, file=sys.stderr, flush=True)

        return load(
            name=_build_name(), sources=[str(SOURCE)], extra_cflags=CFLAGS, extra_ldflags=LDFLAGS, verbose=False
        )
    finally:
        quiet.setLevel(level)


def cpu_kernel():
    """The compiled extension module, or ``None`` (disabled, or the build failed: see :func:`cpu_kernel_error`)."""
    if "module" in _state:
        return _state["module"]
    with _lock:
        if "module" not in _state:
            module, error = None, None
            if not env_switch("AVSNN_FUSED_CPP"):
                error = "disabled by AVSNN_FUSED_CPP=0"
            else:
                try:
                    module = _build()
                except Exception as e:  # no compiler / ninja / headers: the dispatcher reports it
                    error = f"build failed: {type(e).__name__}: {(str(e).strip().splitlines() or [''])[0][:300]}"
            _state["module"], _state["error"] = module, error
        return _state["module"]


def cpu_kernel_error():
    """Why :func:`cpu_kernel` is ``None`` (``None`` if it is available or was not tried yet)."""
    return _state.get("error")


def forward(inp, S, V, beta: torch.Tensor, thr: torch.Tensor, reset: str) -> None:
    """Fill ``S`` and ``V`` (contiguous ``[T, N]``) from ``inp`` (``[T, N]``, unit column stride)."""
    cpu_kernel().lif_forward(inp, S, V, float(beta), float(thr), RESET_CODE[reset])


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
    """Write ``dL/dI`` into ``GI``; return ``[dL/dbeta, dL/dthr]`` (float64)."""
    k, c = surrogate.constants
    return cpu_kernel().lif_backward(
        V,
        GI,
        g_spk,
        g_mem,
        float(beta),
        float(thr),
        RESET_CODE[reset],
        SURROGATE_CODE[surrogate.kind],
        k,
        c,
        bool(grad_beta),
        bool(grad_thr),
    )
