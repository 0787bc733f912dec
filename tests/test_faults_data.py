"""Fault injection, data side (issue #11): damaged files and caches are reported, never silently used."""

import errno
import logging
import os
import re
import wave
from pathlib import Path

import pytest
import torch
from fixtures import write_release_fixture

from avsnn.cli import main as cli_main
from avsnn.data import (
    AudioConfig,
    build_datasets,
    ensure_synthetic,
    load_or_create_manifest,
    make_split,
    make_synthetic,
    read_manifest,
    read_wav,
    scan_release,
    write_manifest,
)
from avsnn.data._util import CacheNotWritableError
from avsnn.data.paired import manifest_text
from avsnn.data.transfer import make_transfer

CFG = AudioConfig(duration_s=0.25)


@pytest.fixture
def release(tmp_path):
    """2 classes x 4 pairs, 16-bit WAVs at 16 kHz (mono and stereo alternating)."""
    return write_release_fixture(
        tmp_path / "rel", classes=("cat", "dog"), per_class=4, formats=("i16",), rates=(16000,)
    )


def cut_wav(path: Path, keep_data_bytes: int) -> int:
    """Keep the header and the first ``keep_data_bytes`` of the data chunk; return the declared data size."""
    with wave.open(str(path)) as w:
        declared = w.getnframes() * w.getnchannels() * w.getsampwidth()
    raw = path.read_bytes()
    start = raw.index(b"data") + 8
    path.write_bytes(raw[: start + keep_data_bytes])
    return declared


@pytest.fixture
def read_only(monkeypatch):
    """``read_only(folder)``: creating folders or files under ``folder`` fails with EACCES (root ignores chmod)."""
    real_mkdir, real_open = os.mkdir, os.open

    def make(folder):
        folder = Path(folder).resolve()

        def under(p):
            return isinstance(p, (str, os.PathLike)) and Path(p).resolve().is_relative_to(folder)

        def mkdir(p, *a, **k):
            if under(p) and not os.path.exists(p):
                raise PermissionError(errno.EACCES, "Permission denied", os.fspath(p))
            return real_mkdir(p, *a, **k)

        def open_(p, flags, *a, **k):
            if under(p) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
                raise PermissionError(errno.EACCES, "Permission denied", os.fspath(p))
            return real_open(p, flags, *a, **k)

        monkeypatch.setattr(os, "mkdir", mkdir)
        monkeypatch.setattr(os, "open", open_)
        return folder

    return make


# ---- 1. a WAV cut inside its data chunk ---------------------------------------------------------
def test_wav_cut_inside_data_chunk_is_damaged(release, tmp_path, capsys):
    wav = release / "audio" / "cat" / "cat_001.wav"
    declared = cut_wav(wav, 100)
    assert declared == 2 * 2 * 4800  # stereo, 16-bit, 0.3 s at 16 kHz
    msg = (
        r"cat_001.wav: damaged WAV file \(cut short\): its data chunk declares "
        f"{declared} data bytes, file holds 100$"
    )
    with pytest.raises(ValueError, match=msg):
        read_wav(wav)
    assert cli_main(["data", "inspect", str(release)]) == 1
    out = capsys.readouterr().out
    assert "unreadable files: 1" in out and f"declares {declared} data bytes, file holds 100" in out
    with pytest.raises(ValueError, match=msg):
        build_datasets(str(release), modality="audio", audio=CFG, cache_dir=tmp_path / "cache")
    tr, te = build_datasets(str(release), modality="audio", audio=CFG, cache_dir=tmp_path / "cache", on_error="skip")
    skipped = tr.skipped + te.skipped
    assert len(tr) + len(te) == 7 and [p.name for p, _ in skipped] == ["cat_001.wav"]
    assert f"declares {declared} data bytes" in skipped[0][1]


