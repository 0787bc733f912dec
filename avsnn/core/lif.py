r"""Multi-step leaky integrate-and-fire layer (paper Eqs. 1, 2 and 17).

Dynamics, for :math:`t = 1..T` with :math:`V[0] = 0` and :math:`S[0] = 0`:

.. math::

    V[t] &= \beta\, V[t-1] + I[t] - \text{reset term}   \qquad \text{(Eq. 1)} \\
    S[t] &= H(V[t] - V_{th}), \text{ i.e. fires when } V[t] \ge V_{th}   \qquad \text{(Eq. 17)}

Reset term, driven by the *previous* step's spike (detached from the graph, as
in snnTorch's ``Leaky`` with its default ``reset_delay=True``):

* ``"subtract"``: :math:`- V_{th}\, S[t-1]`                 (snnTorch default)
* ``"zero"``:     :math:`V[t] = \beta\, (1 - S[t-1])\, V[t-1] + I[t]`
* ``"none"``:     no reset: the non-resetting membrane used by Lemma 2 (Eq. 8)

The returned membrane is the value compared with the threshold (before the next
step's reset), which is what ``snntorch.Leaky`` returns.

**Tie rule.** The paper's Eq. 2 writes ``V > V_th`` and Eq. 17 ``V >= V_th``; we
follow Eq. 17 (``>=``). snnTorch uses ``>``. The two differ only when ``V`` equals
the threshold exactly, which has probability zero for real-valued inputs.

**Multi-step.** Input currents are ``[T, B, ...]``; stateless layers before the
neuron run on all ``T*B`` samples at once and only this layer scans over ``T``.
The state lives inside the call (no hidden ``mem`` attribute), so identical calls
give identical results and nested models need no reset.

**Backends.** ``backend=`` names the code that runs the scan, all computing the same
function: ``"loop"`` is the readable reference :func:`lif_loop` (one autograd node per
step); ``"cpp"`` (CPU), ``"triton"`` (CUDA) and ``"torch"`` (any device) run the whole
scan as one autograd node with a hand-written backward (:mod:`avsnn.core.kernels`).
``"auto"`` (default) takes the first of :func:`supported_backends` for the input's device
and dtype and reports once when it has to fall back; an explicit backend that cannot run
raises :class:`~avsnn.core.kernels.BackendUnavailable`. The environment switches
``AVSNN_FUSED_CPP=0`` and ``AVSNN_FUSED_TRITON=0`` turn a kernel off (for ``auto`` too).
"""

from __future__ import annotations

import torch
from torch import nn

from . import surrogate as sg
from .kernels import BACKENDS, RESETS, lif_fused, lif_loop, resolve_backend, supported_backends

__all__ = ["BACKENDS", "LIF", "RESETS", "lif_loop", "set_backend", "supported_backends", "used_backends"]


def _check_unit_interval(name: str, value: float) -> None:
    if not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"LIF {name} must lie in [0, 1] (Eq. 1: beta is a decay rate), got {value}")


