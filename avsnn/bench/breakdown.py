"""Where a training step's time goes, from ``torch.profiler``: CPU time by category, or a top-ops trace.

"Trace" names ``torch.profiler`` here, to keep it apart from the training profiles
(:mod:`avsnn.train.profiles`) and MAC/SOP counting (:func:`avsnn.models.count_ops`).
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Callable

import torch
from torch.profiler import ProfilerActivity

__all__ = ["CATEGORIES", "OTHER", "time_breakdown", "trace_top"]

# (category, substrings of profiler event names, lower case); the first category found walking
# up from an event to its ancestors gets the event's self time.
CATEGORIES = (
    ("optimizer", ("optimizer.step",)),
    ("LIF scan", ("fusedlif",)),
    ("convolution", ("convolution",)),
    ("batch norm", ("batch_norm",)),
    ("ReLU", ("relu", "threshold_backward")),
)
OTHER = "other (loss, head, pooling, adds, autograd)"


def _category(event) -> str:
    e = event
    while e is not None:
        name = e.name.lower()
        for cat, keys in CATEGORIES:
            if any(k in name for k in keys):
                return cat
        e = e.cpu_parent
    return OTHER


@contextlib.contextmanager
def _kineto_quiet():
    """Send file descriptor 2 to /dev/null while the profiler starts and stops.

    Its C++ backend logs timestamped start/stop lines (and, without a GPU, a device-count error)
    straight to fd 2.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def time_breakdown(step: Callable[[], object], n_steps: int = 3) -> dict:
    """CPU time of one training step split by :data:`CATEGORIES` (ms per step), from ``torch.profiler``.

    Every profiled op's *self* time goes to the first category matched by its name or by one of
    its ancestors' names (so Adam's element-wise ops count as ``optimizer``, the C++/Triton LIF
    kernels -- no aten ops -- as ``LIF scan``, conv and BN backward kernels as theirs). CPU
    only: on CUDA the host-side times this measures are not where the time goes.

    Call it after any timing in the same process: once the profiler has run, custom autograd
    nodes (the fused LIF) stay slower in that process, so ``run_bench`` profiles only after timing.
    """
    step()
    with _kineto_quiet(), torch.profiler.profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(n_steps):
            step()
    out = {cat: 0.0 for cat, _ in CATEGORIES}
    out[OTHER] = 0.0
    for ev in prof.events():
        out[_category(ev)] += ev.self_cpu_time_total / 1e3 / n_steps
    return out


def trace_top(step: Callable[[], object], device: torch.device, n_steps: int = 3, rows: int = 15) -> tuple[list, str]:
    """The ``rows`` ops with the most self time (device time on CUDA) over ``n_steps`` steps.

    Returns the rows as dicts (``op``, ``calls`` and ``self_ms_per_step`` per step, ``share`` of
    the total) and ``torch.profiler``'s own table of them.
    """
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with torch.profiler.profile(activities=acts) as prof:
        for _ in range(n_steps):
            step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    avg = prof.key_averages()
    if device.type == "cuda":
        key, attr = "self_cuda_time_total", "self_device_time_total"
    else:
        key, attr = "self_cpu_time_total", "self_cpu_time_total"
    items = sorted(avg, key=lambda e: getattr(e, attr, 0), reverse=True)
    total = sum(getattr(e, attr, 0) for e in avg) or 1
    top = [
        {
            "op": e.key,
            "calls": e.count // n_steps,
            "self_ms_per_step": getattr(e, attr, 0) / 1e3 / n_steps,
            "share": getattr(e, attr, 0) / total,
        }
        for e in items[:rows]
    ]
    return top, avg.table(sort_by=key, row_limit=rows)
