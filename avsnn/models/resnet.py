"""L2-ActSpikeNet: the paper's spiking ResNet18 for 32x32 images (Section IV-C, Figs. 2-3, Table III).

Layout (CIFAR-style ResNet18, modelled on torchvision's ``resnet.py``)::

    stem:    conv3x3(in_channels -> w, stride 1), no max-pool, then LIF / BN
    layer1:  layers[0] basic blocks, w   channels, stride 1
    layer2:  layers[1] basic blocks, 2w  channels, stride 2
    layer3:  layers[2] basic blocks, 4w  channels, stride 2
    layer4:  layers[3] basic blocks, 8w  channels, stride 2   (layers=(2, 2, 2, 2): ResNet18)
    pool:    global average pool per timestep -> [T, B, 8w] features (512-d at w=64)
    head:    SpikingHead ("l2": the L2 layer of Eqs. 10-13 + output LIF; "fc": vanilla SNN)

Tensors are ``[T, B, ...]``. **Direct encoding:** the image is the input current at every
timestep. The stem convolution (and, for ``"lif_after_bn"``, its BN) is stateless and sees
the same image at every step, so it is computed once on ``[B, ...]`` and broadcast over T.
This is exact: T identical copies give identical conv outputs, and identical batch-norm
statistics (mean and biased variance over T*B identical-per-step samples equal those over B).

As in torchvision, the block is an argument (a name below or a :class:`SpikingBasicBlock` subclass),
the depth is ``layers``, the normalisation is ``norm_layer`` (default
:class:`~avsnn.models.layers.BatchNorm2d`: ``nn.BatchNorm2d`` with faster CPU statistics) and every
spiking layer comes from the ``neuron`` factory (default: a LIF with the network's ``beta``,
``threshold`` and ``surrogate``). Thin builders name the paper's network and its ablations:
:func:`l2_actspikenet`, :func:`lif_after_bn_resnet18`, :func:`lif_before_add_resnet18`.

Block variants (``block=``, Table III), subclasses of :class:`SpikingBasicBlock`:

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

Shortcut when the shape changes: 1x1 conv (stride s) + norm, with no LIF of its own
(except the ``lif_before_add`` shortcut LIF above, which follows it); otherwise identity.
The stem is conv-LIF-BN for ``act_after_add`` and ``lif_before_add``.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn

from ..core import surrogate as sg
from .heads import SpikingHead, check_head
from .layers import (
    BatchNorm2d,
    ImageNorm,
    InputNorm,
    NeuronFactory,
    SeqToANN,
    check_timesteps,
    neuron_factory,
    repeat_over_time,
)
from .output import ModelOutput

VISION_BLOCKS = ("act_after_add", "lif_after_bn", "lif_before_add")
#: how ``input_norm`` normalises images: per channel with training statistics, or each image on its own (ImageNorm)
IMAGE_NORMS = ("dataset", "image")

#: ``norm_layer(channels) -> nn.Module``: the normalisation after every convolution
NormLayer = Callable[[int], nn.Module]


def conv3x3(in_planes: int, planes: int, stride: int = 1) -> nn.Conv2d:
    """3x3 convolution with padding 1, no bias (a normalisation follows somewhere in the block)."""
    return nn.Conv2d(in_planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)


def projection_shortcut(in_planes: int, planes: int, stride: int, norm_layer: NormLayer = BatchNorm2d) -> nn.Module:
    """1x1 conv + norm when the block changes shape, identity otherwise."""
    if stride == 1 and in_planes == planes:
        return nn.Identity()
    return SeqToANN(nn.Conv2d(in_planes, planes, kernel_size=1, stride=stride, bias=False), norm_layer(planes))


class SpikingBasicBlock(nn.Module):
    """Base of the spiking basic blocks: the layers they share (conv1, lif1, bn1, conv2, bn2, shortcut).

    The residual branch is ``conv1 -> LIF1 -> bn1 -> conv2 -> bn2`` (``lif_after_bn=False``) or
    ``conv1 -> bn1 -> LIF1 -> conv2 -> bn2`` (``lif_after_bn=True``); the base's forward adds the
    shortcut and fires ``lif_out`` on the sum. Variants set :attr:`lif_after_bn` and override
    :meth:`forward` and :meth:`_build_output` where they differ. Submodules are registered in
    forward order (their names and order are the state-dict keys of every stored checkpoint).
    ``forward(x [T, B, in_planes, H, W]) -> [T, B, planes, H / stride, W / stride]``.

    Parameters
    ----------
    in_planes, planes : int
        Input and output channels.
    stride : int
        Stride of conv1 and of the projection shortcut.
    neuron : callable
        Zero-argument factory of LIF-like modules, called once per spiking layer.
    norm_layer : callable, optional
        ``norm_layer(channels) -> nn.Module`` for every normalisation
        (default :class:`~avsnn.models.layers.BatchNorm2d`).
    """

    #: LIF1 after bn1 (``True``) or before it; the stem of the network follows the same order
    lif_after_bn: bool = False

    def __init__(
        self, in_planes: int, planes: int, stride: int, neuron: NeuronFactory, norm_layer: NormLayer | None = None
    ):
        super().__init__()
        norm_layer = BatchNorm2d if norm_layer is None else norm_layer
        self.conv1 = SeqToANN(conv3x3(in_planes, planes, stride))
        if self.lif_after_bn:
            self.bn1 = SeqToANN(norm_layer(planes))
            self.lif1 = neuron()
        else:
            self.lif1 = neuron()
            self.bn1 = SeqToANN(norm_layer(planes))
        self.conv2 = SeqToANN(conv3x3(planes, planes))
        self.bn2 = SeqToANN(norm_layer(planes))
        self._build_output(projection_shortcut(in_planes, planes, stride, norm_layer), neuron)

    def _build_output(self, shortcut: nn.Module, neuron: NeuronFactory) -> None:
        """Register the shortcut and the LIF after the addition."""
        self.shortcut = shortcut
        self.lif_out = neuron()

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        """The residual branch up to bn2: ``[T, B, C, H, W]`` in and out."""
        out = self.conv1(x)
        out = self.lif1(self.bn1(out)) if self.lif_after_bn else self.bn1(self.lif1(out))
        return self.bn2(self.conv2(out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Residual branch plus shortcut, then LIF: ``[T, B, C, H, W]`` in and out."""
        return self.lif_out(self.residual(x) + self.shortcut(x))


