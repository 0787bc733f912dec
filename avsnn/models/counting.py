"""Parameter, MAC and synaptic-operation (SOP) counts, and LIF firing rates.

Counting convention (all numbers are **per sample**, for one full forward over T steps):

* **MACs** -- multiply-accumulates of every ``nn.Conv2d`` / ``nn.Linear`` (``out elements x
  in_channels/groups x kernel area``, padding included, bias ignored) plus the cosine of the
  L2 layer (``d x C``, computed once on the time-averaged feature). A layer wrapped in
  :class:`SeqToANN` is a per-step layer: its per-step MACs count ``T`` times. That includes
  the first layer computed once and broadcast over T (the direct-encoding shortcut): it is
  counted as if run every step, the usual SNN convention, so the shortcut is not a "saving".
  Layers outside ``SeqToANN`` (the SMLP projections, the L2 layer) run once per sample and
  count once.
* **SOPs** -- for a layer whose input is spikes (every element 0 or 1), ``MACs x`` the input
  firing rate (an accumulate happens only where a spike arrives); for any other input
  (the image, batch-normalised spikes, pooled averages, dropout-scaled spikes, sums of two
  spike trains) the layer counts its full MACs. So ``SOPs <= MACs``.
* **SOPs with BN folded** (``sops_folded``) -- in the paper's LIF->BN order the next layer sees
  batch-normalised spikes ``gamma * (s - mu) / sigma + beta``, a per-channel affine map of binary
  spikes. At inference that affine map folds into the next layer (its weights scaled per input
  channel, the rest a constant bias), which then receives the spikes themselves: that layer costs
  its MACs times the firing rate of the spikes *before* the BN. (At zero-padded borders the
  folded layer differs by a constant term that costs no synaptic operation.)
* **firing_rates** -- the mean output of each LIF module (spikes per neuron per step), keyed
  by its ``named_modules`` name.

``count_ops`` runs in eval mode (no dropout, BN running stats) under ``torch.no_grad`` and
restores the training flag, so it is deterministic and leaves the model unchanged.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import torch
from torch import nn

from ..core.l2 import L2Classifier
from ..core.lif import LIF
from .layers import SeqToANN


@dataclass
class OpCounts:
    """Counts per sample for one forward over T (see the module docstring)."""

    params: int
    macs: float
    sops: float
    firing_rates: dict[str, float]
    layer_macs: dict[str, float] = field(default_factory=dict)
    layer_sops: dict[str, float] = field(default_factory=dict)
    sops_folded: float = 0.0
    layer_sops_folded: dict[str, float] = field(default_factory=dict)
    timesteps: int = 1
    per_step_layers: frozenset = frozenset()  # layer names whose MACs count T times

    @property
    def one_pass_macs(self) -> float:
        """MACs of the same architecture run once, as an ANN would: per-step layers count once."""
        if not self.layer_macs:
            return self.macs
        return float(sum(m / self.timesteps if k in self.per_step_layers else m for k, m in self.layer_macs.items()))


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (each shared tensor once); ``trainable_only`` skips frozen ones."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def _macs_per_item(module: nn.Module, out: torch.Tensor) -> int:
    """MACs for one leading-dim item of the call (one sample-step inside SeqToANN)."""
    if isinstance(module, nn.Conv2d):
        kh, kw = module.kernel_size
        return out[0].numel() * (module.in_channels // module.groups) * kh * kw
    if isinstance(module, nn.Linear):
        return module.in_features * module.out_features
    if isinstance(module, L2Classifier):
        return module.in_features * module.num_classes
    raise TypeError(type(module).__name__)


def _items_in_call(module: nn.Module, out: torch.Tensor) -> int:
    if isinstance(module, nn.Linear):
        return out.numel() // module.out_features
    return out.shape[0]


def _is_spikes(x: torch.Tensor) -> bool:
    return bool(((x == 0) | (x == 1)).all())


def _first_tensor(obj):
    if isinstance(obj, torch.Tensor):
        return obj
    if isinstance(obj, dict):
        obj = list(obj.values())
    if isinstance(obj, (list, tuple)):
        for item in obj:
            found = _first_tensor(item)
            if found is not None:
                return found
    return None


def count_ops(model: nn.Module, *inputs) -> OpCounts:
    """Run ``model(*inputs)`` once with hooks; return :class:`OpCounts` (per-sample counts)."""
    first = _first_tensor(inputs)
    if first is None:
        raise ValueError("count_ops needs at least one tensor input (to know the batch size)")
    batch = first.shape[0]
    timesteps = int(getattr(model, "timesteps", 1))
    per_step = {m for s in model.modules() if isinstance(s, SeqToANN) for m in s.modules()}

    macs: dict[str, float] = defaultdict(float)
    sops: dict[str, float] = defaultdict(float)
    folded: dict[str, float] = defaultdict(float)
    # BN outputs whose input was spikes: data_ptr -> (numel, sum, input firing rate); numel and sum
    # tell the same tensor (or a view of it) from a later one allocated at a freed address
    bn_of_spikes: dict[int, tuple] = {}

    def folded_rate(x: torch.Tensor) -> float:
        seen = bn_of_spikes.get(x.data_ptr())
        if seen is None or seen[0] != x.numel() or seen[1] != float(x.sum()):
            return 1.0
        return seen[2]

    stepped: set = set()
    rates: dict[str, list[float]] = defaultdict(list)
    handles = []

    def count_hook(name):
        def hook(module, args, out):
            x = args[0]
            if isinstance(out, tuple):
                out = out[0]
            if module in per_step:
                layer_macs = _macs_per_item(module, out) * timesteps
                stepped.add(name)
            else:
                layer_macs = _macs_per_item(module, out) * _items_in_call(module, out) / batch
            rate = float(x.float().mean()) if _is_spikes(x) else 1.0
            macs[name] += layer_macs
            sops[name] += layer_macs * rate
            folded[name] += layer_macs * (rate if rate < 1.0 else folded_rate(x))

        return hook

    def bn_hook(module, args, out):
        if _is_spikes(args[0]):
            bn_of_spikes[out.data_ptr()] = (out.numel(), float(out.sum()), float(args[0].float().mean()))

    def lif_hook(name):
        def hook(module, args, out):
            spikes = out[0] if isinstance(out, tuple) else out
            rates[name].append(float(spikes.float().mean()))

        return hook

    for name, module in model.named_modules():
        if isinstance(module, (nn.Conv2d, nn.Linear, L2Classifier)):
            handles.append(module.register_forward_hook(count_hook(name)))
        elif isinstance(module, LIF):
            handles.append(module.register_forward_hook(lif_hook(name)))
        elif isinstance(module, nn.modules.batchnorm._BatchNorm):
            handles.append(module.register_forward_hook(bn_hook))

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(*inputs)
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()

    return OpCounts(
        params=count_parameters(model),
        macs=float(sum(macs.values())),
        sops=float(sum(sops.values())),
        firing_rates={k: sum(v) / len(v) for k, v in rates.items()},
        layer_macs=dict(macs),
        layer_sops=dict(sops),
        sops_folded=float(sum(folded.values())),
        layer_sops_folded=dict(folded),
        timesteps=timesteps,
        per_step_layers=frozenset(stepped),
    )
