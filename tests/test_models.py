"""Tests for avsnn.models: the paper's three networks, their heads and ablation variants."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import avsnn.models as M
from avsnn.core.lif import LIF
from avsnn.core.loss import mse_count_loss


# ---------------------------------------------------------------- helpers
def small_vision(**kw):
    kw = {"width": 4, "timesteps": 2, "threshold": 0.3, **kw}
    return M.L2ActSpikeNet(**kw)


def small_audio(**kw):
    kw = {"n_mels": 16, "n_frames": 24, "channels": (4, 4, 8), "timesteps": 2, "threshold": 0.3, **kw}
    return M.SpikingAudioNet(**kw)


def small_smlp(**kw):
    kw = {"input_dims": {"vision": 12, "audio": 20}, "hidden": (16,), "timesteps": 3, "threshold": 0.3, **kw}
    return M.SMLP(**kw)


def smlp_inputs(batch=6, dims=None):
    dims = dims or {"vision": 12, "audio": 20}
    return {k: torch.randn(batch, d) * 2 for k, d in dims.items()}


def check_output(out, T, B, C, d):
    assert isinstance(out, M.ModelOutput)
    assert out.spikes.shape == (T, B, C)
    assert out.features.shape == (T, B, d)
    assert out.z_av.shape == (B, d)
    assert out.current.shape == (T, B, C)
    assert set(out.spikes.unique().tolist()) <= {0.0, 1.0}
    torch.testing.assert_close(out.z_av, out.features.mean(0))


def leaf_trace(module: nn.Module, run) -> list[str]:
    """Execution order of the leaf layers (conv, BN, LIF, pool, dropout, linear) during ``run()``."""
    kinds = {
        nn.Conv2d: "conv",
        nn.BatchNorm2d: "bn",
        nn.BatchNorm1d: "bn",
        LIF: "lif",
        nn.MaxPool2d: "pool",
        nn.Dropout: "dropout",
        nn.Linear: "linear",
    }
    trace, handles = [], []
    for m in module.modules():
        for cls, name in kinds.items():
            if isinstance(m, cls):  # MaxPool2x2 is an nn.MaxPool2d
                handles.append(m.register_forward_pre_hook(lambda mod, args, n=name: trace.append(n)))
    try:
        run()
    finally:
        for h in handles:
            h.remove()
    return trace


def count(module, cls):
    return sum(isinstance(m, cls) for m in module.modules())


def assert_all_grads(model):
    for name, p in model.named_parameters():
        assert p.grad is not None, f"{name} got no gradient"
        assert p.grad.abs().sum() > 0, f"{name} gradient is all zero"


# ---------------------------------------------------------------- shapes, every model/head/variant
@pytest.mark.parametrize("head", M.HEADS)
@pytest.mark.parametrize("block", M.VISION_BLOCKS)
def test_vision_shapes_and_grads(block, head):
    torch.manual_seed(0)
    model = small_vision(block=block, head=head, num_classes=5)
    x = torch.randn(4, 3, 32, 32)
    out = model(x)
    check_output(out, T=2, B=4, C=5, d=32)
    loss = mse_count_loss(out.spikes, torch.tensor([0, 1, 2, 3]), 0.9, 0.1)
    (loss + out.current.pow(2).mean()).backward()
    assert_all_grads(model)


@pytest.mark.parametrize("head", M.HEADS)
@pytest.mark.parametrize("variant", M.AUDIO_VARIANTS)
def test_audio_shapes_and_grads(variant, head):
    torch.manual_seed(0)
    model = small_audio(variant=variant, head=head)
    expected_dim = {"full": 8 * 2 * 3, "no_dropout": 8 * 2 * 3, "no_third_block": 4 * 4 * 6, "no_pooling": 8 * 16 * 24}[
        variant
    ]
    assert model.feature_dim == expected_dim
    out = model(torch.randn(4, 1, 16, 24) * 2)
    check_output(out, T=2, B=4, C=10, d=expected_dim)
    loss = mse_count_loss(out.spikes, torch.tensor([0, 1, 2, 3]), 0.85, 0.15)
    (loss + out.current.pow(2).mean()).backward()
    assert_all_grads(model)


@pytest.mark.parametrize("head", M.HEADS)
@pytest.mark.parametrize("project_dim", [None, 8])
@pytest.mark.parametrize("hidden", [(16,), (16, 8), ()])
def test_smlp_shapes_and_grads(hidden, project_dim, head):
    torch.manual_seed(0)
    model = small_smlp(hidden=hidden, project_dim=project_dim, head=head, num_classes=4)
    out = model(smlp_inputs())
    fused = 16 if project_dim else 32
    d = hidden[-1] if hidden else fused
    assert model.fused_dim == fused and model.feature_dim == d
    check_output(out, T=3, B=6, C=4, d=d)
    loss = mse_count_loss(out.spikes, torch.tensor([0, 1, 2, 3, 0, 1]), 0.9, 0.1)
    (loss + out.current.pow(2).mean()).backward()
    assert_all_grads(model)


def test_smlp_baseline_single_modality():
    model = M.smlp_baseline("audio", 20, hidden=(8,), timesteps=2)
    assert model.modalities == ("audio",)
    out = model({"audio": torch.randn(3, 20)})
    check_output(out, T=2, B=3, C=10, d=8)
    assert isinstance(M.smlp_baseline("vision", 512), M.SMLP)


def test_l2_head_current_is_cosine_repeated_and_fc_is_per_step():
    torch.manual_seed(0)
    feats = torch.rand(3, 2, 6)
    l2 = M.SpikingHead(6, 4, head="l2")
    out = l2(feats)
    assert (out.current[0] == out.current).all() and out.current.abs().max() <= 1 + 1e-6
    fc = M.SpikingHead(6, 4, head="fc")
    out = fc(feats)
    torch.testing.assert_close(out.current, fc.classifier[0](feats))
    # the classifier kind is ``kind`` (``model.head`` is the SpikingHead module itself)
    assert (l2.kind, fc.kind) == ("l2", "fc") and "kind='fc'" in repr(fc) and not hasattr(fc, "head")
    assert isinstance(M.SMLP({"a": 3}, head="fc").head, M.SpikingHead)


# ---------------------------------------------------------------- structure of the variants
def test_vision_block_structure():
    x = torch.randn(2, 3, 32, 32)
    traces, lifs = {}, {}
    for block in M.VISION_BLOCKS:
        model = small_vision(block=block)
        lifs[block] = count(model, LIF)
        down = model.layer2[0]  # a block with a projection shortcut
        out_in = model.layer1(model.stem(x, 2))
        traces[block] = leaf_trace(down, lambda: down(out_in))
        stem_trace = leaf_trace(model.stem, lambda: model.stem(x, 2))
        assert stem_trace == (["conv", "bn", "lif"] if block == "lif_after_bn" else ["conv", "lif", "bn"])
        assert count(model, nn.MaxPool2d) == 0 and count(model, nn.Conv2d) == 1 + 16 + 3
    assert traces["act_after_add"] == ["conv", "lif", "bn", "conv", "bn", "conv", "bn", "lif"]
    assert traces["lif_after_bn"] == ["conv", "bn", "lif", "conv", "bn", "conv", "bn", "lif"]
    assert traces["lif_before_add"] == ["conv", "lif", "bn", "conv", "bn", "lif", "conv", "bn", "lif"]
    # stem + 8 blocks x (2 or 3) + output LIF
    assert lifs == {"act_after_add": 18, "lif_after_bn": 18, "lif_before_add": 26}


def _capture(module, store, key, what="out"):
    def hook(m, args, out):
        store[key] = (args[0] if what == "in" else out).detach().clone()

    return module.register_forward_hook(hook)


@pytest.mark.parametrize("block", ["act_after_add", "lif_after_bn"])
def test_lif_after_addition(block):
    torch.manual_seed(0)
    model = small_vision(block=block).eval()
    blk = model.layer2[0]
    x = (torch.rand(2, 2, 4, 32, 32) < 0.3).float()
    got = {}
    hs = [_capture(blk.bn2, got, "bn2"), _capture(blk.shortcut, got, "sc"), _capture(blk.lif_out, got, "lif_in", "in")]
    y = blk(x)
    for h in hs:
        h.remove()
    torch.testing.assert_close(got["lif_in"], got["bn2"] + got["sc"])  # the LIF sees the sum
    assert set(y.unique().tolist()) <= {0.0, 1.0}


def test_lif_before_addition():
    torch.manual_seed(0)
    model = small_vision(block="lif_before_add").eval()
    blk = model.layer2[0]
    x = (torch.rand(2, 2, 4, 32, 32) < 0.3).float()
    got = {}
    hs = [
        _capture(blk.lif_residual, got, "res"),
        _capture(blk.lif_shortcut, got, "sc"),
        _capture(blk.bn2, got, "bn2"),
        _capture(blk.shortcut, got, "short"),
        _capture(blk.lif_residual, got, "res_in", "in"),
        _capture(blk.lif_shortcut, got, "sc_in", "in"),
    ]
    y = blk(x)
    for h in hs:
        h.remove()
    torch.testing.assert_close(y, got["res"] + got["sc"])  # no LIF after the addition
    torch.testing.assert_close(got["res_in"], got["bn2"])
    torch.testing.assert_close(got["sc_in"], got["short"])
    # identity blocks also get the shortcut LIF
    assert isinstance(model.layer1[0].shortcut, nn.Identity) and isinstance(model.layer1[0].lif_shortcut, LIF)


def test_audio_variant_structure():
    x = torch.randn(2, 1, 16, 24)
    expect = {
        "full": dict(conv=3, pool=3, dropout=1, lif=4),
        "no_dropout": dict(conv=3, pool=3, dropout=0, lif=4),
        "no_third_block": dict(conv=2, pool=2, dropout=1, lif=3),
        "no_pooling": dict(conv=3, pool=0, dropout=1, lif=4),
    }
    for variant, e in expect.items():
        model = small_audio(variant=variant)
        got = dict(
            conv=count(model, nn.Conv2d),
            pool=count(model, nn.MaxPool2d),
            dropout=count(model, nn.Dropout),
            lif=count(model, LIF),
        )
        assert got == e, variant
        trace = leaf_trace(model, lambda: model(x))
        block = ["conv", "bn", "lif"] + (["pool"] if e["pool"] else [])
        tail = (["dropout"] if e["dropout"] else []) + ["lif"]  # then the L2 head's output LIF
        assert trace == block * e["conv"] + tail, variant


def test_smlp_structure():
    model = small_smlp(hidden=(16, 8), project_dim=8)
    trace = leaf_trace(model, lambda: model(smlp_inputs()))
    assert trace == ["linear", "linear", "bn", "linear", "bn", "lif", "linear", "bn", "lif", "linear", "lif"]
    plain = small_smlp(hidden=(16,))
    assert all(isinstance(p, nn.Identity) for p in plain.projections.values())
    assert plain.input_bn.num_features == 32


# ---------------------------------------------------------------- direct encoding is exact
def test_broadcast_stem_equals_repeated_input():
    """Computing the stem conv once and broadcasting equals running it on T copies."""
    torch.manual_seed(0)
    model = small_audio(variant="no_dropout")
    x = torch.randn(3, 1, 16, 24)
    blk = model.blocks[0]
    a = blk(x, timesteps=2)
    b = blk(x.unsqueeze(0).repeat(2, 1, 1, 1, 1))
    torch.testing.assert_close(a, b)


@pytest.mark.parametrize(
    "make,inp",
    [
        (lambda: small_vision(width=8, timesteps=3), lambda: torch.rand(4, 3, 32, 32, dtype=torch.float64)),
        (lambda: small_audio(variant="no_dropout"), lambda: torch.randn(3, 1, 16, 24, dtype=torch.float64)),
    ],
)
def test_channels_last_model_equals_contiguous_and_stays_channels_last(make, inp):
    """``model.to(memory_format=torch.channels_last)`` computes the same spikes and gradients, and
    every LIF fed by a conv/BN keeps the channels-last layout (the fused scan copies nothing)."""
    torch.manual_seed(0)
    model, x = make().double(), inp()
    ref = model(x)
    ref.spikes.sum().backward()
    ref_grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    model = model.to(memory_format=torch.channels_last)
    layouts = []
    for m in model.modules():
        if isinstance(m, LIF):
            m.register_forward_hook(
                lambda mod, i, o: layouts.append(
                    o.dim() != 5
                    or i[0].stride(0) == 0
                    or o.flatten(0, 1).is_contiguous(memory_format=torch.channels_last)
                )
            )
    out = model(x.contiguous(memory_format=torch.channels_last))
    out.spikes.sum().backward()
    assert torch.equal(out.spikes, ref.spikes) and out.spikes.sum() > 0
    torch.testing.assert_close(out.features, ref.features)
    for p, g in zip(model.parameters(), ref_grads):
        torch.testing.assert_close(p.grad, g)
    assert layouts and all(layouts)


# ---------------------------------------------------------------- determinism
@pytest.mark.parametrize(
    "make,inp",
    [
        (lambda: small_vision(), lambda: torch.randn(3, 3, 32, 32)),
        (lambda: small_audio(), lambda: torch.randn(3, 1, 16, 24)),
        (lambda: small_smlp(), lambda: smlp_inputs(3)),
    ],
)
def test_deterministic(make, inp):
    torch.manual_seed(1)
    model, x = make(), inp()
    model.eval()
    a, b = model(x), model(x)
    assert torch.equal(a.spikes, b.spikes) and torch.equal(a.current, b.current)
    model.train()
    torch.manual_seed(7)
    a = model(x)
    torch.manual_seed(7)
    b = model(x)
    assert torch.equal(a.spikes, b.spikes) and torch.equal(a.features, b.features)


# ---------------------------------------------------------------- paper sizes
def test_paper_audio_feature_is_27136():
    model = M.SpikingAudioNet(**M.PAPER_AUDIO_CONFIG, timesteps=1)
    assert model.feature_dim == 27136 == 64 * 8 * 53
    assert model.forward_features(torch.randn(1, 1, 64, 424)).shape == (1, 1, 27136)


class _ReferenceBlock(nn.Module):
    def __init__(self, i, o, s):
        super().__init__()
        self.c1, self.b1 = nn.Conv2d(i, o, 3, s, 1, bias=False), nn.BatchNorm2d(o)
        self.c2, self.b2 = nn.Conv2d(o, o, 3, 1, 1, bias=False), nn.BatchNorm2d(o)
        self.sc = (
            nn.Sequential(nn.Conv2d(i, o, 1, s, bias=False), nn.BatchNorm2d(o)) if s != 1 or i != o else nn.Identity()
        )


def reference_resnet18_cifar(num_classes=10) -> nn.Module:
    """Plain (ANN) ResNet18-CIFAR: 3x3 stem, 4 stages x 2 basic blocks, fc."""
    layers, i = [nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64)], 64
    for o, s in [(64, 1), (128, 2), (256, 2), (512, 2)]:
        layers += [_ReferenceBlock(i, o, s), _ReferenceBlock(o, o, 1)]
        i = o
    return nn.Sequential(*layers, nn.Linear(512, num_classes))


def test_full_width_parameter_count():
    reference = M.count_parameters(reference_resnet18_cifar())
    assert reference == 11_173_962
    for block in M.VISION_BLOCKS:
        for head in M.HEADS:
            n = M.count_parameters(M.L2ActSpikeNet(width=64, block=block, head=head))
            print(f"\nL2ActSpikeNet(width=64, block={block}, head={head}): {n:,} params (ResNet18-CIFAR {reference:,})")
            assert abs(n - reference) / reference < 0.01
    assert M.L2ActSpikeNet(width=64).feature_dim == 512


# ---------------------------------------------------------------- errors
def test_bad_names_and_shapes_raise():
    with pytest.raises(ValueError, match="head"):
        M.L2ActSpikeNet(width=4, head="softmax")
    with pytest.raises(ValueError, match="block"):
        M.L2ActSpikeNet(width=4, block="bottleneck")
    with pytest.raises(ValueError, match="variant"):
        M.SpikingAudioNet(variant="no_lif")
    with pytest.raises(ValueError, match="head"):
        M.SpikingAudioNet(head="xx")
    with pytest.raises(ValueError, match="head"):
        M.SMLP({"a": 3}, head="xx")
    with pytest.raises(ValueError, match="in_channels"):
        small_vision()(torch.randn(2, 1, 32, 32))
    with pytest.raises(ValueError, match="in_channels"):
        small_vision()(torch.randn(3, 32, 32))
    assert small_vision(in_channels=1)(torch.randn(2, 1, 32, 32)).spikes.shape == (2, 2, 10)
    with pytest.raises(ValueError, match="n_mels"):
        small_audio()(torch.randn(2, 1, 16, 25))
    with pytest.raises(ValueError, match="n_mels"):
        small_audio()(torch.randn(2, 2, 16, 24))
    with pytest.raises(ValueError, match="max-pools"):
        M.SpikingAudioNet(n_mels=4, n_frames=24)
    with pytest.raises(ValueError, match="channels"):
        M.SpikingAudioNet(channels=(4, 8))
    with pytest.raises(ValueError, match="keys"):
        small_smlp()({"vision": torch.randn(2, 12)})
    with pytest.raises(ValueError, match=r"features\['audio'\]"):
        small_smlp()({"vision": torch.randn(2, 12), "audio": torch.randn(2, 21)})
    with pytest.raises(ValueError, match="input_dims"):
        M.SMLP({})
    with pytest.raises(ValueError, match="timesteps"):
        M.SMLP({"a": 3}, timesteps=0)
    with pytest.raises(ValueError, match="SpikingHead"):
        M.SpikingHead(6, 4)(torch.randn(2, 3, 5))
    with pytest.raises(ValueError, match="SeqToANN"):
        M.SeqToANN(nn.Linear(3, 3))(torch.randn(2, 3))


# ---------------------------------------------------------------- op counts
def test_count_ops_sanity_and_exact_smlp_counts():
    torch.manual_seed(0)
    model = small_smlp(hidden=(16,))
    x = smlp_inputs(5)
    p = M.count_ops(model, x)
    T = 3
    # first hidden Linear sees BN'd (non-spike) input -> full MACs; head Linear sees spikes.
    assert p.layer_macs["hidden.0.fc_bn.0"] == 32 * 16 * T
    assert p.layer_sops["hidden.0.fc_bn.0"] == 32 * 16 * T
    rate = p.firing_rates["hidden.0.lif"]
    assert p.layer_macs["head.classifier.0"] == 16 * 10 * T
    assert p.layer_sops["head.classifier.0"] == pytest.approx(16 * 10 * T * rate)
    assert p.params == M.count_parameters(model)
    assert model.training  # mode restored
    assert M.count_ops(model, x) == p  # deterministic


@pytest.mark.parametrize(
    "make,inp",
    [
        (lambda: small_vision(block="act_after_add"), lambda: torch.randn(2, 3, 32, 32)),
        (lambda: small_vision(block="lif_after_bn"), lambda: torch.randn(2, 3, 32, 32)),
        (lambda: small_vision(block="lif_before_add"), lambda: torch.randn(2, 3, 32, 32)),
        (lambda: small_audio(), lambda: torch.randn(2, 1, 16, 24)),
    ],
)
def test_count_ops_conv_models(make, inp):
    torch.manual_seed(0)
    model, x = make(), inp()
    p = M.count_ops(model, x)
    assert 0 < p.sops <= p.macs
    assert all(0.0 <= r <= 1.0 for r in p.firing_rates.values())
    assert len(p.firing_rates) == count(model, LIF)
    T = model.timesteps
    first_conv = next(n for n, m in model.named_modules() if isinstance(m, nn.Conv2d))
    c_out = model.width if isinstance(model, M.L2ActSpikeNet) else model.channels[0]
    h, w = x.shape[-2:]
    assert p.layer_macs[first_conv] == h * w * c_out * x.shape[1] * 9 * T  # broadcast stem counted per step
    assert p.layer_sops[first_conv] == p.layer_macs[first_conv]  # static input: no spikes


# ---------------------------------------------------------------- every model trains one step
def test_default_models_take_a_finite_gradient_step():
    """The default-size networks run forward and backward at batch 32 (timings live in ``avsnn bench``)."""
    torch.manual_seed(0)
    labels = torch.randint(0, 10, (32,))
    cases = [
        (M.L2ActSpikeNet(width=16, timesteps=4), torch.rand(32, 3, 32, 32)),
        (M.SpikingAudioNet(), torch.randn(32, 1, 64, 126)),
        (M.SMLP({"vision": 512, "audio": 27136}), {"vision": torch.randn(32, 512), "audio": torch.randn(32, 27136)}),
    ]
    for model, x in cases:
        model.train()
        out = model(x)
        mse_count_loss(out.spikes, labels, 0.9, 0.1).backward()
        grads = [p.grad for p in model.parameters() if p.requires_grad]
        assert out.spikes.shape[1:] == (32, 10)
        assert all(g is not None and torch.isfinite(g).all() for g in grads)
        assert any(g.abs().sum() > 0 for g in grads)


def test_block_operations_read_the_built_order():
    """The chapters' block tables come from tracing the modules: check them against the forward code."""
    from avsnn.models.describe import block_operations, format_operations
    from avsnn.models.resnet import ActAfterAddBlock, LIFAfterBNBlock, LIFBeforeAddBlock

    assert block_operations(ActAfterAddBlock) == {
        "residual": ["conv", "LIF", "BN", "conv", "BN"],
        "shortcut": ["conv+BN"],
        "after_add": ["LIF"],
    }
    assert block_operations(LIFAfterBNBlock)["residual"] == ["conv", "BN", "LIF", "conv", "BN"]
    before = block_operations(LIFBeforeAddBlock, stride=1)
    assert before == {
        "residual": ["conv", "LIF", "BN", "conv", "BN", "LIF"],
        "shortcut": ["identity", "LIF"],
        "after_add": [],
    }
    assert format_operations(before) == "conv → LIF → BN → conv → BN → LIF (+ shortcut: identity → LIF)"


