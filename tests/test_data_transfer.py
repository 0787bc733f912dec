"""Transfer sets: every named set generates in the release layout with its shapes and classes, reproducibly."""

import hashlib

import numpy as np
import pytest

from avsnn.data import build_datasets, scan_release
from avsnn.data.audio import read_wav
from avsnn.data.transfer import (
    HELD_BACK,
    HELD_BACK_NEXT,
    HELD_BACK_ROUND_1,
    HELD_BACK_ROUNDS,
    SAMPLE_RATE,
    TRANSFER_SETS,
    _class_sound,
    _spec_record,
    class_names,
    ensure_transfer,
    make_transfer,
    sound_ceiling,
    sound_groups,
    suite_sets,
    transfer_spec,
)

PER_CLASS = 3


def needs_espeak(name):
    if TRANSFER_SETS[name].sound == "speech":
        pytest.importorskip("espeakng_loader")


def file_hashes(folder):
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_the_family_is_large_and_varied_with_sets_held_back():
    assert len(TRANSFER_SETS) >= 8
    assert len(HELD_BACK) >= 3 and set(HELD_BACK) <= set(TRANSFER_SETS)
    rounds = tuple(HELD_BACK_ROUNDS.values())
    assert HELD_BACK_ROUNDS[max(HELD_BACK_ROUNDS)] == HELD_BACK and HELD_BACK_ROUND_1 in rounds
    assert all(set(r) <= set(TRANSFER_SETS) for r in rounds)
    assert len(set().union(*rounds)) == sum(len(r) for r in rounds)  # no set held back twice
    specs = list(TRANSFER_SETS.values())
    assert {s.side for s in specs} == {16, 32, 64}
    assert {s.rgb for s in specs} == {True, False}
    assert {s.colours for s in specs} == {"light_on_dark", "dark_on_light", "random"}
    assert {s.sound for s in specs} >= {"tones", "chirps", "bursts", "mixed", "speech"}
    assert min(s.classes for s in specs) <= 5 and max(s.classes for s in specs) >= 20
    assert min(s.per_class for s in specs) <= 50 and max(s.per_class for s in specs) >= 1000
    assert any(s.texture > 0 for s in specs) and any(s.strokes > 0 for s in specs)


def test_the_next_rounds_sets_are_held_back_from_every_round_and_from_the_suite():
    every_round = set().union(*HELD_BACK_ROUNDS.values())
    assert len(HELD_BACK_NEXT) >= 3 and set(HELD_BACK_NEXT) <= set(TRANSFER_SETS)
    assert not set(HELD_BACK_NEXT) & every_round
    default = suite_sets()
    assert not set(default) & set(HELD_BACK_NEXT)
    assert default[-len(HELD_BACK) :] == list(HELD_BACK)  # the current round's held-back sets run last
    assert sorted(default + list(HELD_BACK_NEXT)) == sorted(TRANSFER_SETS)


@pytest.mark.parametrize("name", sorted(TRANSFER_SETS))
def test_each_set_has_its_shapes_and_classes(name, tmp_path):
    needs_espeak(name)
    spec = transfer_spec(name, per_class=PER_CLASS)
    folder = make_transfer(tmp_path / name, name, seed=0, per_class=PER_CLASS)
    index = scan_release(folder)
    assert index.classes == class_names(spec) and len(index.classes) == spec.classes
    assert index.counts() == {c: PER_CLASS for c in index.classes}
    train, test = build_datasets(str(folder), modality="both", cache_dir=tmp_path / "cache")
    assert train.images.shape[1:] == (3, spec.side, spec.side)
    grey = (train.images[:, 0] == train.images[:, 1]).all() and (train.images[:, 1] == train.images[:, 2]).all()
    assert bool(grey) == (not spec.rgb)
    wav, rate = read_wav(index.samples[0].audio_path)
    assert rate == SAMPLE_RATE and spec.clip_s[0] * rate - 1 <= wav.shape[-1] <= spec.clip_s[1] * rate + 1
    assert len(train) + len(test) == spec.classes * PER_CLASS


def test_same_seed_same_files_other_seed_other_files(tmp_path):
    a = file_hashes(make_transfer(tmp_path / "a", "textured-digits", seed=1, per_class=2))
    b = file_hashes(make_transfer(tmp_path / "b", "textured-digits", seed=1, per_class=2))
    c = file_hashes(make_transfer(tmp_path / "c", "textured-digits", seed=2, per_class=2))
    assert a == b
    assert a != c


def test_sets_differ_at_the_same_seed(tmp_path):
    a = make_transfer(tmp_path / "a", "colour-clutter", per_class=2, sound="tones")
    b = make_transfer(tmp_path / "b", "few-shot", per_class=2)
    img = "vision/00_zero/00000.png"
    assert (a / img).read_bytes() != (b / img).read_bytes()


