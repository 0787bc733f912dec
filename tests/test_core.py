"""The spiking core against the paper's equations and against snnTorch."""

import math
import re
from pathlib import Path

import pytest
import snntorch
import snntorch.functional as SF
import snntorch.surrogate as snn_sg
import torch

import avsnn
from avsnn import surrogate as sg
from avsnn.core import lif as lif_module
from avsnn.core.lif import lif_loop

RESETS = ["subtract", "zero", "none"]


# --- surrogate gradients (Eqs. 17-22) -------------------------------------------------------


@pytest.mark.parametrize("surr", [sg.atan(2.0), sg.atan(3.0), sg.fast_sigmoid(5.0), sg.fast_sigmoid(25.0)])
def test_surrogate_backward_equals_autograd_of_smooth_function(surr):
    x = torch.linspace(-3, 3, 601, dtype=torch.float64, requires_grad=True)
    surr.smooth(x).sum().backward()
    autograd_deriv = x.grad.clone()
    x.grad = None
    spikes = surr(x)
    spikes.sum().backward()
    assert torch.equal(spikes.detach(), (x >= 0).double())  # Eq. 17: fires at V >= V_th
    torch.testing.assert_close(x.grad, autograd_deriv, rtol=1e-10, atol=1e-12)


def test_paper_printed_derivatives_differ_from_the_true_ones():
    x = torch.linspace(-2, 2, 401, dtype=torch.float64)
    # Eq. 19 as printed is off by the constant factor (1/pi) / (alpha/2) everywhere.
    ratio = sg.paper_eq19(x, 2.0) / sg.atan(2.0).grad(x)
    torch.testing.assert_close(ratio, torch.full_like(x, 1 / math.pi))
    # Eq. 22 as printed is odd in V: negative below threshold, zero at it; the true one is 1 at 0.
    assert sg.paper_eq22(torch.tensor(-0.5)) < 0 and sg.paper_eq22(torch.tensor(0.0)) == 0
    assert sg.fast_sigmoid(5.0).grad(torch.tensor(0.0)) == 1.0


def test_surrogates_match_snntorch_backward():
    x = torch.randn(1000, dtype=torch.float64, requires_grad=True)
    for ours, theirs in [(sg.atan(2.0), snn_sg.atan(alpha=2.0)), (sg.fast_sigmoid(5.0), snn_sg.fast_sigmoid(slope=5))]:
        ours(x).sum().backward()
        g_ours, x.grad = x.grad.clone(), None
        theirs(x).sum().backward()
        torch.testing.assert_close(g_ours, x.grad)
        x.grad = None


def test_surrogate_bad_parameters():
    with pytest.raises(ValueError, match="scale"):
        sg.atan(-1.0)
    with pytest.raises(ValueError, match="surrogate"):
        sg.from_name("sigmoid")


# --- LIF (Eqs. 1, 17) ---------------------------------------------------------------------


def test_lif_follows_eq1_by_hand():
    lif = avsnn.LIF(beta=0.5, threshold=1.0, reset="subtract")
    current = torch.tensor([0.6, 0.6, 0.6, 0.0]).reshape(4, 1)
    spikes, mem = lif(current, return_mem=True)
    # V1=0.6, V2=0.5*0.6+0.6=0.9, V3=0.45+0.6=1.05 -> spike, V4=0.525+0-1 (reset of the spike at t=3)
    torch.testing.assert_close(mem.flatten(), torch.tensor([0.6, 0.9, 1.05, 0.525 - 1.0]))
    assert spikes.flatten().tolist() == [0, 0, 1, 0]


def test_lif_fires_at_threshold_exactly():
    lif = avsnn.LIF(beta=0.0, threshold=1.0)
    assert lif(torch.ones(1, 1)).item() == 1.0  # Eq. 17 uses >=; snnTorch's > would not fire


def _tie_claim(text: str, subject: str) -> bool:
    """Whether the sentence about ``subject`` in ``text`` says a membrane exactly at V_th fires."""
    subjects = r"snnTorch's `Leaky`|`avsnn` implements"
    m = re.search(re.escape(subject) + rf"(?:(?!{subjects}).)*?exactly at \$V_{{th}}\$ (does not fire|fires)", text)
    assert m, f"book/01_lif_neuron.md states no tie rule for {subject}"
    return m.group(1) == "fires"


