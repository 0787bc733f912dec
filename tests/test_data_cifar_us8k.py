"""Plain CIFAR-10 and UrbanSound8K readers."""

import pickle

import numpy as np
import pytest
from fixtures import write_cifar10_fixture, write_urbansound8k_fixture

from avsnn.data import AudioConfig, UrbanSound8KDataset, read_cifar10, read_urbansound8k_metadata, urbansound8k_folds


def test_read_cifar10(tmp_path):
    d = write_cifar10_fixture(tmp_path, per_batch=4)
    x, y, names = read_cifar10(tmp_path, "train")
    assert x.shape == (20, 3, 32, 32) and x.dtype == np.uint8 and y.shape == (20,) and y.dtype == np.int64
    assert names[0] == "airplane" and len(names) == 10
    raw = pickle.load(open(d / "data_batch_1", "rb"), encoding="bytes")
    assert np.array_equal(x[0, 1].reshape(-1), raw[b"data"][0, 1024:2048])  # G plane
    xt, yt, _ = read_cifar10(d, "test")
    assert xt.shape == (4, 3, 32, 32)


def test_read_cifar10_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="cifar-10-batches-py"):
        read_cifar10(tmp_path)
    d = write_cifar10_fixture(tmp_path)
    with pytest.raises(ValueError, match="split"):
        read_cifar10(tmp_path, "val")
    pickle.dump({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, open(d / "test_batch", "wb"))
    with pytest.raises(ValueError, match="test_batch.*N x 3072"):
        read_cifar10(tmp_path, "test")
    (d / "data_batch_3").unlink()
    with pytest.raises(FileNotFoundError, match="data_batch_3"):
        read_cifar10(tmp_path, "train")


def test_urbansound8k_metadata_and_folds(tmp_path):
    root = write_urbansound8k_fixture(tmp_path / "us", per_fold=2)
    rows = read_urbansound8k_metadata(root)
    assert len(rows) == 20 and rows[0].path == root / "audio" / "fold1" / rows[0].slice_file_name
    assert rows[1].class_name == "car_horn" and rows[1].classID == 1
    train, test = urbansound8k_folds(root, 3)
    assert len(train) == 18 and {r.fold for r in test} == {3}
    with pytest.raises(ValueError, match="test_fold"):
        urbansound8k_folds(root, 11)
    rows[5].path.unlink()
    with pytest.raises(FileNotFoundError, match="1 audio file.*missing"):
        read_urbansound8k_metadata(root)
    assert len(read_urbansound8k_metadata(root, on_error="skip")) == 19
    with pytest.raises(FileNotFoundError, match="UrbanSound8K.csv"):
        read_urbansound8k_metadata(tmp_path)


def test_urbansound8k_dataset(tmp_path):
    root = write_urbansound8k_fixture(tmp_path / "us", per_fold=2)
    cfg = AudioConfig(duration_s=0.5)
    tr = UrbanSound8KDataset(root, folds=range(2, 11), audio_cfg=cfg, cache_dir=tmp_path / "c")
    te = UrbanSound8KDataset(root, folds=[1], audio_cfg=cfg, cache_dir=tmp_path / "c", normalizer=tr.fit_normalizer())
    assert len(tr) == 18 and len(te) == 2 and tr.spectrograms.shape == (18, 1, 64, cfg.n_frames)
    item = te[1]
    assert item["label"] == 1 and item["audio"].shape == (1, 64, cfg.n_frames)
    assert tr.classes[1] == "car_horn"
    (root / "audio" / "fold1" / te.rows[0].slice_file_name).write_bytes(b"")
    with pytest.raises(ValueError, match="empty"):
        UrbanSound8KDataset(root, folds=[1], audio_cfg=cfg)
    ds = UrbanSound8KDataset(root, folds=[1], audio_cfg=cfg, on_error="skip")
    assert len(ds) == 1 and len(ds.skipped) == 1
