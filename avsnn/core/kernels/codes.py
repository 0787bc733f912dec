"""The one table of reset and surrogate names and the integer codes the compiled kernels take.

The C++ (``lif_scan.cpp``) and Triton (:mod:`.triton`) kernels receive a reset or surrogate as its
position in :data:`RESETS` / :data:`SURROGATES`, and a surrogate's derivative as the two constants
of :func:`surrogate_constants`.
"""
from __future__ import annotations

import math

from ..surrogate import KINDS as SURROGATES
from ..surrogate import Surrogate

RESETS = ("subtract", "zero", "none")
"""LIF reset rules (Eq. 1): subtract the threshold, reset to zero, or no reset (Lemma 2, Eq. 8)."""

RESET_CODE = {name: code for code, name in enumerate(RESETS)}
SURROGATE_CODE = {name: code for code, name in enumerate(SURROGATES)}


def surrogate_constants(surrogate: Surrogate) -> tuple[float, float]:
    """``(k, c)`` of the surrogate derivative as the compiled kernels compute it, ``x = V - thr``:
    atan ``c / (1 + (k x)^2)`` with ``k = pi alpha / 2``, ``c = alpha / 2`` (corrected Eq. 19);
    fast sigmoid ``c / (1 + k |x|)^2`` with ``k`` the slope, ``c = 1`` (corrected Eq. 22)."""
    if surrogate.kind == "atan":
        return math.pi * surrogate.scale / 2, surrogate.scale / 2
    return float(surrogate.scale), 1.0