@pytest.mark.parametrize("spike_grad", [None, snn_sg.atan(alpha=2.0)], ids=["default", "atan"])
def test_chapter01_tie_rule_is_snntorchs_and_avsnns(spike_grad):
    """Chapter 01's tie-rule sentences state what snnTorch and avsnn compute: snn.Leaky fires on
    ``mem - threshold > 0`` (a membrane exactly at the threshold stays silent), avsnn on ``>=``."""
    text = " ".join((Path(__file__).parents[1] / "book" / "01_lif_neuron.md").read_text().split())
    kw = {} if spike_grad is None else {"spike_grad": spike_grad}
    spk, mem = snntorch.Leaky(beta=0.0, threshold=1.0, **kw)(torch.ones(1), torch.zeros(1))
    assert mem.item() == 1.0  # exactly at the threshold
    assert _tie_claim(text, "snnTorch's `Leaky`") is bool(spk.item()) is False
    ours = avsnn.LIF(beta=0.0, threshold=1.0)(torch.ones(1, 1)).item()
    assert _tie_claim(text, "`avsnn` implements") is bool(ours) is True
    tie_rule = " ".join(lif_module.__doc__.split())  # lif.py's Tie rule says the same
    assert "we follow Eq. 17 (``>=``). snnTorch uses ``>``." in tie_rule


@pytest.mark.parametrize("reset", RESETS)
@pytest.mark.parametrize("backend", ["loop", "auto"])
def test_lif_matches_snntorch_leaky(reset, backend):
    torch.manual_seed(0)
    T, shape = 12, (8, 16)
    current = (torch.randn(T, *shape, dtype=torch.float64) * 0.8 + 0.3).requires_grad_()
    ours = avsnn.LIF(beta=0.8, threshold=1.0, reset=reset, surrogate=sg.atan(2.0), backend=backend).double()
    spk, mem = ours(current, return_mem=True)
    # Away from ties: no membrane lies within 1e-9 of the threshold, so >= and > agree.
    assert (mem - 1.0).abs().min() > 1e-9
    (spk.sum() + 0.1 * (mem**2).sum()).backward()
    g_ours, current.grad = current.grad.clone(), None

    leaky = snntorch.Leaky(beta=0.8, threshold=1.0, reset_mechanism=reset, spike_grad=snn_sg.atan(alpha=2.0))
    m = torch.zeros(shape, dtype=torch.float64)
    ref_spk, ref_mem = [], []
    for t in range(T):
        s, m = leaky(current[t], m)
        ref_spk.append(s)
        ref_mem.append(m)
    ref_spk, ref_mem = torch.stack(ref_spk), torch.stack(ref_mem)
    (ref_spk.sum() + 0.1 * (ref_mem**2).sum()).backward()
    assert torch.equal(spk.detach(), ref_spk.detach())
    torch.testing.assert_close(mem.detach(), ref_mem.detach())
    torch.testing.assert_close(g_ours, current.grad)


def test_lif_state_lives_in_the_call():
    torch.manual_seed(1)
    lif = avsnn.LIF(beta=0.9)
    x = torch.randn(5, 3, 7)
    assert torch.equal(lif(x), lif(x))
    assert not any(k for k in vars(lif) if k == "mem")


def test_lif_learnable_parameters_receive_gradients():
    lif = avsnn.LIF(beta=0.7, threshold=0.8, learn_beta=True, learn_threshold=True)
    assert {n for n, _ in lif.named_parameters()} == {"beta", "threshold"}
    x = torch.rand(6, 4, 10) * 1.5
    lif(x).sum().backward()
    assert lif.beta.grad is not None and lif.beta.grad != 0
    assert lif.threshold.grad is not None and lif.threshold.grad != 0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(beta=1.5), "beta"),
        (dict(beta=-0.1), "beta"),
        (dict(threshold=-1.0), "threshold"),
        (dict(reset="soft"), "reset"),
        (dict(backend="cuda"), "backend"),
    ],
)
def test_lif_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        avsnn.LIF(**kwargs)


def test_lif_needs_a_time_axis():
    with pytest.raises(ValueError, match=r"\[T, B"):
        avsnn.LIF()(torch.ones(5))


# --- L2 layer (Eqs. 10-13) ------------------------------------------------------------------


def test_l2_classifier_is_cosine_of_time_average():
    torch.manual_seed(0)
    layer = avsnn.L2Classifier(6, 3)
    feats = torch.randn(4, 5, 6)
    logits, z_av = layer(feats, return_features=True)
    torch.testing.assert_close(z_av, feats.mean(0))  # Eq. 10
    expected = torch.stack(
        [torch.stack([torch.nn.functional.cosine_similarity(z, w, dim=0) for w in layer.weight]) for z in z_av]
    )
    torch.testing.assert_close(logits, expected)  # Eqs. 11-13
    assert logits.shape == (5, 3) and logits.abs().max() <= 1 + 1e-6


def test_l2_classifier_zero_features_give_no_nan():
    layer = avsnn.L2Classifier(8, 4)
    feats = torch.zeros(3, 2, 8, requires_grad=True)
    logits = layer(feats)
    assert torch.equal(logits, torch.zeros(2, 4))
    logits.sum().backward()
    assert torch.isfinite(feats.grad).all() and torch.isfinite(layer.weight.grad).all()


def test_l2_classifier_rejects_bad_shapes():
    with pytest.raises(ValueError, match="T, B, 8"):
        avsnn.L2Classifier(8, 4)(torch.zeros(2, 8))


