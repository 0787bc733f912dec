"""Smoke test of the training-step benchmark (no timing assertions) and of its snnTorch-style twin."""

import argparse
import copy

import pytest
import torch
from torch import nn

pytest.importorskip("snntorch")
from avsnn.bench import SnnTorchStyleResNet, add_bench_parser, ann_twin, loop_twin, run_bench  # noqa: E402
from avsnn.core.lif import LIF  # noqa: E402
from avsnn.models import L2ActSpikeNet  # noqa: E402


def test_run_bench_tiny_returns_required_keys():
    res = run_bench(width=4, timesteps=2, batch=4, steps=2, device="cpu", warmup=1, data=None)
    for key in (
        "device",
        "spiking_over_ann",
        "snntorch_over_avsnn",
        "img_per_s",
        "peak_memory_mb",
        "step_ms",
        "step_ms_raw",
        "torch",
        "threads",
        "saved_bytes",
        "data_loading",
    ):
        assert key in res, key
    assert res["device"] == "cpu"
    assert res["spiking_over_ann"] > 0 and res["snntorch_over_avsnn"] > 0
    for name in ("avsnn", "ann", "snntorch", "loop"):
        assert res["step_ms"][name] > 0
        assert len(res["step_ms_raw"][name]) == 2
        assert res["img_per_s"][name] > 0
        assert res["peak_memory_mb"][name] > 0
        assert res["saved_bytes"]["step"][name] > 0
    assert res["saved_bytes"]["lif_layer"]["fused"] > 0
    assert res["threads"] >= 1


def test_time_breakdown_attributes_spiking_and_relu_time():
    res = run_bench(
        width=4, timesteps=2, batch=4, steps=1, device="cpu", warmup=1, data=None, lif_micro=False, breakdown=True
    )
    snn, ann = res["breakdown_ms"]["avsnn"], res["breakdown_ms"]["ann"]
    assert snn["LIF scan"] > 0 and snn["ReLU"] == 0
    assert ann["LIF scan"] == 0 and ann["ReLU"] > 0
    for parts in (snn, ann):
        assert parts["convolution"] > 0 and parts["batch norm"] > 0 and parts["optimizer"] > 0
    assert res["config"]["channels_last"] is False and res["lif_backend"] in ("cpp", "torch")


def test_bench_channels_last_on_cpu_is_probed_first(monkeypatch):
    """An explicit channels-last request on CPU runs only where the hang probe passes (issue #11)."""
    import avsnn.device as device

    monkeypatch.setitem(device._PROBED, "cpu", (False, "probe says no"))
    with pytest.raises(RuntimeError, match="channels_last=true is unsafe on this CPU.*probe says no"):
        run_bench(
            width=4,
            timesteps=2,
            batch=4,
            steps=1,
            device="cpu",
            warmup=1,
            data=None,
            lif_micro=False,
            channels_last=True,
        )
    assert device.use_channels_last(None, torch.device("cpu")) is False
    assert device.use_channels_last(None, torch.device("cuda")) is True
    monkeypatch.setitem(device._PROBED, "cpu", (True, ""))
    assert device.use_channels_last(True, torch.device("cpu")) is True


def test_data_loading_measures_both_pipelines_against_training_steps(tmp_path, monkeypatch):
    from fixtures import write_release_fixture

    from avsnn.bench import data_loading

    monkeypatch.setenv("AVSNN_CACHE", str(tmp_path / "cache"))
    root = write_release_fixture(tmp_path / "rel", classes=("a", "b", "c"), per_class=6)
    res = data_loading(batch=4, step_s=0.5, data=str(root), reps=3)
    for modality in ("vision", "audio"):
        m = res[modality]
        assert m["samples"] > 0 and m["batches_per_s"] > 0 and m["build_warm_s"] > 0
        assert m["train_step_s"] > 0 and m["data_over_step"] == m["train_steps_per_s"] / m["batches_per_s"]
    assert res["vision"]["train_step_s"] == 0.5 and res["data_batches_per_s"] == res["vision"]["batches_per_s"]
    assert "skipped" in data_loading(4, 0.5, str(tmp_path / "missing"))["vision"]


