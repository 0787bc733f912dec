"""The fused LIF on CUDA (Triton kernels, and the torch-op path) equals the reference loop on CUDA.

Skipped without a GPU; run on a lent GPU machine by ``scripts/gpu_check.sh``. The same kernels
are tested on CPU through Triton's interpreter in ``tests/test_fused.py``.
"""

import itertools

import pytest
import torch
from test_fused import _run  # noqa: E402  (the same forward+backward driver as the CPU tests)

from avsnn.core import surrogate as sg
from avsnn.core.kernels import RESETS, dispatch, lif_fused, lif_loop
from avsnn.core.lif import LIF

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

SURROGATES = {"atan": sg.atan(2.0), "fast_sigmoid": sg.fast_sigmoid(5.0)}
TOL = 1e-5


@pytest.fixture(params=["triton", "torch"])
def cuda_path(request, monkeypatch):
    if request.param == "triton":
        if dispatch.triton_kernels() is None:
            pytest.skip(f"triton unavailable: {dispatch._triton_state.get('error')}")
        assert dispatch.resolve_backend(torch.zeros(1, device="cuda")) == "triton"
        assert dispatch.supported_backends("cuda", torch.bfloat16)[0] == "triton"
    else:
        monkeypatch.setattr(dispatch, "resolve_backend", lambda t, requested="auto", scalar=True: "torch")
    return request.param


# float32: every reset x surrogate x learnable flags x loss on membrane; float64: a subset (each
# combination is one Triton compilation, ~1 s).
CASES = [
    (torch.float32, *c) for c in itertools.product(RESETS, SURROGATES, (False, True), (False, True), (False, True))
]
CASES += [(torch.float64, r, s, True, True, m) for r in RESETS for s in SURROGATES for m in (False, True)]


@pytest.mark.parametrize("dtype,reset,surr,learn_beta,learn_thr,with_mem", CASES)
def test_cuda_fused_equals_loop(cuda_path, dtype, reset, surr, learn_beta, learn_thr, with_mem):
    g = torch.Generator().manual_seed(0)
    shape = (6, 8, 4, 9, 7)  # N = 2016: two Triton programs, the second one masked
    x = (torch.randn(shape, generator=g, dtype=torch.float64) * 0.8 + 0.4).to("cuda", dtype)
    g_spk = torch.randn(shape, generator=g, dtype=torch.float64).to("cuda", dtype)
    g_mem = torch.randn(shape, generator=g, dtype=torch.float64).to("cuda", dtype) if with_mem else None
    ref = _run(lif_loop, x, 0.8, 1.0, learn_beta, learn_thr, reset, SURROGATES[surr], g_spk, g_mem)
    got = _run(lif_fused, x, 0.8, 1.0, learn_beta, learn_thr, reset, SURROGATES[surr], g_spk, g_mem)
    assert torch.equal(ref[0], got[0]), "spikes differ"
    assert 0 < ref[0].sum() < ref[0].numel()
    torch.testing.assert_close(got[1], ref[1], atol=TOL, rtol=0)
    torch.testing.assert_close(got[2], ref[2], atol=TOL, rtol=0)
    scale = 1.0 if dtype == torch.float64 else float(x.numel()) ** 0.5  # float32 sums of ~12k terms
    for i, learn in ((3, learn_beta), (4, learn_thr)):
        if learn:
            assert abs(float(got[i]) - float(ref[i])) <= TOL * scale, (float(got[i]), float(ref[i]))
        else:
            assert got[i] is None


def test_cuda_channels_last_and_broadcast(cuda_path):
    x4 = torch.rand(3 * 4, 5, 6, 7, device="cuda").contiguous(memory_format=torch.channels_last) * 2
    x = x4.unflatten(0, (3, 4))
    leaf = x.detach().clone(memory_format=torch.preserve_format).requires_grad_()
    spikes, mem = lif_fused(leaf, 0.9, 1.0, "subtract", sg.atan())
    assert spikes.stride() == x.stride()
    s_ref, m_ref = lif_loop(x.contiguous(), 0.9, 1.0, "subtract", sg.atan())
    assert torch.equal(spikes, s_ref)
    spikes.sum().backward()
    assert leaf.grad.stride() == x.stride() and torch.isfinite(leaf.grad).all()
    img = torch.rand(4, 5, 6, device="cuda", requires_grad=True)
    s_b, _ = lif_fused(img.unsqueeze(0).expand(5, 4, 5, 6), 0.9, 0.5, "zero", sg.fast_sigmoid())
    s_r, _ = lif_loop(img.detach().unsqueeze(0).repeat(5, 1, 1, 1), 0.9, 0.5, "zero", sg.fast_sigmoid())
    assert torch.equal(s_b, s_r)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_cuda_low_precision(cuda_path, dtype):
    x = torch.randn(4, 16, 300, device="cuda") * 0.8 + 0.4
    lif = LIF(learn_beta=True, learn_threshold=True).cuda()
    xl = x.to(dtype).requires_grad_()
    s, m = lif(xl, return_mem=True)
    assert s.dtype == dtype
    s_ref, _ = lif_loop(x, lif.beta.detach(), lif.threshold.detach(), "subtract", sg.atan())
    assert (s.float() != s_ref).float().mean() < 0.1  # only near-threshold neurons (and their later steps) may flip
    (s.float().sum() + m.float().sum()).backward()
    assert torch.isfinite(xl.grad.float()).all() and lif.beta.grad is not None and lif.threshold.grad is not None


def test_cuda_training_step_runs_under_amp_and_channels_last():
    from avsnn.core.loss import mse_count_loss
    from avsnn.models import L2ActSpikeNet

    torch.manual_seed(0)
    model = L2ActSpikeNet(width=8, timesteps=4).cuda().to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.rand(8, 3, 32, 32, device="cuda").contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (8,), device="cuda")
    with torch.autocast("cuda", dtype=torch.bfloat16):
        out = model(x)
    loss = mse_count_loss(out.spikes.float(), y, 0.9, 0.1)
    loss.backward()
    opt.step()
    assert torch.isfinite(loss)
    assert all(p.grad is None or torch.isfinite(p.grad).all() for p in model.parameters())


def test_cuda_explicit_backends():
    """On CUDA, ``backend="triton"`` and ``"torch"`` run as named; ``"cpp"`` is a one-line error."""
    from avsnn.core.kernels import BackendUnavailable

    x = torch.rand(4, 8, 16, device="cuda") * 2
    for name in ("triton", "torch", "loop"):
        if name == "triton" and dispatch.triton_kernels() is None:
            continue
        lif = LIF(backend=name).cuda()
        assert torch.equal(lif(x), lif_loop(x, 0.9, 1.0, "subtract", sg.atan())[0])
        assert lif.last_backend == name and f"backend={name!r}" in repr(lif)
    with pytest.raises(BackendUnavailable, match="backend='cpp' is unavailable .*CPU only"):
        LIF(backend="cpp")(x)
