"""L2-ActSpikeNet: the paper's spiking ResNet18 for 32x32 images (Section IV-C, Figs. 2-3, Table III).

Layout (CIFAR-style ResNet18, modelled on torchvision's ``resnet.py``)::

    stem:    conv3x3(in_channels -> w, stride 1), no max-pool, then LIF / BN
    layer1:  2 basic blocks, w   channels, stride 1
    layer2:  2 basic blocks, 2w  channels, stride 2
    layer3:  2 basic blocks, 4w  channels, stride 2
    layer4:  2 basic blocks, 8w  channels, stride 2
    pool:    global average pool per timestep -> [T, B, 8w] features (512-d at w=64)
    head:    SpikingHead ("l2": the L2 layer of Eqs. 10-13 + output LIF; "fc": vanilla SNN)

Tensors are ``[T, B, ...]``. **Direct encoding:** the image is the input current at every
timestep. The stem convolution (and, for ``"lif_after_bn"``, its BN) is stateless and sees
the same image at every step, so it is computed once on ``[B, ...]`` and broadcast over T.
This is exact: T identical copies give identical conv outputs, and identical batch-norm
statistics (mean and biased variance over T*B identical-per-step samples equal those over B).

Block variants (``block=``, Table III):

``"act_after_add"`` -- the paper's ActAfterAddition block (Fig. 3B). Reading: take the
    conventional block ``conv-BN-ReLU-conv-BN-(+x)-ReLU`` and replace every "BN-ReLU" by the
    paper's "LIF-BN" ("the convolutional layer is followed by a LIF layer and a BN one");
    the last activation stays *after the addition*, as its name says::

        out = BN1(LIF1(conv1(x)));  out = BN2(conv2(out));  y = LIF_out(out + shortcut(x))

    The block output is spikes. The text does not say whether conv2 keeps a LIF of its
    own before BN2; we read Fig. 3B's single post-addition LIF as that LIF (two LIFs per block).
``"lif_after_bn"`` -- the LIFafterBN ablation: the usual spiking ResNet order
    ``conv1-BN1-LIF1-conv2-BN2-(+shortcut)-LIF_out``; stem conv-BN-LIF.
``"lif_before_add"`` -- the LIFbeforeADD ablation: a LIF on the residual branch *and* on the
    shortcut ("identity") branch right before the addition, and no LIF after it::

        out = LIF_res(BN2(conv2(BN1(LIF1(conv1(x))))));  y = out + LIF_sc(shortcut(x))

    The block output is a sum of two spike trains (values 0, 1, 2).

``zero_init_residual=True`` starts the last BN of every residual branch (``bn2``) at weight 0, so each
block begins as ``LIF(shortcut(x))``: an identity path on spikes, the network effectively shallow at
the start (torchvision's and SpikingJelly's ``zero_init_residual``; Goyal et al. 2017). Without it the
17-LIF-deep act_after_add network learns very slowly under surrogate gradients (see
:mod:`avsnn.train.profiles`).

Shortcut when the shape changes: 1x1 conv (stride s) + BN, with no LIF of its own
(except the ``lif_before_add`` shortcut LIF above, which follows it); otherwise identity.
The stem is conv-LIF-BN for ``act_after_add`` and ``lif_before_add``.
"""

from __future__ import annotations

from functools import partial
from typing import Callable

import torch
from torch import nn

from ..core import surrogate as sg
from ..core.lif import LIF
from .heads import SpikingHead, check_head
from .layers import ImageNorm, InputNorm, SeqToANN, check_timesteps, make_lif, repeat_over_time
from .output import ModelOutput

VISION_BLOCKS = ("act_after_add", "lif_after_bn", "lif_before_add")
#: how ``input_norm`` normalises images: per channel with training statistics, or each image on its own (ImageNorm)
IMAGE_NORMS = ("dataset", "image")

NeuronFactory = Callable[[], LIF]


def conv3x3(in_planes: int, planes: int, stride: int = 1) -> nn.Conv2d:
    """3x3 convolution with padding 1, no bias (BN follows somewhere in the block)."""
    return nn.Conv2d(in_planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)


def projection_shortcut(in_planes: int, planes: int, stride: int) -> nn.Module:
    """1x1 conv + BN when the block changes shape, identity otherwise."""
    if stride == 1 and in_planes == planes:
        return nn.Identity()
    return SeqToANN(nn.Conv2d(in_planes, planes, kernel_size=1, stride=stride, bias=False), nn.BatchNorm2d(planes))


