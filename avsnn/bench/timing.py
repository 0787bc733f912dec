"""Step timing and memory: :func:`run_bench` times the :data:`~avsnn.bench.NETWORKS` on one batch.

Also the measurement helpers it is built from: :func:`saved_tensor_bytes` (what autograd keeps for
backward), a LIF forward+backward micro benchmark, and :func:`check_sizes` (the sizes' minima).
"""

from __future__ import annotations

import os
import platform
import resource
import statistics
import time
from typing import Callable, Optional

import torch

from ..device import keep_freed_memory, resolve_device, use_channels_last
from ..models import L2ActSpikeNet
from .baselines import LIF, build_networks, fallbacks, mse_count_loss, set_backend, used_backends
from .baselines import lif_backend as backend_for
from .breakdown import time_breakdown, trace_top
from .loading import data_loading

__all__ = ["SIZE_MINIMA", "check_sizes", "saved_tensor_bytes", "run_bench"]

SIZE_MINIMA = {"width": 1, "timesteps": 1, "batch": 1, "steps": 1, "warmup": 0, "threads": 1}
CORRECT_RATE, INCORRECT_RATE = 0.9, 0.1


def check_sizes(**sizes) -> None:
    """Each of ``width, timesteps, batch, steps, warmup, threads`` given must be an integer >= :data:`SIZE_MINIMA`."""
    for name, v in sizes.items():
        if v is None and name == "threads":
            continue
        if isinstance(v, bool) or not isinstance(v, int) or v < SIZE_MINIMA[name]:
            raise ValueError(f"{name} must be an integer >= {SIZE_MINIMA[name]}, got {v!r}")


def saved_tensor_bytes(fn: Callable[[], torch.Tensor], exclude: tuple = ()) -> int:
    """Bytes autograd saves for backward while ``fn()`` builds its graph (distinct storages only).

    Tensors sharing storage with ``exclude`` (e.g. parameters) are not counted.
    """
    skip = {t.untyped_storage().data_ptr() for t in exclude}
    seen: dict = {}

    def pack(t):
        try:
            st = t.untyped_storage()
            ptr = st.data_ptr()
            if ptr not in skip:
                seen[ptr] = st.nbytes()
        except (RuntimeError, NotImplementedError):
            pass
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    del out
    return int(sum(seen.values()))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _loss(out, labels):
    return mse_count_loss(out.spikes, labels, CORRECT_RATE, INCORRECT_RATE)