def test_bench_parser_registers_command():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    add_bench_parser(sub)
    args = parser.parse_args(
        [
            "bench",
            "--width",
            "4",
            "--timesteps",
            "2",
            "--batch",
            "4",
            "--steps",
            "3",
            "--device",
            "cpu",
            "--out",
            "x.json",
        ]
    )
    assert (args.width, args.timesteps, args.batch, args.steps, args.device, args.out) == (4, 2, 4, 3, "cpu", "x.json")
    assert callable(args.func) and args.trace is False
    assert parser.parse_args(["bench", "--trace"]).trace and parser.parse_args(["bench", "--profile"]).trace


def test_python_m_avsnn_bench_is_the_bench_command():
    """``python -m avsnn.bench`` (scripts/gpu_check.sh) runs the bench command, with its one-line errors."""
    import subprocess
    import sys

    r = subprocess.run(
        [sys.executable, "-m", "avsnn.bench", "--width", "0", "--device", "cpu", "--data", "none"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.strip() == "avsnn-bench bench: error: width must be an integer >= 1, got 0"


def _active_model(T=4, width=4, seed=0):
    """A float64 L2ActSpikeNet with BN affine params chosen so that every layer spikes."""
    torch.manual_seed(seed)
    model = L2ActSpikeNet(width=width, timesteps=T).double()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            nn.init.uniform_(m.weight, 0.5, 1.5)
            nn.init.uniform_(m.bias, 0.0, 0.8)
    model.train()
    with torch.no_grad():  # non-trivial running statistics
        for _ in range(2):
            model(torch.rand(6, 3, 32, 32, dtype=torch.float64))
    return model.eval()


def test_snntorch_style_net_matches_avsnn_model():
    model = _active_model()
    twin = SnnTorchStyleResNet(copy.deepcopy(model)).eval()
    x = torch.rand(5, 3, 32, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    a, b = model(x), twin(x)
    assert a.features.abs().sum() > 0 and 0 < a.spikes.sum() < a.spikes.numel()
    assert torch.equal(a.spikes, b.spikes)
    torch.testing.assert_close(b.features, a.features, atol=1e-10, rtol=0)
    torch.testing.assert_close(b.current, a.current, atol=1e-10, rtol=0)
    torch.testing.assert_close(b.z_av, a.z_av, atol=1e-10, rtol=0)


def test_twins_have_expected_neurons():
    model = L2ActSpikeNet(width=4, timesteps=2)
    n_lif = sum(isinstance(m, LIF) for m in model.modules())
    ann = ann_twin(model)
    assert sum(isinstance(m, LIF) for m in ann.modules()) == 0
    assert sum(isinstance(m, nn.ReLU) for m in ann.modules()) == n_lif
    loop = loop_twin(model)
    assert all(m.backend == "loop" for m in loop.modules() if isinstance(m, LIF))
    assert all(m.backend == "auto" for m in model.modules() if isinstance(m, LIF))
    out = ann(torch.rand(2, 3, 32, 32))
    assert out.spikes.shape == (2, 2, 10)


def test_keep_freed_memory_switch(monkeypatch):
    import platform

    import avsnn.device as d

    monkeypatch.setattr(d, "_MALLOC_TUNED", [])
    monkeypatch.setenv("AVSNN_MALLOC_TUNE", "0")
    assert d.keep_freed_memory() is False
    monkeypatch.setattr(d, "_MALLOC_TUNED", [])
    monkeypatch.delenv("AVSNN_MALLOC_TUNE")
    assert d.keep_freed_memory() is (platform.libc_ver()[0] == "glibc")


_BIG_BLOCK_STEPS = """
import torch, avsnn.device as d
print(d.keep_freed_memory())
torch.manual_seed(0)
nn = torch.nn
net = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.LazyLinear(3))
x, y = torch.randn(8, 1, 256, 256), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
net(x)
opt = torch.optim.Adam(net.parameters(), 1e-2)
for _ in range(3):  # activations of 8 x 16 x 256 x 256 floats = 32 MiB: glibc would mmap them
    opt.zero_grad(); torch.nn.functional.cross_entropy(net(x), y).backward(); opt.step()
print(sum(float(p.detach().double().sum()) for p in net.parameters()).hex())
"""


def test_mmap_large_blocks_undoes_the_tuning_only_inside_its_block(monkeypatch):
    import avsnn.device as d

    calls = []

    class Libc:
        def mallopt(self, option, value):
            calls.append((option, value))
            return 1

        def malloc_trim(self, pad):
            calls.append(("trim", pad))
            return 1

    monkeypatch.setattr(d.ctypes, "CDLL", lambda name: Libc())
    monkeypatch.setattr(d, "_MALLOC_TUNED", [False])
    with d.mmap_large_blocks():
        assert calls == []  # not tuned: nothing to undo
    monkeypatch.setattr(d, "_MALLOC_TUNED", [True])
    with d.mmap_large_blocks():
        assert calls == [(d.M_MMAP_MAX, d.GLIBC_MMAP_MAX), ("trim", 0)]
    assert calls[-1] == (d.M_MMAP_MAX, 0) and d.M_MMAP_MAX == -4  # <malloc.h>


def test_keep_freed_memory_leaves_the_numbers_alone():
    """Blocks above glibc's mmap threshold come from the heap when tuned, and the weights are bit-identical."""
    import os
    import platform
    import subprocess
    import sys

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("keep_freed_memory tunes glibc only")
    outs = {}
    for tune in ("0", "1"):
        env = {**os.environ, "AVSNN_MALLOC_TUNE": tune, "OMP_NUM_THREADS": "1"}
        r = subprocess.run(
            [sys.executable, "-c", _BIG_BLOCK_STEPS], capture_output=True, text=True, env=env, timeout=120
        )
        assert r.returncode == 0, r.stderr
        outs[tune] = r.stdout.split()
    assert outs["0"][0] == "False" and outs["1"][0] == "True"
    assert outs["0"][1] == outs["1"][1]


def test_speedup_bench_times_both_ways_interleaved_and_reports_identity(tmp_path, monkeypatch, capsys):
    """``avsnn bench --speedup``: before/after img/s per modality, the ratio, and bit-identical weights."""
    from avsnn.bench import format_speedup, speedup_bench
    from avsnn.bench.cli import cmd_bench

    monkeypatch.setenv("AVSNN_CACHE", str(tmp_path / "cache"))
    res = speedup_bench(
        ("vision", "audio"), data="synthetic", steps=1, repeats=2, warmup=0, profile="smoke", overrides=["per_class=8"]
    )
    assert res["profile"] == "smoke" and res["steps"] == 1 and res["repeats"] == 2 and "cpu_isa" in res
    for modality in ("vision", "audio"):
        m = res["modalities"][modality]
        assert set(m["img_per_s"]) == {"before", "after"} and all(v > 0 for v in m["img_per_s"].values())
        assert m["ratio"] == pytest.approx(m["img_per_s"]["after"] / m["img_per_s"]["before"])
        assert all(len(ts) == 2 for ts in m["block_s_raw"].values())
        assert m["identical"] is True  # the speed-ups keep every number
    table = format_speedup(res)
    assert "before img/s" in table and "audio" in table and "yes" in table and "per_class=8" in table
    assert res["overrides"] == ["per_class=8"]

    parser = argparse.ArgumentParser()
    add_bench_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        [
            "bench",
            "--speedup",
            "--modalities",
            "audio",
            "--repeats",
            "3",
            "--data",
            "none",
            "--set",
            "variant=no_pooling",
        ]
    )
    assert args.speedup and (args.modalities, args.repeats, args.overrides) == ("audio", 3, ["variant=no_pooling"])
    with pytest.raises(ValueError, match="--speedup needs a dataset"):
        cmd_bench(args)
    with pytest.raises(ValueError, match="modalities must be some of"):
        speedup_bench(("fusion",), data="synthetic")
    with pytest.raises(ValueError, match="repeats must be an integer >= 1"):
        speedup_bench(("audio",), data="synthetic", repeats=0)