class ActAfterAddBlock(SpikingBasicBlock):
    """ActAfterAddition basic block (Fig. 3B): conv-LIF-BN, conv-BN, add, LIF."""


class LIFAfterBNBlock(SpikingBasicBlock):
    """LIFafterBN ablation block (Table III): conv-BN-LIF, conv-BN, add, LIF."""

    lif_after_bn = True


class LIFBeforeAddBlock(SpikingBasicBlock):
    """LIFbeforeADD ablation block (Table III): a LIF on each branch before the add, none after."""

    def _build_output(self, shortcut: nn.Module, neuron: NeuronFactory) -> None:
        """Register the residual branch's LIF, the shortcut and the shortcut's LIF."""
        self.lif_residual = neuron()
        self.shortcut = shortcut
        self.lif_shortcut = neuron()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """conv-LIF-BN, conv-BN-LIF, plus the shortcut through its own LIF: ``[T, B, C, H, W]`` in and out."""
        return self.lif_residual(self.residual(x)) + self.lif_shortcut(self.shortcut(x))


BLOCK_CLASSES = {
    "act_after_add": ActAfterAddBlock,
    "lif_after_bn": LIFAfterBNBlock,
    "lif_before_add": LIFBeforeAddBlock,
}


def resolve_block(block: str | type[SpikingBasicBlock]) -> tuple[str, type[SpikingBasicBlock]]:
    """``(name, class)`` of a block given by its name in :data:`VISION_BLOCKS` or as a class.

    A registered class gets its registered name, any other :class:`SpikingBasicBlock` subclass its class name.
    """
    if isinstance(block, type) and issubclass(block, SpikingBasicBlock):
        names = [name for name, cls in BLOCK_CLASSES.items() if cls is block]
        return (names[0] if names else block.__name__), block
    if isinstance(block, str) and block in BLOCK_CLASSES:
        return block, BLOCK_CLASSES[block]
    raise ValueError(f"block must be one of {VISION_BLOCKS} or a SpikingBasicBlock subclass, got {block!r}")


