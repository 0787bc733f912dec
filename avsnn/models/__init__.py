"""The paper's networks and their ablation variants (Section IV-C/D/E, Table III).

* :class:`L2ActSpikeNet` -- spiking ResNet18 visual network (Section IV-C, Figs. 2-3), built from a
  :class:`SpikingBasicBlock` family; :func:`l2_actspikenet` and one builder per ablation block.
* :class:`SpikingAudioNet` -- Conv-BN-LIF-Pool audio network (Section IV-D, Fig. 4).
* :class:`SMLP` -- spiking MLP fusion network (Section IV-E, Fig. 5); :func:`smlp_baseline`.
* :func:`ann_twin` -- the same network with ReLU in place of every LIF (the ANN yardstick).

Every model maps its input to a :class:`ModelOutput` of time-first ``[T, B, ...]`` tensors and takes
``neuron=``, the factory of its spiking layers (default: the LIF of its ``beta``, ``threshold``, ``surrogate``).
"""

from .audio import AUDIO_VARIANTS, PAPER_AUDIO_CONFIG, ConvBNLIFPool, SpikingAudioNet
from .counting import OpCounts, count_ops, count_parameters
from .fusion import SMLP, SpikingLinearLayer, smlp_baseline
from .heads import HEADS, SpikingHead
from .layers import BandNorm, ImageNorm, InputNorm, SeqToANN, repeat_over_time
from .output import ModelOutput
from .resnet import (
    VISION_BLOCKS,
    ActAfterAddBlock,
    L2ActSpikeNet,
    LIFAfterBNBlock,
    LIFBeforeAddBlock,
    SpikingBasicBlock,
    SpikingStem,
    l2_actspikenet,
    lif_after_bn_resnet18,
    lif_before_add_resnet18,
)
from .twin import ann_twin, replace_lifs

__all__ = [
    "ModelOutput",
    "SeqToANN",
    "BandNorm",
    "ImageNorm",
    "InputNorm",
    "repeat_over_time",
    "ann_twin",
    "replace_lifs",
    "SpikingHead",
    "HEADS",
    "L2ActSpikeNet",
    "VISION_BLOCKS",
    "l2_actspikenet",
    "lif_after_bn_resnet18",
    "lif_before_add_resnet18",
    "SpikingBasicBlock",
    "ActAfterAddBlock",
    "LIFAfterBNBlock",
    "LIFBeforeAddBlock",
    "SpikingStem",
    "SpikingAudioNet",
    "AUDIO_VARIANTS",
    "PAPER_AUDIO_CONFIG",
    "ConvBNLIFPool",
    "SMLP",
    "SpikingLinearLayer",
    "smlp_baseline",
    "count_parameters",
    "count_ops",
    "OpCounts",
]
