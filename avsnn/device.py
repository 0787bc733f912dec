"""Where to run: one function shared by training, evaluation and the benchmark (torch only).

torch is imported inside the functions that use it: the command line reads :data:`DEVICES` for its
``--help`` without importing torch.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import subprocess
import sys
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    import torch

DEVICES = ("auto", "cpu", "cuda")  # the names resolve_device accepts


def resolve_device(name: str) -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; ``"cuda"`` without a GPU is an error."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device='cuda' requested but CUDA is not available")
    return torch.device(name)


#: Inference batch on a CPU. A larger one is slower per sample, not faster: a spiking layer's
#: ``[T, B, ...]`` activations then pass malloc's largest heap block (32 MB), so every batch maps
#: fresh pages and faults them in.
CPU_EVAL_BATCH = 32
#: Inference batch on an accelerator (at least the training batch).
GPU_EVAL_BATCH = 256


def eval_batch_size(device, train_batch: int = 0) -> int:
    """Batch size for forward-only passes (evaluation, feature extraction) on ``device``."""
    import torch

    if torch.device(device).type == "cpu":
        return CPU_EVAL_BATCH
    return max(GPU_EVAL_BATCH, int(train_batch))


# The operation that hangs (several threads) or crashes (one thread) in oneDNN's AVX2 1x1 strided
# convolution backward in some torch builds on AVX2-only CPUs; every ResNet downsample shortcut runs it.
_CHANNELS_LAST_PROBE = """
import torch
conv = torch.nn.Conv2d(4, 8, 1, stride=2, bias=False).to(memory_format=torch.channels_last)
x = torch.randn(32, 4, 32, 32).to(memory_format=torch.channels_last).requires_grad_()
conv(x).sum().backward()
print("ok")
"""
_PROBED: dict = {}


def channels_last_cpu_probe(timeout_s: float = 30.0) -> tuple[bool, str]:
    """Whether a channels-last 1x1 stride-2 convolution backward finishes on this CPU.

    Runs the operation in subprocesses with a time limit, with this process's thread count and
    with one thread (on AVX2-only hosts with some oneDNN builds it spins forever or segfaults,
    depending on the thread count), and returns ``(safe, reason)``; cached per process.
    """
    import torch

    if "cpu" not in _PROBED:
        ok, why = True, ""
        for threads in sorted({torch.get_num_threads(), 1}, reverse=True):
            env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
            try:
                r = subprocess.run(
                    [sys.executable, "-c", _CHANNELS_LAST_PROBE],
                    capture_output=True,
                    text=True,
                    timeout=timeout_s,
                    env=env,
                )
                if r.returncode != 0 or not r.stdout.strip().endswith("ok"):
                    ok, why = False, f"with {threads} thread(s) the probe exited with code {r.returncode}"
            except subprocess.TimeoutExpired:
                ok, why = False, f"with {threads} thread(s) the probe did not finish in {timeout_s:.0f} s"
            if not ok:
                break
        _PROBED["cpu"] = (ok, why)
    return _PROBED["cpu"]


def use_channels_last(flag: Optional[bool], device: torch.device) -> bool:
    """Resolve ``RunConfig.channels_last``: ``None`` (auto) is on for CUDA and off for CPU.

    An explicit ``True`` on CPU is honoured only where :func:`channels_last_cpu_probe` passes;
    elsewhere it raises at once instead of hanging in the first backward pass.
    """
    if flag is None:
        return device.type == "cuda"
    if flag and device.type == "cpu":
        ok, why = channels_last_cpu_probe()
        if not ok:
            raise RuntimeError(
                f"channels_last=true is unsafe on this CPU: a channels-last 1x1 stride-2 convolution "
                f"backward hangs or crashes in this torch/oneDNN build ({why}); use channels_last=false"
            )
    return bool(flag)


def env_switch(name: str) -> bool:
    """An on/off environment switch, on unless set to 0 / false / no / off (``AVSNN_FUSED_CPP`` ...)."""
    return os.environ.get(name, "1").strip().lower() not in ("0", "false", "no", "off")


_MALLOC_TUNED: list = []
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD, M_MMAP_MAX = -1, -2, -3, -4  # mallopt's options (<malloc.h>)
#: glibc's default ``M_MMAP_MAX``: how many blocks it may serve with ``mmap`` at once
GLIBC_MMAP_MAX = 65536


def keep_freed_memory() -> bool:
    """Ask glibc's ``malloc`` to keep freed memory for reuse instead of returning it to the OS.

    PyTorch's CPU allocator is plain ``malloc``. glibc serves large blocks (an activation of a
    few MB) with ``mmap`` and gives them back with ``munmap`` when freed, so a training step
    that allocates and frees the same buffers every step page-faults them in again each time;
    how often depends on the process's history, which makes step times both slower and noisier
    (``avsnn bench`` shows the difference).
    This is the in-process form of the caching allocators (jemalloc / tcmalloc)
    PyTorch's CPU performance guide recommends: no block is served by ``mmap`` (glibc caps the
    ``mmap`` threshold at 32 MB, and the full-resolution activations of the ``no_pooling`` audio
    ablation are larger), so freed blocks stay in the heap for the next step, and the heap is
    trimmed only above 1 GB free. Where to put a block does not change what is computed in it
    (the tensors stay 64-byte aligned), so the numbers are the same with and without it
    (``tests/test_bench.py``). Called by the benchmark and by CPU training;
    ``AVSNN_MALLOC_TUNE=0`` turns it off. Returns whether the settings were applied (glibc only).
    """
    if _MALLOC_TUNED:
        return _MALLOC_TUNED[0]
    ok = False
    if env_switch("AVSNN_MALLOC_TUNE"):
        try:
            libc = ctypes.CDLL("libc.so.6")
            ok = (
                libc.mallopt(M_MMAP_THRESHOLD, 32 << 20) == 1
                and libc.mallopt(M_MMAP_MAX, 0) == 1
                and libc.mallopt(M_TRIM_THRESHOLD, 1 << 30) == 1
                and libc.mallopt(M_TOP_PAD, 64 << 20) == 1
            )
        except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to tune
            ok = False
    _MALLOC_TUNED.append(ok)
    return ok


@contextlib.contextmanager
def mmap_large_blocks():
    """Inside the block glibc serves large blocks with ``mmap`` again, as without :func:`keep_freed_memory`.

    For the before/after benchmark (:mod:`avsnn.bench.speedup`): the heap's free memory is handed back
    first (``malloc_trim``), so the block's allocations fault their pages in as they did before the tuning.
    Nothing happens where the tuning was not applied.
    """
    if not (_MALLOC_TUNED and _MALLOC_TUNED[0]):
        yield
        return
    libc = ctypes.CDLL("libc.so.6")
    libc.mallopt(M_MMAP_MAX, GLIBC_MMAP_MAX)
    libc.malloc_trim(0)
    try:
        yield
    finally:
        libc.mallopt(M_MMAP_MAX, 0)


def _cgroup_room() -> Optional[int]:
    """Bytes the cgroup v2 memory limit of this process still allows (``None`` when there is none)."""
    base = "/sys/fs/cgroup"
    try:
        with open(f"{base}/memory.max") as f:
            limit = f.read().strip()
        if limit == "max":
            return None
        with open(f"{base}/memory.current") as f:
            return max(int(limit) - int(f.read().strip()), 0)
    except (OSError, ValueError):
        return None


def available_memory(device) -> Optional[int]:
    """Bytes a new allocation on ``device`` can take now, or ``None`` when unknown.

    CPU: ``MemAvailable`` of ``/proc/meminfo`` (else the free physical pages), and no more than a
    cgroup v2 limit leaves; CUDA: the free memory :func:`torch.cuda.mem_get_info` reports.
    """
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    if device.type != "cpu":
        return None
    free = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    free = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        pass
    if free is None:
        try:
            free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):  # not POSIX
            return None
    room = _cgroup_room()
    return free if room is None else min(free, room)
