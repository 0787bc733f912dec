"""The Triton LIF kernels compile for real NVIDIA GPUs, without one: Triton lowers them to PTX and
its bundled ``ptxas`` assembles a cubin for sm_90 (H100) and sm_80 (A100). This catches what the
CPU interpreter (tests/test_fused.py) cannot: code the GPU compiler rejects. The float32 forward is
also checked to contain no fused multiply-add, which is what keeps its spikes bit-identical to the
reference loop's (separately rounded multiply and add)."""

import os

import pytest

triton = pytest.importorskip("triton")
if os.environ.get("TRITON_INTERPRET") == "1":
    pytest.skip("interpreter mode: kernels are not compiled", allow_module_level=True)

import triton.language as tl  # noqa: E402
from triton.backends.compiler import GPUTarget  # noqa: E402
from triton.compiler import ASTSource  # noqa: E402

from avsnn.core.kernels import triton as K  # noqa: E402

PTR = {"f32": "*fp32", "f64": "*fp64", "bf16": "*bf16", "f16": "*fp16"}
ACC = {"f32": tl.float32, "f64": tl.float64, "bf16": tl.float32, "f16": tl.float32}


def _compile(fn, signature, constexprs, arch=90):
    try:
        src = ASTSource(fn=fn, signature={**signature, **{k: "constexpr" for k in constexprs}}, constexprs=constexprs)
        return triton.compile(src, target=GPUTarget("cuda", arch, 32), options={"enable_fp_fusion": False})
    except (RuntimeError, FileNotFoundError) as e:  # no ptxas / unsupported platform: nothing to check
        if "ptxas" in str(e).lower() and "error" not in str(e).lower():
            pytest.skip(f"cannot assemble for CUDA here: {e}")
        raise


def _fwd(dtype, reset, arch=90):
    p = PTR[dtype]
    sig = {"I": p, "S": p, "V": p, "BETA": p, "THR": p, "T": "i32", "N": "i32", "stride_t": "i32"}
    return _compile(K._lif_fwd_kernel, sig, {"RESET": reset, "ACC": ACC[dtype], "BLOCK": K.BLOCK}, arch)


def _bwd(dtype, reset, surr, has_gs, has_gv, grad_b, grad_t, arch=90):
    p = PTR[dtype]
    part = "*fp64" if dtype == "f64" else "*fp32"
    sig = {
        "V": p,
        "GS": p,
        "GV": p,
        "GI": p,
        "PART": part,
        "BETA": p,
        "THR": p,
        "T": "i32",
        "N": "i32",
        "k": "fp32",
        "cnum": "fp32",
    }
    const = {
        "RESET": reset,
        "SURR": surr,
        "HAS_GS": has_gs,
        "HAS_GV": has_gv,
        "GRAD_B": grad_b,
        "GRAD_T": grad_t,
        "ACC": ACC[dtype],
        "BLOCK": K.BLOCK,
    }
    return _compile(K._lif_bwd_kernel, sig, const, arch)


@pytest.mark.parametrize("dtype", ["f32", "bf16", "f64"])
@pytest.mark.parametrize("reset", [0, 1, 2], ids=["subtract", "zero", "none"])
def test_forward_kernel_compiles_for_sm90(dtype, reset):
    k = _fwd(dtype, reset)
    assert k.asm["cubin"] and ".entry" in k.asm["ptx"]
    if dtype == "f32":
        assert "fma.rn.f32" not in k.asm["ptx"], "FMA contraction would change spikes on exact ties"


@pytest.mark.parametrize(
    "reset,surr,has_gs,has_gv,grad_b,grad_t",
    [
        (0, 0, True, True, True, True),
        (1, 0, True, True, True, True),
        (2, 0, True, True, True, True),
        (0, 1, True, True, True, True),
        (1, 1, True, False, False, False),
        (2, 1, False, True, False, True),
        (0, 0, True, False, False, False),  # the usual training case: spikes only, frozen beta / threshold
    ],
)
def test_backward_kernel_compiles_for_sm90(reset, surr, has_gs, has_gv, grad_b, grad_t):
    k = _bwd("f32", reset, surr, has_gs, has_gv, grad_b, grad_t)
    assert k.asm["cubin"] and ".entry" in k.asm["ptx"]


def test_kernels_compile_in_other_precisions_and_for_sm80():
    assert _bwd("bf16", 0, 0, True, False, False, False).asm["cubin"]
    assert _bwd("f64", 1, 1, True, True, True, True).asm["cubin"]
    assert _fwd("f32", 0, arch=80).asm["cubin"]
    assert _bwd("f32", 0, 0, True, False, False, False, arch=80).asm["cubin"]
