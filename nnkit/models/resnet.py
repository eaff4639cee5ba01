"""A small residual network (He et al., 2016) of BasicBlocks, with torchvision's names
(``conv1``, ``bn1``, ``layer1.0.downsample.0``, ``fc``, ...)."""

from __future__ import annotations

from typing import Sequence

from .. import ops
from ..nn import AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Linear, Module, ReLU, Sequential
from ..nn import init
from ..tensor import Tensor

__all__ = ["BasicBlock", "ResNet", "resnet_small"]


class BasicBlock(Module):
    """Two 3x3 convolutions with batch norm, added to a shortcut: relu(F(x) + shortcut(x)).

    The shortcut is the identity when the shape is kept, and a strided 1x1 convolution with
    batch norm (``downsample``) when the block changes the width or the resolution. Because
    the block only has to learn the *residual* F(x) = H(x) − x, and the gradient reaches
    earlier layers through the shortcut undiminished, very deep stacks still train.

    >>> import nnkit
    >>> BasicBlock(16, 32, stride=2)(nnkit.randn(2, 16, 8, 8)).shape
    (2, 32, 4, 4)
    """

    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = BatchNorm2d(planes)
        self.relu = ReLU()
        self.conv2 = Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = BatchNorm2d(planes)
        if stride != 1 or in_planes != planes:
            self.downsample = Sequential(Conv2d(in_planes, planes, 1, stride=stride, bias=False), BatchNorm2d(planes))
        else:
            self.downsample = None
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet(Module):
    """A stem (3x3 convolution, batch norm, ReLU), then one stage of ``blocks[i]`` BasicBlocks of
    width ``widths[i]`` per entry (each stage after the first halves the resolution), then global
    average pooling and a linear classifier ``fc``. Convolutions are initialised Kaiming-normal
    (fan_out), as in torchvision.

    >>> import nnkit
    >>> ResNet(blocks=(1, 1), widths=(8, 16), num_classes=5)(nnkit.randn(2, 3, 16, 16)).shape
    (2, 5)
    """

    def __init__(self, blocks: Sequence[int] = (1, 1, 1), widths: Sequence[int] = (16, 32, 64), num_classes: int = 10,
                 in_channels: int = 3):
        super().__init__()
        if len(blocks) != len(widths) or not blocks:
            raise ValueError(f"ResNet: blocks {tuple(blocks)} and widths {tuple(widths)} need one entry per stage")
        self.conv1 = Conv2d(in_channels, widths[0], 3, padding=1, bias=False)
        self.bn1 = BatchNorm2d(widths[0])
        self.relu = ReLU()
        planes = widths[0]
        for i, (count, width) in enumerate(zip(blocks, widths)):
            stage = []
            for j in range(count):
                stage.append(BasicBlock(planes, width, stride=2 if i > 0 and j == 0 else 1))
                planes = width
            setattr(self, f"layer{i + 1}", Sequential(*stage))
        self.num_stages = len(blocks)
        self.avgpool = AdaptiveAvgPool2d(1)
        self.fc = Linear(planes, num_classes)
        for m in self.modules():
            if isinstance(m, Conv2d):
                init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: Tensor) -> Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        for i in range(self.num_stages):
            x = getattr(self, f"layer{i + 1}")(x)
        return self.fc(ops.flatten(self.avgpool(x), 1))


def resnet_small(num_classes: int = 10, in_channels: int = 3, widths: Sequence[int] = (16, 32, 64),
                 blocks_per_stage: int = 1) -> ResNet:
    """A small ResNet for 8x8 to 32x32 images: ``blocks_per_stage`` BasicBlocks per width.

    >>> import nnkit
    >>> model = resnet_small(num_classes=10, in_channels=1)
    >>> model(nnkit.randn(4, 1, 8, 8)).shape
    (4, 10)
    """
    return ResNet((blocks_per_stage,) * len(widths), widths, num_classes, in_channels)
