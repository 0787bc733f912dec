"""The fused LIF scan (avsnn.core.kernels) equals the reference per-step loop (lif_loop) on every backend."""

import itertools
import os
import re
import subprocess
import sys

import pytest
import torch

from avsnn.core import surrogate as sg
from avsnn.core.kernels import RESETS, cpp, dispatch, lif_fused, lif_loop
from avsnn.core.lif import LIF

SURROGATES = {"atan": sg.atan(2.0), "fast_sigmoid": sg.fast_sigmoid(5.0)}
TOL = 1e-5


# Triton's interpreter must be switched on before triton is first imported, so the Triton path
# (the CUDA kernels) is tested by re-running this file in a subprocess with TRITON_INTERPRET=1:
# there every test runs on the interpreted Triton kernels only (test_triton_kernels_in_interpreter).
INTERPRETED = os.environ.get("TRITON_INTERPRET") == "1"
PATHS = ["triton_interpreted"] if INTERPRETED else ["cpu_kernel", "torch_ops"]


@pytest.fixture(autouse=True, params=PATHS)
def fused_path(request, monkeypatch):
    """Run every test on each fused path: the compiled CPU kernel and the plain torch-op scan (or,
    under TRITON_INTERPRET=1, the Triton kernels executed by Triton's interpreter on CPU tensors)."""
    if request.param == "cpu_kernel":
        if cpp.cpu_kernel() is None:
            pytest.skip(f"CPU kernel unavailable: {cpp.cpu_kernel_error()}")
        cpp_dtypes = (torch.float32, torch.float64)
        _force(monkeypatch, lambda t: "cpp" if t.dtype in cpp_dtypes else "torch")
    elif request.param == "torch_ops":
        _force(monkeypatch, lambda t: "torch")
    else:
        assert dispatch.triton_kernels() is not None, dispatch._triton_state.get("error")
        _force(monkeypatch, lambda t: "triton")
    return request.param


def _force(monkeypatch, choose):
    """Make every fused call run on ``choose(tensor)`` (per-neuron parameters still take the loop)."""
    monkeypatch.setattr(
        dispatch, "resolve_backend", lambda t, requested="auto", scalar=True: choose(t) if scalar else "loop"
    )


@pytest.mark.skipif(INTERPRETED, reason="this is the subprocess")
def test_triton_kernels_in_interpreter(tmp_path):
    """The Triton kernels pass every test of this file (Triton's CPU interpreter, a subprocess)."""
    pytest.importorskip("triton")
    env = dict(os.environ, TRITON_INTERPRET="1")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", __file__],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    tail = (proc.stdout + proc.stderr)[-3000:]
    assert proc.returncode == 0, tail
    passed = re.search(r"(\d+) passed", proc.stdout)
    assert passed and int(passed.group(1)) >= 60, tail


def _run(fn, x, beta, thr, learn_beta, learn_thr, reset, surrogate, g_spk, g_mem):
    x = x.detach().clone().requires_grad_()
    b = torch.tensor(beta, dtype=x.dtype, device=x.device, requires_grad=learn_beta)
    t = torch.tensor(thr, dtype=x.dtype, device=x.device, requires_grad=learn_thr)
    spikes, mem = fn(x, b, t, reset, surrogate)
    loss = (spikes * g_spk).sum()
    if g_mem is not None:
        loss = loss + (mem * g_mem).sum()
    loss.backward()
    return spikes.detach(), mem.detach(), x.grad, b.grad, t.grad