class LIF(nn.Module):
    """Multi-step LIF layer: currents ``[T, B, ...]`` -> spikes ``[T, B, ...]``.

    Parameters
    ----------
    beta : membrane decay rate in ``[0, 1]`` (Eq. 1).
    threshold : firing threshold ``V_th > 0`` (Eq. 17).
    reset : ``"subtract"`` (default), ``"zero"`` or ``"none"``.
    surrogate : a :class:`avsnn.surrogate.Surrogate` (default ``atan(alpha=2)``).
    learn_beta, learn_threshold : make beta / threshold trainable scalars.
        A learnt beta is clamped to ``[0, 1]`` in the forward pass, as in snnTorch.
    backend : ``"auto"`` (default), ``"cpp"``, ``"triton"``, ``"torch"`` or ``"loop"`` (see the
        module docstring). The one that ran last is :attr:`last_backend`.
    """

    def __init__(
        self,
        beta: float = 0.9,
        threshold: float = 1.0,
        reset: str = "subtract",
        surrogate: sg.Surrogate | None = None,
        learn_beta: bool = False,
        learn_threshold: bool = False,
        backend: str = "auto",
    ):
        super().__init__()
        _check_unit_interval("beta", beta)
        if not float(threshold) > 0:
            raise ValueError(f"LIF threshold must be > 0, got {threshold}")
        if reset not in RESETS:
            raise ValueError(f"LIF reset must be one of {RESETS}, got {reset!r}")
        if backend not in BACKENDS:
            raise ValueError(f"LIF backend must be one of {BACKENDS}, got {backend!r}")
        surrogate = sg.atan() if surrogate is None else surrogate
        if not isinstance(surrogate, sg.Surrogate):
            raise TypeError(f"LIF surrogate must be an avsnn.surrogate.Surrogate, got {type(surrogate).__name__}")
        self.reset, self.surrogate, self.backend = reset, surrogate, backend
        self.last_backend: str | None = None  # the concrete backend of the latest call
        beta_t = torch.tensor(float(beta))
        thr_t = torch.tensor(float(threshold))
        if learn_beta:
            self.beta = nn.Parameter(beta_t)
        else:
            self.register_buffer("beta", beta_t)
        if learn_threshold:
            self.threshold = nn.Parameter(thr_t)
        else:
            self.register_buffer("threshold", thr_t)

    def extra_repr(self) -> str:
        """The neuron's parameters shown by ``repr``."""
        return (
            f"beta={float(self.beta):.3g}, threshold={float(self.threshold):.3g}, "
            f"reset={self.reset!r}, surrogate={self.surrogate.name}, backend={self.backend!r}"
        )

    def forward(self, current: torch.Tensor, return_mem: bool = False):
        """Eqs. 1 and 17 over time: ``current [T, B, ...] -> spikes``; ``(spikes, membrane)`` with ``return_mem``."""
        if current.dim() < 2:
            raise ValueError(
                f"LIF expects input current shaped [T, B, ...] (time first), got shape {tuple(current.shape)}"
            )
        beta = self.beta.clamp(0, 1)
        threshold = self.threshold
        spikes, mem = lif_fused(current, beta, threshold, self.reset, self.surrogate, self.backend)
        self.last_backend = resolve_backend(current, self.backend)  # after the call: a fallback in it counts
        return (spikes, mem) if return_mem else spikes


def set_backend(model: nn.Module, backend: str) -> nn.Module:
    """Set ``backend`` on every :class:`LIF` layer of ``model`` (in place); returns ``model``."""
    if backend not in BACKENDS:
        raise ValueError(f"LIF backend must be one of {BACKENDS}, got {backend!r}")
    for m in model.modules():
        if isinstance(m, LIF):
            m.backend = backend
    return model


def set_learnable(model: nn.Module, beta: bool = False, threshold: bool = False) -> nn.Module:
    """Make ``beta`` and/or ``threshold`` of every :class:`LIF` of ``model`` a trainable scalar (in place).

    The same as building each layer with ``learn_beta`` / ``learn_threshold`` (snnTorch's flags of the same
    names): the buffer becomes an ``nn.Parameter`` of the same name and value, so a state dict loads either way.
    Call it before the optimiser is made. Returns ``model``.
    """
    for m in model.modules():
        if isinstance(m, LIF):
            for name in [n for n, on in (("beta", beta), ("threshold", threshold)) if on]:
                if name in m._buffers:
                    setattr(m, name, nn.Parameter(m._buffers.pop(name).detach().clone()))
    return model


def used_backends(model: nn.Module) -> str | None:
    """The concrete backends that ran ``model``'s LIF layers last (``"cpp"``, ``"cpp+torch"`` ...).

    ``None`` when no LIF layer has run (or the model has none, e.g. the ANN twin).
    """
    names = sorted({m.last_backend for m in model.modules() if isinstance(m, LIF) and m.last_backend})
    return "+".join(names) or None
