"""Reader for plain CIFAR-10 in its python format (``cifar-10-batches-py/``)."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np

TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCHES = ("test_batch",)


def _find_dir(root: Path) -> Path:
    for d in (root, root / "cifar-10-batches-py"):
        if (d / "batches.meta").is_file():
            return d
    raise FileNotFoundError(
        f"{root}: no CIFAR-10 python batches found; expected "
        f"cifar-10-batches-py/ with batches.meta, data_batch_1..5 and test_batch"
    )


def _load(path: Path) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: CIFAR-10 batch file missing")
    try:
        with open(path, "rb") as f:
            obj = pickle.load(f, encoding="bytes")
    except Exception as exc:
        raise ValueError(f"{path}: unreadable CIFAR-10 pickle ({type(exc).__name__}: {exc})") from exc
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: expected a pickled dict, got {type(obj).__name__}")
    return obj


def read_cifar10(root: str | os.PathLike, split: str = "train") -> tuple[np.ndarray, np.ndarray, list]:
    """Read a CIFAR-10 split.

    Parameters
    ----------
    root : path-like
        ``cifar-10-batches-py/`` itself or its parent.
    split : {"train", "test"}
        ``data_batch_1..5`` or ``test_batch``.

    Returns
    -------
    images : uint8 ``[N, 3, 32, 32]`` (R, G, B planes)
    labels : int64 ``[N]``
    class_names : list of str (from ``batches.meta``)
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    d = _find_dir(Path(root).expanduser())
    meta = _load(d / "batches.meta")
    if b"label_names" not in meta:
        raise ValueError(f"{d / 'batches.meta'}: missing b'label_names'")
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in meta[b"label_names"]]
    images, labels = [], []
    for name in TRAIN_BATCHES if split == "train" else TEST_BATCHES:
        batch = _load(d / name)
        if b"data" not in batch or b"labels" not in batch:
            raise ValueError(f"{d / name}: expected keys b'data' and b'labels', got {sorted(batch)}")
        data = np.asarray(batch[b"data"])
        lab = np.asarray(batch[b"labels"], dtype=np.int64)
        if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
            raise ValueError(f"{d / name}: b'data' must be uint8 N x 3072, got {data.dtype} {data.shape}")
        if lab.shape != (data.shape[0],):
            raise ValueError(f"{d / name}: {lab.shape[0]} labels for {data.shape[0]} images")
        if lab.size and (lab.min() < 0 or lab.max() >= len(names)):
            raise ValueError(f"{d / name}: labels outside 0..{len(names) - 1}")
        images.append(data.reshape(-1, 3, 32, 32))
        labels.append(lab)
    return np.concatenate(images), np.concatenate(labels), names