def test_wav_with_intact_data_and_trailing_chunk_cut_is_read(release):
    wav = release / "audio" / "dog" / "dog_000.wav"  # mono
    x, _ = read_wav(wav)
    wav.write_bytes(wav.read_bytes() + b"LIST\x40\x00\x00\x00abc")  # a trailing chunk cut short; samples intact
    y, _ = read_wav(wav)
    assert torch.equal(torch.from_numpy(x), torch.from_numpy(y))


# ---- 2. cache files cut short or edited ---------------------------------------------------------
def test_cached_split_manifest_cut_short_is_redrawn(release, tmp_path, caplog):
    kw = dict(modality="vision", cache_dir=tmp_path / "cache")
    tr, te = build_datasets(str(release), **kw)
    (manifest,) = (tmp_path / "cache" / "splits").glob("*.csv")
    full = manifest.read_bytes()
    manifest.write_bytes(b"".join(full.splitlines(keepends=True)[:3]))  # header + 2 of 8 rows
    with caplog.at_level(logging.WARNING, logger="avsnn.data"):
        tr2, te2 = build_datasets(str(release), **kw)
    assert (len(tr2), len(te2)) == (len(tr), len(te)) == (6, 2) and tr2.keys == tr.keys
    assert manifest.read_bytes() == full
    warned = [r.getMessage() for r in caplog.records if "damaged" in r.getMessage()]
    assert len(warned) == 1 and str(manifest) in warned[0] and "written with 9 lines" in warned[0]
    assert "now holds 3 lines" in warned[0]


def test_user_manifest_changed_since_written_is_refused(release, tmp_path):
    idx = scan_release(release)
    path = write_manifest(tmp_path / "split.csv", idx, make_split(idx, 0.5))
    assert load_or_create_manifest(idx, path) == read_manifest(path, idx)
    text = path.read_text()  # edit: swap the first train and the first test sample (same lines and size)
    path.write_text(text.replace(",train,", ",x,", 1).replace(",test,", ",train,", 1).replace(",x,", ",test,", 1))
    with pytest.raises(
        ValueError,
        match=r"split.csv: split manifest changed since it was written: its checksum "
        r"differs \(same 9 lines and \d+ bytes: edited\); delete it to draw the "
        r"split again, or delete split.csv.check.json to use it as it is now$",
    ):
        load_or_create_manifest(idx, path)
    path.write_text("\n".join(path.read_text().splitlines()[:2]) + "\n")
    with pytest.raises(ValueError, match="written with 9 lines .* now holds 2 lines"):
        build_datasets("release", root=release, manifest=path, modality="vision", cache_dir=tmp_path / "cache")


def test_synthetic_cache_file_cut_short_is_regenerated(tmp_path, caplog):
    out = ensure_synthetic(tmp_path / "cache", per_class=2)
    wav = out / "audio" / "4_square_buzz" / "00001.wav"
    good = wav.read_bytes()
    wav.write_bytes(good[:1000])
    with caplog.at_level(logging.WARNING, logger="avsnn.data"):
        assert ensure_synthetic(tmp_path / "cache", per_class=2) == out
    assert wav.read_bytes() == good
    assert any(str(out) in r.getMessage() and "generating it again" in r.getMessage() for r in caplog.records)
    user = make_synthetic(tmp_path / "mine", per_class=1)
    png = user / "vision" / "0_disc_hum" / "00000.png"
    png.write_bytes(png.read_bytes()[:-10])
    with pytest.raises(ValueError, match=r"mine: exists but is not a complete synthetic dataset .*bytes, written with"):
        make_synthetic(tmp_path / "mine", per_class=1)


# ---- 3. a manifest label that is not an integer -------------------------------------------------
def test_manifest_label_not_an_integer_names_file_and_line(release, tmp_path):
    idx = scan_release(release)
    bad = tmp_path / "labels.csv"
    bad.write_text("key,class,label,split\ncat/cat_000,cat,0,train\ncat/cat_001,cat,seven,test\n")
    with pytest.raises(
        ValueError,
        match=r"labels.csv:3: label must be an integer class index \(0..1\), "
        r"got 'seven'$",
    ):
        read_manifest(bad, idx)


