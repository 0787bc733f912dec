"""Output heads: features ``[T, B, d]`` -> class spikes ``[T, B, C]`` (Section IV-B/C, Figs. 2, 4, 5).

* ``"l2"`` -- the paper's L2 layer: time-average the features (Eq. 10), cosine logits
  between the normalised feature and the normalised class weights (Eqs. 11-13), the
  logits are the constant input current of the output LIF at every timestep.
* ``"fc"`` -- the "vanilla SNN" head: a plain ``nn.Linear`` applied to the features at
  every timestep, its output is the current of the output LIF.
"""

from __future__ import annotations

import torch
from torch import nn

from ..core import surrogate as sg
from ..core.l2 import L2Classifier
from .layers import NeuronFactory, SeqToANN, neuron_factory
from .output import ModelOutput

HEADS = ("l2", "fc")


def check_head(head: str) -> str:
    """``head`` when it is one of :data:`HEADS`, else a ``ValueError``."""
    if head not in HEADS:
        raise ValueError(f"head must be one of {HEADS}, got {head!r}")
    return head


class SpikingHead(nn.Module):
    """Classifier + output LIF layer; ``forward(features [T, B, d]) -> ModelOutput``.

    ``head=`` (the name of the run-config field) picks the classifier; it is kept as
    :attr:`kind`, one of :data:`HEADS` (a model's ``head`` attribute is this module).
    The output layer is ``neuron()`` when a factory is given, else a LIF with ``beta``, ``threshold``, ``surrogate``.
    """

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        head: str = "l2",
        beta: float = 0.9,
        threshold: float = 1.0,
        surrogate: sg.Surrogate | None = None,
        neuron: NeuronFactory | None = None,
    ):
        super().__init__()
        self.kind = check_head(head)  # the classifier kind, one of HEADS
        if in_features < 1 or num_classes < 2:
            raise ValueError(
                f"SpikingHead needs in_features >= 1 and num_classes >= 2, "
                f"got in_features={in_features}, num_classes={num_classes}"
            )
        self.in_features, self.num_classes = in_features, num_classes
        if head == "l2":
            self.classifier = L2Classifier(in_features, num_classes)
        else:
            self.classifier = SeqToANN(nn.Linear(in_features, num_classes))
        self.output_lif = neuron_factory(neuron, beta, threshold, surrogate)()

    def extra_repr(self) -> str:
        """The head kind shown by ``repr``."""
        return f"kind={self.kind!r}"

    def forward(self, features: torch.Tensor) -> ModelOutput:
        """Features ``[T, B, d]`` -> ``ModelOutput``: the output LIF layer's spikes, driven by the classifier."""
        if features.dim() != 3 or features.shape[-1] != self.in_features:
            raise ValueError(
                f"SpikingHead expects features [T, B, {self.in_features}], got shape {tuple(features.shape)}"
            )
        if self.kind == "l2":
            logits, z_av = self.classifier(features, return_features=True)
            current = logits.unsqueeze(0).expand(features.shape[0], *logits.shape)
        else:
            current = self.classifier(features)
            z_av = features.mean(dim=0)
        spikes = self.output_lif(current)
        return ModelOutput(spikes=spikes, features=features, z_av=z_av, current=current)
