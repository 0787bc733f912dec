"""In-memory batching: index preloaded tensors with a seeded permutation.

The datasets of :mod:`avsnn.data` preload everything (``.images`` uint8, ``.spectrograms``
float, ``.labels``), so a batch is one fancy-index into a tensor -- much cheaper than a
``DataLoader`` calling ``__getitem__`` per sample and collating.

:class:`ArrayData` holds the model input (a tensor, or a dict of tensors for the SMLP) and
the labels; :func:`as_array_data` builds one from a dataset for a modality.
"""

from __future__ import annotations

from typing import Optional, Union

import torch

Inputs = Union[torch.Tensor, dict]


class ArrayData:
    """Model inputs + labels held as tensors; ``batch(idx)`` returns ``(inputs, labels)``.

    uint8 image tensors are converted to float in [0, 1] per batch (keeps memory at 1 byte
    per pixel for the whole set).
    """

    def __init__(
        self, inputs: Inputs, labels: torch.Tensor, index: Optional[torch.Tensor] = None, classes=None, keys=None
    ):
        self.inputs = inputs
        self.labels = torch.as_tensor(labels, dtype=torch.long)
        n = len(self.labels)
        for name, t in self._items():
            if len(t) != n:
                raise ValueError(f"input {name!r} has {len(t)} rows but there are {n} labels")
        self.index = torch.arange(n) if index is None else torch.as_tensor(index, dtype=torch.long)
        self.classes = list(classes) if classes is not None else None
        self.keys = list(keys) if keys is not None else None  # sample ids (fusion alignment)

    def _items(self):
        if isinstance(self.inputs, dict):
            return list(self.inputs.items())
        return [("x", self.inputs)]

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def num_classes(self) -> int:
        """Number of classes: the length of ``classes``, else the largest label + 1."""
        return len(self.classes) if self.classes is not None else int(self.labels.max()) + 1

    @staticmethod
    def _convert(t: torch.Tensor) -> torch.Tensor:
        return t.float().div_(255.0) if t.dtype == torch.uint8 else t.float()

    def batch(self, idx: torch.Tensor, device="cpu") -> tuple[Inputs, torch.Tensor]:
        """Inputs and labels of the samples ``idx``, converted and moved to ``device``."""
        if isinstance(self.inputs, dict):
            x = {k: self._convert(v[idx]).to(device) for k, v in self.inputs.items()}
        else:
            x = self._convert(self.inputs[idx]).to(device)
        return x, self.labels[idx].to(device)

    def batches(self, batch_size: int, device="cpu", order: Optional[torch.Tensor] = None):
        """Yield ``(inputs, labels)`` batches of ``batch_size`` samples in ``order`` (default: the stored order)."""
        order = torch.arange(len(self)) if order is None else order
        for start in range(0, len(order), batch_size):
            yield self.batch(order[start : start + batch_size], device)

    def input_dims(self) -> dict:
        """Feature sizes per input (for the SMLP): ``{name: d}``."""
        return {k: int(v[0].numel()) for k, v in self._items()}


#: a training set up to this size is moved to an accelerator once (:func:`resident`), not batch by batch
RESIDENT_BYTES = 1 << 30


def resident(data: ArrayData, device, limit: int = RESIDENT_BYTES) -> ArrayData:
    """``data`` with its tensors moved to the accelerator ``device`` once, when they take at most ``limit`` bytes.

    A batch is then one index into tensors already on the device (uint8 images stay uint8 there and are
    converted per batch); the numbers are the same. On the CPU, or above ``limit``, ``data`` itself.
    """
    device = torch.device(device)
    size = sum(t.numel() * t.element_size() for _, t in data._items()) + data.labels.numel() * 8
    if device.type == "cpu" or size > limit:
        return data
    inputs = (
        {k: v.to(device) for k, v in data.inputs.items()} if isinstance(data.inputs, dict) else data.inputs.to(device)
    )
    return ArrayData(inputs, data.labels.to(device), data.index, classes=data.classes, keys=data.keys)


_KEYS = {"vision": ("image", "images"), "audio": ("audio", "spectrograms")}


def as_array_data(ds, modality: str) -> ArrayData:
    """An :class:`ArrayData` for ``modality`` ("vision"/"audio") from a dataset.

    Uses the preloaded attributes (``.images`` / ``.spectrograms`` and ``.labels``) when
    present, else stacks ``ds[i][key]`` items.
    """
    if isinstance(ds, ArrayData):
        return ds
    if modality not in _KEYS:
        raise ValueError(f"modality must be one of {list(_KEYS)}, got {modality!r}")
    key, attr = _KEYS[modality]
    classes = getattr(ds, "classes", None)
    if hasattr(ds, attr) and hasattr(ds, "labels"):
        if modality == "audio" and hasattr(ds, "normalized_spectrograms"):
            x = ds.normalized_spectrograms()  # train-split statistics (avsnn.data)
        else:
            x = getattr(ds, attr)
        data = ArrayData(torch.as_tensor(x), torch.as_tensor(ds.labels), classes=classes)
    else:
        items = [ds[i] for i in range(len(ds))]
        x = torch.stack([torch.as_tensor(it[key]) for it in items])
        y = torch.tensor([int(it["label"]) for it in items])
        data = ArrayData(x, y, classes=classes)
    keys = getattr(ds, "keys", None)
    data.keys = list(keys) if isinstance(keys, (list, tuple)) and len(keys) == len(data) else None
    return data


def subset(data: ArrayData, idx: torch.Tensor) -> ArrayData:
    """The rows ``idx`` of ``data`` as a new :class:`ArrayData` (inputs indexed, classes kept)."""
    idx = torch.as_tensor(idx, dtype=torch.long)
    inputs = {k: v[idx] for k, v in data.inputs.items()} if isinstance(data.inputs, dict) else data.inputs[idx]
    keys = [data.keys[i] for i in idx.tolist()] if data.keys is not None else None
    return ArrayData(inputs, data.labels[idx], classes=data.classes, keys=keys)


def validation_split(labels: torch.Tensor, frac: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Stratified ``(fit_idx, val_idx)`` of a training split: ``round(frac * n_c)`` samples of each class.

    Drawn with a generator seeded by ``seed`` (the config's ``split_seed``: the same validation set for
    every training seed). Each class with at least two samples keeps at least one on each side.
    """
    if not 0.0 < frac < 1.0:
        raise ValueError(f"val_frac must lie in (0, 1) to carve a validation split, got {frac!r}")
    labels = torch.as_tensor(labels)
    g = torch.Generator().manual_seed(int(seed))
    fit, val = [], []
    for c in torch.unique(labels).tolist():
        members = torch.nonzero(labels == c).flatten()
        members = members[torch.randperm(len(members), generator=g)]
        k = min(max(round(frac * len(members)), 1), len(members) - 1) if len(members) > 1 else 0
        val.append(members[:k])
        fit.append(members[k:])
    return torch.cat(fit).sort().values, torch.cat(val).sort().values