# ---- 4. data inspect: exit code 1 for every kind of bad file, 0 when all are good ---------------
@pytest.mark.parametrize("damage, reason", [(b"", "empty file (0 bytes)"), (b"RIFFjunk", "unreadable WAV file")])
def test_inspect_exit_code_counts_every_bad_file(release, capsys, damage, reason):
    (release / "vision" / "cat" / "notes.txt").write_text("not data")
    assert cli_main(["data", "inspect", str(release)]) == 0
    clean = capsys.readouterr().out
    (release / "audio" / "dog" / "dog_002.wav").write_bytes(damage)
    assert cli_main(["data", "inspect", str(release)]) == 1
    out = capsys.readouterr().out
    assert f"dog_002.wav: {reason}" in out and "unreadable files: 1" in out
    assert "result: 1 bad file(s) (0 skipped while scanning, 1 unreadable)" in out
    assert "ignored files (not data): 1" in clean and "notes.txt" in clean
    assert "result: all 16 data files read; 1 non-data file(s) ignored, not counted as bad; exit code 0" in clean


# ---- 5. a zero-byte WAV and a vision-only run ---------------------------------------------------
def test_zero_byte_wav_does_not_stop_a_vision_run(release, tmp_path, monkeypatch, caplog):
    (release / "audio" / "dog" / "dog_003.wav").write_bytes(b"")
    kw = dict(audio=CFG, cache_dir=tmp_path / "cache")

    def no_audio(*a, **k):
        raise AssertionError("a vision dataset decoded audio")

    with monkeypatch.context() as m:
        m.setattr("avsnn.data.audio.read_wav", no_audio)
        m.setattr("avsnn.data.audio.SpectrogramCache.get", no_audio)
        tr, te = build_datasets(str(release), modality="vision", **kw)
    assert len(tr) + len(te) == 8 and "dog/dog_003" in tr.keys + te.keys
    with pytest.raises(ValueError, match=r"dog_003.wav: empty file \(0 bytes\), expected a WAV file"):
        build_datasets(str(release), modality="audio", **kw)
    with caplog.at_level(logging.WARNING, logger="avsnn.data"):
        tr, te = build_datasets(str(release), modality="audio", on_error="skip", **kw)
    assert len(tr) + len(te) == 7 and any("skipped 1 bad file" in r.getMessage() for r in caplog.records)


# ---- 6. a read-only cache folder ----------------------------------------------------------------
def test_read_only_cache_computes_in_memory_with_a_warning(release, tmp_path, read_only, caplog):
    ref_tr, ref_te = build_datasets(str(release), modality="audio", audio=CFG, cache_dir=tmp_path / "ok")
    ro = tmp_path / "ro"
    ro.mkdir()
    read_only(ro)
    with caplog.at_level(logging.WARNING, logger="avsnn.data"):
        tr, te = build_datasets(str(release), modality="audio", audio=CFG, cache_dir=ro)
    assert tr.keys == ref_tr.keys and te.keys == ref_te.keys and torch.equal(tr.spectrograms, ref_tr.spectrograms)
    warned = [r.getMessage() for r in caplog.records if "not writable" in r.getMessage()]
    assert len(warned) == 2  # the split manifest, the spectrograms (once for both splits)
    assert all(str(ro) in w and "set AVSNN_CACHE" in w for w in warned)
    assert not any(ro.rglob("*"))


