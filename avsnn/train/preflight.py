"""Checks a run passes before anything is written: its data, the cache, the run store and its memory.

:func:`check_before_training` is called by :func:`avsnn.train.train_or_load` before the run folder
is made and the config printed, so a mistyped dataset, a missing home folder, a run store that is
a file, or a network that cannot fit in memory ends in one line and leaves nothing behind.

The memory a configuration needs is estimated without allocating it (:func:`estimate_memory`):
the network is built on PyTorch's ``meta`` device, which records shapes but holds no data, and one
training batch is passed through it. The estimate counts the parameters with their gradients and
optimiser state, and the outputs of every layer for one batch (what the backward pass keeps). It is
a lower bound: autograd's own saved tensors, the data set and the allocator's slack come on top,
and vision inputs are taken at 32 x 32 pixels (a data set stored larger needs more).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
from torch import nn

from avsnn.console import one_line
from avsnn.data import check_data_source, default_cache_dir
from avsnn.data.images import IMAGE_SIZE
from avsnn.device import available_memory
from avsnn.files import check_output_folder

from .config import RunConfig
from .factories import build_model

__all__ = ["MemoryEstimate", "check_before_training", "check_memory", "estimate_memory"]

#: per-parameter buffers each optimiser keeps (Adam: two moments; SGD: the momentum)
OPTIMIZER_STATES = {"adam": 2, "adamw": 2, "sgd": 1}
#: the fields that set a network's size, named when it cannot fit
SIZE_FIELDS = {
    "vision": ("width", "batch_size", "timesteps"),
    "audio": ("audio_channels", "n_mels", "duration_s", "hop_length", "batch_size", "timesteps"),
    "fusion": ("hidden", "project_dim", "batch_size", "timesteps"),
}
#: classes assumed before the data are read (the head is a small part of any network)
NUM_CLASSES = 10


@dataclass(frozen=True)
class MemoryEstimate:
    """What one training step of a configuration holds at least (see the module docstring)."""

    params: int  #: parameters
    activations: int  #: layer outputs of one training batch
    bytes: int  #: both in bytes, with gradients and optimiser state


def _meta_model(cfg: RunConfig) -> nn.Module:
    """``cfg``'s network on the ``meta`` device (shapes only), its fusion inputs' sizes from theirs."""
    dims = None
    if cfg.modality == "fusion":
        dims = {name: _meta_model(sub).feature_dim for name, sub in cfg.sub_configs.items()}
    with torch.device("meta"):
        return build_model(cfg, NUM_CLASSES, dims)


def _meta_batch(cfg: RunConfig, model: nn.Module):
    b = cfg.batch_size
    if cfg.modality == "vision":
        return torch.empty(b, 3, IMAGE_SIZE, IMAGE_SIZE, device="meta")
    if cfg.modality == "audio":
        a = cfg.audio_settings()
        return torch.empty(b, 1, a.n_mels, a.n_frames, device="meta")
    return {name: torch.empty(b, dim, device="meta") for name, dim in model.input_dims.items()}


def estimate_memory(cfg: RunConfig) -> MemoryEstimate:
    """The memory one training step of ``cfg`` needs at least, found on the ``meta`` device (nothing allocated).

    A size the network's constructor rejects (an audio clip too short for its poolings ...) raises its
    ``ValueError`` here.
    """
    model = _meta_model(cfg).train()
    params = sum(p.numel() for p in model.parameters())
    counted = [0]

    def count(_module, _inputs, out):
        if isinstance(out, torch.Tensor):
            counted[0] += out.numel()

    hooks = [
        m.register_forward_hook(count)
        for m in model.modules()
        if not any(True for _ in m.children()) and not isinstance(m, nn.Identity)
    ]
    try:
        model(_meta_batch(cfg, model))
    finally:
        for h in hooks:
            h.remove()
    value_bytes = 2 if cfg.amp else 4  # amp: bfloat16 activations
    total = 4 * params * (2 + OPTIMIZER_STATES[cfg.optimizer]) + value_bytes * counted[0]
    return MemoryEstimate(params=params, activations=counted[0], bytes=total)


def _gib(n: int) -> str:
    return f"{n / 2**30:,.1f} GiB"


def check_memory(cfg: RunConfig, device) -> None:
    """A ``ValueError`` naming the size fields when ``cfg``'s network needs more memory than ``device`` has free."""
    free = available_memory(device)
    if free is None:
        return
    sizes = ", ".join(f"{k}={getattr(cfg, k)}" for k in SIZE_FIELDS[cfg.modality])
    try:
        est = estimate_memory(cfg)
    except RuntimeError as e:  # a tensor with more elements than an int64 counts
        if "overflow" not in str(e):
            raise
        raise ValueError(
            f"{sizes}: the {cfg.modality} network is too large to be built ({one_line(e)}); expected smaller sizes"
        ) from None
    if est.bytes > free:
        raise ValueError(
            f"{sizes}: the {cfg.modality} network needs at least {_gib(est.bytes)} ({est.params:,} parameters "
            f"with gradients and {cfg.optimizer} state, {est.activations:,} layer outputs per batch), more than "
            f"the {_gib(free)} free on {torch.device(device).type}; expected smaller sizes"
        )


def check_before_training(
    cfg: RunConfig, store_root: os.PathLike | str, device, data: bool = True, memory: bool = True
) -> None:
    """Check everything a run can check before it writes, raising one-line errors.

    The run store must be a writable folder; with ``data``, the dataset must exist and the cache have a
    place; with ``memory``, ``cfg``'s network and its fusion inputs' networks must fit in memory.
    ``data`` / ``memory`` are off when the caller supplies its own data or model builder.
    """
    check_output_folder(store_root, "run store (--runs or $AVSNN_RUNS)")
    configs = (*cfg.sub_configs.values(), cfg)
    if data:
        for c in configs:
            check_data_source(c.dataset, c.data_root)
        default_cache_dir()
    if memory:
        for c in configs:
            check_memory(c, device)
