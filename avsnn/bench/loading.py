"""The data-loading benchmark: how fast ``avsnn.data`` feeds training, against the steps it feeds."""

from __future__ import annotations

import statistics
import time
from typing import Optional

import torch

from ..data.batching import as_array_data
from ..train.factories import build_model, load_datasets
from ..train.profiles import make_config
from .baselines import mse_count_loss

__all__ = ["data_loading"]


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
    fills the cache, reported as ``build_first_s``) and batches/s of cutting, for vision (against
    a vision step of ``step_s`` seconds) and audio (against a step of the default audio network).
    ``data=None`` skips it.
    """
    if data is None:
        return {"skipped": "data=None"}
    out: dict = {"dataset": data, "method": "avsnn.data.batching.ArrayData.batch"}
    for modality in ("vision", "audio"):
        # the default profile's samples (the book's cache) of a generated set; all of a folder
        cfg = make_config(modality, "default", data=data)
        if cfg.dataset != "synthetic":
            cfg = cfg.replace(per_class=None)
        try:
            t0 = time.perf_counter()
            train, _ = load_datasets(cfg)
            first_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            train, _ = load_datasets(cfg)  # warm: everything cached on disk
            warm_s = time.perf_counter() - t0
        except Exception as e:  # a missing / half-written dataset must not lose the timings
            out[modality] = {"skipped": f"build_datasets({data!r}) failed: {type(e).__name__}: {e}"}
            continue
        source = as_array_data(train, modality)
        n = len(source)
        rec = {
            "samples": n,
            "build_first_s": first_s,
            "build_warm_s": warm_s,
            "items_per_s_warm": n / warm_s,
            "batches_per_s": _batches_per_s(source, batch, n, reps),
        }
        rec["train_step_s"] = step_s if modality == "vision" else _audio_step_s(source, batch)
        rec["train_steps_per_s"] = 1.0 / rec["train_step_s"]
        rec["data_over_step"] = rec["train_steps_per_s"] / rec["batches_per_s"]
        out[modality] = rec
    v = out.get("vision", {})
    if "batches_per_s" in v:  # flat keys kept for the JSON's readers
        out.update(
            data_batches_per_s=v["batches_per_s"],
            train_steps_per_s=v["train_steps_per_s"],
            data_over_step=v["data_over_step"],
            samples=v["samples"],
        )
    return out