def test_read_only_cache_for_the_synthetic_set_is_one_line(tmp_path, read_only, capsys):
    ro = read_only(tmp_path / "ro")
    with pytest.raises(
        ValueError,
        match=rf"^{re.escape(str(ro))}: folder is not writable \(Permission denied\), "
        r"cannot generate the synthetic dataset there; .*set AVSNN_CACHE\)$",
    ):
        build_datasets("synthetic", per_class=1, cache_dir=ro)
    assert cli_main(["data", "make-synthetic", "--out", str(ro / "e"), "--per-class", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(ro) in err and "not writable" in err


# ---- issue #24: a split file saved by a spreadsheet ---------------------------------------------
def test_split_csv_from_a_spreadsheet_is_read(release):
    idx = scan_release(release)
    split = make_split(idx, 0.5)
    rows = [line.split(",") for line in manifest_text(idx, split).splitlines()]
    text = "\r\n".join(",".join(r) for r in rows) + "\r\n" + ",,,,,\r\n"  # CRLF, a trailing blank row
    (release / "split.csv").write_bytes(b"\xef\xbb\xbf" + text.encode())  # UTF-8 byte-order mark
    assert read_manifest(release / "split.csv", idx) == split
    tr, te = build_datasets(str(release), modality="vision", cache_dir=release.parent / "cache")
    assert sorted(tr.keys + te.keys) == sorted(split) and set(te.keys) == {k for k, v in split.items() if v == "test"}


def test_split_csv_not_utf8_is_one_line(release):
    (release / "split.csv").write_bytes("key,split\r\ncaf\u00e9,train\r\n".encode("cp1252"))
    with pytest.raises(ValueError, match=r"split\.csv: manifest is not UTF-8 text .*; save it as CSV UTF-8$"):
        read_manifest(release / "split.csv", scan_release(release))


# ---- issue #24: symbolic link loops and names that are not UTF-8 --------------------------------
def test_symlink_loop_and_broken_link_are_named_in_one_line(release, capsys, monkeypatch):
    monkeypatch.setenv("AVSNN_CACHE", str(release.parent / "cache"))
    os.symlink("..", release / "vision" / "cat" / "up")  # a folder loop: not a data file, never followed
    os.symlink("self.png", release / "vision" / "cat" / "self.png")
    os.symlink("gone.wav", release / "audio" / "dog" / "gone_link.wav")
    with pytest.raises(ValueError, match=r"self\.png: symbolic link loop \(following it never reaches a file\)"):
        scan_release(release)
    idx = scan_release(release, on_error="skip")
    assert len(idx.samples) == 8 and [p.name for p, _ in idx.skipped] == ["self.png", "gone_link.wav"]
    assert cli_main(["data", "inspect", str(release)]) == 1
    out = capsys.readouterr().out
    assert "skipped bad files: 2" in out and "broken symbolic link to gone.wav; expected a file" in out
    cfg = ["train", "--modality", "vision", "--data", str(release), "--profile", "smoke", "--quiet"]
    assert cli_main([*cfg, "--runs", str(release.parent / "runs")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and len(err) < 250 and "self.png: symbolic link loop" in err, err


def test_file_name_that_is_not_utf8_is_named_in_one_line(release, capsys, monkeypatch):
    monkeypatch.setenv("AVSNN_CACHE", str(release.parent / "cache"))
    bad = os.fsencode(release / "vision" / "cat") + b"/caf\xe9.png"
    Path(os.fsdecode(bad)).write_bytes((release / "vision" / "cat" / "cat_000.png").read_bytes())
    with pytest.raises(ValueError, match=r"cat/caf\\xe9\.png: name is not valid UTF-8; expected a UTF-8 name"):
        scan_release(release)
    assert cli_main(["data", "inspect", str(release)]) == 1
    assert "caf\\xe9.png: name is not valid UTF-8" in capsys.readouterr().out
    cfg = ["train", "--modality", "vision", "--data", str(release), "--profile", "smoke", "--quiet"]
    assert cli_main([*cfg, "--runs", str(release.parent / "runs")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "caf\\xe9.png: name is not valid UTF-8" in err, err


def test_read_only_cache_for_a_transfer_set_is_one_line(tmp_path, read_only):
    ro = read_only(tmp_path / "ro")
    with pytest.raises(
        CacheNotWritableError,
        match=rf"^{re.escape(str(ro))}: folder is not writable \(Permission denied\), "
        r"cannot generate transfer set colour-clutter there; .*set AVSNN_CACHE\)$",
    ):
        make_transfer(ro / "t", "colour-clutter", per_class=2, sound="tones")
    assert not any(ro.rglob("*"))
