"""End to end on the synthetic set with the smoke profile: vision, audio, fusion, via the CLI handler."""

from __future__ import annotations

import argparse
import json

import pytest

from avsnn.train import add_train_parser, make_config, train_or_load
from avsnn.train.store import run_key


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    cache = tmp_path_factory.mktemp("cache")
    runs = tmp_path_factory.mktemp("runs")
    mp.setenv("AVSNN_CACHE", str(cache))
    mp.setenv("AVSNN_RUNS", str(runs))
    yield runs
    mp.undo()


def _parser():
    p = argparse.ArgumentParser()
    add_train_parser(p.add_subparsers(dest="cmd"))
    return p


def test_cli_train_fusion_smoke(env, capsys):
    args = _parser().parse_args(["train", "--modality", "fusion", "--profile", "smoke", "--quiet"])
    assert args.func(args) == 0
    out = capsys.readouterr().out.strip().splitlines()
    cfg = make_config("fusion", "smoke")
    assert out[-1] == str(env / run_key(cfg))
    for c in (cfg, *cfg.sub_configs.values()):
        m = json.loads((env / run_key(c) / "metrics.json").read_text())
        assert 0.0 <= m["test_accuracy"] <= 1.0
        assert {"intra", "inter", "ratio"} <= set(m["separability"]["test"])
        assert len(m["confusion"]) == 10 and m["classes"]
        assert "firing_rates" in m and m["sops"] >= 0 and "energy" in m
    vis = cfg.sub_configs["vision"]
    m = json.loads((env / run_key(vis) / "metrics.json").read_text())
    assert m["num_test"] == 10 * vis.per_class - m["num_train"] - m.get("val_samples", 0)
    # second call: a cache hit, no training (nothing in the run folders is rewritten)
    stamps = {p: p.stat().st_mtime_ns for p in env.rglob("*") if p.is_file()}
    run = train_or_load(cfg, progress=False, verbose=False)
    assert not run.trained_now
    assert stamps == {p: p.stat().st_mtime_ns for p in env.rglob("*") if p.is_file() and p in stamps}
    tr, te = run.array_data()
    assert tr.inputs["vision"].shape[1] == 8 * vis.width and te.inputs["audio"].shape[0] == len(te)
    # show
    args = _parser().parse_args(["show", cfg.hash()])
    assert args.func(args) == 0
    assert "test_accuracy" in capsys.readouterr().out