def _compare(x, reset, surrogate, learn_beta, learn_thr, with_mem, beta=0.8, thr=1.0, seed=1):
    g = torch.Generator().manual_seed(seed)
    g_spk = torch.randn(x.shape, generator=g, dtype=x.dtype)
    g_mem = torch.randn(x.shape, generator=g, dtype=x.dtype) if with_mem else None
    ref = _run(lif_loop, x, beta, thr, learn_beta, learn_thr, reset, surrogate, g_spk, g_mem)
    got = _run(lif_fused, x, beta, thr, learn_beta, learn_thr, reset, surrogate, g_spk, g_mem)
    assert torch.equal(ref[0], got[0]), "spikes differ"
    assert ref[0].sum() > 0 and ref[0].sum() < ref[0].numel(), "test input should spike sometimes"
    torch.testing.assert_close(got[1], ref[1], atol=TOL, rtol=0)
    torch.testing.assert_close(got[2], ref[2], atol=TOL, rtol=0)
    for i, learn in ((3, learn_beta), (4, learn_thr)):
        if learn:
            assert abs(float(got[i]) - float(ref[i])) <= TOL
        else:
            assert got[i] is None and ref[i] is None


def _inputs(shape, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g, dtype=dtype) * 0.8 + 0.4


@pytest.mark.parametrize(
    "reset,surr,learn_beta,learn_thr", list(itertools.product(RESETS, SURROGATES, (False, True), (False, True)))
)
@pytest.mark.parametrize("with_mem", [False, True], ids=["loss_spikes", "loss_spikes_mem"])
def test_fused_equals_loop(reset, surr, learn_beta, learn_thr, with_mem):
    x = _inputs((6, 3, 2, 5, 4))
    _compare(x, reset, SURROGATES[surr], learn_beta, learn_thr, with_mem)


@pytest.mark.parametrize(
    "surrogate", [sg.atan(2.0), sg.atan(3.5), sg.fast_sigmoid(5.0), sg.fast_sigmoid(1.5)], ids=lambda s: s.name
)
def test_surrogate_derivative_equals_python_definition(surrogate):
    """With one step and a loss on the spikes alone, dL/dI = gS * surrogate'(I - thr) and
    dL/dthr = -sum(gS * surrogate'(I - thr)): each backend's own statement of the derivative (C++,
    Triton, torch ops) equals Surrogate.grad, also away from the default alpha / slope."""
    thr = 0.7
    x = torch.linspace(-3, 3, 241, dtype=torch.float64).reshape(1, 1, -1) + thr  # V - thr across [-3, 3]
    g_spk = torch.linspace(0.5, 2.0, 241, dtype=torch.float64).reshape(x.shape)
    leaf = x.clone().requires_grad_()
    t = torch.tensor(thr, dtype=torch.float64, requires_grad=True)
    spikes, _ = lif_fused(leaf, 0.9, t, "subtract", surrogate)
    (spikes * g_spk).sum().backward()
    expected = g_spk * surrogate.grad(x - thr)
    torch.testing.assert_close(leaf.grad, expected, rtol=1e-12, atol=0)
    torch.testing.assert_close(t.grad, -expected.sum(), rtol=1e-12, atol=0)


@pytest.mark.parametrize("reset", RESETS)
@pytest.mark.parametrize("shape", [(7, 16), (1, 9), (1, 2, 3, 4, 4), (2, 5)], ids=["TB", "T1_B", "T1_5d", "T2"])
def test_fused_shapes_and_t1(reset, shape):
    _compare(_inputs(shape, seed=3), reset, sg.atan(), True, True, True)


@pytest.mark.parametrize("reset", RESETS)
def test_fused_non_contiguous_input(reset):
    base = _inputs((4, 5, 3, 6), seed=4)
    x = base.permute(0, 3, 1, 2)  # [T, 6, 5, 3], non-contiguous
    assert not x.is_contiguous()
    _compare(x, reset, sg.fast_sigmoid(), True, True, True)
    xs = _inputs((5, 3, 8), seed=5)[:, :, ::2]  # strided slice
    _compare(xs, reset, sg.atan(), True, True, False)