def _make_step(model, opt, x, y, amp: bool = False):
    def step():
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=amp):
            out = model(x)
        loss = _loss(out, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss

    return step


def _median_ms(ts):
    return statistics.median(ts) * 1e3


def _lif_micro(shape, device, reps: int, backend: str = "auto") -> dict:
    """Forward+backward of one LIF layer (``backend`` vs loop) and its autograd-saved bytes."""
    g = torch.Generator(device="cpu").manual_seed(0)
    x0 = (torch.randn(shape, generator=g) * 0.8 + 0.3).to(device)
    gs = torch.randn(shape, generator=g).to(device)
    res = {"shape": list(shape)}
    lifs = {"fused": LIF(backend=backend).to(device), "loop": LIF(backend="loop").to(device)}
    times = {k: [] for k in lifs}
    for i in range(reps + 2):
        for k, lif in lifs.items():
            x = x0.clone().requires_grad_()
            _sync(device)
            t0 = time.perf_counter()
            (lif(x) * gs).sum().backward()
            _sync(device)
            if i >= 2:
                times[k].append(time.perf_counter() - t0)
    for k, lif in lifs.items():
        x = x0.clone().requires_grad_()
        res[f"{k}_ms"] = _median_ms(times[k])
        res[f"{k}_saved_bytes"] = saved_tensor_bytes(lambda: lif(x), exclude=(x,))
    res["loop_over_fused"] = res["loop_ms"] / res["fused_ms"]
    res["lif_backend"] = lifs["fused"].last_backend
    return res


def run_bench(
    width: int = 16,
    timesteps: int = 4,
    batch: int = 32,
    steps: int = 10,
    device: str = "auto",
    *,
    warmup: int = 2,
    data: Optional[str] = "synthetic",
    trace: bool = False,
    lif_micro: bool = True,
    seed: int = 0,
    verbose: bool = False,
    channels_last: bool = False,
    amp: bool = False,
    breakdown: bool = False,
    lif_backend: str = "auto",
) -> dict:
    """Time a training step of L2ActSpikeNet against its ANN floor, the snnTorch idiom and the loop LIF.

    ``channels_last`` puts every network and the input in channels-last memory format; ``amp`` runs
    the forward passes under bfloat16 autocast (both as the training loop does on CUDA).
    ``lif_backend``: the avsnn network's LIF backend (an unavailable explicit one fails first).
    ``breakdown`` adds the CPU time by category (:func:`~avsnn.bench.time_breakdown`), ``trace`` the
    top ``torch.profiler`` ops of the avsnn step (printed too when ``verbose``); both run after the
    timing. Returns a JSON-ready dict (see :mod:`avsnn.bench`); times in milliseconds, memory in MB.
    """
    check_sizes(width=width, timesteps=timesteps, batch=batch, steps=steps, warmup=warmup)
    dev = resolve_device(device)
    channels_last = use_channels_last(channels_last, dev)  # explicit on CPU: probed first, fails fast
    malloc_tuned = keep_freed_memory() if dev.type == "cpu" else False
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(batch, 3, 32, 32, generator=g).to(dev)
    backend_check = backend_for(x, amp, lif_backend)  # an unavailable explicit backend: fail before timing
    net = set_backend(L2ActSpikeNet(num_classes=10, width=width, timesteps=timesteps), lif_backend)
    models = build_networks(net.to(dev))
    y = torch.randint(0, 10, (batch,), generator=g).to(dev)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
        for m in models.values():
            m.to(memory_format=torch.channels_last)
    steps_fn = {}
    for name, m in models.items():
        m.train()
        opt = torch.optim.Adam(m.parameters(), lr=1e-3, weight_decay=1e-4)
        steps_fn[name] = _make_step(m, opt, x, y, amp)

    # Memory: autograd-saved bytes of one forward (parameters excluded), and CUDA peaks.
    saved = {}
    for name, m in models.items():
        params = tuple(m.parameters())
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):
            saved[name] = saved_tensor_bytes(lambda: _loss(m(x), y), exclude=params)
    peak_mb = {}
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for name, step in steps_fn.items():
        for _ in range(warmup):
            step()
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
            torch.cuda.reset_peak_memory_stats(dev)
            step()
            torch.cuda.synchronize(dev)
            peak_mb[name] = torch.cuda.max_memory_allocated(dev) / 2**20
        else:
            peak_mb[name] = saved[name] / 2**20
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    times = {name: [] for name in steps_fn}
    for _ in range(steps):  # interleaved: each round times every network once
        for name, step in steps_fn.items():
            _sync(dev)
            t0 = time.perf_counter()
            step()
            _sync(dev)
            times[name].append(time.perf_counter() - t0)
    med = {name: _median_ms(ts) for name, ts in times.items()}
    best = {name: min(ts) * 1e3 for name, ts in times.items()}

    result = {
        "device": str(dev) if dev.type != "cuda" else f"cuda ({torch.cuda.get_device_name(dev)})",
        "config": {
            "width": width,
            "timesteps": timesteps,
            "batch": batch,
            "steps": steps,
            "warmup": warmup,
            "model": "L2ActSpikeNet(head='l2', block='act_after_add')",
            "optimizer": "Adam",
            "loss": "mse_count_loss(0.9, 0.1)",
            "channels_last": channels_last,
            "amp_bf16": amp,
        },
        "lif_backend": used_backends(models["avsnn"]) or backend_check,  # what ran the timed LIF scans
        "lif_backend_requested": lif_backend,
        "lif_backend_fallbacks": fallbacks(),  # {backend: reason} of each fallback of "auto"
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "malloc_keeps_freed_memory": malloc_tuned,
        "cpu_count": os.cpu_count(),
        "load_avg": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "step_ms": med,
        "step_ms_min": best,
        "step_ms_raw": {name: [t * 1e3 for t in ts] for name, ts in times.items()},
        "spiking_over_ann": med["avsnn"] / med["ann"],
        "snntorch_over_avsnn": med["snntorch"] / med["avsnn"],
        "loop_over_fused": med["loop"] / med["avsnn"],
        "ratios_from_min": {
            "spiking_over_ann": best["avsnn"] / best["ann"],
            "snntorch_over_avsnn": best["snntorch"] / best["avsnn"],
            "loop_over_fused": best["loop"] / best["avsnn"],
        },
        "img_per_s": {name: batch / (ms / 1e3) for name, ms in med.items()},
        "peak_memory_mb": peak_mb,
        "peak_memory_method": (
            "torch.cuda.max_memory_allocated over one step"
            if dev.type == "cuda"
            else "CPU: autograd-saved activation bytes of one step (parameters excluded)"
        ),
        "process_maxrss_mb": {"before_warmup": rss0 / 1024, "after_warmup": rss1 / 1024},
        "saved_bytes": {"step": saved},
    }
    if lif_micro:
        micro = _lif_micro((timesteps, batch, width, 32, 32), dev, reps=max(3, steps), backend=lif_backend)
        result["lif_fwd_bwd"] = micro
        result["saved_bytes"]["lif_layer"] = {
            "shape": micro["shape"],
            "fused": micro["fused_saved_bytes"],
            "loop": micro["loop_saved_bytes"],
        }
    result["data_loading"] = data_loading(batch, med["avsnn"] / 1e3, data)
    if breakdown and dev.type == "cpu":
        result["breakdown_ms"] = {name: time_breakdown(steps_fn[name]) for name in ("avsnn", "ann")}
    if trace:
        top, table = trace_top(steps_fn["avsnn"], dev)
        result["profile_avsnn_top"] = top  # the JSON key predates the name "trace"
        if verbose:
            print(table)
    return result
