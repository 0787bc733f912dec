"""SMLP: the spiking multilayer perceptron that fuses the modalities (Section IV-E, Fig. 5).

Inputs are per-modality feature vectors ``[B, d_m]`` from the frozen unimodal networks
(their time-averaged features ``z_av``: the 512-d visual one and the 27136-d flattened audio
one). Layout::

    per modality: optional Linear(d_m -> project_dim)     ("common latent space")
    concatenate   -> [B, sum d]                           (27648-d without projection)
    BatchNorm1d                                           ("smooth the distributions")
    repeat over T (direct encoding)
    for h in hidden: Linear -> BN -> LIF                  ("LIF, linear and BN layers")
    SpikingHead   ("fc": Linear -> output LIF; or "l2")

The first hidden Linear+BN is stateless and its input is the same at every step, so it runs
once on ``[B, ...]`` and is broadcast over T (exact, including the BN statistics).

Where the paper is ambiguous, and what we chose:

* **Projection.** The text says the embeddings are fed "into a common latent space using
  linear projection layers" but then concatenates the raw 512 + 27136 = 27648-d features.
  Default ``project_dim=None``: no projection, concatenate the raw features (the stated
  27648-d); ``project_dim=k`` adds one ``Linear(d_m, k)`` per modality.
* **Hidden sizes.** Not given; default one hidden layer of 512 (``hidden=(512,)``); any tuple,
  including ``()`` (BN'd input straight into the output layer).
* **Per-step or averaged inputs.** Not stated; we take one ``[B, d_m]`` vector per modality
  (the Eq. 10 time average the unimodal networks expose) and repeat it over T.
* **Output layer.** Fig. 5 shows a plain output layer with the MSE spike-count loss; default
  ``head="fc"`` (Linear -> output LIF); ``head="l2"`` uses the L2 layer instead.

Single-modality baselines are this class with one input (:func:`smlp_baseline`).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import torch
from torch import nn

from ..core import surrogate as sg
from .heads import SpikingHead, check_head
from .layers import NeuronFactory, SeqToANN, check_timesteps, neuron_factory, repeat_over_time
from .output import ModelOutput


class SpikingLinearLayer(nn.Module):
    """One hidden SMLP layer: Linear -> BatchNorm1d -> LIF."""

    def __init__(self, in_features: int, out_features: int, neuron: NeuronFactory):
        super().__init__()
        self.fc_bn = SeqToANN(nn.Linear(in_features, out_features), nn.BatchNorm1d(out_features))
        self.lif = neuron()

    def forward(self, x: torch.Tensor, timesteps: int | None = None) -> torch.Tensor:
        """``x [T, B, d]``; or static ``[B, d]`` with ``timesteps`` (Linear+BN once, broadcast)."""
        if timesteps is None:
            return self.lif(self.fc_bn(x))
        return self.lif(repeat_over_time(self.fc_bn.forward_static(x), timesteps))


class SMLP(nn.Module):
    """Spiking MLP fusion network (Fig. 5): ``forward({modality: [B, d_m]}) -> ModelOutput``.

    Every spiking layer, the head's output layer included, is made by ``neuron`` (default: a LIF with
    ``beta``, ``threshold``, ``surrogate``, see :func:`~avsnn.models.layers.neuron_factory`). Surrogate
    default: ``atan(2)``.
    """

    def __init__(
        self,
        input_dims: Mapping[str, int],
        num_classes: int = 10,
        timesteps: int = 8,
        hidden: Sequence[int] = (512,),
        project_dim: int | None = None,
        beta: float = 0.9,
        threshold: float = 1.0,
        surrogate: sg.Surrogate | None = None,
        head: str = "fc",
        neuron: NeuronFactory | None = None,
    ):
        super().__init__()
        if not isinstance(input_dims, Mapping) or len(input_dims) == 0:
            raise ValueError(f"input_dims must be a non-empty dict {{modality: feature size}}, got {input_dims!r}")
        for name, dim in input_dims.items():
            if not isinstance(name, str) or not name or "." in name:
                raise ValueError(f"input_dims keys must be non-empty strings without '.', got {name!r}")
            if not isinstance(dim, int) or dim < 1:
                raise ValueError(f"input_dims[{name!r}] must be a positive int, got {dim!r}")
        if project_dim is not None and project_dim < 1:
            raise ValueError(f"project_dim must be None or a positive int, got {project_dim!r}")
        hidden = tuple(int(h) for h in hidden)
        if any(h < 1 for h in hidden):
            raise ValueError(f"hidden sizes must be positive ints, got {hidden}")
        check_head(head)
        self.timesteps = check_timesteps(timesteps)
        self.input_dims = dict(input_dims)
        self.modalities = tuple(input_dims)
        surrogate = sg.atan(2.0) if surrogate is None else surrogate
        neuron = neuron_factory(neuron, beta, threshold, surrogate)

        self.projections = nn.ModuleDict(
            {name: nn.Linear(dim, project_dim) if project_dim else nn.Identity() for name, dim in input_dims.items()}
        )
        fused_dim = project_dim * len(input_dims) if project_dim else sum(input_dims.values())
        self.fused_dim = fused_dim
        self.input_bn = nn.BatchNorm1d(fused_dim)
        layers, width = [], fused_dim
        for h in hidden:
            layers.append(SpikingLinearLayer(width, h, neuron))
            width = h
        self.hidden = nn.ModuleList(layers)
        self.feature_dim = width
        self.head = SpikingHead(width, num_classes, head, beta, threshold, surrogate, neuron=neuron)

    def _check_inputs(self, features: Mapping[str, torch.Tensor]) -> None:
        if not isinstance(features, Mapping) or set(features) != set(self.modalities):
            got = sorted(features) if isinstance(features, Mapping) else type(features).__name__
            raise ValueError(f"SMLP expects a dict with keys {list(self.modalities)}, got {got}")
        batch = None
        for name in self.modalities:
            x, dim = features[name], self.input_dims[name]
            if x.dim() != 2 or x.shape[1] != dim:
                raise ValueError(f"features[{name!r}] must be shaped [B, {dim}], got {tuple(x.shape)}")
            if batch is not None and x.shape[0] != batch:
                raise ValueError(f"all modalities need the same batch size, got {x.shape[0]} and {batch}")
            batch = x.shape[0]

    def fuse(self, features: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Project (optional), concatenate and batch-normalise: ``[B, fused_dim]``."""
        self._check_inputs(features)
        fused = torch.cat([self.projections[name](features[name]) for name in self.modalities], dim=1)
        return self.input_bn(fused)

    def forward_features(self, features: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Per-timestep last-hidden features ``[T, B, feature_dim]``."""
        x = self.fuse(features)
        if not self.hidden:
            return repeat_over_time(x, self.timesteps)
        out = self.hidden[0](x, timesteps=self.timesteps)
        for layer in self.hidden[1:]:
            out = layer(out)
        return out

    def forward(self, features: Mapping[str, torch.Tensor]) -> ModelOutput:
        """Features ``{modality: [B, d_m]}`` -> the head's ``ModelOutput``."""
        return self.head(self.forward_features(features))


def smlp_baseline(modality: str, dim: int, **kwargs) -> SMLP:
    """Single-modality SMLP baseline, e.g. ``smlp_baseline("vision", 512)``."""
    return SMLP({modality: dim}, **kwargs)
