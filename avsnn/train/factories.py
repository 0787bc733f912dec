"""The network and the data a config describes, and the validation part carved from the training split.

These are the default builders of :func:`avsnn.train.train_or_load`; tests and experiments replace
them through its ``model_fn`` / ``data_fn`` arguments.
"""

from __future__ import annotations

from typing import Optional

import torch

from avsnn.core import surrogate as sg
from avsnn.core.lif import set_backend, set_learnable
from avsnn.data import build_datasets
from avsnn.data.batching import ArrayData, subset, validation_split
from avsnn.models import SMLP, L2ActSpikeNet, SpikingAudioNet, ann_twin

from .config import RunConfig

__all__ = ["build_model", "load_datasets", "split_validation"]


def build_model(cfg: RunConfig, num_classes: int, input_dims: Optional[dict] = None) -> torch.nn.Module:
    """The network ``cfg`` describes (vision: L2ActSpikeNet, audio: SpikingAudioNet, fusion: SMLP)."""
    spike = sg.from_name(cfg.surrogate, cfg.surrogate_scale)
    common = dict(
        num_classes=num_classes,
        # ReLU is stateless and every step sees the same input, so the ANN twin's T steps would be
        # T copies of one pass: it runs one (its time average is that pass)
        timesteps=1 if cfg.neuron == "relu" else cfg.timesteps,
        head=cfg.head,
        beta=cfg.beta,
        threshold=cfg.threshold,
        surrogate=spike,
    )
    if cfg.modality == "vision":
        block = cfg.variant  # for vision the variant is the residual block (VARIANTS)
        net = L2ActSpikeNet(
            width=cfg.width,
            block=block,
            zero_init_residual=cfg.zero_init_residual,
            input_norm=cfg.input_norm,
            image_norm=cfg.image_norm,
            **common,
        )
    elif cfg.modality == "audio":
        ablation = cfg.variant  # "full" (the paper's network) or one part ablated
        net = SpikingAudioNet(
            n_mels=cfg.n_mels,
            n_frames=cfg.audio_settings().n_frames,
            channels=tuple(cfg.audio_channels),
            variant=ablation,
            dropout=cfg.dropout,
            input_norm=cfg.input_norm,
            spectrogram_norm=cfg.spectrogram_norm,
            head_threshold=cfg.head_threshold,
            pool_grad=cfg.pool_grad,
            **common,
        )
    elif not input_dims:
        raise ValueError("a fusion model needs input_dims")
    else:
        net = SMLP(dict(input_dims), hidden=tuple(cfg.hidden), project_dim=cfg.project_dim, **common)
    if cfg.neuron == "relu":
        return ann_twin(net, copy_model=False)
    return set_learnable(set_backend(net, cfg.lif_backend), cfg.learn_beta, cfg.learn_threshold)


def load_datasets(cfg: RunConfig):
    """``(train, test)`` datasets of a vision/audio config via :func:`avsnn.data.build_datasets`."""
    return build_datasets(
        cfg.dataset,
        root=cfg.data_root,
        modality=cfg.modality,
        audio=cfg.audio_settings(),
        train_frac=cfg.train_frac,
        seed=cfg.split_seed,
        per_class=cfg.per_class,
        image_size=cfg.image_size,
    )


def split_validation(cfg: RunConfig, train: ArrayData) -> tuple[ArrayData, Optional[ArrayData]]:
    """``(fit_part, val_part)`` of the training split for ``cfg.val_frac`` (``(train, None)`` when 0)."""
    if cfg.val_frac == 0:
        return train, None
    fit_idx, val_idx = validation_split(train.labels, cfg.val_frac, cfg.split_seed)
    return subset(train, fit_idx), subset(train, val_idx)
