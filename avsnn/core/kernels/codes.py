"""The one table of reset and surrogate names and the integer codes the compiled kernels take.

The C++ (``lif_scan.cpp``) and Triton (:mod:`.triton`) kernels receive a reset or surrogate as its
position in :data:`RESETS` / :data:`SURROGATES`, and a surrogate's derivative as the two numbers
:attr:`avsnn.core.surrogate.Surrogate.constants`.
"""

from __future__ import annotations

from ..surrogate import KINDS as SURROGATES

RESETS = ("subtract", "zero", "none")
"""LIF reset rules (Eq. 1): subtract the threshold, reset to zero, or no reset (Lemma 2, Eq. 8)."""

RESET_CODE = {name: code for code, name in enumerate(RESETS)}
SURROGATE_CODE = {name: code for code, name in enumerate(SURROGATES)}
