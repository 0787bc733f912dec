"""Training-step benchmark: avsnn's multi-step spiking ResNet against its floors and the snnTorch idiom.

``python -m avsnn.bench --width 16 --timesteps 4 --batch 32 --out bench.json`` (or ``avsnn bench ...``)
times one training step (forward + MSE count loss + backward + Adam step; median over ``steps``
after warm-up) of four networks built from **the same** :class:`~avsnn.models.L2ActSpikeNet`
weights, in the same process, interleaved step by step (so background load hits all alike):

``avsnn``    the model as shipped: stateless layers on ``[T*B, ...]``, fused LIF scans.
``ann``      the floor: the same model with every LIF replaced by ``nn.ReLU`` -- the same convs,
             BNs and head on the same ``T*B`` images, no scan.
``snntorch`` :class:`SnnTorchStyleResNet`: the same layers, written the snnTorch way -- a Python
             loop over T, every stateless layer called per step on ``[B, ...]``, one
             ``snntorch.Leaky`` call per step and layer.
``loop``     the avsnn model with ``LIF(impl="loop")`` (autograd records every step): what the
             fused LIF node buys.

Reported (and written to ``--out`` as JSON): raw step times, ``spiking_over_ann`` (avsnn / ann),
``snntorch_over_avsnn`` (snntorch / avsnn), ``loop_over_fused``, images per second, peak memory
(CUDA: ``max_memory_allocated``; CPU: the autograd-saved bytes of one step, which is the part of
peak memory the design controls -- process RSS is reported too but is not per network), the
autograd-saved bytes of a single LIF layer (fused vs loop), a LIF forward+backward micro
benchmark, the data pipeline against the training steps it feeds (``data_loading``: vision images
and cached log-mel spectrograms, see :func:`data_loading`), and with ``--breakdown`` the CPU time
of a step by category (:func:`time_breakdown`). ``--channels-last`` and ``--amp`` (bf16
autocast) run all four networks that way.

GPU paths (``--device cuda``) use ``torch.cuda.synchronize`` around each timed step;
``scripts/gpu_check.sh`` runs them on a lent GPU (not yet run: no GPU was lent so far).
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import platform
import resource
import statistics
import sys
import time
from typing import Callable, Optional

import torch
from torch import nn

from .core.lif import LIF
from .core.loss import mse_count_loss
from .device import keep_freed_memory, resolve_device, use_channels_last
from .models.twin import ann_twin

__all__ = ["SnnTorchStyleResNet", "ann_twin", "loop_twin", "saved_tensor_bytes", "time_breakdown", "data_loading",
           "run_bench", "add_bench_parser", "cmd_bench", "main"]

VARIANTS = ("avsnn", "ann", "snntorch", "loop")
CORRECT_RATE, INCORRECT_RATE = 0.9, 0.1


# --------------------------------------------------------------------------- model twins

def loop_twin(model: nn.Module) -> nn.Module:
    """A deep copy of ``model`` whose LIF layers use the reference per-step autograd loop."""
    twin = copy.deepcopy(model)
    for m in twin.modules():
        if isinstance(m, LIF):
            m.impl = "loop"
    return twin


def _static(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Run a (possibly :class:`SeqToANN`-wrapped) stateless module on a time-free ``[B, ...]`` batch."""
    from .models.layers import SeqToANN
    if isinstance(module, SeqToANN):
        return module.forward_static(x)
    return module(x)


def _leaky_like(lif: LIF):
    import snntorch
    import snntorch.surrogate as snn_sg
    s = lif.surrogate
    if s.kind == "atan":
        spike_grad = snn_sg.atan(alpha=s.scale)
    else:
        spike_grad = snn_sg.fast_sigmoid(slope=s.scale)
    return snntorch.Leaky(beta=float(lif.beta), threshold=float(lif.threshold), spike_grad=spike_grad,
                          reset_mechanism=lif.reset)


