"""Section V metrics: confusion, Eq. 23 cosine distances, separability, energy, decision rule."""

from __future__ import annotations

import json
import math

import pytest
import torch

from avsnn import metrics as M


def test_accuracy_and_confusion_rows_sum_to_one():
    labels = torch.tensor([0, 0, 1, 1, 1, 2])
    pred = torch.tensor([0, 1, 1, 1, 0, 2])
    assert M.accuracy(pred, labels) == pytest.approx(4 / 6)
    cm = M.confusion_matrix(pred, labels, 4)
    assert torch.allclose(cm[:3].sum(1), torch.ones(3, dtype=cm.dtype))
    assert cm[3].sum() == 0  # absent class: zero row
    assert cm[0].tolist() == [0.5, 0.5, 0, 0] and cm[1].tolist() == pytest.approx([1 / 3, 2 / 3, 0, 0])
    pca = M.per_class_accuracy(pred, labels, 4)
    assert pca[:3] == pytest.approx([0.5, 2 / 3, 1.0]) and pca[3] is None  # absent: null in metrics.json
    assert M.confusion_matrix(pred, labels, 4, normalize=False).sum() == 6


def test_cosine_distance_matrix_by_hand():
    f = torch.tensor([[1.0, 0.0], [0.0, 2.0], [3.0, 3.0]])
    labels = torch.tensor([1, 0, 1])
    d, sl = M.cosine_distance_matrix(f, labels)
    assert sl.tolist() == [0, 1, 1]  # sorted by class, stable
    # order after sorting: sample 1 ([0,2]), sample 0 ([1,0]), sample 2 ([3,3])
    c = 1 / math.sqrt(2)
    expect = torch.tensor([[0, 1, 1 - c], [1, 0, 1 - c], [1 - c, 1 - c, 0]], dtype=torch.float32)
    assert torch.allclose(d, expect, atol=1e-6)
    assert torch.equal(d, d.t()) and torch.all(d.diag() == 0)


def test_cosine_distance_accumulates_over_time():
    feats = torch.rand(4, 10, 6)  # [T, N, d]
    labels = torch.randint(0, 3, (10,))
    d1, _ = M.cosine_distance_matrix(feats, labels)
    d2, _ = M.cosine_distance_matrix(feats.sum(0), labels)
    assert torch.allclose(d1, d2)


def _brute_separability(f, labels):
    d, sl = M.cosine_distance_matrix(f, labels)
    same = sl[:, None] == sl[None, :]
    off = ~torch.eye(len(sl), dtype=torch.bool)
    intra = d[same & off].double().mean().item()
    inter = d[~same].double().mean().item()
    return intra, inter


def test_separability_matches_brute_force_and_ratios():
    g = torch.Generator().manual_seed(0)
    centres = torch.randn(5, 16, generator=g) * 3
    labels = torch.arange(5).repeat(40)
    clustered = centres[labels] + 0.5 * torch.randn(200, 16, generator=g)
    s = M.separability(clustered, labels)
    intra, inter = _brute_separability(clustered, labels)
    assert s["intra"] == pytest.approx(intra, abs=1e-5) and s["inter"] == pytest.approx(inter, abs=1e-5)
    assert s["ratio"] > 2
    shuffled = labels[torch.randperm(200, generator=g)]
    r = M.separability(clustered, shuffled)
    assert r["ratio"] == pytest.approx(1.0, abs=0.1)
    # zero (silent) vectors: cosine 0 -> distance 1, no NaN
    z = M.separability(torch.zeros(6, 3), torch.tensor([0, 0, 1, 1, 2, 2]))
    assert z == {"intra": 1.0, "inter": 1.0, "ratio": 1.0}


def test_separability_in_blocks_equals_one_block(monkeypatch):
    """A wide feature is normalised a block of rows at a time: same result as all rows at once."""
    from avsnn.metrics import measures

    g = torch.Generator().manual_seed(1)
    f, labels = torch.rand(50, 40, generator=g), torch.arange(5).repeat(10)
    whole = M.separability(f, labels)
    monkeypatch.setattr(measures, "SEPARABILITY_BLOCK", 7 * 40)  # blocks of 7 rows, the last one short
    blocks = M.separability(f, labels)
    assert blocks.keys() == whole.keys()
    assert all(blocks[k] == pytest.approx(whole[k], rel=1e-12) for k in whole)


