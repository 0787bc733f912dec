"""Image loading for the visual branch: square RGB images, read at the side a dataset stores them at.

CIFAR-10 (and so CIFAR10-AV and the synthetic set) stores 32x32; AV-Digits stores 16x16.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

IMAGE_SIZE = 32  # CIFAR-10's side: the synthetic set's, and the default where a dataset has no image


def stored_side(paths) -> int:
    """The side a dataset's images are read at: the larger side of the first of ``paths`` that opens.

    Every image of the dataset is read at this side (:func:`read_image` resizes the others), so a
    dataset's train and test parts agree; :data:`IMAGE_SIZE` when no image opens.
    """
    for path in paths:
        try:
            with Image.open(path) as img:
                return max(img.size)
        except (OSError, UnidentifiedImageError, ValueError, SyntaxError):
            continue
    return IMAGE_SIZE


def read_image(path: str | os.PathLike, size: int = IMAGE_SIZE) -> torch.Tensor:
    """Read an image as uint8 RGB ``[3, size, size]``.

    Grayscale, palette and RGBA images are converted to RGB (alpha dropped). Images of another size
    are resized straight to ``size x size`` with PIL bilinear filtering, which antialiases when
    shrinking; the aspect ratio is not kept (no crop), so the whole picture stays visible.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ValueError
        Empty, truncated or undecodable file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: image file not found")
    if path.stat().st_size == 0:
        raise ValueError(f"{path}: empty file (0 bytes), expected a PNG/JPEG image")
    try:
        with Image.open(path) as img:
            img.load()
            rgb = img.convert("RGB")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ValueError(f"{path}: unreadable image ({type(exc).__name__}: {exc})") from exc
    if rgb.size != (size, size):
        rgb = rgb.resize((size, size), Image.Resampling.BILINEAR)
    arr = np.asarray(rgb, dtype=np.uint8)  # [H, W, 3]
    return torch.from_numpy(arr.transpose(2, 0, 1).copy())
