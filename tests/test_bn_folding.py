"""SOPs with batch norm folded into the next layer (#14), on a two-layer network counted by hand."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from avsnn.metrics import E_AC_PJ, E_MAC_PJ, energy_from_counts
from avsnn.models.counting import count_ops

SPIKES = torch.tensor([[1.0, 0, 0], [0, 0, 0]])  # one spike out of six: rate 1/6


class TwoLayer(nn.Module):
    """Linear(4, 3) on real inputs, then fixed spikes -> BN -> Linear(3, 2): the LIF -> BN -> layer order."""

    def __init__(self, bn: bool = True):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(4, 3), nn.Linear(3, 2)
        self.bn = nn.BatchNorm1d(3) if bn else nn.Identity()
        if bn:
            self.bn.running_mean.fill_(0.3)
            self.bn.running_var.fill_(2.0)

    def forward(self, x):
        self.fc1(x)
        return self.fc2(self.bn(SPIKES))


def test_folded_count_prices_the_spikes_before_the_bn():
    p = count_ops(TwoLayer(), torch.randn(2, 4))
    # by hand, per sample: fc1 4*3 = 12 MACs on real inputs; fc2 3*2 = 6 MACs
    assert p.layer_macs == {"fc1": 12.0, "fc2": 6.0}
    assert p.layer_sops == {"fc1": 12.0, "fc2": 6.0}  # literal: BN output is real-valued
    assert p.layer_sops_folded["fc1"] == 12.0
    assert p.layer_sops_folded["fc2"] == pytest.approx(6.0 / 6)  # folded: 6 MACs x rate 1/6
    assert p.sops_folded == pytest.approx(13.0)


def test_folded_energy_uses_accumulates_for_the_folded_layer():
    p = count_ops(TwoLayer(), torch.randn(2, 4))
    e = energy_from_counts(p, fold_bn=True)
    assert e["snn_joules"] == pytest.approx((12 * E_MAC_PJ + 1 * E_AC_PJ) * 1e-12)
    assert energy_from_counts(p)["snn_joules"] == pytest.approx(18 * E_MAC_PJ * 1e-12)
    assert e["ann_one_pass_joules"] == pytest.approx(18 * E_MAC_PJ * 1e-12)


def test_without_bn_spikes_count_the_same_either_way():
    p = count_ops(TwoLayer(bn=False), torch.randn(2, 4))
    assert p.layer_sops["fc2"] == pytest.approx(1.0) and p.layer_sops_folded["fc2"] == pytest.approx(1.0)


def test_a_real_valued_input_after_bn_of_reals_is_not_folded():
    class RealBN(TwoLayer):
        def forward(self, x):
            self.fc1(x)
            return self.fc2(self.bn(torch.randn(2, 3)))

    p = count_ops(RealBN(), torch.randn(2, 4))
    assert p.layer_sops_folded["fc2"] == 6.0