def test_energy_estimate():
    e = M.energy_estimate(macs=1e9, sops=2e8)
    assert e["ann_joules"] == pytest.approx(4.6e-3) and e["snn_joules"] == pytest.approx(1.8e-4)
    assert e["ratio_ann_over_snn"] == pytest.approx(4.6e-3 / 1.8e-4)
    assert "Horowitz" in M.energy_estimate.__doc__ and "45 nm" in M.energy_estimate.__doc__


def test_predict_tie_rule():
    spikes = torch.zeros(2, 3, 4)
    spikes[:, 0, 2] = 1  # clear winner 2
    spikes[0, 1, 1] = spikes[0, 1, 3] = 1  # tie 1 vs 3
    current = torch.zeros(2, 3, 4)
    current[:, 1, 3] = 0.5  # ...broken by current -> 3
    current[:, 0, 0] = 9.0  # a larger current does not beat a larger count
    assert M.predict(spikes, current).tolist() == [2, 3, 0]  # sample 2: all silent, all currents 0 -> lowest
    assert M.predict(spikes).tolist() == [2, 1, 0]


def test_silent_share_counts_samples_without_a_single_output_spike():
    counts = torch.tensor([[0.0, 0, 0], [0, 1, 0], [0, 0, 0], [2, 0, 1]])
    assert M.silent_share(counts) == 0.5
    assert M.silent_share(torch.zeros(3, 2)) == 1.0 and M.silent_share(torch.ones(3, 2)) == 0.0
    with pytest.raises(ValueError, match=r"\[N, C\]"):
        M.silent_share(torch.zeros(4))


def test_evaluate_on_model():
    from test_train_helpers import TinyData, TinyNet

    from avsnn.data.batching import as_array_data

    torch.manual_seed(0)
    model = TinyNet(32, 3, timesteps=4)
    m = M.evaluate(model, TinyData(5, 0), TinyData(5, 1), modality="vision")
    json.dumps(m)
    assert 0 <= m["test_accuracy"] <= 1 and len(m["confusion"]) == 3
    assert set(m["separability"]) == {"train", "test"}
    assert "firing_rates" in m and m["energy"]["snn_joules"] >= 0
    counts = M.run_model(model, as_array_data(TinyData(5, 0), "vision"))["counts"]
    assert m["silent_share"] == M.silent_share(counts)
    assert as_array_data(TinyData(5, 0), "vision").batch(torch.arange(2))[0].shape == (2, 2, 4, 4)


def test_run_model_without_z_av_keeps_everything_else():
    from test_train_helpers import TinyData, TinyNet

    from avsnn.data.batching import as_array_data
    from avsnn.metrics.evaluation import run_model

    torch.manual_seed(0)
    model, data = TinyNet(32, 3, timesteps=4), as_array_data(TinyData(5, 0), "vision")
    full, lean = run_model(model, data), run_model(model, data, z_av=False)
    assert full["z_av"] is not None and lean["z_av"] is None
    assert all(torch.equal(full[k], lean[k]) for k in full if k != "z_av" and full[k] is not None)


def test_angular_concentration_of_rays_and_of_a_mixed_cloud():
    labels = torch.tensor([0, 0, 1, 1])
    rays = torch.tensor([[2.0, 0], [5, 0], [0, 1], [0, 3]])  # each class one ray, the rays orthogonal
    r = M.angular_concentration(rays, labels)
    assert r["own"] == pytest.approx(1.0) and r["margin"] == pytest.approx(1.0)
    mixed = torch.tensor([[1.0, 0], [0, 1], [1, 0], [0, 1]])  # both classes spread the same way
    m = M.angular_concentration(mixed, labels)
    assert m["margin"] == pytest.approx(0.0, abs=1e-12)
    assert m["own"] == pytest.approx(2**-0.5)
    with pytest.raises(ValueError, match="at least two classes"):
        M.angular_concentration(rays, torch.zeros(4, dtype=torch.long))
