"""The CPU instruction-set pin (avsnn.isa) is in force where numbers are made and checked.

The goldens were made on AVX2 hosts; an AVX-512 host computes other numbers unless ATen, oneDNN
and MKL are capped at AVX2. These tests show the pin in the pytest process (conftest.py), in a
notebook kernel (what nbval, papermill and the book start), in the processes make starts, and in
oneDNN's and MKL's own reports; and that a different instruction set changes a trained network's
numbers, so the pin is what keeps the goldens true on every host.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import torch
from nbclient import NotebookClient

from avsnn import isa

ROOT = Path(__file__).resolve().parents[1]
needs_pin = pytest.mark.skipif(not isa.pin_applies(), reason="the pin applies to x86-64 CPUs with AVX2 only")
# what the processes below inherit, with the pin removed (each test adds what it needs)
BARE = {k: v for k, v in os.environ.items() if k not in isa.PIN and k != isa.OPT_OUT}


def _python(code: str, env: dict, timeout: float = 240) -> str:
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout + r.stderr


def test_pin_environment_keeps_what_the_user_set_and_can_be_switched_off():
    env = {"ATEN_CPU_CAPABILITY": "default"}
    added = isa.pin_environment(env)
    if isa.cpu_has_avx2():
        assert env["ATEN_CPU_CAPABILITY"] == "default" and "ATEN_CPU_CAPABILITY" not in added
        assert env["DNNL_MAX_CPU_ISA"] == "AVX2"
        assert added == {k: v for k, v in isa.PIN.items() if k != "ATEN_CPU_CAPABILITY"}
    off = {isa.OPT_OUT: "native"}
    assert isa.pin_environment(off) == {} and set(off) == {isa.OPT_OUT}


def test_no_pin_without_avx2(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor : 0\nflags : fpu sse sse2 avx\n")
    assert not isa.cpu_has_avx2(str(cpuinfo))
    cpuinfo.write_text("processor : 0\nflags : fpu sse sse2 avx avx2 fma\n")
    assert isa.cpu_has_avx2(str(cpuinfo)) == (os.uname().machine in ("x86_64", "amd64"))


@needs_pin
def test_pin_is_in_force_in_the_pytest_process():
    assert all(os.environ[k] == v for k, v in isa.PIN.items())
    assert torch.backends.cpu.get_cpu_capability() == isa.PINNED_CAPABILITY
    assert isa.describe().endswith("(pinned)")


@needs_pin
def test_pin_is_in_force_in_a_notebook_kernel():
    """nbval, papermill and jupyter-book start kernels that inherit this process's environment."""
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell("import torch; print(torch.backends.cpu.get_cpu_capability())"))
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    assert nb.cells[0].outputs[0]["text"].strip() == isa.PINNED_CAPABILITY


@needs_pin
def test_make_exports_the_pin_to_the_processes_it_starts():
    r = subprocess.run(["make", "-s", "isa"], capture_output=True, text=True, timeout=120, env=BARE, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"CPU instruction set {isa.PINNED_CAPABILITY} (pinned)"


@needs_pin
def test_onednn_and_mkl_report_the_pinned_instruction_set():
    code = (
        "import avsnn, torch\n"
        "conv = torch.nn.Conv2d(3, 8, 3)\n"
        "conv(torch.randn(2, 3, 16, 16)).sum().backward()\n"
        "a = torch.randn(64, 64); (a @ a).sum()\n"
    )
    out = _python(code, {**BARE, "DNNL_VERBOSE": "1", "MKL_VERBOSE": "1"})
    isa_lines = [ln for ln in out.splitlines() if ",isa:" in ln]
    assert isa_lines and all(ln.endswith("isa:Intel AVX2") for ln in isa_lines), isa_lines
    gemm = [ln for ln in out.splitlines() if ln.startswith("MKL_VERBOSE SGEMM")]
    assert gemm and all("CNR:OFF" not in ln for ln in gemm), gemm  # conditional reproducibility mode on


# Three optimizer steps of the smoke vision network on fixed data: the loss and the output after them, exactly.
_STEPS = """
import avsnn, torch
from avsnn.train import make_config
from avsnn.train.factories import build_model
torch.manual_seed(0)
torch.set_num_threads(1)
cfg = make_config("vision", "smoke", data="synthetic", overrides={"seed": 0, "device": "cpu"})
model = build_model(cfg, num_classes=10)
opt = torch.optim.Adam(model.parameters(), lr=1e-2)
x, y = torch.rand(32, 3, 16, 16), torch.arange(32) % 10
for _ in range(3):
    opt.zero_grad()
    out = model(x)
    loss = torch.nn.functional.cross_entropy(out.current.mean(0), y) + out.spikes.mean()
    loss.backward()
    opt.step()
with torch.no_grad():
    after = model(x).current.sum()
print(torch.backends.cpu.get_cpu_capability(), repr(loss.item()), repr(float(after)))
"""


@needs_pin
def test_another_instruction_set_changes_the_numbers_the_pin_keeps():
    """Pinned runs agree with each other exactly; the same run on ATen's default kernels does not."""
    pinned_a = _python(_STEPS, dict(BARE)).split()
    pinned_b = _python(_STEPS, dict(BARE)).split()
    other = _python(_STEPS, {**BARE, isa.OPT_OUT: "native", "ATEN_CPU_CAPABILITY": "default"}).split()
    assert pinned_a[0] == isa.PINNED_CAPABILITY and other[0] == "DEFAULT"
    assert pinned_a == pinned_b
    assert pinned_a[1:] != other[1:], (pinned_a, other)
