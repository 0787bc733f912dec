"""The CPU instruction set numbers are computed with: one pin, so every x86-64 host gives the same numbers.

ATen, oneDNN and MKL each pick their kernels by the processor's instruction set. On an AVX-512
host they sum floats in another order than on an AVX2 host, and a spiking network turns a
rounding difference into a different spike, then a different trained network. Capping all three
at AVX2 (:data:`PIN`) makes a CPU run give the same numbers on every x86-64 host that has AVX2.
MKL's ``MKL_CBWR=AVX2`` is its vendor knob for the same purpose (conditional numerical
reproducibility; on processors it does not cover it falls back to its automatic branch, so the
instruction cap ``MKL_ENABLE_INSTRUCTIONS`` is set too).

The libraries read these variables once, when torch loads, so the pin must be in the environment
before ``import torch``: ``import avsnn`` sets it when torch is not loaded yet, the Makefile exports
it to every process it starts (the book, the goldens, the tests and the notebook kernels they
start), and ``tests/conftest.py`` sets it for a plain ``pytest``. Variables the user has set are
kept; ``AVSNN_CPU_ISA=native`` turns the pin off. Hosts without AVX2 (and other architectures)
are left alone: forcing AVX2 kernels there would stop on an illegal instruction.

``python avsnn/isa.py`` prints the pin as ``NAME=value`` words (empty where it does not apply), for
the Makefile; this file therefore imports nothing but the standard library.
"""

from __future__ import annotations

import os
import platform
import sys

#: the environment that caps ATen, oneDNN and MKL at AVX2
PIN = {
    "ATEN_CPU_CAPABILITY": "avx2",
    "DNNL_MAX_CPU_ISA": "AVX2",
    "MKL_ENABLE_INSTRUCTIONS": "AVX2",
    "MKL_CBWR": "AVX2",
}
#: what ``torch.backends.cpu.get_cpu_capability()`` reports when the pin is in force
PINNED_CAPABILITY = "AVX2"
#: the switch: ``native`` leaves the libraries to choose by the processor
OPT_OUT = "AVSNN_CPU_ISA"


def cpu_has_avx2(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether this is an x86-64 processor whose flags include ``avx2`` (False where unknown)."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    try:
        with open(cpuinfo, encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return "avx2" in line.split(":", 1)[-1].split()
    except OSError:
        return False
    return False


def pin_applies(environ=None) -> bool:
    """Whether the pin is wanted (not switched off) and possible (AVX2 present) here."""
    environ = os.environ if environ is None else environ
    return environ.get(OPT_OUT, "").strip().lower() != "native" and cpu_has_avx2()


def pin_environment(environ=None) -> dict:
    """Put :data:`PIN` into ``environ`` (default ``os.environ``) where it applies; variables already set are kept.

    Returns the variables this call set. Takes effect for torch only if torch is loaded after it
    (in this process or a child process).
    """
    environ = os.environ if environ is None else environ
    if not pin_applies(environ):
        return {}
    added = {k: v for k, v in PIN.items() if k not in environ}
    environ.update(added)
    return added


def capability_in_force() -> str:
    """The instruction set ATen dispatches to in this process (imports torch)."""
    import torch

    return torch.backends.cpu.get_cpu_capability()


def describe() -> str:
    """One line for logs and run records: the capability in force and whether the pin holds."""
    cap = capability_in_force()
    if not pin_applies():
        why = "switched off" if os.environ.get(OPT_OUT, "").lower() == "native" else "no AVX2 on this CPU"
        return f"CPU instruction set {cap} (not pinned: {why})"
    other = {k: os.environ.get(k) for k, v in PIN.items() if os.environ.get(k) != v}
    if other:
        return f"CPU instruction set {cap} (NOT pinned: the environment sets {other})"
    if cap != PINNED_CAPABILITY:
        return f"CPU instruction set {cap} (NOT pinned: torch was loaded before the pin)"
    return f"CPU instruction set {cap} (pinned)"


if __name__ == "__main__":
    words = [f"{k}={v}" for k, v in PIN.items()] if pin_applies() else []
    sys.stdout.write(" ".join(words) + "\n")
