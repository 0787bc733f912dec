"""Analyses of trained runs that the book's figures are made of (Section V-C, Eq. 23)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch

from .metrics import cosine_distance_matrix, run_model, separability


def class_subsample(labels: torch.Tensor, per_class: int) -> torch.Tensor:
    """Indices of the first ``per_class`` samples of every class, in class order."""
    if per_class < 1:
        raise ValueError(f"per_class must be >= 1, got {per_class}")
    labels = torch.as_tensor(labels)
    return torch.cat([torch.nonzero(labels == c).flatten()[:per_class] for c in torch.unique(labels)])


@dataclass
class Discrimination:
    """Cosine-distance matrix (Eq. 23) of a subsample and the separability of all samples."""

    matrix: torch.Tensor  # [n, n] cosine distances, samples sorted by class
    sorted_labels: torch.Tensor  # [n]
    separability: dict  # {"intra", "inter", "ratio"} over the whole split


def feature_discrimination(
    run, split: str = "test", per_class: int = 30, batch_size: Optional[int] = None
) -> Discrimination:
    """Eq. 23 on the accumulated last-hidden features of ``run`` (a trained :class:`avsnn.train.Run`).

    The features are those the head receives, summed over the timesteps (the paper's
    "accumulated feature vectors"). Cosine distance is scale-free, so the L2 layer's own
    normalisation does not change it: L2 and vanilla networks are compared on equal terms.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    train, test = run.array_data()
    out = run_model(run.model, train if split == "train" else test, batch_size=batch_size)
    feats, labels = out["features"], out["labels"]
    idx = class_subsample(labels, per_class)
    matrix, sorted_labels = cosine_distance_matrix(feats[idx], labels[idx])
    return Discrimination(matrix, sorted_labels, separability(feats, labels))