class ActAfterAddBlock(nn.Module):
    """ActAfterAddition basic block (Fig. 3B): conv-LIF-BN, conv-BN, add, LIF."""

    def __init__(self, in_planes: int, planes: int, stride: int, neuron: NeuronFactory):
        super().__init__()
        self.conv1 = SeqToANN(conv3x3(in_planes, planes, stride))
        self.lif1 = neuron()
        self.bn1 = SeqToANN(nn.BatchNorm2d(planes))
        self.conv2 = SeqToANN(conv3x3(planes, planes))
        self.bn2 = SeqToANN(nn.BatchNorm2d(planes))
        self.shortcut = projection_shortcut(in_planes, planes, stride)
        self.lif_out = neuron()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """conv-LIF-BN, conv-BN, add the shortcut, LIF: ``[T, B, C, H, W]`` in and out."""
        out = self.bn1(self.lif1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.lif_out(out + self.shortcut(x))


class LIFAfterBNBlock(nn.Module):
    """LIFafterBN ablation block (Table III): conv-BN-LIF, conv-BN, add, LIF."""

    def __init__(self, in_planes: int, planes: int, stride: int, neuron: NeuronFactory):
        super().__init__()
        self.conv1 = SeqToANN(conv3x3(in_planes, planes, stride))
        self.bn1 = SeqToANN(nn.BatchNorm2d(planes))
        self.lif1 = neuron()
        self.conv2 = SeqToANN(conv3x3(planes, planes))
        self.bn2 = SeqToANN(nn.BatchNorm2d(planes))
        self.shortcut = projection_shortcut(in_planes, planes, stride)
        self.lif_out = neuron()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """conv-BN-LIF, conv-BN, add the shortcut, LIF: ``[T, B, C, H, W]`` in and out."""
        out = self.lif1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.lif_out(out + self.shortcut(x))


class LIFBeforeAddBlock(nn.Module):
    """LIFbeforeADD ablation block (Table III): a LIF on each branch before the add, none after."""

    def __init__(self, in_planes: int, planes: int, stride: int, neuron: NeuronFactory):
        super().__init__()
        self.conv1 = SeqToANN(conv3x3(in_planes, planes, stride))
        self.lif1 = neuron()
        self.bn1 = SeqToANN(nn.BatchNorm2d(planes))
        self.conv2 = SeqToANN(conv3x3(planes, planes))
        self.bn2 = SeqToANN(nn.BatchNorm2d(planes))
        self.lif_residual = neuron()
        self.shortcut = projection_shortcut(in_planes, planes, stride)
        self.lif_shortcut = neuron()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """conv-LIF-BN, conv-BN-LIF, plus the shortcut through its own LIF: ``[T, B, C, H, W]`` in and out."""
        out = self.bn1(self.lif1(self.conv1(x)))
        out = self.lif_residual(self.bn2(self.conv2(out)))
        return out + self.lif_shortcut(self.shortcut(x))


BLOCK_CLASSES = {
    "act_after_add": ActAfterAddBlock,
    "lif_after_bn": LIFAfterBNBlock,
    "lif_before_add": LIFBeforeAddBlock,
}


class SpikingStem(nn.Module):
    """3x3 stem conv (stride 1, no max-pool) on the static image, broadcast over T.

    ``lif_after_bn=False``: conv -> [broadcast] -> LIF -> BN (the paper's LIF-then-BN order).
    ``lif_after_bn=True``:  conv -> BN -> [broadcast] -> LIF.
    The part before the broadcast runs once on ``[B, ...]`` (exact, see the module docstring).
    """

    def __init__(self, in_channels: int, width: int, lif_after_bn: bool, neuron: NeuronFactory):
        super().__init__()
        self.lif_after_bn = lif_after_bn
        conv = nn.Conv2d(in_channels, width, kernel_size=3, stride=1, padding=1, bias=False)
        if lif_after_bn:
            self.conv_bn = SeqToANN(conv, nn.BatchNorm2d(width))
            self.lif = neuron()
        else:
            self.conv = SeqToANN(conv)
            self.lif = neuron()
            self.bn = SeqToANN(nn.BatchNorm2d(width))

    def forward(self, image: torch.Tensor, timesteps: int) -> torch.Tensor:
        """Static image ``[B, C, H, W]`` -> ``[T, B, width, H, W]`` over ``timesteps`` steps."""
        if self.lif_after_bn:
            return self.lif(repeat_over_time(self.conv_bn.forward_static(image), timesteps))
        return self.bn(self.lif(repeat_over_time(self.conv.forward_static(image), timesteps)))


class L2ActSpikeNet(nn.Module):
    """Spiking ResNet18 with the L2 head (Section IV-C, Figs. 2-3).

    ``forward(x [B, in_channels, H, W]) -> ModelOutput`` with ``features [T, B, 8*width]``.
    ``width=64`` is the paper's network (512-d feature, ~11.17 M parameters for 10 classes).
    """

    def __init__(
        self,
        num_classes: int = 10,
        width: int = 64,
        timesteps: int = 8,
        head: str = "l2",
        block: str = "act_after_add",
        beta: float = 0.9,
        threshold: float = 1.0,
        surrogate: sg.Surrogate | None = None,
        in_channels: int = 3,
        zero_init_residual: bool = False,
        input_norm: bool = False,
        image_norm: str = "dataset",
    ):
        super().__init__()
        if block not in VISION_BLOCKS:
            raise ValueError(f"block must be one of {VISION_BLOCKS}, got {block!r}")
        check_head(head)
        if width < 1 or in_channels < 1:
            raise ValueError(f"width and in_channels must be >= 1, got width={width}, in_channels={in_channels}")
        self.timesteps = check_timesteps(timesteps)
        self.in_channels, self.width, self.block = in_channels, width, block
        surrogate = sg.atan(2.0) if surrogate is None else surrogate
        self._neuron: NeuronFactory = partial(make_lif, beta, threshold, surrogate)  # picklable
        self._block_cls = BLOCK_CLASSES[block]

        if image_norm not in IMAGE_NORMS:
            raise ValueError(f"image_norm must be one of {IMAGE_NORMS}, got {image_norm!r}")
        # input normalisation: per channel with training statistics (set by InputNorm.fit) or per image; identity if off
        if not input_norm:
            self.input_norm = nn.Identity()
        elif image_norm == "image":
            self.input_norm = ImageNorm()
        else:
            self.input_norm = InputNorm((in_channels, 1, 1), dims=(0,))
        self.stem = SpikingStem(in_channels, width, block == "lif_after_bn", self._neuron)
        self._in_planes = width
        self.layer1 = self._make_stage(width, blocks=2, stride=1)
        self.layer2 = self._make_stage(width * 2, blocks=2, stride=2)
        self.layer3 = self._make_stage(width * 4, blocks=2, stride=2)
        self.layer4 = self._make_stage(width * 8, blocks=2, stride=2)
        self.pool = SeqToANN(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.feature_dim = width * 8
        self.head = SpikingHead(self.feature_dim, num_classes, head, beta, threshold, surrogate)
        self._init_weights(zero_init_residual)

    def _make_stage(self, planes: int, blocks: int, stride: int) -> nn.Sequential:
        layers = []
        for i in range(blocks):
            layers.append(self._block_cls(self._in_planes, planes, stride if i == 0 else 1, self._neuron))
            self._in_planes = planes
        return nn.Sequential(*layers)

    def _init_weights(self, zero_init_residual: bool = False) -> None:
        # As torchvision's ResNet: He-normal convs (fan_out), BN weight 1 / bias 0.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, tuple(BLOCK_CLASSES.values())):
                    nn.init.zeros_(m.bn2[0].weight)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Image ``[B, C, H, W]`` -> per-timestep pooled features ``[T, B, 8*width]``."""
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"L2ActSpikeNet expects x shaped [B, {self.in_channels}, H, W] "
                f"(in_channels={self.in_channels}), got shape {tuple(x.shape)}"
            )
        out = self.stem(self.input_norm(x), self.timesteps)
        out = self.layer1(out)
        out = self.layer2(out)
        out = self.layer3(out)
        out = self.layer4(out)
        return self.pool(out)

    def forward(self, x: torch.Tensor) -> ModelOutput:
        """Image ``[B, C, H, W]`` -> the head's ``ModelOutput``."""
        return self.head(self.forward_features(x))
