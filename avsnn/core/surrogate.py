"""Surrogate gradients of the Heaviside spike (paper Section V-B, Eqs. 17-22).

The forward pass of every surrogate is the Heaviside step of Eq. 17/20,
``S = 1 if x >= 0 else 0`` with ``x = V - V_th``. The backward pass replaces the
step's zero-almost-everywhere derivative by the derivative of a smooth function:

* :func:`atan` -- Eq. 18, ``S ~ 1/pi * arctan(pi * x * alpha / 2) + 1/2``.
  Its true derivative is ``(alpha / 2) / (1 + (pi * x * alpha / 2) ** 2)``.
  **Eq. 19 as printed** reads ``1/pi * 1 / (1 + (pi x a / 2)^2)``: the factor
  ``a/2`` (chain rule) became ``1/pi``. We implement the true derivative, which
  is also what snnTorch's ``surrogate.atan`` computes; :func:`paper_eq19` keeps
  the printed form so the book can plot the difference.
* :func:`fast_sigmoid` -- Eq. 21, ``S ~ x / (1 + k |x|)``. Its true derivative
  is ``1 / (1 + k |x|) ** 2``. **Eq. 22 as printed** reads
  ``x / (1 + k |x|)^2``, which is odd in ``x`` (negative gradients below the
  threshold) and zero at the threshold; :func:`paper_eq22` keeps it for plots.

A surrogate is a small frozen object: call it on ``x`` to get spikes with the
surrogate backward, or ask for ``.smooth(x)`` / ``.grad(x)`` directly. ``.grad`` is the one
Python definition of each derivative: the torch-op LIF backward calls it, and the C++ and Triton
kernels (:mod:`avsnn.core.kernels`) are tested against it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

__all__ = [
    "Surrogate",
    "atan",
    "fast_sigmoid",
    "paper_eq19",
    "paper_eq22",
    "heaviside",
    "from_name",
    "KINDS",
]

KINDS = ("atan", "fast_sigmoid")
"""The surrogate kinds, in the order of their kernel codes (:mod:`avsnn.core.kernels.codes`)."""


def heaviside(x: torch.Tensor) -> torch.Tensor:
    """Eq. 17/20: ``1`` where ``x >= 0`` (the paper's ``V >= V_th``), else ``0``."""
    return (x >= 0).to(x.dtype)


class _SpikeFn(torch.autograd.Function):
    """Heaviside forward, ``surrogate.grad`` backward."""

    @staticmethod
    def forward(ctx, x, surrogate):
        ctx.save_for_backward(x)
        ctx.surrogate = surrogate
        return heaviside(x)

    @staticmethod
    def backward(ctx, grad_out):
        (x,) = ctx.saved_tensors
        return grad_out * ctx.surrogate.grad(x), None


@dataclass(frozen=True)
class Surrogate:
    """A named surrogate: ``kind`` is ``"atan"`` or ``"fast_sigmoid"``, ``scale`` is alpha or k."""

    kind: str
    scale: float

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"surrogate kind must be one of {KINDS}, got {self.kind!r}")
        if not (isinstance(self.scale, (int, float)) and self.scale > 0):
            raise ValueError(f"surrogate scale (alpha/slope) must be a positive number, got {self.scale!r}")

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Heaviside spikes of ``x`` (Eq. 17) in the forward pass, :meth:`grad` in the backward pass."""
        return _SpikeFn.apply(x, self)

    def smooth(self, x: torch.Tensor) -> torch.Tensor:
        """The smooth function whose derivative is the surrogate (Eq. 18 or Eq. 21)."""
        if self.kind == "atan":
            return torch.atan(math.pi * x * self.scale / 2) / math.pi + 0.5
        return x / (1 + self.scale * x.abs())

    @property
    def constants(self) -> tuple[float, float]:
        """``(k, c)`` of :meth:`grad`.

        atan: ``k = pi alpha / 2``, ``c = alpha / 2``; fast sigmoid: ``k`` = slope, ``c = 1``. The
        compiled LIF kernels take these two numbers.
        """
        if self.kind == "atan":
            return math.pi * self.scale / 2, self.scale / 2
        return float(self.scale), 1.0

    def grad(self, x: torch.Tensor) -> torch.Tensor:
        """True derivative of :meth:`smooth` (the corrected Eq. 19 / Eq. 22).

        With ``(k, c)`` = :attr:`constants`: atan ``c / (1 + (k x)^2)``, fast sigmoid
        ``c / (1 + k |x|)^2``.
        """
        k, c = self.constants
        if self.kind == "atan":
            return c / (1 + (k * x) ** 2)
        return c / (1 + k * x.abs()) ** 2

    @property
    def name(self) -> str:
        """Short name with the parameter, e.g. ``atan(alpha=2)``."""
        param = "alpha" if self.kind == "atan" else "slope"
        return f"{self.kind}({param}={self.scale:g})"


def atan(alpha: float = 2.0) -> Surrogate:
    """Arctan surrogate (Eq. 18, derivative = corrected Eq. 19); the paper's vision networks."""
    return Surrogate("atan", float(alpha))


def fast_sigmoid(slope: float = 5.0) -> Surrogate:
    """Fast-sigmoid surrogate (Eq. 21, derivative = corrected Eq. 22); the paper's audio network, k = 5."""
    return Surrogate("fast_sigmoid", float(slope))


def from_name(name: str, scale: float | None = None) -> Surrogate:
    """Build a surrogate from a config string: ``"atan"`` or ``"fast_sigmoid"``."""
    if name not in KINDS:
        raise ValueError(f"surrogate must be one of {KINDS}, got {name!r}")
    make = atan if name == "atan" else fast_sigmoid
    return make() if scale is None else make(scale)


def paper_eq19(x: torch.Tensor, alpha: float = 2.0) -> torch.Tensor:
    """Eq. 19 exactly as printed in the paper (a typo: the ``alpha/2`` factor reads ``1/pi``)."""
    return (1 / math.pi) / (1 + (math.pi * x * alpha / 2) ** 2)


def paper_eq22(x: torch.Tensor, slope: float = 5.0) -> torch.Tensor:
    """Eq. 22 exactly as printed in the paper (a typo: the numerator should be ``1``, not ``V``)."""
    return x / (1 + slope * x.abs()) ** 2
