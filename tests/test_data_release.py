"""Scanning paired releases, splits and manifests."""

import csv
import os

import pytest
from fixtures import solid_image, tone, write_release_fixture, write_wav

from avsnn.data import load_or_create_manifest, make_split, read_manifest, scan_release, write_manifest


@pytest.fixture
def release(tmp_path):
    return write_release_fixture(tmp_path / "rel", classes=("cat", "dog", "frog"), per_class=5)


def test_scan_release_layout(release):
    idx = scan_release(release)
    assert idx.layout == "release" and idx.classes == ["cat", "dog", "frog"]
    assert len(idx.samples) == 15 and idx.counts() == {"cat": 5, "dog": 5, "frog": 5}
    s = idx.samples[6]
    assert s.key == "dog/dog_001" and s.label == 1 and s.class_name == "dog"
    assert s.image_path.name == "dog_001.png" and s.audio_path.name == "dog_001.wav"
    assert not idx.unpaired_images and not idx.unpaired_audio and not idx.skipped
    assert "layout:  release" in idx.summary() and "dog" in idx.summary()


def test_scan_dataset_v3_and_nested_root(tmp_path):
    root = write_release_fixture(
        tmp_path / "archive" / "UrbanSound8K-AV", classes=("dog_bark", "siren"), per_class=3, layout="dataset_v3"
    )
    idx = scan_release(root)
    assert idx.layout == "dataset_v3" and len(idx.samples) == 6 and idx.samples[0].image_path.suffix == ".jpg"
    assert scan_release(tmp_path / "archive").root == root  # single sub-folder, as archives extract


def test_scan_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        scan_release(tmp_path / "nowhere")
    (tmp_path / "wrong" / "images").mkdir(parents=True)
    with pytest.raises(ValueError, match="unrecognised dataset layout.*vision/ \\+ audio/.*Dataset_v3_vision"):
        scan_release(tmp_path / "wrong")
    (tmp_path / "nopairs" / "vision" / "a").mkdir(parents=True)
    (tmp_path / "nopairs" / "audio" / "b").mkdir(parents=True)
    with pytest.raises(ValueError, match="no image/audio pairs"):
        scan_release(tmp_path / "nopairs")
    with pytest.raises(ValueError, match="on_error"):
        scan_release(tmp_path / "nopairs", on_error="ignore")


def test_unpaired_and_class_mismatch_reported(release):
    solid_image(release / "vision" / "cat" / "lonely.png", (1, 2, 3))
    write_wav(release / "audio" / "dog" / "solo.wav", tone(300, 8000, 0.1), 8000)
    solid_image(release / "vision" / "bird" / "b1.png", (1, 2, 3))
    write_wav(release / "audio" / "horse" / "h1.wav", tone(300, 8000, 0.1), 8000)
    (release / "vision" / "cat" / "notes.txt").write_text("hello")
    idx = scan_release(release)
    assert idx.classes == ["cat", "dog", "frog"] and len(idx.samples) == 15
    assert {p.name for p in idx.unpaired_images} == {"lonely.png", "b1.png"}
    assert {p.name for p in idx.unpaired_audio} == {"solo.wav", "h1.wav"}
    assert idx.class_mismatch == {"vision_only": ["bird"], "audio_only": ["horse"]}
    assert [(p.name, "extension" in r) for p, r in idx.ignored] == [("notes.txt", True)] and not idx.skipped
    text = idx.summary()
    assert "lonely.png" in text and "bird" in text and "horse" in text


def test_duplicate_files_raise_or_skip_and_empty_files_left_to_the_reader(release):
    (release / "audio" / "cat" / "cat_000.wav").write_bytes(b"")  # found when a dataset reads audio
    assert len(scan_release(release).samples) == 15
    solid_image(release / "vision" / "dog" / "dog_002.jpg", (9, 9, 9))
    with pytest.raises(ValueError, match="dog_002.png: duplicate base name \\(also dog_002.jpg\\)"):
        scan_release(release)
    idx = scan_release(release, on_error="skip")
    assert [p.name for p, _ in idx.skipped] == ["dog_002.png"] and len(idx.samples) == 15


def test_make_split_deterministic_per_class(release):
    idx = scan_release(release)
    a, b = make_split(idx, 0.7, seed=0), make_split(idx, 0.7, seed=0)
    assert a == b and set(a) == {s.key for s in idx.samples}
    for c in idx.classes:
        assert sum(v == "train" for k, v in a.items() if k.startswith(c + "/")) == 4  # round(3.5) -> 4
    assert any(make_split(idx, 0.7, seed=s) != a for s in range(1, 6))
    with pytest.raises(ValueError, match="train_frac"):
        make_split(idx, 1.0)