def test_ensure_transfer_caches_by_settings(tmp_path):
    a = ensure_transfer("mono-digits", tmp_path, per_class=2)
    stamp = (a / "transfer.json").stat().st_mtime_ns
    assert ensure_transfer("mono-digits", tmp_path, per_class=2) == a
    assert (a / "transfer.json").stat().st_mtime_ns == stamp
    assert ensure_transfer("mono-digits", tmp_path, per_class=3) != a


def test_polarity_is_as_named(tmp_path):
    from PIL import Image

    for name, light_bg in (("mono-digits", False), ("inverted-letters", True)):
        folder = make_transfer(tmp_path / name, name, per_class=2)
        img = np.asarray(Image.open(folder / "vision" / class_names(TRANSFER_SETS[name])[0] / "00000.png"))
        corner = img[:3, :3].mean()
        assert (corner > 127) == light_bg


@pytest.mark.parametrize(
    "overrides, match",
    [
        ({"side": 48}, "side must be 16, 32 or 64"),
        ({"classes": 11}, r"classes must be in \[2, 10\]"),
        ({"colours": "pink"}, "colours must be one of"),
        ({"sound": "music"}, "sound must be one of"),
        ({"per_class": 1}, "per_class must be >= 2"),
        ({"depth": 3}, "unknown transfer set setting"),
    ],
)
def test_bad_settings_fail_with_one_line(overrides, match):
    with pytest.raises(ValueError, match=match):
        transfer_spec("mono-digits", **overrides)
    with pytest.raises(ValueError, match="unknown transfer set 'nope'"):
        transfer_spec("nope")


def _sound(spec, label):
    return _class_sound(spec, label, SAMPLE_RATE // 2, np.random.default_rng(7))  # the same draws for every class


def test_sound_groups_are_the_classes_whose_sounds_coincide():
    """The folded chirp layout gives some classes one sweep: :func:`sound_groups` finds them, and only them."""
    spec = transfer_spec("many-grey")
    assert sound_groups(spec) == [(0, 2, 4), (1, 3)] and sound_ceiling(spec) == pytest.approx(2 / 5)
    assert np.array_equal(_sound(spec, 0), _sound(spec, 2)) and np.array_equal(_sound(spec, 1), _sound(spec, 3))
    assert not np.allclose(_sound(spec, 0), _sound(spec, 1))
    mixed = transfer_spec("hb8-colour-letters-mixed")  # chirps are labels 1, 4, 7
    assert [g for g in sound_groups(mixed) if len(g) > 1] == [(1, 7)]
    assert np.array_equal(_sound(mixed, 1), _sound(mixed, 7)) and not np.allclose(_sound(mixed, 1), _sound(mixed, 4))


@pytest.mark.parametrize("classes", [2, 5, 8, 9, 15, 20])
@pytest.mark.parametrize("sound", ["chirps", "mixed"])
def test_the_spread_chirp_layout_gives_every_class_its_own_sound(sound, classes):
    spec = transfer_spec("inverted-letters", sound=sound, classes=classes, chirps="spread")
    assert sound_ceiling(spec) == 1.0
    sounds = [_sound(spec, k) for k in range(classes)]
    assert all(not np.allclose(a, b) for i, a in enumerate(sounds) for b in sounds[i + 1 :])


def test_sets_of_the_first_layout_keep_their_folders_and_new_sets_have_no_colliding_classes():
    assert "chirps" not in _spec_record(transfer_spec("many-grey"))  # its folder key is the one of rounds 1-11
    assert _spec_record(transfer_spec("many-grey", chirps="spread"))["chirps"] == "spread"
    for name in HELD_BACK_NEXT:  # defined after the collisions were found
        assert sound_ceiling(TRANSFER_SETS[name]) == 1.0, name
    with pytest.raises(ValueError, match="chirps must be one of"):
        transfer_spec("many-grey", chirps="wide")


def test_the_suite_marks_the_sets_no_recipe_choice_has_used():
    """A set of the current round or of the next one is held back (suite and set metadata alike); earlier ones not."""
    import importlib.util
    from pathlib import Path

    from avsnn.data.transfer import unseen

    path = Path(__file__).resolve().parents[1] / "scripts" / "transfer_suite.py"
    spec = importlib.util.spec_from_file_location("transfer_suite_script", path)
    suite = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(suite)
    assert suite.unseen is unseen  # one definition, used by the suite's table and by each set's transfer.json
    assert all(unseen(n) for n in HELD_BACK + HELD_BACK_NEXT)
    assert not any(unseen(n) for n in HELD_BACK_ROUND_1)
