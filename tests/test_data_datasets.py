"""AVDataset preloading, normalisation and the build_datasets factory."""

import argparse

import numpy as np
import pytest
import torch
from fixtures import write_release_fixture, write_wav

from avsnn.data import AudioConfig, AVDataset, add_data_parser, build_datasets, make_split, scan_release
from avsnn.data.cli import cmd_inspect, cmd_make_synthetic, inspect_release
from avsnn.data.datasets import dataset_folder

CFG = AudioConfig(duration_s=0.5)


@pytest.fixture
def release(tmp_path):
    return write_release_fixture(tmp_path / "rel", classes=("a", "b", "c"), per_class=6)


def test_avdataset_items_and_tensors(release, tmp_path):
    idx = scan_release(release)
    split = make_split(idx, 0.5, seed=0)
    tr = AVDataset(idx, split, "train", audio=CFG, cache_dir=tmp_path / "cache")
    assert len(tr) == 9 and tr.classes == ["a", "b", "c"] and tr.num_classes == 3
    assert tr.images.shape == (9, 3, 32, 32) and tr.images.dtype == torch.uint8
    assert tr.spectrograms.shape == (9, 1, 64, CFG.n_frames) and tr.labels.dtype == torch.int64
    with pytest.raises(RuntimeError, match="fit_normalizer"):
        tr[0]
    mean, std = tr.fit_normalizer()
    item = tr[2]
    assert set(item) == {"image", "audio", "label", "index"} and item["index"] == 2
    assert item["image"].dtype == torch.float32 and 0 <= item["image"].min() and item["image"].max() <= 1
    assert item["label"] == int(tr.labels[2]) and tr.keys[2] in split
    t = tr.tensors()
    assert abs(float(t["audio"].mean())) < 1e-4 and abs(float(t["audio"].std()) - 1) < 1e-3
    assert torch.allclose(t["audio"][2], item["audio"])
    vis = AVDataset(idx, split, "test", modality="vision")
    assert set(vis[0]) == {"image", "label", "index"} and vis.spectrograms.numel() == 0
    aud = AVDataset(idx, split, "test", modality="audio", audio=CFG, normalizer=(mean, std))
    assert set(aud[0]) == {"audio", "label", "index"} and aud.normalizer == (mean, std)
    with pytest.raises(ValueError, match="modality"):
        AVDataset(idx, split, "train", modality="video")


def test_normalizer_uses_train_split_only(release):
    idx = scan_release(release)
    split = make_split(idx, 0.5, seed=0)
    for s in idx.samples:  # make test clips much louder than train clips
        if split[s.key] == "test":
            write_wav(s.audio_path, np.random.default_rng(0).uniform(-1, 1, 8000), 16000, "f32")
    tr = AVDataset(idx, split, "train", modality="audio", audio=CFG)
    te = AVDataset(idx, split, "test", modality="audio", audio=CFG, normalizer=tr.fit_normalizer())
    x = tr.spectrograms.double()
    assert tr.normalizer == pytest.approx((float(x.mean()), float(x.std())))
    assert te.normalizer == tr.normalizer
    assert float(te.spectrograms.mean()) != pytest.approx(tr.normalizer[0], abs=1.0)


def test_bad_files_raise_or_skip(release):
    idx = scan_release(release)
    split = {s.key: "train" for s in idx.samples}
    (release / "vision" / "a" / "a_001.png").write_bytes(b"garbage")
    write_wav(release / "audio" / "b" / "b_002.wav", np.full(100, np.nan), 16000, "f32")
    write_wav(release / "audio" / "c" / "c_003.wav", np.zeros(0), 16000, "i16")
    with pytest.raises(ValueError, match="a_001.png"):
        AVDataset(idx, split, "train", audio=CFG)
    ds = AVDataset(idx, split, "train", audio=CFG, on_error="skip")
    assert len(ds) == 15 and sorted(p.name for p, _ in ds.skipped) == ["a_001.png", "b_002.wav", "c_003.wav"]
    assert "NaN" in dict((p.name, r) for p, r in ds.skipped)["b_002.wav"]
    assert len(AVDataset(idx, split, "train", modality="audio", audio=CFG, on_error="skip")) == 16
    index, unreadable = inspect_release(release)
    assert sorted(p.name for p, _ in unreadable) == ["a_001.png", "b_002.wav", "c_003.wav"]


