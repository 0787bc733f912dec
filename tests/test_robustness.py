"""avsnn.robustness: chapter 7's runs under one failing modality, the tidy table and the verdicts."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from fixtures import write_release_fixture

from avsnn import robustness, studies
from avsnn.data import build_datasets
from avsnn.data.batching import as_array_data
from avsnn.models import SMLP, L2ActSpikeNet, SpikingAudioNet
from avsnn.train.features import _extract


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    root = write_release_fixture(tmp_path_factory.mktemp("rel"), classes=("a", "b"), per_class=6)
    cache = tmp_path_factory.mktemp("cache")
    return {m: build_datasets(str(root), modality=m, cache_dir=cache, train_frac=0.5) for m in ("vision", "audio")}


class FakeRun:
    """What :func:`avsnn.robustness.evaluate` reads of a finished run: model, data, sub-runs."""

    def __init__(self, model, datasets=None, modality=None, subs=None):
        self.model, self.path = model.eval(), f"fake-{modality}"
        self._datasets = datasets
        self._data = tuple(as_array_data(d, modality) for d in datasets) if datasets else None
        self.config = SimpleNamespace(sub_configs={m: m for m in subs} if subs else {})
        self._subs = subs or {}

    def array_data(self):
        return self._data

    def datasets(self):
        return self._datasets

    def sub_run(self, cfg):
        return self._subs[cfg]


def _fusion_runs(split):
    torch.manual_seed(0)
    runs = {}
    for head in ("l2", "fc"):
        vision = L2ActSpikeNet(num_classes=2, width=2, timesteps=2, head=head)
        n_frames = split["audio"][0].spectrograms.shape[-1]
        audio = SpikingAudioNet(num_classes=2, n_frames=n_frames, channels=(2, 2, 2), timesteps=2, head=head)
        subs = {"vision": FakeRun(vision, split["vision"], "vision"), "audio": FakeRun(audio, split["audio"], "audio")}
        dims = {m: _extract(s.model, s.array_data()[1]).shape[1] for m, s in subs.items()}
        runs[head] = FakeRun(SMLP(dims, num_classes=2, timesteps=2, hidden=(4,)), subs=subs)
    return runs["l2"], runs["fc"]


def test_the_clean_audio_recomputed_from_the_waveforms_is_the_cached_input(split):
    test = split["audio"][1]
    assert torch.allclose(
        robustness.audio_inputs(test, robustness.split_waveforms(test)), test.normalized_spectrograms()
    )


def test_evaluate_degrades_one_modality_and_feeds_the_smlp_its_features(split):
    l2, vanilla = _fusion_runs(split)
    conds = robustness.conditions(snr_db=[0.0], image_noise=[0.3], occlusion=[0.5])
    rows = robustness.evaluate(l2, vanilla, conds, seed=0)
    assert len(rows) == len(conds) * len(robustness.MODELS)
    assert set(rows[0]) == {"model", "modality", "kind", "level", "seed", "accuracy"}
    clean = conds[0]
    labels = l2.sub_run("vision").array_data()[1].labels
    # clean: the SMLP reads the features its training read (avsnn.train.features)
    feats = {m: _extract(l2.sub_run(m).model, l2.sub_run(m).array_data()[1]) for m in ("vision", "audio")}
    expected = float((l2.model(feats).spikes.sum(0).argmax(1) == labels).float().mean())
    assert robustness.per_seed(rows, robustness.L2_FUSION, clean) == [pytest.approx(expected)]
    # the intact modality's network is untouched by the other one's degradation
    for c in conds[1:]:
        alone = robustness.NETWORK[c.surviving]
        assert robustness.per_seed(rows, alone, c) == robustness.per_seed(rows, alone, clean)
    assert robustness.evaluate(l2, vanilla, conds, seed=0) == rows  # the degradations are seeded


def test_a_removed_modality_reaches_the_network_as_exactly_silent_or_blank(split):
    l2, vanilla = _fusion_runs(split)
    seen = {}
    for m in ("vision", "audio"):
        net = l2.sub_run(m).model
        net.register_forward_pre_hook(lambda mod, args, m=m: seen.__setitem__(m, args[0].clone()))
    removed = [c for c in robustness.conditions(snr_db=[], image_noise=[], occlusion=[]) if c.kind == "removed"]
    robustness.evaluate(l2, vanilla, removed, seed=0)
    assert torch.equal(seen["vision"], torch.zeros_like(seen["vision"]))
    test = split["audio"][1]
    silent = robustness.audio_inputs(test, torch.zeros(1, test.audio_config.n_samples))
    assert torch.equal(seen["audio"], silent.expand_as(seen["audio"]))


def test_conditions_refuse_levels_outside_their_range():
    assert [c.label for c in robustness.conditions([5], [0.1], [0.5])] == [
        "clean",
        "audio SNR 5 dB",
        "audio silent",
        "vision noise sd 0.1",
        "vision occluded 50 %",
        "vision blank",
    ]
    with pytest.raises(ValueError, match="snr_db"):
        robustness.conditions(snr_db=[float("-inf")])
    with pytest.raises(ValueError, match="occlusion"):
        robustness.conditions(occlusion=[1.5])


def _table():
    """Three seeds: L2 fusion above vanilla everywhere; with audio silent, every fusion below vision alone."""
    rows = []
    conds = robustness.conditions(snr_db=[0.0], image_noise=[], occlusion=[])[:3]  # clean, SNR 0 dB, silent
    acc = {
        robustness.L2_FUSION: [0.95, 0.8, 0.6],
        robustness.VANILLA_FUSION: [0.85, 0.7, 0.5],
        robustness.DECISION: [0.9, 0.75, 0.55],
        "vision network": [0.7, 0.7, 0.7],
        "audio network": [0.9, 0.5, 0.1],
    }
    for seed, jitter in enumerate((0.0, 0.01, -0.01)):
        for c, i in zip(conds, range(3)):
            for m, values in acc.items():
                rows.append({"model": m, "modality": c.modality, "kind": c.kind, "level": c.level, "seed": seed})
                rows[-1]["accuracy"] = values[i] + jitter * (m != "vision network")
    return rows, conds


def test_verdicts_compare_the_fusions_with_each_other_and_with_the_surviving_modality():
    rows, conds = _table()
    found = dict(robustness.verdicts(rows))
    assert list(found) == conds[1:]  # no verdict on the clean condition
    silent = found[conds[2]]
    assert silent["L2 vs vanilla features"].verdict == "held"
    assert silent[f"{robustness.L2_FUSION} vs intact network"].verdict == "reversed"
    assert robustness.degraded_mean(rows, robustness.L2_FUSION) == pytest.approx([0.70, 0.71, 0.69])
    text = robustness.verdict_table(robustness.verdicts(rows)).splitlines()
    assert text[0].count("intact network") == 3 and len(text) == 2 + 2
    assert "audio silent" in text[-1] and "(held)" in text[-1] and "(reversed)" in text[-1]
    table = robustness.accuracy_table(rows).splitlines()
    assert [line.split(" | ")[0] for line in table[2:]] == ["| clean", "| audio SNR 0 dB", "| audio silent"]
    assert "80.0 ± 1.0" in table[3]  # L2 fusion at 0 dB over the three seeds
    claim = studies.robustness_claim(rows)
    assert claim.verdict == "held" and "2 degradations" in claim.claim


def test_panels_end_each_degradation_with_the_modality_removed():
    rows, _ = _table()
    (title, (ticks, curves)), *rest = robustness.panels(rows).items()
    assert not rest and title == robustness.PANELS[("audio", "snr")]
    assert ticks == ["0", "silent"]
    assert curves[robustness.L2_FUSION] == [[0.8, 0.6], [0.81, 0.61], [0.79, 0.59]]  # per seed, per level


def test_fusion_configs_are_chapter_07s():
    l2, vanilla = robustness.fusion_configs("avdigits", "smoke", 1)
    assert l2.hash() == studies.arm("smlp-av", "fusion", "smoke", "avdigits", [1]).configs[0].hash()
    fc = studies.arm("smlp-av-fc", "fusion", "smoke", "avdigits", [1], **{"vision.head": "fc", "audio.head": "fc"})
    assert vanilla.hash() == fc.configs[0].hash()


def test_evaluate_cached_keeps_one_seeds_rows_beside_the_l2_run_and_reads_them_back(tmp_path, monkeypatch):
    l2, vanilla = SimpleNamespace(path=tmp_path / "l2"), SimpleNamespace(path=tmp_path / "fc")
    l2.path.mkdir()
    conds = robustness.conditions(snr_db=[0.0], image_noise=[], occlusion=[])
    rows = [{"model": "m", "modality": "audio", "kind": "snr", "level": 0.0, "seed": 3, "accuracy": 0.5}]
    calls = []
    monkeypatch.setattr(robustness, "evaluate", lambda *a: calls.append(a) or rows)
    assert robustness.evaluate_cached(l2, vanilla, conds, 3) == rows
    assert robustness.evaluate_cached(l2, vanilla, conds, 3) == rows and len(calls) == 1  # read back
    assert robustness.cache_path(l2, vanilla, conds, 3).parent == l2.path
    others = {robustness.cache_path(l2, vanilla, conds[:2], 3), robustness.cache_path(l2, vanilla, conds, 4)}
    others.add(robustness.cache_path(l2, SimpleNamespace(path=tmp_path / "other"), conds, 3))
    assert robustness.cache_path(l2, vanilla, conds, 3) not in others and len(others) == 3


def test_the_figure_draws_one_panel_per_degradation_with_the_reference_lines():
    from avsnn import plots

    rows, _ = _table()
    fig = plots.degradation_curves(robustness.panels(rows), {"clean fusion": 0.9, "better network": 0.8})
    (ax,) = fig.axes
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "silent"]
    means = [line.get_ydata() for line in ax.get_lines()[: len(robustness.MODELS)]]
    assert means[0] == pytest.approx([80.0, 60.0])  # the L2 fusion's mean over seeds, in %
    assert [line.get_ydata()[0] for line in ax.get_lines()[len(robustness.MODELS) :]] == pytest.approx([90, 80])
