"""AV-Digits: deterministic generation, release layout, honest voice split, degradations, clear failures."""

import csv
import hashlib
import json
import logging

import numpy as np
import pytest
from PIL import Image

from avsnn.cli import main
from avsnn.data import build_datasets, make_split, scan_release
from avsnn.data.audio import AudioConfig, read_wav
from avsnn.data.avdigits import (
    AVDIGITS_CLASSES,
    DEFAULTS,
    META_FILE,
    SIDE,
    degrade_image,
    degrade_speech,
    make_avdigits,
)
from avsnn.data.espeak import EspeakError, synthesize
from avsnn.data.paired import SHIPPED_SPLIT

espeakng_loader = pytest.importorskip("espeakng_loader")
PER_CLASS = 4


def file_hashes(folder):
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module", autouse=True)
def private_cache(tmp_path_factory):
    """The hash index of generated folders goes to a cache of this module's own."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AVSNN_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture(scope="module")
def avd(tmp_path_factory):
    return make_avdigits(tmp_path_factory.mktemp("avd") / "d", seed=0, per_class=PER_CLASS)


def test_same_seed_same_files_other_seed_other_files(avd, tmp_path):
    again = file_hashes(make_avdigits(tmp_path / "again", seed=0, per_class=PER_CLASS))
    assert again == file_hashes(avd)
    other = file_hashes(make_avdigits(tmp_path / "other", seed=1, per_class=PER_CLASS))
    assert set(other) == set(again)  # same samples and names ...
    for ext in (".png", ".wav"):  # ... but other pixels and other sounds
        assert any(other[k] != again[k] for k in again if k.endswith(ext))


def test_release_layout_loads(avd, tmp_path):
    index = scan_release(avd)
    assert index.classes == list(AVDIGITS_CLASSES) and len(index.samples) == 10 * PER_CLASS
    assert not index.unpaired_images and not index.unpaired_audio and not index.skipped
    with Image.open(index.samples[0].image_path) as img:
        assert img.mode == "RGB" and img.size == (SIDE, SIDE) == (16, 16)
    wav, sr = read_wav(index.samples[0].audio_path)
    cfg = AudioConfig()
    assert sr == cfg.sample_rate and wav.shape == (1, cfg.n_samples)
    train, test = build_datasets(str(avd), cache_dir=tmp_path / "cache")
    assert len(train) + len(test) == 10 * PER_CLASS
    assert train.images.shape[1:] == test.images.shape[1:] == (3, 16, 16)  # read at the stored side
    assert test.spectrograms.shape[1:] == (1, cfg.n_mels, cfg.n_frames)
    assert all(train.labels[i] == AVDIGITS_CLASSES.index(k.split("/")[0]) for i, k in enumerate(train.keys))


def test_test_voices_never_speak_in_training(avd, tmp_path):
    meta = json.loads((avd / META_FILE).read_text())
    with open(avd / SHIPPED_SPLIT, newline="") as f:
        split = {row["key"]: row["split"] for row in csv.DictReader(f)}
    spoken = {
        side: {meta["utterances"][k]["speaker"] for k, s in split.items() if s == side} for side in ("train", "test")
    }
    assert spoken["train"] and spoken["test"] and not spoken["train"] & spoken["test"]
    assert set(meta["speakers"]["test"]).isdisjoint(meta["speakers"]["train"])
    assert spoken["test"] <= set(meta["speakers"]["test"])
    # the shipped split is the default split, and build_datasets uses it whatever split seed it is given
    assert split == make_split(scan_release(avd))
    _, test = build_datasets(str(avd), seed=5, cache_dir=tmp_path / "cache", modality="vision")
    assert sorted(test.keys) == sorted(k for k, s in split.items() if s == "test")


def test_shipped_split_with_per_class(avd, tmp_path):
    train, test = build_datasets(str(avd), per_class=2, cache_dir=tmp_path / "cache", modality="vision")
    with open(avd / SHIPPED_SPLIT, newline="") as f:
        split = {row["key"]: row["split"] for row in csv.DictReader(f)}
    assert len(train) + len(test) == 20
    assert all(split[k] == "train" for k in train.keys) and all(split[k] == "test" for k in test.keys)


def test_degrade_speech_meets_snr():
    rng_clip = np.random.default_rng(0)
    clip = (8000 * np.sin(np.linspace(0, 900, 9000)) * rng_clip.uniform(0.5, 1, 9000)).astype(np.int16)
    clean = degrade_speech(clip, 22050, np.random.default_rng(3), snr_db=300.0).astype(np.float64)
    noisy = degrade_speech(clip, 22050, np.random.default_rng(3), snr_db=10.0).astype(np.float64)
    on = np.flatnonzero(clean)
    speech = clean[on[0] : on[-1] + 1]
    noise = noisy - clean
    snr = 10 * np.log10(np.mean(speech**2) / np.mean(noise**2))
    assert noisy.shape == (AudioConfig().n_samples,) and abs(snr - 10.0) < 0.3
    assert 0.3 < (on[-1] - on[0]) / 16000 < 0.45  # 9000 samples at 22.05 kHz = 0.41 s, trimmed a little


def test_degrade_image_upscales_occludes_and_adds_noise():
    scan = np.random.default_rng(1).uniform(0, 1, (8, 8))
    plain = degrade_image(scan, np.random.default_rng(0), image_noise=0.0, occlusion=0.0)
    ref = np.asarray(Image.fromarray(scan.astype(np.float32), "F").resize((16, 16), Image.Resampling.BILINEAR))
    assert plain.shape == (16, 16, 3) and (plain[..., 0] == plain[..., 2]).all()
    assert np.abs(plain[..., 0] / 255.0 - ref).max() < 2 / 255
    occluded = degrade_image(scan, np.random.default_rng(0), image_noise=0.0, occlusion=0.5)[..., 0]
    rows, cols = np.nonzero(occluded != plain[..., 0])
    patch = occluded[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    assert patch.shape[0] <= 8 and patch.shape[1] <= 8 and np.ptp(patch) == 0
    noisy = degrade_image(scan, np.random.default_rng(0), image_noise=0.1, occlusion=0.0)[..., 0] / 255.0
    assert 0.07 < np.std(noisy - plain[..., 0] / 255.0) < 0.11


@pytest.mark.parametrize("content, message", [(None, "not found"), (b"not a library", "cannot be loaded")])
def test_unloadable_library_fails_with_one_clear_line(tmp_path, monkeypatch, capsys, content, message):
    lib = tmp_path / "libespeak-ng.so"
    if content is not None:
        lib.write_bytes(content)
    monkeypatch.setattr(espeakng_loader, "get_library_path", lambda: str(lib))
    with pytest.raises(EspeakError, match=message):
        make_avdigits(tmp_path / "out", per_class=2)
    assert [p for p in tmp_path.iterdir() if p != lib] == []  # no output and no partial folder left
    assert main(["data", "make-avdigits", "--out", str(tmp_path / "out"), "--per-class", "2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(lib) in err[0] and message in err[0]


def test_unknown_voice_is_an_error():
    with pytest.raises(EspeakError, match="no voice 'xx-nonexistent'"):
        synthesize([{"text": "one", "voice": "xx-nonexistent", "rate": 175, "pitch": 50}])


def test_bad_options_and_occupied_folder(avd, tmp_path):
    with pytest.raises(ValueError, match="occlusion"):
        make_avdigits(tmp_path / "x", occlusion=1.0)
    with pytest.raises(ValueError, match="held_out"):
        make_avdigits(tmp_path / "x", held_out=0.0)
    with pytest.raises(ValueError, match="per_class"):
        make_avdigits(tmp_path / "x", per_class=1)
    with pytest.raises(ValueError, match="exists but is not AV-Digits"):
        make_avdigits(avd, seed=7, per_class=PER_CLASS)
    assert make_avdigits(avd, seed=0, per_class=PER_CLASS) == avd  # already there: untouched


def test_cli_make_avdigits(tmp_path, capsys):
    assert (
        main(
            ["data", "make-avdigits", "--out", str(tmp_path / "d"), "--per-class", "2", "--snr-db", "0", "--seed", "3"]
        )
        == 0
    )
    assert "AV-Digits ready at" in capsys.readouterr().out
    meta = json.loads((tmp_path / "d" / META_FILE).read_text())
    assert meta["settings"] == {**DEFAULTS, "seed": 3, "snr_db": 0.0, "per_class": 2}
    assert len(scan_release(tmp_path / "d").samples) == 20


def test_avdigits_by_name_is_generated_once_and_is_a_generated_dataset(tmp_path, monkeypatch, caplog):
    """``data="avdigits"`` builds the default AV-Digits into the cache; the run identity hashes its files."""
    import avsnn.data.datasets as datasets_mod
    from avsnn.data import build_datasets
    from avsnn.train import make_config
    from avsnn.train.store import data_fingerprint

    made = []
    real = datasets_mod.ensure_avdigits
    monkeypatch.setattr(
        datasets_mod, "ensure_avdigits", lambda cache, **kw: made.append(cache) or real(cache, per_class=3)
    )
    tr, te = build_datasets("avdigits", modality="vision", cache_dir=tmp_path)
    assert made == [tmp_path] and len(tr) + len(te) == 30 and tr.classes == te.classes
    cfg = make_config("vision", "smoke", data="avdigits")
    monkeypatch.setenv("AVSNN_CACHE", str(tmp_path))
    fp = data_fingerprint(cfg)  # the content of the generated files, not the name
    assert cfg.dataset == "avdigits" and len(fp) == 16 and fp != "avdigits" and made == [tmp_path] * 2
    wav = min(tr.index.root.glob("audio/*/*.wav"))
    good = wav.read_bytes()
    wav.write_bytes(good[:-100])  # a damaged file of the generated set: found against its record, made again
    with caplog.at_level(logging.WARNING, logger="avsnn.data"):
        assert data_fingerprint(cfg) == fp
    assert wav.read_bytes() == good and any("generating it again" in r.getMessage() for r in caplog.records)