class SnnTorchStyleResNet(nn.Module):
    """``L2ActSpikeNet`` (``block="act_after_add"``) written the snnTorch way, on the same layers.

    Wraps the stateless modules of ``model`` (shared, not copied: deep-copy the model first for
    independent weights) and replaces each :class:`LIF` by an ``snntorch.Leaky`` with the same
    beta, threshold, reset and surrogate. ``forward(x [B, C, H, W])`` loops over ``T``: at every
    step the stem conv, every block (conv / BN / shortcut on ``[B, ...]``, one ``Leaky`` call per
    neuron layer with its membrane carried explicitly) and the pool run once; the time-averaged
    features then go through the head's classifier and its output ``Leaky`` is stepped over ``T``.

    It computes the same function as the avsnn model except (a) snnTorch fires on ``V > thr``
    where avsnn fires on ``V >= thr`` (they differ only on exact ties) and (b) in training mode
    each per-step BatchNorm call normalises over ``B`` samples of one step (the snnTorch idiom)
    instead of ``T*B`` samples of all steps; in eval mode (running statistics) the two agree.
    Returns a :class:`~avsnn.models.ModelOutput`.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        if getattr(model, "block", None) != "act_after_add":
            raise ValueError("SnnTorchStyleResNet mirrors L2ActSpikeNet(block='act_after_add') only")
        self.net = model
        self.timesteps = model.timesteps
        # One Leaky per LIF, keyed by the LIF's qualified name (kept in a ModuleDict for .to()).
        self.leaky = nn.ModuleDict({name.replace(".", "__"): _leaky_like(m)
                                    for name, m in model.named_modules() if isinstance(m, LIF)})
        ref = next(model.parameters(), None)
        if ref is not None:
            self.leaky.to(device=ref.device, dtype=ref.dtype)

    def _neuron(self, name: str):
        return self.leaky[name.replace(".", "__")]

    def _step_lif(self, name: str, cur: torch.Tensor, state: dict) -> torch.Tensor:
        mem = state.get(name)
        if mem is None:
            mem = torch.zeros_like(cur)
        spk, state[name] = self._neuron(name)(cur, mem)
        return spk.to(cur.dtype)  # snnTorch's surrogate returns float32 spikes; no-op for float32

    def forward(self, x: torch.Tensor):
        from .models.output import ModelOutput
        net = self.net
        state: dict = {}
        features = []
        for _ in range(self.timesteps):
            out = self._step_lif("stem.lif", _static(net.stem.conv, x), state)
            out = _static(net.stem.bn, out)
            for stage in ("layer1", "layer2", "layer3", "layer4"):
                for i, blk in enumerate(getattr(net, stage)):
                    pre = f"{stage}.{i}."
                    h = self._step_lif(pre + "lif1", _static(blk.conv1, out), state)
                    h = _static(blk.bn2, _static(blk.conv2, _static(blk.bn1, h)))
                    out = self._step_lif(pre + "lif_out", h + _static(blk.shortcut, out), state)
            features.append(_static(net.pool, out))
        features = torch.stack(features)
        head = net.head
        if head.head == "l2":
            logits, z_av = head.classifier(features, return_features=True)
            per_step = [logits] * self.timesteps
            current = logits.unsqueeze(0).expand(self.timesteps, *logits.shape)
        else:
            per_step = [_static(head.classifier, f) for f in features]
            current = torch.stack(per_step)
            z_av = features.mean(dim=0)
        spikes = torch.stack([self._step_lif("head.output_lif", c, state) for c in per_step])
        return ModelOutput(spikes=spikes, features=features, z_av=z_av, current=current)


# --------------------------------------------------------------------------- measurement helpers

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


def _lif_micro(shape, device, reps: int) -> dict:
    """Forward+backward of one LIF layer (fused vs loop) and its autograd-saved bytes."""
    g = torch.Generator(device="cpu").manual_seed(0)
    x0 = (torch.randn(shape, generator=g) * 0.8 + 0.3).to(device)
    gs = torch.randn(shape, generator=g).to(device)
    res = {"shape": list(shape)}
    lifs = {"fused": LIF(impl="fused").to(device), "loop": LIF(impl="loop").to(device)}
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
    return res


def _batches_per_s(source, batch: int, n: int, reps: int) -> float:
    g = torch.Generator().manual_seed(0)
    idxs = [torch.randperm(n, generator=g)[:batch] for _ in range(reps)]
    source.batch(idxs[0])
    t0 = time.perf_counter()
    for idx in idxs:
        source.batch(idx)
    return reps / (time.perf_counter() - t0)


def _audio_step_s(source, batch: int, steps: int = 3) -> float:
    """Median seconds of a training step of the default-profile spiking audio network."""
    from .train.loop import build_model
    from .train.profiles import make_config
    cfg = make_config("audio", "default")
    x, y = source.batch(torch.arange(min(batch, len(source))))
    torch.manual_seed(0)
    model = build_model(cfg, int(source.num_classes)).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    times = []
    for _ in range(steps + 1):
        t0 = time.perf_counter()
        loss = mse_count_loss(model(x).spikes, y, cfg.correct_rate, cfg.incorrect_rate)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    return statistics.median(times[1:])


def data_loading(batch: int, step_s: float, data: Optional[str], reps: int = 50) -> dict:
    """How fast ``avsnn.data`` feeds training, against the training steps it feeds.

    The pipeline decodes images once and computes log-mel spectrograms once into a checked disk
    cache; a dataset build loads them into memory, and every training batch is then cut from
    those tensors. Measured here: the build from the warm cache (items/s; the first build also
    fills the cache, reported as ``cold``) and batches/s of cutting, for vision (against the
    benchmarked vision step) and audio (against a step of the default audio network).
    """
    if data is None:
        return {"skipped": "data=None"}
    try:
        from .train.batching import as_array_data
        from .train.loop import load_datasets
        from .train.profiles import make_config
    except ImportError as e:  # pragma: no cover - depends on what is installed
        return {"skipped": f"avsnn.data unavailable: {e}"}
    out: dict = {"dataset": data, "method": "avsnn.train.batching.ArrayData.batch"}
    for modality in ("vision", "audio"):
        # the default profile's samples (the book's cache) of the embedded set; all of a folder
        cfg = make_config(modality, "default", data=data)
        if data != "embedded":
            cfg = cfg.replace(per_class=None)
        try:
            t0 = time.perf_counter()
            train, _ = load_datasets(cfg)
            first_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            train, _ = load_datasets(cfg)   # warm: everything cached on disk
            warm_s = time.perf_counter() - t0
        except Exception as e:  # a missing / half-written dataset must not lose the timings
            out[modality] = {"skipped": f"build_datasets({data!r}) failed: {type(e).__name__}: {e}"}
            continue
        source = as_array_data(train, modality)
        n = len(source)
        rec = {"samples": n, "build_first_s": first_s, "build_warm_s": warm_s, "items_per_s_warm": n / warm_s,
               "batches_per_s": _batches_per_s(source, batch, n, reps)}
        rec["train_step_s"] = step_s if modality == "vision" else _audio_step_s(source, batch)
        rec["train_steps_per_s"] = 1.0 / rec["train_step_s"]
        rec["data_over_step"] = rec["train_steps_per_s"] / rec["batches_per_s"]
        out[modality] = rec
    v = out.get("vision", {})
    if "batches_per_s" in v:   # flat keys kept for the JSON's readers
        out.update(data_batches_per_s=v["batches_per_s"], train_steps_per_s=v["train_steps_per_s"],
                   data_over_step=v["data_over_step"], samples=v["samples"])
    return out


def _profile_top(step, device, n_steps: int = 3, rows: int = 15) -> tuple[list, str]:
    from torch.profiler import ProfilerActivity, profile
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=acts) as prof:
        for _ in range(n_steps):
            step()
        _sync(device)
    avg = prof.key_averages()
    if device.type == "cuda":
        key, attr = "self_cuda_time_total", "self_device_time_total"
    else:
        key, attr = "self_cpu_time_total", "self_cpu_time_total"
    items = sorted(avg, key=lambda e: getattr(e, attr, 0), reverse=True)
    total = sum(getattr(e, attr, 0) for e in avg) or 1
    top = [{"op": e.key, "calls": e.count // n_steps,
            "self_ms_per_step": getattr(e, attr, 0) / 1e3 / n_steps,
            "share": getattr(e, attr, 0) / total} for e in items[:rows]]
    return top, avg.table(sort_by=key, row_limit=rows)


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
    """Send file descriptor 2 to /dev/null while the profiler starts and stops: its C++ backend
    logs timestamped start/stop lines (and, without a GPU, a device-count error) straight to fd 2."""
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
    """CPU time of one training step split by category (ms per step), from ``torch.profiler``.

    Every profiled op's *self* time goes to the first category matched by its name or by one of
    its ancestors' names (so Adam's element-wise ops count as ``optimizer``, the C++/Triton LIF
    kernels -- no aten ops -- as ``LIF scan``, conv and BN backward kernels as theirs). CPU
    only: on CUDA the host-side times this measures are not where the time goes.

    Call it after any timing in the same process: once the profiler has run, custom autograd
    nodes (the fused LIF) stay measurably slower in that process (seen here: a step 189 ->
    223 ms while the ANN step did not move), so ``run_bench`` profiles only after timing.
    """
    from torch.profiler import ProfilerActivity, profile
    step()
    with _kineto_quiet(), profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(n_steps):
            step()
    out = {cat: 0.0 for cat, _ in CATEGORIES}
    out[OTHER] = 0.0
    for ev in prof.events():
        out[_category(ev)] += ev.self_cpu_time_total / 1e3 / n_steps
    return out


# --------------------------------------------------------------------------- the benchmark

def run_bench(width: int = 16, timesteps: int = 4, batch: int = 32, steps: int = 10, device: str = "auto",
              *, warmup: int = 2, data: Optional[str] = "embedded", profile: bool = False,
              lif_micro: bool = True, seed: int = 0, verbose: bool = False, channels_last: bool = False,
              amp: bool = False, breakdown: bool = False) -> dict:
    """Time a training step of L2ActSpikeNet against its ANN floor, the snnTorch idiom and the loop LIF.

    ``channels_last`` puts every network and the input in channels-last memory format; ``amp`` runs
    the forward passes under bfloat16 autocast (both as the training loop does on CUDA).
    Returns a JSON-ready dict (see the module docstring); times in milliseconds, memory in MB.
    """
    from .models import L2ActSpikeNet

    dev = resolve_device(device)
    channels_last = use_channels_last(channels_last, dev)   # explicit on CPU: probed first, fails fast
    malloc_tuned = keep_freed_memory() if dev.type == "cpu" else False
    torch.manual_seed(seed)
    base = L2ActSpikeNet(num_classes=10, width=width, timesteps=timesteps).to(dev)
    models = {
        "avsnn": base,
        "ann": ann_twin(base),
        "snntorch": SnnTorchStyleResNet(copy.deepcopy(base)),
        "loop": loop_twin(base),
    }
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(batch, 3, 32, 32, generator=g).to(dev)
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
        "config": {"width": width, "timesteps": timesteps, "batch": batch, "steps": steps, "warmup": warmup,
                   "model": "L2ActSpikeNet(head='l2', block='act_after_add')", "optimizer": "Adam",
                   "loss": "mse_count_loss(0.9, 0.1)", "channels_last": channels_last, "amp_bf16": amp},
        "lif_backend": _lif_backend(x, amp),
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
        "ratios_from_min": {"spiking_over_ann": best["avsnn"] / best["ann"],
                            "snntorch_over_avsnn": best["snntorch"] / best["avsnn"],
                            "loop_over_fused": best["loop"] / best["avsnn"]},
        "img_per_s": {name: batch / (ms / 1e3) for name, ms in med.items()},
        "peak_memory_mb": peak_mb,
        "peak_memory_method": ("torch.cuda.max_memory_allocated over one step" if dev.type == "cuda" else
                               "CPU: autograd-saved activation bytes of one step (parameters excluded)"),
        "process_maxrss_mb": {"before_warmup": rss0 / 1024, "after_warmup": rss1 / 1024},
        "saved_bytes": {"step": saved},
    }
    if lif_micro:
        micro = _lif_micro((timesteps, batch, width, 32, 32), dev, reps=max(3, steps))
        result["lif_fwd_bwd"] = micro
        result["saved_bytes"]["lif_layer"] = {"shape": micro["shape"], "fused": micro["fused_saved_bytes"],
                                              "loop": micro["loop_saved_bytes"]}
    result["data_loading"] = data_loading(batch, med["avsnn"] / 1e3, data)
    if breakdown and dev.type == "cpu":
        result["breakdown_ms"] = {name: time_breakdown(steps_fn[name]) for name in ("avsnn", "ann")}
    if profile:
        top, table = _profile_top(steps_fn["avsnn"], dev)
        result["profile_avsnn_top"] = top
        if verbose:
            print(table)
    return result


def _lif_backend(x: torch.Tensor, amp: bool) -> str:
    from .core.fused import backend
    dtype = torch.bfloat16 if amp else x.dtype
    return backend(torch.empty(0, device=x.device, dtype=dtype))


def format_table(res: dict) -> str:
    """Human-readable summary of :func:`run_bench`'s result."""
    lines = [f"device={res['device']} torch={res['torch']} threads={res['threads']} "
             f"config={res['config']['width']}w T={res['config']['timesteps']} B={res['config']['batch']} "
             f"steps={res['config']['steps']} channels_last={res['config'].get('channels_last', False)} "
             f"amp={res['config'].get('amp_bf16', False)} lif_backend={res.get('lif_backend', '?')} "
             f"malloc_keeps_freed_memory={res.get('malloc_keeps_freed_memory')}",
             f"{'network':<10}{'step ms (median)':>18}{'min ms':>10}{'img/s':>10}{'mem MB':>10}"]
    for name in VARIANTS:
        lines.append(f"{name:<10}{res['step_ms'][name]:>18.1f}{res['step_ms_min'][name]:>10.1f}"
                     f"{res['img_per_s'][name]:>10.1f}{res['peak_memory_mb'][name]:>10.1f}")
    lines.append(f"spiking_over_ann={res['spiking_over_ann']:.3f}  snntorch_over_avsnn="
                 f"{res['snntorch_over_avsnn']:.3f}  loop_over_fused={res['loop_over_fused']:.3f}  "
                 f"(from min: {res['ratios_from_min']['spiking_over_ann']:.3f} / "
                 f"{res['ratios_from_min']['snntorch_over_avsnn']:.3f} / "
                 f"{res['ratios_from_min']['loop_over_fused']:.3f})")
    lines.append(f"memory: {res['peak_memory_method']}")
    if "lif_fwd_bwd" in res:
        m = res["lif_fwd_bwd"]
        lines.append(f"LIF fwd+bwd {m['shape']}: fused {m['fused_ms']:.2f} ms, loop {m['loop_ms']:.2f} ms; "
                     f"saved {m['fused_saved_bytes'] / 2**20:.1f} MB vs {m['loop_saved_bytes'] / 2**20:.1f} MB")
    d = res.get("data_loading", {})
    for modality in ("vision", "audio"):
        m = d.get(modality, {})
        if "batches_per_s" in m:
            lines.append(f"data ({modality}): build from the warm cache {m['items_per_s_warm']:.0f} items/s "
                         f"(first build {m['build_first_s']:.1f} s); {m['batches_per_s']:.0f} batches/s vs "
                         f"{m['train_steps_per_s']:.2f} train steps/s -> loading is "
                         f"{100 * m['data_over_step']:.2f}% of a step")
        elif "skipped" in m:
            lines.append(f"data ({modality}): {m['skipped']}")
    if "skipped" in d:
        lines.append(f"data: {d['skipped']}")
    for name, parts in res.get("breakdown_ms", {}).items():
        lines.append(f"{name} step by category (ms): " + ", ".join(f"{k} {v:.1f}" for k, v in parts.items()))
    for row in res.get("profile_avsnn_top", [])[:10]:
        lines.append(f"  {row['op']:<45}{row['self_ms_per_step']:>9.1f} ms/step {100 * row['share']:>5.1f}%")
    return "\n".join(lines)