# --- MSE count loss (Eqs. 14-16) ------------------------------------------------------------


def test_mse_count_loss_by_hand():
    # T=2, B=1, C=2; class 0 spikes twice, class 1 once; label 0; rates 0.75/0.25 -> targets 1.5, 0.5
    spikes = torch.tensor([[[1.0, 1.0]], [[1.0, 0.0]]])
    loss = avsnn.mse_count_loss(spikes, torch.tensor([0]), 0.75, 0.25)
    assert loss.item() == pytest.approx(((2 - 1.5) ** 2 + (1 - 0.5) ** 2) / 2)
    # snnTorch convention: int targets (1, 0) and / T
    loss_t = avsnn.mse_count_loss(spikes, torch.tensor([0]), 0.75, 0.25, truncate=True)
    assert loss_t.item() == pytest.approx(((2 - 1) ** 2 + (1 - 0) ** 2) / 2 / 2)


def test_truncated_targets_at_T8():
    t = avsnn.count_targets(torch.tensor([1]), 3, 8, 0.9, 0.1)
    tt = avsnn.count_targets(torch.tensor([1]), 3, 8, 0.9, 0.1, truncate=True)
    torch.testing.assert_close(t, torch.tensor([[0.8, 7.2, 0.8]]))
    torch.testing.assert_close(tt, torch.tensor([[0.0, 7.0, 0.0]]))


@pytest.mark.parametrize("T", [4, 8])
@pytest.mark.parametrize("rates", [(0.9, 0.1), (0.85, 0.15), (1.0, 0.0)])
def test_truncated_loss_equals_snntorch(T, rates):
    torch.manual_seed(T)
    spikes = (torch.rand(T, 16, 10) > 0.6).float()
    labels = torch.randint(0, 10, (16,))
    ours = avsnn.mse_count_loss(spikes, labels, *rates, truncate=True)
    theirs = SF.mse_count_loss(correct_rate=rates[0], incorrect_rate=rates[1])(spikes, labels)
    torch.testing.assert_close(ours, theirs)


@pytest.mark.parametrize(
    "args, match",
    [
        ((torch.zeros(4, 10), torch.zeros(4, dtype=torch.long), 0.9, 0.1), r"\[T, B, C\]"),
        ((torch.zeros(2, 4, 10), torch.tensor([0, 1, 2, 10]), 0.9, 0.1), "labels"),
        ((torch.zeros(2, 4, 10), torch.zeros(3, dtype=torch.long), 0.9, 0.1), "labels"),
        ((torch.zeros(2, 4, 10), torch.zeros(4, dtype=torch.long), 1.2, 0.1), "correct_rate"),
        ((torch.zeros(2, 4, 10), torch.zeros(4, dtype=torch.long), 0.9, -0.1), "incorrect_rate"),
    ],
)
def test_mse_count_loss_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        avsnn.mse_count_loss(*args)


# --- Lemma 2 (Eq. 8) ---------------------------------------------------------------------


def test_lemma2_closed_form_equals_nonresetting_lif():
    torch.manual_seed(0)
    T, B, C, d, beta = 7, 3, 4, 5, 0.8
    feats, w = torch.randn(T, B, d, dtype=torch.float64), torch.randn(T, C, d, dtype=torch.float64)
    closed = avsnn.lemma2_membrane(feats, w, beta)
    current = torch.einsum("tbd,tcd->tbc", feats, w)
    _, mem = lif_loop(current, beta, 1e9, "none", sg.atan())
    torch.testing.assert_close(closed, mem)
    # Eq. 7: V[2] = beta * I[1] + I[2]
    torch.testing.assert_close(closed[1], beta * current[0] + current[1])


def test_lemma1_first_step_winner_is_largest_dot_product():
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    w = torch.tensor([[2.0, 0.0], [0.0, 3.0], [1.0, 1.0]])
    assert avsnn.lemma1_first_step_winner(a, w).tolist() == [0, 1]


def test_lif_fires_in_the_same_step_and_on_equality():
    """The book's reading (chapter 01): Eq. 17, not Eq. 2's one-step delay and strict '>'."""
    from avsnn.core.lif import LIF

    lif = LIF(beta=0.5, threshold=1.0, reset="subtract")
    x = torch.tensor([[1.0], [0.0], [0.25], [1.0]])
    # V[1] = 1 = V_th: fires in step 1; the reset follows one step later (snnTorch's reset_delay):
    # V[2] = 0.5*1 + 0 - 1 = -0.5, V[3] = -0.25 + 0.25 = 0, V[4] = 0 + 1 = 1 = V_th: fires again
    spikes, mem = lif(x, return_mem=True)
    assert spikes.flatten().tolist() == [1.0, 0.0, 0.0, 1.0]
    assert mem.flatten().tolist() == [1.0, -0.5, 0.0, 1.0]