def test_learn_beta_and_threshold_make_every_lif_a_trainable_scalar_that_training_moves():
    from avsnn.core.lif import LIF
    from avsnn.train import RunConfig, build_model, make_config

    cfg = make_config("audio", "smoke", overrides={"learn_beta": True, "learn_threshold": True})
    net = build_model(cfg, num_classes=4)
    lifs = [m for m in net.modules() if isinstance(m, LIF)]
    assert lifs and all(
        isinstance(m.beta, torch.nn.Parameter) and isinstance(m.threshold, torch.nn.Parameter) for m in lifs
    )
    names = {n for n, _ in net.named_parameters()}
    assert {"head.output_lif.threshold", "blocks.0.lif.beta"} <= names
    plain = build_model(cfg.replace(learn_beta=False, learn_threshold=False), num_classes=4)
    assert not any(n.endswith(("beta", "threshold")) for n, _ in plain.named_parameters())
    assert set(net.state_dict()) == set(plain.state_dict())  # a state dict loads either way
    assert RunConfig().hash() == RunConfig(learn_beta=False).hash() != RunConfig(learn_beta=True).hash()
    x = torch.randn(3, 1, cfg.n_mels, net.n_frames)
    out = net(x)
    (out.spikes.sum() + out.current.sum()).backward()
    assert any(m.threshold.grad is not None and m.threshold.grad.abs().sum() > 0 for m in lifs)
