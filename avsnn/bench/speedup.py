"""Before/after: the training steps of a default-profile run with and without the CPU speed-ups, in one process.

``python -m avsnn.bench --speedup --data avdigits --out speedup.json`` (or ``avsnn bench --speedup ...``;
``OMP_NUM_THREADS=1`` for the book's one-thread runs) builds the network, the optimiser and the
data of the default profile for each modality (:func:`avsnn.train.make_config`, the fitted part of
the training split) as :func:`avsnn.train.train_or_load` does, copies the network once per way and
times blocks of ``steps`` training steps (a batch in the seeded order, forward, loss, backward,
optimiser step: the loop of :mod:`avsnn.train.fit`) the two :data:`WAYS`, interleaved block by block
(the order alternating per round), so background load hits both alike:

``before``  every speed-up switched off (:func:`before`): the code as it ran before them;
``after``   the code as shipped.

Both ways start from the same weights, see the same batches and the same random numbers per block
(dropout), so where the speed-ups keep the numbers bit for bit their weights are equal at the end
(``identical``). Reported per modality: images per second of each way (``batch * steps`` over the
median block time), ``ratio`` (after over before), the raw block times, and ``identical``.

The speed-ups (each off inside :func:`before`), all bit for bit: the training-mode batch-norm
statistics on the C++ kernel (:mod:`avsnn.core.kernels.norm`, off in :func:`~avsnn.core.kernels.norm.aten_norm`),
the audio network's 2x2 max pool on it (:mod:`avsnn.core.kernels.pool`, off in
:func:`~avsnn.core.kernels.pool.aten_pool`), and glibc serving no block with ``mmap``
(:func:`avsnn.device.keep_freed_memory`, off in :func:`avsnn.device.mmap_large_blocks`; blocks below
32 MB are kept in the heap both ways). ``overrides`` time another configuration, for example the
ablation ``variant=no_pooling``, whose activations are the large blocks.
"""

from __future__ import annotations

import contextlib
import copy
import os
import platform
import statistics
import time
from typing import Optional, Sequence

import torch

from ..core.kernels.norm import aten_norm
from ..core.kernels.pool import aten_pool
from ..device import keep_freed_memory, mmap_large_blocks
from ..isa import describe as describe_isa
from ..train import make_config
from ..train.factories import build_model, load_datasets, split_validation
from ..train.fit import fit_input_norm, loss_of, make_optimizer
from ..train.seeding import seed_everything

__all__ = ["WAYS", "before", "speedup_bench", "format_speedup"]

#: the two ways timed: with every speed-up switched off, and as shipped
WAYS = ("before", "after")
#: the modalities timed by default (fusion trains an SMLP on cached features: not a CPU cost of note)
MODALITIES = ("vision", "audio")


@contextlib.contextmanager
def before():
    """Inside the block every CPU speed-up is off: training runs as it did before them."""
    with aten_pool(), aten_norm(), mmap_large_blocks():
        yield


def _way(name: str):
    return before() if name == "before" else contextlib.nullcontext()


