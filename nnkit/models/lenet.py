"""LeNet: the convolutional network of LeCun et al. (1998), in its modern form (ReLU and max pooling)."""

from __future__ import annotations

from ..nn import Conv2d, Flatten, Linear, MaxPool2d, Module, ReLU, Sequential
from ..nn.functional.conv import conv_output_size
from ..tensor import Tensor

__all__ = ["LeNet"]


class LeNet(Module):
    """Two convolution + ReLU + 2x2 max-pool stages (6 and 16 channels), then three dense
    layers (120, 84, ``num_classes``), for square ``image_size`` inputs.

    For 28x28 images (MNIST) the kernels are 5x5 as in LeNet-5, the first one padded to keep
    28x28: 28 -> pool 14 -> conv 10 -> pool 5, so 16·5·5 = 400 features. Images smaller than
    16 pixels (the 8x8 digits) get 3x3 kernels padded to keep the size: 8 -> 4 -> 2, 16·2·2.

    >>> import nnkit
    >>> LeNet()(nnkit.randn(2, 1, 28, 28)).shape
    (2, 10)
    >>> LeNet(image_size=8)(nnkit.randn(2, 1, 8, 8)).shape
    (2, 10)
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, image_size: int = 28):
        super().__init__()
        kernel, pad1, pad2 = (5, 2, 0) if image_size >= 16 else (3, 1, 1)
        size = conv_output_size(conv_output_size(image_size, kernel, padding=pad1) // 2, kernel, padding=pad2) // 2
        if size < 1:
            raise ValueError(f"LeNet: image_size {image_size} is too small for two conv + pool stages")
        self.image_size = image_size
        self.features = Sequential(
            Conv2d(in_channels, 6, kernel, padding=pad1), ReLU(), MaxPool2d(2),
            Conv2d(6, 16, kernel, padding=pad2), ReLU(), MaxPool2d(2),
        )
        self.classifier = Sequential(
            Flatten(), Linear(16 * size * size, 120), ReLU(), Linear(120, 84), ReLU(), Linear(84, num_classes),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))