@pytest.mark.parametrize("reset", RESETS)
def test_fused_broadcast_input_over_time(reset):
    """Direct encoding feeds an expanded (stride-0 over T) current; gradients sum over T."""
    img = _inputs((1, 4, 3, 5), seed=6)
    outs = []
    for fn in (lif_loop, lif_fused):
        leaf = img.clone().requires_grad_()
        x = leaf.expand(5, 4, 3, 5)
        spikes, mem = fn(x, torch.tensor(0.9, dtype=x.dtype), torch.tensor(1.0, dtype=x.dtype), reset, sg.atan())
        (spikes.sum() + 0.5 * (mem**2).sum()).backward()
        outs.append((spikes, mem.detach(), leaf.grad))
    assert torch.equal(outs[0][0], outs[1][0])
    torch.testing.assert_close(outs[1][1], outs[0][1], atol=TOL, rtol=0)
    torch.testing.assert_close(outs[1][2], outs[0][2], atol=TOL, rtol=0)


def test_fused_mem_only_loss_and_float32():
    x = _inputs((5, 4, 7), seed=7, dtype=torch.float32)
    res = []
    for fn in (lif_loop, lif_fused):
        xi = x.clone().requires_grad_()
        b = torch.tensor(0.9, requires_grad=True)
        t = torch.tensor(1.0, requires_grad=True)
        spikes, mem = fn(xi, b, t, "subtract", sg.atan())
        mem.square().sum().backward()  # gradient reaches only through the membrane
        res.append((spikes, mem.detach(), xi.grad, b.grad, t.grad))
    assert torch.equal(res[0][0], res[1][0])
    for a, b in zip(res[0][1:], res[1][1:]):
        torch.testing.assert_close(b, a, atol=1e-4, rtol=1e-5)


@pytest.mark.parametrize("dtype", [torch.bfloat16])
def test_fused_low_precision_runs(dtype):
    """bf16 (as under autocast) runs and stays close to float32 where no spike flips."""
    x = _inputs((4, 3, 16), seed=8, dtype=torch.float32)
    lif = LIF(learn_beta=True, learn_threshold=True)
    xl = x.to(dtype).requires_grad_()
    s, m = lif(xl, return_mem=True)
    assert s.dtype == dtype and m.dtype == dtype
    ref = LIF(learn_beta=True, learn_threshold=True)
    s32, m32 = ref(x, return_mem=True)
    same = s.float() == s32  # spikes that did not flip under rounding
    assert same.float().mean() > 0.9
    steady = same.flatten(1).all(0)  # neurons whose whole spike train matches
    torch.testing.assert_close(m.float().flatten(1)[:, steady], m32.flatten(1)[:, steady], atol=0.05, rtol=0.02)
    (s.float().sum() + m.float().sum()).backward()
    assert xl.grad.dtype == dtype and torch.isfinite(xl.grad.float()).all()
    assert lif.beta.grad is not None and lif.threshold.grad is not None


def test_lif_module_fused_equals_loop_with_learnable_params():
    torch.manual_seed(0)
    x = _inputs((4, 3, 2, 3, 3), seed=9)
    grads = []
    for backend in ("loop", "auto"):
        lif = LIF(beta=0.7, learn_beta=True, learn_threshold=True, reset="zero", backend=backend).double()
        xi = x.clone().requires_grad_()
        s, m = lif(xi, return_mem=True)
        (s.sum() + m.sum()).backward()
        grads.append((s, xi.grad, lif.beta.grad, lif.threshold.grad))
    assert torch.equal(grads[0][0], grads[1][0])
    for a, b in zip(grads[0][1:], grads[1][1:]):
        torch.testing.assert_close(b, a, atol=TOL, rtol=0)


def test_fused_no_grad_and_inference():
    x = _inputs((3, 4, 5), seed=10)
    with torch.no_grad():
        s1, m1 = lif_fused(x, 0.9, 1.0, "subtract", sg.atan())
    s0, m0 = lif_loop(x, 0.9, 1.0, "subtract", sg.atan())
    assert torch.equal(s0, s1)
    torch.testing.assert_close(m1, m0, atol=TOL, rtol=0)


