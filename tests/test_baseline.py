"""Linear probes (avsnn baseline): features, fits on the networks' split, CLI."""

import types

import numpy as np
import pytest
import torch
from fixtures import write_release_fixture

from avsnn.baseline import linear_probes, logmel_features, pixel_features, run_baseline
from avsnn.cli import main
from avsnn.data import AudioConfig, build_datasets

pytest.importorskip("sklearn")


@pytest.fixture
def fixture_splits(tmp_path):
    root = write_release_fixture(tmp_path / "rel", classes=("a", "b", "c"), per_class=6)
    kw = dict(audio=AudioConfig(duration_s=0.5), cache_dir=tmp_path / "cache")
    return {m: build_datasets(str(root), modality=m, **kw) for m in ("vision", "audio")}


def test_features():
    ds = types.SimpleNamespace(
        images=torch.arange(2 * 3 * 4 * 4, dtype=torch.uint8).reshape(2, 3, 4, 4),
        spectrograms=torch.tensor([[[[1.0, 3.0], [2.0, 2.0]]]]),
    )
    pix = pixel_features(ds)
    assert pix.shape == (2, 48) and pix[1, 0] == pytest.approx(48 / 255) and pix.dtype == np.float32
    assert logmel_features(ds).tolist() == [[2.0, 2.0, 1.0, 0.0]]  # band means, then band stds


def test_probes_on_fixture_beat_chance(fixture_splits):
    res = linear_probes(fixture_splits)
    assert set(res) == {"vision", "audio", "fusion"}
    for m, r in res.items():
        assert r["n_train"] + r["n_test"] == 18 and r["test_accuracy"] > 1 / 3 + 0.2, (m, r)
    assert res["vision"]["n_features"] == 3 * 32 * 32 and res["audio"]["n_features"] == 2 * 64
    assert res["fusion"]["n_features"] == 3 * 32 * 32 + 2 * 64
    only_audio = linear_probes({"audio": fixture_splits["audio"]})
    assert set(only_audio) == {"audio"} and only_audio["audio"]["test_accuracy"] == res["audio"]["test_accuracy"]


def test_probes_reject_mismatched_or_unknown(fixture_splits, tmp_path):
    root = write_release_fixture(tmp_path / "other", classes=("a", "b", "c"), per_class=4)
    other = build_datasets(str(root), modality="vision", cache_dir=tmp_path / "cache")
    with pytest.raises(ValueError, match="different samples"):
        linear_probes({"vision": other, "audio": fixture_splits["audio"]})
    with pytest.raises(ValueError, match="modalities must be some of"):
        linear_probes({"image": other})
    with pytest.raises(ValueError, match="modality must be one of"):
        run_baseline(str(root), modality="fusion")


def test_synthetic_probes_beat_chance_on_the_networks_split(tmp_path, monkeypatch):
    monkeypatch.setenv("AVSNN_CACHE", str(tmp_path / "cache"))
    res = run_baseline("synthetic", profile="smoke")
    from avsnn.train import load_datasets
    from avsnn.train.profiles import make_config

    _, test = load_datasets(make_config("audio", "smoke", "synthetic"))
    for m in ("vision", "audio", "fusion"):
        assert res[m]["n_test"] == len(test) and res[m]["test_accuracy"] > 0.1 + 0.3, (m, res[m])


def test_cli_baseline(fixture_splits, tmp_path, capsys):
    folder = str(fixture_splits["vision"][0].index.root)
    assert main(["baseline", "--data", folder, "--modality", "vision", "--set", "per_class=5"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("linear probe vision test_accuracy") and "train/test" in out[0]
    assert main(["baseline", "--data", str(tmp_path / "missing")]) == 2
    assert "dataset folder not found" in capsys.readouterr().err


def test_probe_keys_are_the_data_settings_and_training_keys_are_refused():
    from avsnn.baseline import check_data_overrides, probe_keys

    assert "per_class" in probe_keys("vision") and "n_mels" not in probe_keys("vision")
    assert "n_mels" in probe_keys("audio") and "min_steps" not in probe_keys("audio")
    check_data_overrides(["per_class=10"], "vision")
    with pytest.raises(ValueError, match="min_steps"):
        check_data_overrides(["min_steps=10"], "vision")
