"""The spiking core: LIF neuron and its kernels, surrogate gradients, L2 layer, spike-count loss, lemmas."""

from . import surrogate
from .kernels import lif_fused
from .l2 import L2Classifier, cosine_logits, time_average
from .lemmas import lemma1_first_step_winner, lemma2_membrane
from .lif import LIF, lif_loop
from .loss import count_targets, mse_count_loss

__all__ = [
    "LIF",
    "lif_loop",
    "lif_fused",
    "surrogate",
    "L2Classifier",
    "cosine_logits",
    "time_average",
    "mse_count_loss",
    "count_targets",
    "lemma2_membrane",
    "lemma1_first_step_winner",
]
