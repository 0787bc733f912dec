"""avsnn.studies: arms over seeds, decision-level fusion, and the tables that carry the verdicts."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from avsnn import studies
from avsnn.data.batching import ArrayData
from avsnn.models.output import ModelOutput


class FixedSpikes(nn.Module):
    """Answers every input ``x`` (a sample index) with a fixed spike-count row from ``table``."""

    def __init__(self, table: torch.Tensor, current: torch.Tensor | None = None):
        super().__init__()
        self.table, self.cur = table, current

    def forward(self, x):
        idx = x.long().flatten()
        counts = self.table[idx]  # [B, C]
        spikes = counts[None].expand(1, *counts.shape)  # T = 1, the count itself
        cur = (self.cur[idx] if self.cur is not None else torch.zeros_like(counts))[None]
        feats = torch.zeros(1, len(idx), 2)
        return ModelOutput(spikes=spikes, features=feats, z_av=feats[0], current=cur)


class FakeRun:
    def __init__(self, table, labels, current=None):
        self.model = FixedSpikes(table, current)
        data = ArrayData(torch.arange(len(labels)).float()[:, None], labels)
        self._pair = (data, data)

    def array_data(self):
        return self._pair


def test_decision_fusion_adds_spike_counts_before_the_argmax():
    labels = torch.tensor([0, 1, 2])
    # vision alone: 0 right (sample 0), audio alone: 1 right (sample 1); added: samples 0 and 1 right,
    # sample 2 wrong for both and for the sum
    vision = FakeRun(torch.tensor([[3.0, 0, 0], [2, 0, 0], [0, 3, 0]]), labels)
    audio = FakeRun(torch.tensor([[0.0, 2, 0], [0, 4, 0], [1, 0, 0]]), labels)
    assert studies.decision_fusion(vision, audio) == pytest.approx(2 / 3)


def test_decision_fusion_breaks_count_ties_with_the_summed_currents():
    labels = torch.tensor([1])
    tie = torch.tensor([[2.0, 2.0]])
    vision = FakeRun(tie, labels, current=torch.tensor([[0.5, 0.1]]))
    audio = FakeRun(tie, labels, current=torch.tensor([[0.0, 0.6]]))
    assert studies.decision_fusion(vision, audio) == 1.0  # currents 0.5 vs 0.7 pick class 1


def test_decision_fusion_refuses_runs_on_different_samples():
    vision = FakeRun(torch.eye(2), torch.tensor([0, 1]))
    audio = FakeRun(torch.eye(2), torch.tensor([1, 0]))
    with pytest.raises(ValueError, match="different samples"):
        studies.decision_fusion(vision, audio)


def test_arm_builds_one_config_per_seed_differing_only_in_the_seed():
    a = studies.arm("L2", "vision", "smoke", "synthetic", [0, 1, 2], head="fc")
    assert [c.seed for c in a.configs] == [0, 1, 2]
    assert {c.head for c in a.configs} == {"fc"}
    dicts = [c.to_dict() for c in a.configs]
    for d in dicts:
        d.pop("seed")
    assert dicts[0] == dicts[1] == dicts[2]
    with pytest.raises(ValueError, match="at least one seed"):
        studies.arm("x", "vision", "smoke", "synthetic", [])


def test_claims_table_carries_each_verdict():
    held = studies.claim("a beats b", [0.8, 0.82, 0.81], [0.7, 0.71, 0.72])
    unclear = studies.claim("c beats d", [0.8, 0.7, 0.75], [0.75, 0.76, 0.74])
    reversed_ = studies.claim("e beats f", [0.5, 0.51, 0.52], [0.7, 0.71, 0.7])
    none_ = studies.claim("g beats h", [0.70, 0.71, 0.70, 0.70], [0.70, 0.70, 0.70, 0.705], effect=0.03)
    claims = (held, unclear, reversed_, none_)
    assert [c.verdict for c in claims] == ["held", "inconclusive", "reversed", "no effect above"]
    table = studies.claims_table(claims)
    rows = table.splitlines()[2:]
    bound = f"{100 * none_.result.high:+.1f}"
    assert [r.rstrip(" |").rsplit("| ", 1)[1] for r in rows] == [
        "held",
        "inconclusive",
        "reversed",
        f"no effect above {bound}",
    ]
    assert "81.0 ± 1.0 vs 71.0 ± 1.0" in rows[0]
    # what each design can see: the interval's half-width beside the effect that matters
    assert f"±{100 * held.result.half_width:.1f} (matters: 5.0)" in rows[0]
    assert "(matters: 3.0)" in rows[3]


def test_seeds_table_lists_every_seed_and_the_probe():
    table = studies.seeds_table({"net": [0.5, 0.6]}, {"probe": 0.55})
    assert "55.0 ± 7.1" in table and "50.0, 60.0" in table and "| probe | 55.0 |" in table


def test_reading_an_arm_never_trains(tmp_path, monkeypatch):
    monkeypatch.setenv("AVSNN_RUNS", str(tmp_path / "runs"))
    a = studies.arm("L2", "vision", "smoke", "synthetic", [0])
    with pytest.raises(LookupError, match="no finished vision run .* train it first"):
        _ = a.accuracies
    with pytest.raises(LookupError, match="train it first"):
        studies.margin_curves(a)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


class _Run:
    def __init__(self, acc, silent=None):
        self.metrics = {"test_accuracy": acc}
        if silent is not None:
            self.metrics["silent_share"] = silent


def _arm(name, seeds, accs, silent=None):
    silent = silent or [None] * len(seeds)
    runs = [_Run(a, s) for a, s in zip(accs, silent)]
    return studies.Arm(name, "audio", [None] * len(seeds), tuple(seeds), runs=runs)


def test_a_claim_with_a_silent_run_is_not_decided_and_names_it():
    live = _arm("L2", [0, 1, 2], [0.87, 0.86, 0.88], silent=[0.0, 0.0, 0.02])
    assert studies.claim("L2 beats FC", live, live).most_silent == 0.02
    dead = _arm("FC", [0, 1, 2], [0.25, 0.15, 0.30], silent=[0.90, 0.60, 0.0])
    c = studies.claim("L2 beats FC", live, dead)
    assert c.result.verdict == "held"  # the comparison alone would have decided it
    assert c.verdict == studies.SILENT and c.silent == ("FC seed 0 (90 % silent)", "FC seed 1 (60 % silent)")
    row = studies.claims_table([c]).splitlines()[2]
    assert row.rstrip(" |").endswith(f"{studies.SILENT} (FC seed 0 (90 % silent), FC seed 1 (60 % silent))")
    # at the limit it still counts as alive; values that are not accuracies are checked through ``arms``
    edge = _arm("FC", [0, 1, 2], [0.80, 0.81, 0.80], silent=[studies.SILENT_LIMIT] * 3)
    assert studies.claim("L2 beats FC", live, edge).verdict == "held"
    ratios = studies.claim("ratio", [2.2, 2.3, 2.25], [1.4, 1.5, 1.45], arms=(live, dead))
    assert ratios.verdict == studies.SILENT and len(ratios.silent) == 2
    assert studies.claim("ratio", [2.2, 2.3, 2.25], [1.4, 1.5, 1.45]).verdict == "held"
    assert set(studies.CLAIM_VERDICTS) == {*studies.CLAIM_VERDICTS[:-1], studies.SILENT}


def test_silent_runs_skips_runs_recorded_without_the_share():
    assert studies.silent_runs([_arm("old", [0, 1], [0.1, 0.1])]) == ()
    assert studies.claim("x", [0.5, 0.6], [0.4, 0.5], arms=[_arm("old", [0, 1], [0.1, 0.1])]).most_silent is None


def test_a_claim_between_arms_pairs_the_seeds_both_ran():
    base = _arm("base", [0, 1, 2, 3], [0.90, 0.80, 0.85, 0.10])
    fewer = _arm("variant", [0, 1, 2], [0.85, 0.76, 0.80])
    c = studies.claim("base beats variant", base, fewer)
    assert c.result.diff.n == 3  # seed 3 (0.10) ran only in the baseline and is left out
    assert c.result.diff.mean == pytest.approx(0.04666666, abs=1e-6)
    assert c.result.a.values == pytest.approx([0.90, 0.80, 0.85])
    assert base.accuracies_at([2, 0]) == [0.85, 0.90]
    with pytest.raises(ValueError, match="no run with seed"):
        fewer.accuracies_at([3])


def test_ablation_arms_limit_the_costly_variants_and_start_them_first():
    from avsnn.paper import TABLE_III

    arms = studies.ablation_arms("smoke", "synthetic", [0, 1, 2, 3])
    assert set(arms) == set(TABLE_III)
    for key, a in arms.items():
        limit = studies.ABLATION_SEED_LIMIT.get(key)
        assert a.seeds == ((0, 1, 2, 3)[:limit] if limit else (0, 1, 2, 3))
        assert {c.variant for c in a.configs} == {key[1]}
    limited = [key in studies.ABLATION_SEED_LIMIT for key in arms]
    assert limited == sorted(limited, reverse=True) and any(limited)
