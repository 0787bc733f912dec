"""Fusion inputs: the frozen features of the unimodal runs.

The fused feature of a unimodal network is its time-averaged last-hidden feature ``z_av``
(Eq. 10), L2-normalised (Eq. 11): 8*width values for vision (512 at width 64), the flattened conv
map for audio. They are extracted once per run and split and cached in the run folder
(``features_<split>.pt``).
"""

from __future__ import annotations

from typing import Protocol

import torch
import torch.nn.functional as F

from avsnn.data.batching import ArrayData
from avsnn.device import eval_batch_size

from .store import RunStore

__all__ = ["unimodal_features", "feature_sets"]


class UnimodalRun(Protocol):
    """What the fusion inputs read of a finished unimodal run (an :class:`avsnn.train.Run`)."""

    @property
    def store(self) -> RunStore:
        """The run folder's store (its cached features)."""

    @property
    def model(self) -> torch.nn.Module:
        """The trained network."""

    def array_data(self) -> tuple[ArrayData, ArrayData]:
        """``(train, test)`` of the run's data."""


@torch.no_grad()
def _extract(model, data: ArrayData) -> torch.Tensor:
    model.eval()
    out = []
    device = next(model.parameters()).device
    for x, _ in data.batches(eval_batch_size(device), device):
        out.append(F.normalize(model(x).z_av.float().flatten(1), dim=1).cpu())  # Eqs. 10-11
    return torch.cat(out)


def unimodal_features(run: UnimodalRun, split: str) -> dict:
    """``{"features", "labels", "keys", "classes"}`` of a unimodal run's ``split`` (cached in its folder)."""
    store = run.store
    cached = store.load_features(split)
    if cached is not None:
        return cached
    tr, te = run.array_data()
    data = tr if split == "train" else te
    feats = {
        "features": _extract(run.model, data),
        "labels": data.labels.clone(),
        "keys": data.keys,
        "classes": data.classes,
    }
    store.save_features(split, feats)
    return feats


def feature_sets(runs: dict[str, UnimodalRun]) -> tuple[ArrayData, ArrayData]:
    """``(train, test)`` fusion inputs from finished unimodal runs (``{input name: run}``).

    The runs' samples must be aligned (same labels and, where recorded, same keys), else ValueError.
    """
    out = []
    for split in ("train", "test"):
        feats = {name: unimodal_features(run, split) for name, run in runs.items()}
        names = list(feats)
        ref = feats[names[0]]
        for other in names[1:]:
            f = feats[other]
            if not torch.equal(f["labels"], ref["labels"]) or (
                f["keys"] is not None and ref["keys"] is not None and f["keys"] != ref["keys"]
            ):
                raise ValueError(f"{split} features of {names[0]} and {other} are not aligned sample by sample")
        out.append(
            ArrayData({n: feats[n]["features"] for n in names}, ref["labels"], classes=ref["classes"], keys=ref["keys"])
        )
    return out[0], out[1]
