"""RunConfig, profiles, make_config, overrides and validation."""

from __future__ import annotations

import argparse
import json

import pytest

from avsnn.train import PROFILES, RunConfig, add_train_parser, make_config


def test_hash_stable_and_json_roundtrip():
    cfg = make_config("vision", "smoke")
    d = json.loads(json.dumps(cfg.to_dict()))
    again = RunConfig.from_dict(d)
    assert again == cfg and again.hash() == cfg.hash()
    assert len(cfg.hash()) == 12 and cfg.hash() == make_config("vision", "smoke").hash()
    assert cfg.hash() != make_config("vision", "smoke", overrides={"seed": 1}).hash()
    assert cfg.hash() == make_config("vision", "smoke", overrides=["progress=true", "device=cpu"]).hash()
    cl = make_config("vision", "smoke", overrides=["channels_last=true"])  # a layout, not a result
    assert cl.channels_last is True and cl.hash() == cfg.hash()
    assert isinstance(hash(cfg), int)


def test_paper_profile_section_vb():
    v = make_config("vision", "paper")
    assert (v.batch_size, v.timesteps, v.optimizer, v.lr, v.weight_decay) == (128, 8, "adam", 1e-3, 1e-4)
    assert (v.milestones, v.epochs, v.correct_rate, v.incorrect_rate) == ((150, 275), 300, 0.9, 0.1)
    assert (v.surrogate, v.width, v.head, v.variant) == ("atan", 64, "l2", "act_after_add")
    assert make_config("vision", "paper", "/data/UrbanSound8K-AV").batch_size == 64
    a = make_config("audio", "paper")
    assert (a.batch_size, a.timesteps, a.lr, a.correct_rate, a.incorrect_rate) == (32, 4, 1e-4, 0.85, 0.15)
    assert (a.surrogate, a.surrogate_scale, a.n_mels, a.f_max) == ("fast_sigmoid", 5.0, 64, 8000.0)
    f = make_config("fusion", "paper")
    assert (f.epochs, f.batch_size, f.timesteps, f.optimizer) == (10, 32, 8, "adam")
    assert f.sub_configs["vision"] == v.replace(profile="paper") and f.sub_configs["audio"].lr == 1e-4


def test_profiles_cover_all_modalities():
    for name, prof in PROFILES.items():
        for modality in ("vision", "audio", "fusion"):
            assert modality in prof
            make_config(modality, name)
    s = make_config("vision", "smoke")
    assert (s.width, s.timesteps, s.epochs, s.progress) == (8, 4, 6, False)


def test_override_parsing():
    cfg = make_config(
        "vision",
        "default",
        overrides=["milestones=3,5", "amp=true", "per_class=none", "lr=2e-3", "head=fc", "variant=lif_after_bn"],
    )
    assert cfg.milestones == (3, 5) and cfg.amp is True and cfg.per_class is None and cfg.lr == 2e-3
    assert cfg.head == "fc" and cfg.variant == "lif_after_bn"
    assert make_config("audio", "smoke", overrides={"audio_channels": [2, 4, 8]}).audio_channels == (2, 4, 8)
    f = make_config("fusion", "smoke", overrides=["vision.width=12", "per_class=10", "audio.lr=1e-2"])
    sv, sa = f.sub_configs["vision"], f.sub_configs["audio"]
    assert sv.width == 12 and sa.lr == 1e-2 and sv.per_class == sa.per_class == f.per_class == 10
    assert f.hash() != make_config("fusion", "smoke", overrides=["per_class=10", "audio.lr=1e-2"]).hash()


