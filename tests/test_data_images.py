"""Image reading."""

import numpy as np
import pytest
import torch
from PIL import Image

from avsnn.data import read_image
from avsnn.data.images import IMAGE_SIZE, stored_side


@pytest.mark.parametrize(
    "mode,suffix", [("RGB", ".png"), ("L", ".png"), ("RGBA", ".png"), ("P", ".png"), ("RGB", ".jpg")]
)
def test_read_image_modes(tmp_path, mode, suffix):
    p = tmp_path / f"a{suffix}"
    Image.new("RGB", (32, 32), (200, 50, 10)).convert(mode).save(p)
    x = read_image(p)
    assert x.shape == (3, 32, 32) and x.dtype == torch.uint8


def test_read_image_values_and_resize(tmp_path):
    arr = np.zeros((32, 32, 3), np.uint8)
    arr[:, :, 0] = 255
    arr[5, 7] = (1, 2, 3)
    Image.fromarray(arr).save(tmp_path / "a.png")
    x = read_image(tmp_path / "a.png")
    assert x[0, 0, 0] == 255 and x[1, 0, 0] == 0 and tuple(x[:, 5, 7].tolist()) == (1, 2, 3)
    Image.new("RGB", (128, 96), (10, 200, 30)).save(tmp_path / "big.jpg")
    y = read_image(tmp_path / "big.jpg")
    assert y.shape == (3, 32, 32) and abs(int(y[1, 16, 16]) - 200) < 5


def test_read_image_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.png"):
        read_image(tmp_path / "nope.png")
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ValueError, match="empty.png.*empty"):
        read_image(tmp_path / "empty.png")
    (tmp_path / "junk.png").write_bytes(b"not an image" * 20)
    with pytest.raises(ValueError, match="junk.png.*unreadable"):
        read_image(tmp_path / "junk.png")
    Image.new("RGB", (32, 32), (1, 2, 3)).save(tmp_path / "ok.png")
    (tmp_path / "trunc.png").write_bytes((tmp_path / "ok.png").read_bytes()[:60])
    with pytest.raises(ValueError, match="trunc.png"):
        read_image(tmp_path / "trunc.png")


def test_a_dataset_is_read_at_the_side_of_its_first_image(tmp_path):
    """stored_side: the first image that opens sets the side; unreadable files are passed over."""
    (tmp_path / "junk.png").write_bytes(b"not an image")
    Image.new("RGB", (16, 16), (9, 9, 9)).save(tmp_path / "small.png")
    Image.new("RGB", (40, 24), (9, 9, 9)).save(tmp_path / "wide.png")
    assert stored_side([tmp_path / "junk.png", tmp_path / "small.png", tmp_path / "wide.png"]) == 16
    assert stored_side([tmp_path / "wide.png"]) == 40
    assert stored_side([tmp_path / "junk.png"]) == stored_side([]) == IMAGE_SIZE == 32
    assert read_image(tmp_path / "wide.png", size=16).shape == (3, 16, 16)