def test_build_datasets_from_folder_with_manifest(release, tmp_path):
    kw = dict(audio=CFG, cache_dir=tmp_path / "cache", train_frac=0.5)
    tr, te = build_datasets(str(release), **kw)
    assert len(tr) == 9 and len(te) == 9 and te.normalizer == tr.normalizer
    assert not set(tr.keys) & set(te.keys)
    manifests = list((tmp_path / "cache" / "splits").glob("*.csv"))
    assert len(manifests) == 1
    tr2, _ = build_datasets(str(release), **kw)
    assert tr2.keys == tr.keys and torch.equal(tr2.spectrograms, tr.spectrograms)
    user = tmp_path / "mine.csv"
    user.write_text("key,split\na/a_000,train\nb/b_000,train\nc/c_000,test\n")
    tr3, te3 = build_datasets("release", root=release, manifest=user, **kw)
    assert tr3.keys == ["a/a_000", "b/b_000"] and te3.keys == ["c/c_000"]
    small, _ = build_datasets(str(release), per_class=2, modality="vision", **kw)
    assert len(small) == 3
    with pytest.raises(FileNotFoundError, match="dataset folder not found"):
        build_datasets(str(tmp_path / "nope"), **kw)
    with pytest.raises(ValueError, match="needs root"):
        build_datasets("cifar10-av", **kw)


def test_build_datasets_dataset_v3(tmp_path):
    root = write_release_fixture(tmp_path / "us", classes=("dog_bark", "siren"), per_class=4, layout="dataset_v3")
    tr, te = build_datasets(str(root), audio=CFG, cache_dir=tmp_path / "cache")
    assert tr.index.layout == "dataset_v3" and len(tr) + len(te) == 8


def test_build_datasets_synthetic_end_to_end(tmp_path):
    tr, te = build_datasets("synthetic", per_class=6, cache_dir=tmp_path / "cache")
    assert tr.num_classes == 10 and len(tr) == 40 and len(te) == 20
    batch = next(iter(torch.utils.data.DataLoader(tr, batch_size=8, shuffle=False)))
    assert batch["image"].shape == (8, 3, 32, 32) and batch["audio"].shape == (8, 1, 64, 126)
    assert batch["label"].dtype == torch.int64
    cached = list((tmp_path / "cache").glob("embedded-*"))  # the cache folder keeps the set's first name
    assert len(cached) == 1
    assert dataset_folder("embedded", per_class=6, cache_dir=tmp_path / "cache") == cached[0]  # the old name


def test_cli(tmp_path, capsys, release):
    parser = argparse.ArgumentParser(prog="avsnn")
    add_data_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        ["data", "make-synthetic", "--out", str(tmp_path / "e"), "--per-class", "2", "--seed", "4"]
    )
    assert args.func(args) == 0 and "ready" in capsys.readouterr().out
    assert len(scan_release(tmp_path / "e").samples) == 20
    args = parser.parse_args(["data", "make-embedded", "--out", str(tmp_path / "e"), "--per-class", "2", "--seed", "4"])
    assert args.func is cmd_make_synthetic  # the command's first name
    (release / "audio" / "a" / "a_000.wav").write_bytes(b"RIFFjunk")
    args = parser.parse_args(["data", "inspect", str(release)])
    assert args.func is cmd_inspect and cmd_inspect(args) == 1
    out = capsys.readouterr().out
    assert "layout:  release" in out and "unreadable files: 1" in out and "a_000.wav" in out
