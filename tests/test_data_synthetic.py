"""Synthetic synthetic dataset: layout, determinism, atomic reuse, designed complementarity."""

import hashlib
import json
import os
import time

import pytest

from avsnn.data import COMPLEMENTARY_PAIRS, SYNTHETIC_CLASSES, AVDataset, ensure_synthetic, make_synthetic, scan_release
from avsnn.data._util import publish_folder
from avsnn.data.audio import read_wav
from avsnn.data.images import read_image


def digest(root):
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(p.relative_to(root).as_posix().encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def test_layout_formats_and_metadata(tmp_path):
    out = make_synthetic(tmp_path / "e", seed=3, per_class=3)
    meta = json.loads((out / "embedded.json").read_text())  # the stored name (META_FILE) is kept
    assert meta["classes"] == list(SYNTHETIC_CLASSES) and meta["seed"] == 3 and meta["per_class"] == 3
    assert meta["settings"]["confusion"] == 0.5
    idx = scan_release(out)
    assert idx.classes == list(SYNTHETIC_CLASSES) and len(idx.samples) == 30  # labels follow generator order
    assert idx.samples[0].key == f"{SYNTHETIC_CLASSES[0]}/00000"
    assert read_image(idx.samples[0].image_path).shape == (3, 32, 32)
    x, sr = read_wav(idx.samples[0].audio_path)
    assert sr == 16000 and x.shape == (1, 16000)
    assert [p for pairs in COMPLEMENTARY_PAIRS.values() for pair in pairs for p in pair] == list(range(10))


def test_deterministic_and_seed_dependent(tmp_path):
    t0 = time.perf_counter()
    a = make_synthetic(tmp_path / "a", seed=0, per_class=5)
    print(f"synthetic per_class=5: {time.perf_counter() - t0:.2f}s")
    b = make_synthetic(tmp_path / "b", seed=0, per_class=5)
    c = make_synthetic(tmp_path / "c", seed=1, per_class=5)
    assert digest(a) == digest(b) != digest(c)


def test_reuse_mismatch_and_overwrite(tmp_path):
    out = make_synthetic(tmp_path / "e", per_class=2)
    stamp = (out / "audio" / SYNTHETIC_CLASSES[0] / "00000.wav").stat().st_mtime_ns
    assert make_synthetic(out, per_class=2) == out
    assert (out / "audio" / SYNTHETIC_CLASSES[0] / "00000.wav").stat().st_mtime_ns == stamp
    with pytest.raises(ValueError, match="overwrite=True"):
        make_synthetic(out, per_class=2, seed=5)
    (out / "vision" / SYNTHETIC_CLASSES[4] / "00001.png").unlink()  # incomplete -> not reused
    with pytest.raises(ValueError, match="not a complete synthetic dataset"):
        make_synthetic(out, per_class=2)
    make_synthetic(out, per_class=2, overwrite=True)
    assert len(scan_release(out).samples) == 20
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # temp folders cleaned up
    with pytest.raises(ValueError, match="confusion"):
        make_synthetic(tmp_path / "x", confusion=1.5)


def test_interrupted_generation_leaves_nothing(tmp_path, monkeypatch):
    from avsnn.data import synthetic

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(synthetic.wavfile, "write", boom)
    with pytest.raises(KeyboardInterrupt):
        make_synthetic(tmp_path / "e", per_class=2)
    assert list(tmp_path.iterdir()) == []


def test_ensure_synthetic_cache_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("AVSNN_CACHE", str(tmp_path / "envcache"))
    a = ensure_synthetic(per_class=2)
    assert a.parent == tmp_path / "envcache" and a.name.startswith("embedded-")
    assert ensure_synthetic(per_class=2) == a
    b = ensure_synthetic(cache_dir=tmp_path / "c", per_class=2, seed=1)
    assert b.parent == tmp_path / "c" and b.name != a.name
    with pytest.raises(ValueError, match="unknown synthetic dataset option"):
        ensure_synthetic(cache_dir=tmp_path, colour=1)


@pytest.fixture(scope="module")
def synthetic_train(tmp_path_factory):
    root = make_synthetic(tmp_path_factory.mktemp("emb") / "e", per_class=60)
    idx = scan_release(root)
    return AVDataset(idx, {s.key: "train" for s in idx.samples}, "train")


def _pair_stats(X, y, a, b):
    """Distance between class means and held-out nearest-centroid accuracy within the pair."""
    Xa, Xb = X[y == a], X[y == b]
    h = len(Xa) // 2
    ma, mb = Xa[:h].mean(0), Xb[:h].mean(0)
    ta, tb = Xa[h:], Xb[h:]
    ok = ((ta - ma).norm(dim=1) < (ta - mb).norm(dim=1)).sum() + ((tb - mb).norm(dim=1) < (tb - ma).norm(dim=1)).sum()
    return float((Xa.mean(0) - Xb.mean(0)).norm()), float(ok) / (len(ta) + len(tb))


def test_designed_complementarity(synthetic_train):
    ds = synthetic_train
    y = ds.labels
    feats = {"image": ds.images.flatten(1).float() / 255, "audio": ds.spectrograms.flatten(1)}
    for modality, weak, strong in (
        ("image", "vision_confusable", "audio_confusable"),
        ("audio", "audio_confusable", "vision_confusable"),
    ):
        X = feats[modality]
        weak_stats = [_pair_stats(X, y, *p) for p in COMPLEMENTARY_PAIRS[weak]]
        strong_stats = [_pair_stats(X, y, *p) for p in COMPLEMENTARY_PAIRS[strong]]
        print(modality, "confusable (dist, acc):", weak_stats, "clear:", strong_stats)
        # confusable pairs: class means much closer, and a nearest-centroid rule near chance
        assert max(d for d, _ in weak_stats) < 0.5 * min(d for d, _ in strong_stats)
        assert max(acc for _, acc in weak_stats) < 0.75
        assert min(acc for _, acc in strong_stats) > 0.9


def test_a_dataset_another_process_finished_first_is_kept(tmp_path):
    out = tmp_path / "e"

    def write(tmp):  # another process publishes while this one writes
        (tmp_path / "theirs").mkdir()
        (tmp_path / "theirs" / "f").write_text("theirs")
        os.rename(tmp_path / "theirs", out)
        tmp.mkdir()
        (tmp / "f").write_text("ours")

    assert publish_folder(out, write, "a set", done=lambda o: (o / "f").read_text() == "theirs") is False
    assert [p.name for p in tmp_path.iterdir()] == ["e"] and (out / "f").read_text() == "theirs"

    def write_ours(tmp):
        tmp.mkdir()
        (tmp / "f").write_text("ours")

    assert publish_folder(out, write_ours, "a set", done=lambda o: False) is True  # theirs is not finished
    assert [p.name for p in tmp_path.iterdir()] == ["e"] and (out / "f").read_text() == "ours"