@pytest.mark.parametrize(
    "args, match",
    [
        (("sound", "smoke"), "modality"),
        (("vision", "fast"), "profile"),
        (("vision", "smoke", "synthetic", ["correct_rate=1.5"]), "correct_rate"),
        (("vision", "smoke", "synthetic", ["incorrect_rate=-0.1"]), "incorrect_rate"),
        (("vision", "smoke", "synthetic", ["head=softmax"]), "head"),
        (("vision", "smoke", "synthetic", ["variant=full"]), "variant"),
        (("vision", "smoke", "synthetic", ["nonsense=1"]), "nonsense"),
        (("vision", "smoke", "synthetic", ["epochs=many"]), "epochs.*integer"),
        (("vision", "smoke", "synthetic", ["amp=maybe"]), "amp.*boolean"),
        (("vision", "smoke", "synthetic", ["surrogate=relu"]), "surrogate"),
        (("vision", "smoke", "synthetic", ["lr"]), "key=value"),
        (("vision", "smoke", "synthetic", ["vision.lr=1"]), "fusion"),
        (("fusion", "smoke", "synthetic", ["video.lr=1"]), "vision.*audio"),
        (("fusion", "smoke", "synthetic", ["vision.per_class=3"]), "per_class"),
        (("fusion", "smoke", "synthetic", ["fusion_inputs=text"]), "fusion_inputs"),
    ],
)
def test_validation_errors(args, match):
    with pytest.raises(ValueError, match=match):
        make_config(*args)


def test_direct_construction_validates():
    with pytest.raises(ValueError, match="vision_config"):
        RunConfig(modality="fusion")
    with pytest.raises(ValueError, match="milestones"):
        RunConfig(milestones=(5, 3))
    assert RunConfig(modality="audio").variant == "full"


def test_cli_parser():
    p = argparse.ArgumentParser()
    add_train_parser(p.add_subparsers(dest="cmd"))
    a = p.parse_args(
        [
            "train",
            "--modality",
            "audio",
            "--profile",
            "smoke",
            "--set",
            "lr=1e-2",
            "--set",
            "epochs=2",
            "--runs",
            "/tmp/x",
            "--quiet",
        ]
    )
    assert (a.modality, a.profile, a.data, a.overrides, a.runs, a.quiet) == (
        "audio",
        "smoke",
        "synthetic",
        ["lr=1e-2", "epochs=2"],
        "/tmp/x",
        True,
    )
    from avsnn.train.cli import config_from_args

    cfg = config_from_args(a)
    assert cfg.lr == 1e-2 and cfg.epochs == 2 and cfg.modality == "audio"
    with pytest.raises(SystemExit):
        p.parse_args(["train", "--modality", "text"])


def test_synthetic_is_the_synthetic_set():
    """``embedded``, the synthetic set's first name, still names it: the same config and hash."""
    p = argparse.ArgumentParser()
    add_train_parser(p.add_subparsers(dest="cmd"))
    from avsnn.train.cli import config_from_args

    old, new = (
        config_from_args(p.parse_args(["train", "--modality", "vision", "--data", d, "--profile", "smoke"]))
        for d in ("embedded", "synthetic")
    )
    assert old == new and old.dataset == "synthetic" and old.hash() == new.hash()
    assert RunConfig(dataset="embedded") == RunConfig(dataset="synthetic")
    fusion = make_config("fusion", "smoke", "embedded")
    assert {c.dataset for c in (fusion, *fusion.sub_configs.values())} == {"synthetic"}


def test_paper_profile_builds_the_papers_feature_sizes():
    """Section IV-D: the audio feature is 27,136-d; the fused SMLP input 512 + 27,136 = 27,648-d."""
    from avsnn.models import PAPER_AUDIO_CONFIG
    from avsnn.train import build_model

    audio = make_config("audio", "paper")
    assert audio.audio_settings().n_frames == PAPER_AUDIO_CONFIG["n_frames"] == 424
    assert build_model(audio, 10).feature_dim == 27136
    vision = make_config("vision", "paper")
    assert build_model(vision, 10).feature_dim == 512
    fusion = make_config("fusion", "paper")
    dims = {name: build_model(sub, 10).feature_dim for name, sub in fusion.sub_configs.items()}
    assert dims == {"vision": 512, "audio": 27136} and sum(dims.values()) == 27648
