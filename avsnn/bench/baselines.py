"""The networks the benchmark compares, all made from one :class:`~avsnn.models.L2ActSpikeNet`.

:func:`ann_twin` (every LIF -> ``nn.ReLU``), :func:`loop_twin` (every LIF on the per-step autograd
loop) and :class:`SnnTorchStyleResNet` (the same layers stepped over time the snnTorch way);
:func:`build_networks` makes all of :data:`NETWORKS` from one model.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

# The benchmark's only imports of avsnn.core: the other bench modules take these names from here.
from ..core.kernels import fallbacks, resolve_backend
from ..core.lif import LIF, set_backend, used_backends
from ..core.loss import mse_count_loss
from ..models.layers import SeqToANN
from ..models.output import ModelOutput
from ..models.twin import ann_twin  # the ANN floor: every LIF -> nn.ReLU (the training engine's twin)

__all__ = [
    "NETWORKS",
    "build_networks",
    "ann_twin",
    "loop_twin",
    "SnnTorchStyleResNet",
    "lif_backend",
    "fallbacks",
    "set_backend",
    "used_backends",
    "LIF",
    "mse_count_loss",
]


def loop_twin(model: nn.Module) -> nn.Module:
    """A deep copy of ``model`` whose LIF layers use the reference per-step autograd loop."""
    return set_backend(copy.deepcopy(model), "loop")


def _static(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Run a (possibly :class:`SeqToANN`-wrapped) stateless module on a time-free ``[B, ...]`` batch."""
    if isinstance(module, SeqToANN):
        return module.forward_static(x)
    return module(x)


def _leaky_like(lif: LIF):
    import snntorch  # the baseline's library, needed only here
    import snntorch.surrogate as snn_sg

    s = lif.surrogate
    if s.kind == "atan":
        spike_grad = snn_sg.atan(alpha=s.scale)
    else:
        spike_grad = snn_sg.fast_sigmoid(slope=s.scale)
    return snntorch.Leaky(
        beta=float(lif.beta), threshold=float(lif.threshold), spike_grad=spike_grad, reset_mechanism=lif.reset
    )


class SnnTorchStyleResNet(nn.Module):
    """``L2ActSpikeNet`` (``block="act_after_add"``) written the snnTorch way, on the same layers.

    Wraps the stateless modules of ``model`` (shared, not copied: deep-copy the model first for
    independent weights) and replaces each :class:`LIF` by an ``snntorch.Leaky`` with the same
    beta, threshold, reset and surrogate. ``forward(x [B, C, H, W])`` loops over ``T``: at every
    step the stem conv, every block (conv / BN / shortcut on ``[B, ...]``, one ``Leaky`` call per
    neuron layer with its membrane carried explicitly) and the pool run once; the time-averaged
    features then go through the head's classifier and its output ``Leaky`` is stepped over ``T``.

    It computes the same function as the avsnn model except (a) snnTorch fires on ``V > thr``
    where avsnn fires on ``V >= thr`` (they differ only on exact ties) and (b) in training mode
    each per-step BatchNorm call normalises over ``B`` samples of one step (the snnTorch idiom)
    instead of ``T*B`` samples of all steps; in eval mode (running statistics) the two agree.
    Returns a :class:`~avsnn.models.ModelOutput`.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        if getattr(model, "block", None) != "act_after_add":
            raise ValueError("SnnTorchStyleResNet mirrors L2ActSpikeNet(block='act_after_add') only")
        self.net = model
        self.timesteps = model.timesteps
        # One Leaky per LIF, keyed by the LIF's qualified name (kept in a ModuleDict for .to()).
        self.leaky = nn.ModuleDict(
            {name.replace(".", "__"): _leaky_like(m) for name, m in model.named_modules() if isinstance(m, LIF)}
        )
        ref = next(model.parameters(), None)
        if ref is not None:
            self.leaky.to(device=ref.device, dtype=ref.dtype)

    def _neuron(self, name: str):
        return self.leaky[name.replace(".", "__")]

    def _step_lif(self, name: str, cur: torch.Tensor, state: dict) -> torch.Tensor:
        mem = state.get(name)
        if mem is None:
            mem = torch.zeros_like(cur)
        spk, state[name] = self._neuron(name)(cur, mem)
        return spk.to(cur.dtype)  # snnTorch's surrogate returns float32 spikes; no-op for float32

    def forward(self, x: torch.Tensor):
        """Image ``[B, C, H, W]`` -> ``ModelOutput``, one timestep at a time, membranes in a dict (the snnTorch way)."""
        net = self.net
        state: dict = {}
        features = []
        for _ in range(self.timesteps):
            out = self._step_lif("stem.lif", _static(net.stem.conv, x), state)
            out = _static(net.stem.bn, out)
            for stage in ("layer1", "layer2", "layer3", "layer4"):
                for i, blk in enumerate(getattr(net, stage)):
                    pre = f"{stage}.{i}."
                    h = self._step_lif(pre + "lif1", _static(blk.conv1, out), state)
                    h = _static(blk.bn2, _static(blk.conv2, _static(blk.bn1, h)))
                    out = self._step_lif(pre + "lif_out", h + _static(blk.shortcut, out), state)
            features.append(_static(net.pool, out))
        features = torch.stack(features)
        head = net.head
        if head.kind == "l2":
            logits, z_av = head.classifier(features, return_features=True)
            per_step = [logits] * self.timesteps
            current = logits.unsqueeze(0).expand(self.timesteps, *logits.shape)
        else:
            per_step = [_static(head.classifier, f) for f in features]
            current = torch.stack(per_step)
            z_av = features.mean(dim=0)
        spikes = torch.stack([self._step_lif("head.output_lif", c, state) for c in per_step])
        return ModelOutput(spikes=spikes, features=features, z_av=z_av, current=current)


_MAKERS = {
    "avsnn": lambda model: model,
    "ann": ann_twin,
    "snntorch": lambda model: SnnTorchStyleResNet(copy.deepcopy(model)),
    "loop": loop_twin,
}
NETWORKS = tuple(_MAKERS)  # the networks timed, in table order


def build_networks(model: nn.Module) -> dict:
    """``{name: network}`` for every name in :data:`NETWORKS`; ``"avsnn"`` is ``model`` itself."""
    return {name: make(model) for name, make in _MAKERS.items()}


def lif_backend(x: torch.Tensor, amp: bool, requested: str = "auto") -> str:
    """The LIF backend ``requested`` resolves to on ``x``'s device (bf16 under ``amp``).

    An explicit backend that cannot run there raises :class:`~avsnn.core.kernels.BackendUnavailable`.
    """
    dtype = torch.bfloat16 if amp else x.dtype
    return resolve_backend(torch.empty(0, device=x.device, dtype=dtype), requested)