# --------------------------------------------------------------------------- command line

def add_bench_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``bench`` on an ``argparse`` subparsers object (used by the main ``avsnn`` CLI)."""
    p = subparsers.add_parser("bench", help="time a training step: avsnn vs ANN floor vs snnTorch idiom",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("--width", type=int, default=16, help="ResNet base width (paper: 64)")
    p.add_argument("--timesteps", "-T", type=int, default=4)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--steps", type=int, default=10, help="timed steps per network (median reported)")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads before timing")
    p.add_argument("--channels-last", action="store_true", help="networks and input in channels-last format")
    p.add_argument("--amp", action="store_true", help="forward passes under bfloat16 autocast")
    p.add_argument("--data", default="embedded",
                   help="dataset for the data-loading figure ('none' to skip)")
    p.add_argument("--profile", action="store_true", help="torch.profiler table of the avsnn step")
    p.add_argument("--breakdown", action="store_true", help="CPU time by category (conv, BN, LIF, ...)")
    p.add_argument("--out", default=None, help="write the result as JSON to this file")
    p.set_defaults(func=cmd_bench)
    return p


def cmd_bench(args) -> dict:
    if args.threads:
        torch.set_num_threads(args.threads)
    res = run_bench(args.width, args.timesteps, args.batch, args.steps, args.device, warmup=args.warmup,
                    data=None if str(args.data).lower() == "none" else args.data, profile=args.profile,
                    verbose=args.profile, channels_last=args.channels_last, amp=args.amp,
                    breakdown=args.breakdown)
    print(format_table(res))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(res, f, indent=2)
        print(f"wrote {args.out}")
    return res


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="avsnn-bench")
    sub = parser.add_subparsers(dest="command")
    add_bench_parser(sub)
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] != "bench":
        argv = ["bench"] + argv
    args = parser.parse_args(argv)
    args.func(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