def test_fused_rejects_unknown_reset():
    with pytest.raises(ValueError):
        lif_fused(_inputs((2, 3)), 0.9, 1.0, "bogus", sg.atan())


@pytest.mark.parametrize("reset", RESETS)
def test_fused_keeps_channels_last_layout(reset):
    """A channels-last [T*B, C, H, W] activation unflattened to [T, B, ...] is scanned in place:
    spikes, membrane and input gradient keep its strides and equal the contiguous computation."""
    x4 = _inputs((3 * 2, 4, 5, 3), seed=11).contiguous(memory_format=torch.channels_last)
    x = x4.unflatten(0, (3, 2))
    assert not x.is_contiguous()
    g = torch.randn(x.shape, generator=torch.Generator().manual_seed(2), dtype=x.dtype)
    outs = []
    for inp in (x, x.contiguous()):
        leaf = inp.detach().clone(memory_format=torch.preserve_format).requires_grad_()
        spikes, mem = lif_fused(leaf, 0.8, 1.0, reset, sg.atan())
        (spikes * g).sum().backward()
        outs.append((spikes, mem, leaf.grad))
    (s_cl, m_cl, g_cl), (s_c, m_c, g_c) = outs
    assert s_cl.stride() == x.stride() and m_cl.stride() == x.stride()
    assert s_cl.flatten(0, 1).is_contiguous(memory_format=torch.channels_last)
    assert g_cl.stride() == x.stride()
    assert torch.equal(s_cl, s_c)
    torch.testing.assert_close(m_cl, m_c, atol=TOL, rtol=0)
    torch.testing.assert_close(g_cl, g_c, atol=TOL, rtol=0)
    assert s_c.sum() > 0


def test_backend_choice_on_cpu(monkeypatch):
    monkeypatch.undo()  # the real chooser, not the fixture's
    x = torch.zeros(2, 3)
    assert dispatch.resolve_backend(x) == ("cpp" if cpp.cpu_kernel() is not None else "torch")
    assert dispatch.resolve_backend(x.bfloat16()) == "torch"  # CPU bf16: torch ops


class _BrokenTriton:
    """Triton kernels whose every launch raises (say, a compiler too old for them)."""

    def forward(self, *a, **k):
        raise RuntimeError("CompilationError: pretend")

    backward = forward


def test_triton_failure_under_auto_falls_back_to_torch_ops(monkeypatch):
    """Under ``auto`` a Triton launch that raises is reported once, with its reason, and the torch-op
    path gives the result instead: training goes on, with the same spikes and gradients."""
    monkeypatch.setattr(dispatch, "_triton_state", {})
    monkeypatch.setattr(dispatch, "_fallbacks", {})
    monkeypatch.setattr(dispatch, "triton_kernels", lambda: _BrokenTriton())
    _force(monkeypatch, lambda t: "triton")
    x = _inputs((5, 3, 7), seed=12)
    with pytest.warns(dispatch.BackendFallback, match=r"triton unavailable \(launch failed: .*pretend"):
        _compare(x, "subtract", sg.atan(), True, True, True)
    assert "pretend" in dispatch._triton_state["error"] and "pretend" in dispatch.fallbacks()["triton"]


def test_triton_failure_of_an_explicit_choice_is_an_error(monkeypatch):
    """``backend="triton"`` chosen explicitly is never swapped for torch ops: a failing launch raises."""
    monkeypatch.setattr(dispatch, "_fallbacks", {})
    monkeypatch.setattr(dispatch, "triton_kernels", lambda: _BrokenTriton())
    _force(monkeypatch, lambda t: "triton")
    with pytest.raises(dispatch.BackendUnavailable, match=r"backend='triton' launch failed: .*pretend"):
        lif_fused(_inputs((5, 3, 7), seed=12), 0.9, 1.0, "subtract", sg.atan(), backend="triton")
    assert dispatch.fallbacks() == {}