class SpikingStem(nn.Module):
    """3x3 stem conv (stride 1, no max-pool) on the static image, broadcast over T.

    ``lif_after_bn=False``: conv -> [broadcast] -> LIF -> norm (the paper's LIF-then-BN order).
    ``lif_after_bn=True``:  conv -> norm -> [broadcast] -> LIF.
    The part before the broadcast runs once on ``[B, ...]`` (exact, see the module docstring).
    ``norm_layer`` as in :class:`SpikingBasicBlock`.
    """

    def __init__(
        self,
        in_channels: int,
        width: int,
        lif_after_bn: bool,
        neuron: NeuronFactory,
        norm_layer: NormLayer | None = None,
    ):
        super().__init__()
        norm_layer = BatchNorm2d if norm_layer is None else norm_layer
        self.lif_after_bn = lif_after_bn
        conv = nn.Conv2d(in_channels, width, kernel_size=3, stride=1, padding=1, bias=False)
        if lif_after_bn:
            self.conv_bn = SeqToANN(conv, norm_layer(width))
            self.lif = neuron()
        else:
            self.conv = SeqToANN(conv)
            self.lif = neuron()
            self.bn = SeqToANN(norm_layer(width))

    def forward(self, image: torch.Tensor, timesteps: int) -> torch.Tensor:
        """Static image ``[B, C, H, W]`` -> ``[T, B, width, H, W]`` over ``timesteps`` steps."""
        if self.lif_after_bn:
            return self.lif(repeat_over_time(self.conv_bn.forward_static(image), timesteps))
        return self.bn(self.lif(repeat_over_time(self.conv.forward_static(image), timesteps)))


def check_layers(layers: Sequence[int]) -> tuple[int, int, int, int]:
    """``layers`` as a tuple when it is four positive ints (blocks per stage), else a ``ValueError``."""
    values = tuple(layers) if isinstance(layers, Sequence) and not isinstance(layers, str) else ()
    if len(values) != 4 or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in values):
        raise ValueError(f"layers must be four positive ints (blocks per stage), got {layers!r}")
    return values