def _time_modality(modality: str, profile: str, data: str, steps: int, repeats: int, warmup: int, seed: int, overrides):
    from ..data.batching import as_array_data

    cfg = make_config(modality, profile, data=data, overrides=list(overrides or []))
    train, _ = load_datasets(cfg)
    train, _ = split_validation(cfg, as_array_data(train, modality))
    seed_everything(cfg.seed)
    model = build_model(cfg, train.num_classes)
    fit_input_norm(model, train)
    models = {w: copy.deepcopy(model).train() for w in WAYS}
    opts = {w: make_optimizer(cfg, m.parameters()) for w, m in models.items()}
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))
    n_batches = max(len(train) // cfg.batch_size, 1)

    def block(way: str, r: int) -> float:
        net, opt = models[way], opts[way]
        torch.manual_seed(seed + r)  # the same dropout masks for both ways
        with _way(way):
            t0 = time.perf_counter()
            for s in range(steps):
                b = (r * steps + s) % n_batches
                x, y = train.batch(order[b * cfg.batch_size : (b + 1) * cfg.batch_size])
                loss = loss_of(cfg, net(x), y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            return time.perf_counter() - t0

    times = {w: [] for w in WAYS}
    for r in range(warmup + repeats):
        for way in WAYS if r % 2 == 0 else WAYS[::-1]:
            dt = block(way, r)
            if r >= warmup:
                times[way].append(dt)
    images = steps * min(cfg.batch_size, len(train))
    img_per_s = {w: images / statistics.median(ts) for w, ts in times.items()}
    states = [models[w].state_dict() for w in WAYS]
    return {
        "config_hash": cfg.hash(),
        "batch_size": cfg.batch_size,
        "img_per_s": img_per_s,
        "ratio": img_per_s["after"] / img_per_s["before"],
        "block_s_raw": times,
        "identical": all(torch.equal(states[0][k], states[1][k]) for k in states[0]),
    }


def speedup_bench(
    modalities: Sequence[str] = MODALITIES,
    data: str = "synthetic",
    steps: int = 5,
    repeats: int = 5,
    warmup: int = 1,
    seed: int = 0,
    profile: str = "default",
    overrides: Optional[Sequence[str]] = None,
) -> dict:
    """Time the training steps of ``profile`` runs the :data:`WAYS`, interleaved; see the module docstring.

    Parameters
    ----------
    modalities : sequence of str
        ``"vision"`` and/or ``"audio"``.
    data : str
        Dataset name or folder (as ``avsnn train --data``); ``"avdigits"`` for the book's runs.
    steps, repeats, warmup : int
        Training steps per timed block; timed rounds (each times both ways once); untimed rounds first.
    seed : int
        Seeds the batch order and each block's random numbers.
    profile : str
        Training profile (:data:`avsnn.train.PROFILES`).
    overrides : sequence of str, optional
        ``"key=value"`` settings on top of the profile, as for :func:`avsnn.train.make_config`.

    Returns
    -------
    dict
        JSON-ready: the host (``device``, ``threads``, ``cpu_isa``, ...), the settings, and per modality
        ``img_per_s`` ``{"before", "after"}``, ``ratio``, ``block_s_raw``, ``identical``.
    """
    for name, v, least in (("steps", steps, 1), ("repeats", repeats, 1), ("warmup", warmup, 0)):
        if isinstance(v, bool) or not isinstance(v, int) or v < least:
            raise ValueError(f"{name} must be an integer >= {least}, got {v!r}")
    unknown = [m for m in modalities if m not in MODALITIES]
    if unknown or not modalities:
        raise ValueError(f"modalities must be some of {list(MODALITIES)}, got {list(modalities)}")
    malloc_tuned = keep_freed_memory()  # as CPU training does
    res = {
        "device": "cpu",
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "cpu_isa": describe_isa(),
        "cpu_count": os.cpu_count(),
        "load_avg": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "malloc_keeps_freed_memory": malloc_tuned,
        "profile": profile,
        "overrides": list(overrides or []),
        "data": data,
        "steps": steps,
        "repeats": repeats,
        "warmup": warmup,
        "modalities": {},
    }
    for modality in modalities:
        res["modalities"][modality] = _time_modality(modality, profile, data, steps, repeats, warmup, seed, overrides)
    return res


def format_speedup(res: dict) -> str:
    """The before/after table of :func:`speedup_bench`'s result (what ``avsnn bench --speedup`` prints)."""
    lines = [
        f"{res['profile']}-profile training steps on {res['data']}"
        + "".join(f" {o}" for o in res.get("overrides", []))
        + f", {res['device']} threads={res['threads']} "
        f"torch={res['torch']}, {res['cpu_isa']}; median of {res['repeats']} interleaved blocks of "
        f"{res['steps']} steps per way",
        f"{'modality':<10}{'before img/s':>14}{'after img/s':>13}{'ratio':>8}  identical",
    ]
    for modality, m in res["modalities"].items():
        lines.append(
            f"{modality:<10}{m['img_per_s']['before']:>14.1f}{m['img_per_s']['after']:>13.1f}"
            f"{m['ratio']:>7.2f}x  {'yes' if m['identical'] else 'NO'}"
        )
    return "\n".join(lines)
