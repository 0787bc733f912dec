"""Tiny models and datasets for the training-engine tests (imported by tests/test_train_*.py).

Module-level functions so that they pickle into spawned DDP workers.
"""

from __future__ import annotations

import torch
from torch import nn

import avsnn
from avsnn.models import ModelOutput

NUM_CLASSES = 3


class TinyData:
    """Preloaded-dataset look-alike: clustered 2x4x4 "images" (float) + labels."""

    def __init__(self, n_per_class: int, seed: int):
        g = torch.Generator().manual_seed(seed)
        centres = torch.randn(NUM_CLASSES, 2, 4, 4, generator=torch.Generator().manual_seed(99)) * 2
        labels = torch.arange(NUM_CLASSES).repeat_interleave(n_per_class)
        self.images = centres[labels] + 0.5 * torch.randn(len(labels), 2, 4, 4, generator=g)
        self.labels = labels
        self.classes = [f"c{i}" for i in range(NUM_CLASSES)]
        self.keys = [f"s{seed}_{i}" for i in range(len(labels))]
        self.spectrograms = self.images[:, :1]  # "audio" view for fusion tests

    @property
    def num_classes(self):
        return NUM_CLASSES

    def __len__(self):
        return len(self.labels)


def tiny_data(cfg):
    return TinyData(20, 1), TinyData(8, 2)


class TinyNet(nn.Module):
    """Linear -> [BN] -> LIF -> dropout -> Linear -> LIF, returns a ModelOutput."""

    def __init__(self, in_dim: int, num_classes: int, timesteps: int, bn: bool = True, dropout: float = 0.2):
        super().__init__()
        self.timesteps = timesteps
        self.fc1 = nn.Linear(in_dim, 16)
        self.bn = nn.BatchNorm1d(16) if bn else nn.Identity()
        self.lif1 = avsnn.LIF(beta=0.9)
        self.drop = nn.Dropout(dropout)
        self.fc2 = nn.Linear(16, num_classes)
        self.lif2 = avsnn.LIF(beta=0.9)

    def forward(self, x):
        if isinstance(x, dict):
            x = torch.cat([v.flatten(1) for v in x.values()], 1)
        h = self.bn(self.fc1(x.flatten(1)))
        feats = self.lif1(h.unsqueeze(0).repeat(self.timesteps, 1, 1))
        feats = self.drop(feats)
        cur = self.fc2(feats)
        return ModelOutput(spikes=self.lif2(cur), features=feats, z_av=feats.mean(0), current=cur)


def tiny_model(cfg, num_classes, input_dims=None):
    d = sum(input_dims.values()) if input_dims else (16 if cfg.modality == "audio" else 32)
    return TinyNet(d, num_classes, cfg.timesteps)


def tiny_model_nobn(cfg, num_classes, input_dims=None):
    return TinyNet(32, num_classes, cfg.timesteps, bn=False, dropout=0.0)


def tiny_config(**kw):
    from avsnn.train import RunConfig

    base = dict(
        modality="vision",
        dataset="tiny",
        timesteps=4,
        batch_size=8,
        epochs=3,
        lr=1e-2,
        milestones=(2,),
        weight_decay=1e-4,
        progress=False,
        device="cpu",
    )
    base.update(kw)
    return RunConfig(**base)