class L2ActSpikeNet(nn.Module):
    """Spiking ResNet with the L2 head (Section IV-C, Figs. 2-3); ResNet18 by default.

    ``forward(x [B, in_channels, H, W]) -> ModelOutput`` with ``features [T, B, 8*width]``.
    ``width=64`` is the paper's network (512-d feature, ~11.17 M parameters for 10 classes).

    Parameters
    ----------
    num_classes : int
        Output classes.
    width : int
        Channels of the stem and of layer1 (doubled at every later stage).
    timesteps : int
        Simulation steps T.
    head : str
        ``"l2"`` (the paper's L2 layer) or ``"fc"``, see :class:`~avsnn.models.SpikingHead`.
    block : str or SpikingBasicBlock subclass
        One of :data:`VISION_BLOCKS` or a block class; the stem follows its :attr:`~SpikingBasicBlock.lif_after_bn`.
    beta, threshold, surrogate
        Settings of the default neuron (``surrogate`` default ``atan(2)``).
    in_channels : int
        Image channels.
    zero_init_residual : bool
        Start every block's ``bn2`` weight at 0 (module docstring).
    input_norm : bool
        Normalise the input images (``image_norm`` says how: one of :data:`IMAGE_NORMS`).
    image_norm : str
        ``"dataset"`` (per-channel training statistics) or ``"image"`` (each image on its own).
    layers : sequence of 4 ints
        Blocks per stage; ``(2, 2, 2, 2)`` is ResNet18.
    neuron : callable, optional
        Zero-argument factory of LIF-like modules, used for every spiking layer including the head's
        output layer; default a :class:`~avsnn.core.lif.LIF` with ``beta``, ``threshold``, ``surrogate``.
        :func:`~avsnn.models.ann_twin` replaces only :class:`~avsnn.core.lif.LIF` instances.
    norm_layer : callable, optional
        ``norm_layer(channels) -> nn.Module`` after every convolution
        (default :class:`~avsnn.models.layers.BatchNorm2d`).
    """

    def __init__(
        self,
        num_classes: int = 10,
        width: int = 64,
        timesteps: int = 8,
        head: str = "l2",
        block: str | type[SpikingBasicBlock] = "act_after_add",
        beta: float = 0.9,
        threshold: float = 1.0,
        surrogate: sg.Surrogate | None = None,
        in_channels: int = 3,
        zero_init_residual: bool = False,
        input_norm: bool = False,
        image_norm: str = "dataset",
        layers: Sequence[int] = (2, 2, 2, 2),
        neuron: NeuronFactory | None = None,
        norm_layer: NormLayer | None = None,
    ):
        super().__init__()
        self.block, block_cls = resolve_block(block)
        check_head(head)
        layers = check_layers(layers)
        if width < 1 or in_channels < 1:
            raise ValueError(f"width and in_channels must be >= 1, got width={width}, in_channels={in_channels}")
        self.timesteps = check_timesteps(timesteps)
        self.in_channels, self.width = in_channels, width
        surrogate = sg.atan(2.0) if surrogate is None else surrogate
        neuron = neuron_factory(neuron, beta, threshold, surrogate)
        norm_layer = BatchNorm2d if norm_layer is None else norm_layer

        if image_norm not in IMAGE_NORMS:
            raise ValueError(f"image_norm must be one of {IMAGE_NORMS}, got {image_norm!r}")
        # input normalisation: per channel with training statistics (set by InputNorm.fit) or per image; identity if off
        if not input_norm:
            self.input_norm = nn.Identity()
        elif image_norm == "image":
            self.input_norm = ImageNorm()
        else:
            self.input_norm = InputNorm((in_channels, 1, 1), dims=(0,))
        self.stem = SpikingStem(in_channels, width, block_cls.lif_after_bn, neuron, norm_layer)
        stages, in_planes = [], width
        for i, blocks in enumerate(layers):
            planes, stride = width * 2**i, 1 if i == 0 else 2
            stage = [block_cls(in_planes, planes, stride, neuron, norm_layer)]
            stage += [block_cls(planes, planes, 1, neuron, norm_layer) for _ in range(blocks - 1)]
            stages.append(nn.Sequential(*stage))
            in_planes = planes
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.pool = SeqToANN(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.feature_dim = width * 8
        self.head = SpikingHead(self.feature_dim, num_classes, head, beta, threshold, surrogate, neuron=neuron)
        self._init_weights(zero_init_residual)

    def _init_weights(self, zero_init_residual: bool = False) -> None:
        # As torchvision's ResNet: He-normal convs (fan_out), norm weight 1 / bias 0.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)) and m.affine:
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, SpikingBasicBlock) and getattr(m.bn2[0], "weight", None) is not None:
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


def l2_actspikenet(**kwargs) -> L2ActSpikeNet:
    """The paper's L2-ActSpikeNet: ResNet18 of ActAfterAddition blocks (``kwargs``: :class:`L2ActSpikeNet`'s)."""
    return L2ActSpikeNet(block="act_after_add", layers=(2, 2, 2, 2), **kwargs)


def lif_after_bn_resnet18(**kwargs) -> L2ActSpikeNet:
    """The LIFafterBN ablation (Table III): ResNet18 of LIFAfterBN blocks (``kwargs``: :class:`L2ActSpikeNet`'s)."""
    return L2ActSpikeNet(block="lif_after_bn", layers=(2, 2, 2, 2), **kwargs)


def lif_before_add_resnet18(**kwargs) -> L2ActSpikeNet:
    """The LIFbeforeADD ablation (Table III): ResNet18 of LIFBeforeAdd blocks (``kwargs``: :class:`L2ActSpikeNet`'s)."""
    return L2ActSpikeNet(block="lif_before_add", layers=(2, 2, 2, 2), **kwargs)
