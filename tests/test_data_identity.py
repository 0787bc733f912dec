"""A dataset's identity is its content: file hashes cached by (path, size, mtime_ns), run keys, generated sets."""

import json
import os
import time
from pathlib import Path

import pytest
from fixtures import write_release_fixture

import avsnn.data.identity as identity
from avsnn.data import scan_release
from avsnn.data.identity import content_fingerprint, index_path
from avsnn.train import make_config
from avsnn.train.store import data_fingerprint, run_key

HOUR_AGO_NS = time.time_ns() - 3600 * 10**9


@pytest.fixture
def release(tmp_path, monkeypatch):
    """A tiny release whose files were last changed an hour ago (not "racy"), and a private cache."""
    monkeypatch.setenv("AVSNN_CACHE", str(tmp_path / "cache"))
    root = write_release_fixture(tmp_path / "rel", per_class=3, rates=(16000,))
    for p in root.rglob("*.*"):
        os.utime(p, ns=(HOUR_AGO_NS, HOUR_AGO_NS))
    return root


def _files(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*.*"))


@pytest.fixture
def hashed(monkeypatch):
    """The relative paths whose bytes were read and hashed."""
    calls, real = [], identity.file_sha256
    monkeypatch.setattr(identity, "file_sha256", lambda p: calls.append(Path(p)) or real(p))
    return calls


def test_unchanged_files_cost_a_stat_changed_ones_are_hashed_again(release, hashed):
    files = _files(release)
    first = content_fingerprint(release, files)
    assert len(hashed) == len(files) and index_path(release).is_file()
    hashed.clear()
    assert content_fingerprint(release, files) == first and hashed == []  # warm: no file read
    wav = release / "audio" / "cat" / "cat_001.wav"
    data = bytearray(wav.read_bytes())
    data[-1] ^= 0xFF  # same size, new bytes (and a new mtime)
    wav.write_bytes(bytes(data))
    assert content_fingerprint(release, files) != first and hashed == [wav]


def test_a_file_changed_just_now_is_not_trusted_by_its_mtime(release, hashed):
    files = _files(release)
    os.utime(release / files[0])  # mtime: now (a coarse file-system clock may not move on the next write)
    content_fingerprint(release, files)
    hashed.clear()
    content_fingerprint(release, files)
    assert [p.name for p in hashed] == [os.path.basename(files[0])]


def test_what_the_index_cannot_see_a_change_with_size_and_mtime_restored(release):
    """The documented limit (as DVC's and make's): bytes changed with size and mtime put back are not seen."""
    files = _files(release)
    first = content_fingerprint(release, files)
    wav = release / "audio" / "dog" / "dog_000.wav"
    data = bytearray(wav.read_bytes())
    data[-1] ^= 0xFF
    wav.write_bytes(bytes(data))
    os.utime(wav, ns=(HOUR_AGO_NS, HOUR_AGO_NS))
    assert content_fingerprint(release, files) == first
    index_path(release).unlink()  # without the index (another cache): seen
    assert content_fingerprint(release, files) != first


def test_a_damaged_index_is_rebuilt(release, hashed):
    files = _files(release)
    first = content_fingerprint(release, files)
    index_path(release).write_text('{"version": 1, "files": {"vision/cat/cat_000.png": [1, ')
    hashed.clear()
    assert content_fingerprint(release, files) == first and len(hashed) == len(files)
    assert json.loads(index_path(release).read_text())["version"] == identity.INDEX_VERSION


def test_run_key_follows_the_content_of_the_data_files(release):
    cfg = make_config("vision", "smoke", str(release))
    key, fp = run_key(cfg), data_fingerprint(cfg)
    (release / "README.txt").write_text("notes")  # not a data file: same data
    assert run_key(cfg) == key
    png = release / "vision" / "dog" / "dog_002.png"
    png.write_bytes((release / "vision" / "dog" / "dog_001.png").read_bytes())
    assert data_fingerprint(cfg) != fp and run_key(cfg) != key
    key2 = run_key(cfg)
    (release / "split.csv").write_text("key,split\ncat/cat_000,train\n")  # the split the folder ships
    assert run_key(cfg) not in (key, key2)


def test_hashing_only_the_index_the_scanner_found(release, hashed):
    idx = scan_release(release)
    cfg = make_config("audio", "smoke", str(release))
    data_fingerprint(cfg)
    assert sorted(hashed) == sorted(p for s in idx.samples for p in (s.image_path, s.audio_path))


def test_synthetic_set_is_fingerprinted_by_content(tmp_path, monkeypatch):
    monkeypatch.setenv("AVSNN_CACHE", str(tmp_path / "cache"))
    a = make_config("vision", "smoke", "synthetic").replace(per_class=2)
    fp = data_fingerprint(a)
    assert len(fp) == 16 and fp != "synthetic" and data_fingerprint(a) == fp
    assert data_fingerprint(a.replace(split_seed=1)) != fp  # the synthetic set is generated from the split seed
