"""Where to run: one function shared by training, evaluation and the benchmark (torch only)."""
from __future__ import annotations

import ctypes
import os

import torch


def resolve_device(name: str) -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; ``"cuda"`` without a GPU is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device='cuda' requested but CUDA is not available")
    return torch.device(name)


def env_switch(name: str) -> bool:
    """An on/off environment switch, on unless set to 0 / false / no / off (``AVSNN_FUSED_CPP`` ...)."""
    return os.environ.get(name, "1").strip().lower() not in ("0", "false", "no", "off")


_MALLOC_TUNED: list = []


def keep_freed_memory() -> bool:
    """Ask glibc's ``malloc`` to keep freed memory for reuse instead of returning it to the OS.

    PyTorch's CPU allocator is plain ``malloc``. glibc serves large blocks (an activation of a
    few MB) with ``mmap`` and gives them back with ``munmap`` when freed, so a training step
    that allocates and frees the same buffers every step page-faults them in again each time;
    how often depends on the process's history. Measured with ``avsnn bench`` (width 16, T=4,
    channels-last, 2-core CPU): spiking step 195 ms +- 40 (1.26x the ANN) -> 182 ms +- 15
    (1.11x). This is the in-process form of the caching allocators (jemalloc / tcmalloc)
    PyTorch's CPU performance guide recommends: freed blocks below 32 MB stay in the heap, and
    the heap is trimmed only above 1 GB free. Called by the benchmark and by CPU training;
    ``AVSNN_MALLOC_TUNE=0`` turns it off. Returns whether the settings were applied (glibc only).
    """
    if _MALLOC_TUNED:
        return _MALLOC_TUNED[0]
    ok = False
    if env_switch("AVSNN_MALLOC_TUNE"):
        try:
            libc = ctypes.CDLL("libc.so.6")
            M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3   # <malloc.h>
            ok = (libc.mallopt(M_MMAP_THRESHOLD, 32 << 20) == 1 and libc.mallopt(M_TRIM_THRESHOLD, 1 << 30) == 1
                  and libc.mallopt(M_TOP_PAD, 64 << 20) == 1)
        except (OSError, AttributeError):   # not glibc (macOS, musl): nothing to tune
            ok = False
    _MALLOC_TUNED.append(ok)
    return ok
