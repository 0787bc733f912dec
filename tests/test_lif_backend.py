"""The LIF ``backend=`` choice: explicit backends run as named or fail in one line, ``auto`` reports
each fallback once with its reason, and the neuron, the run record and the benchmark say which ran."""

import warnings

import pytest
import torch

from avsnn.core import surrogate as sg
from avsnn.core.kernels import BACKENDS, BackendFallback, BackendUnavailable, cpp, dispatch, lif_loop
from avsnn.core.lif import LIF, set_backend, supported_backends, used_backends
from avsnn.train.config import RunConfig


@pytest.fixture
def fresh(monkeypatch):
    """A process state in which neither kernel was tried yet and no fallback was reported."""
    monkeypatch.setattr(cpp, "_state", {})
    monkeypatch.setattr(dispatch, "_triton_state", {})
    monkeypatch.setattr(dispatch, "_fallbacks", {})
    return monkeypatch


def _x():
    return torch.linspace(0, 2, 24).reshape(3, 2, 4)


def test_backend_names():
    assert BACKENDS == ("auto", "cpp", "triton", "torch", "loop")
    with pytest.raises(ValueError, match="LIF backend must be one of"):
        LIF(backend="cupy")
    with pytest.raises(ValueError, match="lif_backend must be one of"):
        RunConfig(lif_backend="cupy")


def test_supported_backends_on_cpu():
    cpu = supported_backends("cpu", torch.float32)
    assert cpu[-2:] == ("torch", "loop") and "triton" not in cpu
    assert cpu[0] == ("cpp" if cpp.cpu_kernel() is not None else "torch")
    assert supported_backends("cpu", torch.bfloat16) == ("torch", "loop")


@pytest.mark.parametrize("name", ["torch", "loop", "cpp"])
def test_explicit_backend_runs_as_named(name):
    if name == "cpp" and cpp.cpu_kernel() is None:
        pytest.skip(f"CPU kernel unavailable: {cpp.cpu_kernel_error()}")
    lif = LIF(backend=name)
    assert lif.last_backend is None
    spikes = lif(_x())
    assert torch.equal(spikes, lif_loop(_x(), 0.9, 1.0, "subtract", sg.atan())[0])
    assert lif.last_backend == name


def test_explicit_unavailable_backend_is_a_one_line_error(fresh):
    with pytest.raises(
        BackendUnavailable, match=r"LIF backend='triton' is unavailable .* on cpu: it runs on CUDA only"
    ):
        LIF(backend="triton")(_x())
    with pytest.raises(BackendUnavailable, match="backend='cpp' .*float32 and float64 only"):
        LIF(backend="cpp")(_x().bfloat16())
    fresh.setenv("AVSNN_FUSED_CPP", "0")
    with pytest.raises(BackendUnavailable, match=r"backend='cpp' is unavailable .*disabled by AVSNN_FUSED_CPP=0") as e:
        LIF(backend="cpp")(_x())
    assert "\n" not in str(e.value)
    assert supported_backends("cpu") == ("torch", "loop")
    assert dispatch.fallbacks() == {}  # an explicit choice is never swapped for another


def test_failed_cpp_build_is_an_error_when_chosen(fresh):
    def no_compiler():
        raise OSError("no c++ compiler")

    fresh.setattr(cpp, "_build", no_compiler)
    with pytest.raises(BackendUnavailable, match="backend='cpp' .*build failed: OSError: no c\\+\\+ compiler"):
        LIF(backend="cpp")(_x())


def test_auto_fallback_is_reported_once_with_its_reason(fresh):
    fresh.setenv("AVSNN_FUSED_CPP", "0")
    lif = LIF()
    with pytest.warns(BackendFallback, match=r"cpp unavailable \(disabled by AVSNN_FUSED_CPP=0\); using torch") as rec:
        first = lif(_x())
    assert len([w for w in rec if issubclass(w.category, BackendFallback)]) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # reported once: the second call is silent
        again = LIF()(_x())
    assert torch.equal(first, again) and lif.last_backend == "torch"
    assert dispatch.fallbacks() == {"cpp": "disabled by AVSNN_FUSED_CPP=0"}


def test_auto_without_fallback_is_silent(fresh):
    if cpp.cpu_kernel() is None:
        pytest.skip(f"CPU kernel unavailable: {cpp.cpu_kernel_error()}")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lif = LIF()
        lif(_x())
        lif(_x().bfloat16())  # bf16 on CPU: torch ops are auto's first choice, no fallback
    assert lif.last_backend == "torch" and dispatch.fallbacks() == {}


def test_per_neuron_parameters_need_the_loop():
    beta = torch.full((2, 4), 0.9)
    spikes, _ = dispatch.lif_fused(_x(), beta, 1.0, "subtract", sg.atan())  # auto: the loop
    assert torch.equal(spikes, lif_loop(_x(), 0.9, 1.0, "subtract", sg.atan())[0])
    with pytest.raises(BackendUnavailable, match="backend='torch' .*per-neuron beta/threshold need backend 'loop'"):
        dispatch.lif_fused(_x(), beta, 1.0, "subtract", sg.atan(), backend="torch")


def test_extra_repr_and_used_backends():
    lif = LIF(backend="torch")
    assert repr(lif) == "LIF(beta=0.9, threshold=1, reset='subtract', surrogate=atan(alpha=2), backend='torch')"
    net = torch.nn.Sequential(LIF(), LIF())
    assert used_backends(net) is None  # not run yet
    set_backend(net, "loop")
    assert "backend='loop'" in repr(net)
    net(_x())
    assert used_backends(net) == "loop"
    net[1].backend = "torch"
    net(_x())
    assert used_backends(net) == "loop+torch"
    with pytest.raises(ValueError, match="LIF backend must be one of"):
        set_backend(net, "cuda")


def test_lif_backend_is_cosmetic_in_the_config():
    """The config field keeps every stored hash: it is left out of the canonical form."""
    cfg = RunConfig()
    assert "lif_backend" not in cfg.canonical()
    assert cfg.replace(lif_backend="torch").hash() == cfg.hash()
    sub = RunConfig(
        modality="fusion",
        vision_config=RunConfig().canonical(),
        audio_config=RunConfig(modality="audio").canonical(),
        lif_backend="loop",
    )
    assert {c.lif_backend for c in sub.sub_configs.values()} == {"loop"}


def test_build_model_applies_the_config_backend():
    from avsnn.train.factories import build_model

    net = build_model(RunConfig(width=2, timesteps=2, lif_backend="loop"), num_classes=3)
    lifs = [m for m in net.modules() if isinstance(m, LIF)]
    assert lifs and all(m.backend == "loop" for m in lifs)


def test_bench_fails_fast_on_an_unavailable_backend_and_records_the_one_that_ran():
    from avsnn.bench import run_bench

    with pytest.raises(BackendUnavailable, match="backend='triton'"):
        run_bench(width=2, timesteps=2, batch=2, steps=1, device="cpu", warmup=0, data=None, lif_backend="triton")
    res = run_bench(width=2, timesteps=2, batch=2, steps=1, device="cpu", warmup=0, data=None, lif_backend="torch")
    assert res["lif_backend"] == "torch" and res["lif_backend_requested"] == "torch"
    assert res["lif_fwd_bwd"]["lif_backend"] == "torch"
    assert isinstance(res["lif_backend_fallbacks"], dict)
