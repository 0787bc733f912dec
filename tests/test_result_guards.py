"""Behaviours that build the book's tables, checked against independently derived numbers (#17)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from torch import nn

from avsnn.analysis import class_subsample, feature_discrimination
from avsnn.core.lif import LIF
from avsnn.data.batching import ArrayData
from avsnn.metrics import E_AC_PJ, E_MAC_PJ, energy_from_counts
from avsnn.models import count_ops
from avsnn.models.layers import SeqToANN, repeat_over_time
from avsnn.models.output import ModelOutput
from avsnn.train import make_config, train_or_load


# ---- energy on a hand-counted two-layer network ------------------------------------------------
class TwoLayer(nn.Module):
    """x [B, 4] -> Linear(4, 3) every step -> LIF -> Linear(3, 2) every step."""

    timesteps = 2

    def __init__(self):
        super().__init__()
        self.fc1 = SeqToANN(nn.Linear(4, 3))
        self.lif = LIF(beta=0.5, threshold=1.0)
        self.fc2 = SeqToANN(nn.Linear(3, 2))
        with torch.no_grad():  # fc1: neuron j receives x_j (j < 3) -> spikes chosen by the input
            self.fc1[0].weight.copy_(torch.eye(3, 4))
            self.fc1[0].bias.zero_()

    def forward(self, x):
        return self.fc2(self.lif(self.fc1(repeat_over_time(x, self.timesteps))))


def test_energy_from_counts_matches_a_hand_count():
    # per sample: fc1 4*3 MACs x T=2 steps = 24 on real input (priced as MACs);
    # fc2 3*2 x 2 = 12 MACs on spikes. Input current 2.0 -> spike every step; 0.0 -> never:
    # neuron 0 always fires, neurons 1, 2 never -> input firing rate of fc2 = 1/3 -> 4 SOPs.
    x = torch.tensor([[2.0, 0.0, 0.0, 5.0]])
    p = count_ops(TwoLayer(), x)
    assert p.macs == 36 and p.layer_macs == {"fc1.0": 24, "fc2.0": 12}
    assert p.layer_sops["fc2.0"] == pytest.approx(4.0)
    e = energy_from_counts(p)
    assert e["ann_joules"] == pytest.approx(36 * 4.6e-12)
    assert e["snn_joules"] == pytest.approx(24 * 4.6e-12 + 4 * 0.9e-12)
    # an ANN of the same layers runs once: 12 + 6 MACs
    assert p.one_pass_macs == 18 and e["ann_one_pass_joules"] == pytest.approx(18 * 4.6e-12)
    assert e["ratio_one_pass_ann_over_snn"] == pytest.approx(18 * 4.6 / (24 * 4.6 + 4 * 0.9))
    assert (E_MAC_PJ, E_AC_PJ) == (4.6, 0.9)  # Horowitz (ISSCC 2014), 32-bit float, 45 nm


# ---- Eq. 23 on vectors whose distances are known -------------------------------------------------
class FixedFeatures(nn.Module):
    """Returns the input rows as the (one-step) features: the analysis sees exactly these vectors."""

    def forward(self, x):
        return ModelOutput(spikes=torch.zeros(1, len(x), 2), features=x.unsqueeze(0), z_av=x, current=None)


class FakeRun:
    def __init__(self, feats, labels):
        self.model = FixedFeatures()
        data = ArrayData(feats, labels)
        self._data = (data, data)

    def array_data(self):
        return self._data


def test_feature_discrimination_is_eq23_on_known_vectors():
    # class 0 along e0 (scaled: cosine distance is scale-free), class 1 along e1 -> intra 0, inter 1;
    # one class-1 sample at 45 degrees -> distance 1 - cos(45) to both directions
    f = torch.tensor([[1.0, 0, 0], [3.0, 0, 0], [0, 2.0, 0], [0, 1.0, 0], [1.0, 1.0, 0]])
    y = torch.tensor([0, 0, 1, 1, 1])
    d = feature_discrimination(FakeRun(f, y), per_class=2)
    assert d.sorted_labels.tolist() == [0, 0, 1, 1]
    expected = torch.tensor([[0, 0, 1, 1], [0, 0, 1, 1], [1, 1, 0, 0], [1, 1, 0, 0]], dtype=torch.float32)
    torch.testing.assert_close(d.matrix.float(), expected, atol=1e-6, rtol=0)
    # separability over all 5 samples, ordered pairs: class 0 has 2 pairs at distance 0; class 1 has
    # 6 pairs, 4 of them touching the 45-degree sample (distance c); 12 inter pairs, 4 at distance c, 8 at 1
    c = 1 - 2**-0.5
    assert d.separability["intra"] == pytest.approx(4 * c / 8, abs=1e-9)
    assert d.separability["inter"] == pytest.approx((4 * c + 8 * 1.0) / 12, abs=1e-9)
    assert d.separability["ratio"] == pytest.approx(d.separability["inter"] / d.separability["intra"])
    assert class_subsample(y, 1).tolist() == [0, 2]
    with pytest.raises(ValueError, match="split"):
        feature_discrimination(FakeRun(f, y), split="val")


# ---- engine options that had no test --------------------------------------------------------------
@pytest.fixture()
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("AVSNN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("AVSNN_RUNS", str(tmp_path / "runs"))
    return tmp_path


def _tiny(**over):
    base = {
        "per_class": 6,
        "epochs": 1,
        "device": "cpu",
        "progress": False,
        "timesteps": 2,
        "audio_channels": (2, 2, 2),
        "batch_size": 8,
    }
    return make_config("audio", "smoke", overrides={**base, **over})


@pytest.mark.parametrize("optimizer", ["adamw", "sgd"])
def test_other_optimizers_train_and_differ_from_adam(env, optimizer):
    # with weight decay: AdamW (decoupled decay) equals Adam (L2 in the gradient) only without it
    adam = train_or_load(_tiny(weight_decay=0.1), progress=False, verbose=False).model.state_dict()
    run = train_or_load(_tiny(optimizer=optimizer, weight_decay=0.1), progress=False, verbose=False)
    ck = run.store.load_checkpoint()
    assert type(ck["optimizer"]["state"]) is dict and ck["optimizer"]["param_groups"][0]["lr"] == run.config.lr
    if optimizer == "sgd":
        assert ck["optimizer"]["param_groups"][0]["momentum"] == 0.9
    else:
        assert "exp_avg" in next(iter(ck["optimizer"]["state"].values()))
    w = run.model.state_dict()
    assert any(not torch.equal(w[k], adam[k]) for k in w if w[k].is_floating_point())


def test_truncate_targets_changes_the_loss_as_eq15_says(env):
    # T=2 and rates 0.85/0.15: Eq. 15 targets 1.7/0.3 spikes; snnTorch's truncation gives 1/0 spikes
    # and divides the mean squared error by T
    from avsnn.core.loss import mse_count_loss

    spikes = torch.zeros(2, 1, 3)
    y = torch.tensor([0])
    exact = mse_count_loss(spikes, y, 0.85, 0.15, truncate=False)
    trunc = mse_count_loss(spikes, y, 0.85, 0.15, truncate=True)
    assert exact.item() == pytest.approx((1.7**2 + 2 * 0.3**2) / 3, rel=1e-6)
    assert trunc.item() == pytest.approx(1.0 / 3 / 2, rel=1e-6)
    a = train_or_load(_tiny(truncate_targets=False), progress=False, verbose=False).history[0]["loss"]
    b = train_or_load(_tiny(truncate_targets=True), progress=False, verbose=False).history[0]["loss"]
    assert a != b


def test_amp_on_cpu_is_ignored_and_changes_nothing(env):
    """``amp`` (bf16 autocast) applies on CUDA only: on CPU the run equals the float32 one."""
    a = train_or_load(_tiny(), progress=False, verbose=False)
    b = train_or_load(_tiny(amp=True), progress=False, verbose=False)
    assert a.path != b.path  # amp is part of the result's identity
    wa, wb = a.model.state_dict(), b.model.state_dict()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


# ---- entry points ------------------------------------------------------------------------------------
def _py(args, env, timeout=300):
    e = {**os.environ, "AVSNN_CACHE": str(env / "cache"), "AVSNN_RUNS": str(env / "runs")}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout, env=e)


def test_python_dash_m_avsnn_entry_point(env):
    r = _py(["-m", "avsnn", "--help"], env)
    assert r.returncode == 0 and "train" in r.stdout and "bench" in r.stdout
    r = _py(
        [
            "-m",
            "avsnn",
            "train",
            "--modality",
            "vision",
            "--profile",
            "smoke",
            "--quiet",
            "--set",
            "per_class=4",
            "--set",
            "device=cpu",
            "--set",
            "epochs=2",
        ],
        env,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    folder = r.stdout.strip().splitlines()[-1]
    assert json.loads((env / "runs" / os.path.basename(folder) / "metrics.json").read_text())["epochs"] == 2


def test_bench_out_writes_the_printed_result(env):
    out = env / "bench.json"
    r = _py(
        [
            "-m",
            "avsnn",
            "bench",
            "--width",
            "2",
            "--timesteps",
            "2",
            "--batch",
            "2",
            "--steps",
            "1",
            "--warmup",
            "0",
            "--device",
            "cpu",
            "--data",
            "none",
            "--out",
            str(out),
        ],
        env,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.loads(out.read_text())
    assert res["config"]["width"] == 2 and res["config"]["batch"] == 2 and f"wrote {out}" in r.stdout
    assert f"spiking_over_ann={res['spiking_over_ann']:.3f}" in r.stdout


def test_torchrun_entry_point_trains_one_process(env):
    r = _py(
        [
            "-m",
            "torch.distributed.run",
            "--nproc_per_node=1",
            "--master_port=29561",
            "-m",
            "avsnn.train.ddp",
            "--modality",
            "audio",
            "--profile",
            "smoke",
            "--set",
            "per_class=4",
            "--set",
            "device=cpu",
            "--set",
            "audio_channels=2,2,2",
            "--quiet",
        ],
        env,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    runs = [p for p in (env / "runs").iterdir() if (p / "DONE").exists()]
    assert len(runs) == 1 and json.loads((runs[0] / "metrics.json").read_text())["modality"] == "audio"


def test_channels_last_leaves_the_trained_function_unchanged(env):
    """``channels_last`` is left out of the run identity: check that the layout changes rounding only."""
    from avsnn.device import channels_last_cpu_probe

    safe, why = channels_last_cpu_probe()
    if not safe:
        pytest.skip(
            f"channels-last conv backward is unsafe on this CPU ({why}); "
            "test_models.py checks the layout's function in float64"
        )
    over = {"per_class": 6, "device": "cpu", "progress": False, "width": 2, "timesteps": 2, "epochs": 1}
    a = make_config("vision", "smoke", overrides=over)
    b = make_config("vision", "smoke", overrides={**over, "channels_last": True})
    assert a.hash() == b.hash()
    ra = train_or_load(a, env / "ra", progress=False, verbose=False)
    rb = train_or_load(b, env / "rb", progress=False, verbose=False)
    wa, wb = ra.model.state_dict(), rb.model.state_dict()
    for k in wa:
        torch.testing.assert_close(wb[k], wa[k], atol=1e-4, rtol=1e-3)
