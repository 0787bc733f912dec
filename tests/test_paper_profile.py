"""The paper's path cannot rot: ``profile=paper`` trains end to end at the paper's exact dimensions.

No one trains the paper profile on a CPU (its schedules are for a GPU), so this test runs it for one
epoch on a few pairs per class of a generated set in the release layout with the paper's input
sizes (32x32 RGB images, 4 s clips at 16 kHz): L2-ActSpikeNet at width 64 and T=8, the audio network
with its 27,136-d feature, and the SMLP on the 27,648-d concatenation. It checks the shapes, that every
number is finite, and the run store's records.
"""

from __future__ import annotations

import json
import math

import pytest
import torch
from fixtures import write_release_fixture

from avsnn.train import make_config, train_or_load
from avsnn.train.store import run_key

PAPER_VISION_DIM, PAPER_AUDIO_DIM = 512, 27136  # Section IV; their sum is the SMLP's 27,648-d input


@pytest.fixture(scope="module")
def paper_fusion(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("paper")
    mp = pytest.MonkeyPatch()
    mp.setenv("AVSNN_CACHE", str(tmp / "cache"))
    data = write_release_fixture(
        tmp / "paper_sized", classes=("c0", "c1", "c2"), per_class=4, rates=(16000,), duration_s=4.0
    )
    cfg = make_config(
        "fusion",
        "paper",
        data=str(data),
        overrides=["epochs=1", "vision.epochs=1", "audio.epochs=1", "device=cpu", "seed=0"],
    )
    try:
        yield cfg, tmp / "runs", train_or_load(cfg, tmp / "runs", progress=False, verbose=False)
    finally:
        mp.undo()


def test_paper_profile_has_the_papers_settings(paper_fusion):
    cfg, _, _ = paper_fusion
    vision, audio = cfg.sub_configs["vision"], cfg.sub_configs["audio"]
    assert (vision.width, vision.timesteps, vision.variant, vision.head) == (64, 8, "act_after_add", "l2")
    assert (audio.timesteps, audio.n_mels, tuple(audio.audio_channels)) == (4, 64, (16, 32, 64))
    assert (cfg.variant, cfg.timesteps) == ("smlp", 8)


def test_paper_profile_trains_end_to_end_at_the_papers_dimensions(paper_fusion):
    cfg, runs, run = paper_fusion
    train, test = run.array_data()
    assert train.inputs["vision"].shape[1] == PAPER_VISION_DIM
    assert train.inputs["audio"].shape[1] == PAPER_AUDIO_DIM
    assert sum(x.shape[1] for x in train.inputs.values()) == 27648
    assert len(test.labels) > 0
    for split in (train, test):
        assert all(torch.isfinite(x).all() for x in split.inputs.values())
    for p in run.model.parameters():
        assert torch.isfinite(p).all()
    # the run store's record: every finished run (fusion and its two inputs) with its identity and metrics
    for sub in [cfg, *cfg.sub_configs.values()]:
        folder = runs / run_key(sub)
        assert (folder / "DONE").exists(), folder
        metrics = json.loads((folder / "metrics.json").read_text())
        recorded = json.loads((folder / "config.json").read_text())
        assert recorded["run_key"] == folder.name == metrics["run_key"]
        assert recorded["profile"] == "paper" and metrics["epochs"] == 1
        assert 0.0 <= metrics["test_accuracy"] <= 1.0 and math.isfinite(metrics["train_seconds"])