def test_manifest_written_once_and_reused(release, tmp_path):
    idx = scan_release(release)
    path = tmp_path / "splits" / "m.csv"
    split = load_or_create_manifest(idx, path, seed=1)
    rows = list(csv.DictReader(open(path)))
    assert list(rows[0]) == ["key", "class", "label", "split", "image", "audio"]
    assert rows[0]["image"] == "vision/cat/cat_000.png" and rows[0]["audio"] == "audio/cat/cat_000.wav"
    mtime = os.stat(path).st_mtime_ns
    again = load_or_create_manifest(idx, path, seed=99)  # existing manifest wins over a new seed
    assert again == split and os.stat(path).st_mtime_ns == mtime
    assert read_manifest(path, idx) == split


def test_user_manifest_accepted_and_unknown_key_rejected(release, tmp_path):
    idx = scan_release(release)
    user = tmp_path / "user.csv"
    user.write_text("key,split\ncat/cat_000,test\ndog/dog_003,train\n")
    assert load_or_create_manifest(idx, user) == {"cat/cat_000": "test", "dog/dog_003": "train"}
    bad = tmp_path / "bad.csv"
    bad.write_text("key,split\ncat/cat_000,test\ncat/ghost,train\n")
    with pytest.raises(ValueError, match="bad.csv.*not in the dataset.*cat/ghost"):
        read_manifest(bad, idx)
    (tmp_path / "badsplit.csv").write_text("key,split\ncat/cat_000,val\n")
    with pytest.raises(ValueError, match="badsplit.csv:2"):
        read_manifest(tmp_path / "badsplit.csv", idx)
    (tmp_path / "nocol.csv").write_text("name,split\nx,train\n")
    with pytest.raises(ValueError, match="lacks column"):
        read_manifest(tmp_path / "nocol.csv", idx)
    (tmp_path / "badclass.csv").write_text("key,class,split\ncat/cat_000,dog,train\n")
    with pytest.raises(ValueError, match="class 'dog'"):
        read_manifest(tmp_path / "badclass.csv", idx)
    with pytest.raises(FileNotFoundError, match="missing.csv"):
        read_manifest(tmp_path / "missing.csv", idx)
    with pytest.raises(ValueError, match="'train' or 'test'"):
        write_manifest(tmp_path / "w.csv", idx, {"cat/cat_000": "val"})


def test_split_keeps_the_slices_of_one_recording_on_one_side(tmp_path):
    """UrbanSound8K names its slices fsID-classID-occurrenceID-sliceID: grouped by fsID, no recording
    is split across train and test (across classes too); other names split exactly as before."""
    import shutil

    from fixtures import write_release_fixture

    from avsnn.data.paired import has_source_groups, make_split, scan_release, source_group

    root = write_release_fixture(tmp_path / "us8k", classes=("dog", "siren"), per_class=12)
    plain = scan_release(root)
    before = make_split(plain, 0.7, seed=3)
    assert not has_source_groups(plain) and make_split(plain, 0.7, 3, group_by_source=False) == before
    # rename to slice names: 4 recordings of 3 slices per class, recording 7 in both classes
    for k, c in enumerate(("dog", "siren")):
        for side, ext in (("vision", ".png"), ("audio", ".wav")):
            files = sorted((root / side / c).glob(f"*{ext}"))
            for j, f in enumerate(files):
                fs = [7, 100 + k, 200 + k, 300 + k][j // 3]
                shutil.move(f, f.with_name(f"{fs}-{k}-0-{j % 3}{ext}"))
    index = scan_release(root)
    assert has_source_groups(index) and source_group("dog/7-0-0-2") == "fs7" == source_group("siren/7-1-0-0")
    leaked = []
    for seed in range(6):
        split = make_split(index, 0.7, seed=seed)
        sides = {}
        for key, side in split.items():
            sides.setdefault(source_group(key), set()).add(side)
        assert all(len(v) == 1 for v in sides.values()), sides
        assert {"train", "test"} <= set(split.values())
        ungrouped = make_split(index, 0.7, seed=seed, group_by_source=False)
        assert sum(v == "train" for v in ungrouped.values()) == 2 * round(0.7 * 12)
        leaked.append(len({(source_group(k), v) for k, v in ungrouped.items()}) > len(sides))
    assert any(leaked)  # a plain random split does put recordings on both sides
