"""Normalisation layers: ``BatchNorm1d`` (and the ``_BatchNorm`` base that the other
dimensions share) and ``LayerNorm``."""

from __future__ import annotations

from typing import Sequence

from .. import backend
from ..tensor import empty, ones, zeros
from ..tensor import Tensor
from . import functional as F
from . import init
from .module import Module, Parameter, check_sizes

__all__ = ["BatchNorm1d", "LayerNorm"]


class _BatchNorm(Module):
    """Batch normalisation over dim 1 (channels) of (N, C, *) inputs; subclasses check the input's dims.

    In training it normalises with the batch's statistics and updates the running
    ones (``momentum=None``: a cumulative average over all batches so far); in
    evaluation it uses the running statistics.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, device=None, dtype=None, *, bias: bool = True):
        super().__init__()
        check_sizes(type(self).__name__, num_features=num_features)
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = Parameter(empty(num_features, device=device, dtype=dtype))
            self.bias = Parameter(empty(num_features, device=device, dtype=dtype)) if bias else None
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", zeros(num_features, device=device, dtype=dtype))
            self.register_buffer("running_var", ones(num_features, device=device, dtype=dtype))
            self.register_buffer("num_batches_tracked", zeros((), device=device, dtype=backend.int64))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            init.zeros_(self.running_mean)
            init.ones_(self.running_var)
            self.num_batches_tracked.zero_()

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    _input_dims: tuple = ()  # the input ranks a subclass accepts

    def _check_input_dim(self, input: Tensor) -> None:
        name = type(self).__name__
        if input.ndim not in self._input_dims:
            ranks = " or ".join(f"{d}D" for d in self._input_dims)
            raise ValueError(f"{name}: expected {ranks} input (got {input.ndim}D input of shape "
                             f"{tuple(input.shape)})")
        if input.shape[1] != self.num_features:
            raise ValueError(f"{name}: expected {self.num_features} channels (dim 1), got input of shape "
                             f"{tuple(input.shape)}")

    def forward(self, input: Tensor) -> Tensor:
        self._check_input_dim(input)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:
                factor = 1.0 / int(self.num_batches_tracked)
        # Without running statistics, evaluation also uses the batch's.
        use_batch = self.training or self.running_mean is None
        track = not self.training or self.track_running_stats
        return F.batch_norm(input, self.running_mean if track else None, self.running_var if track else None,
                            self.weight, self.bias, use_batch, factor, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) or (N, C, L) inputs, per channel C.

    Parameters ``weight`` (γ, ones) and ``bias`` (β, zeros); buffers ``running_mean``,
    ``running_var`` (updated with the unbiased batch variance) and ``num_batches_tracked``.

    >>> import nnkit
    >>> bn = BatchNorm1d(3)
    >>> y = bn(nnkit.randn(16, 3) * 5 + 2)
    >>> bool(y.mean(0).abs().max() < 1e-5)
    True
    """

    _input_dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of (N, C, H, W) images, per channel C: the statistics are
    taken over the batch and both spatial dims, as in PyTorch.

    >>> import nnkit
    >>> bn = BatchNorm2d(3)
    >>> y = bn(nnkit.randn(8, 3, 4, 4) * 5 + 2)
    >>> bool(y.mean((0, 2, 3)).abs().max() < 1e-5)
    True
    """

    _input_dims = (4,)


class LayerNorm(Module):
    """Normalise each sample over its last dims ``normalized_shape``, then scale and shift
    elementwise (``weight`` ones, ``bias`` zeros, both of shape ``normalized_shape``).

    >>> import nnkit
    >>> ln = LayerNorm(4)
    >>> y = ln(nnkit.randn(2, 4))
    >>> bool(y.mean(-1).abs().max() < 1e-6)
    True
    """

    def __init__(self, normalized_shape: int | Sequence[int], eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, device=None, dtype=None):
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        check_sizes("LayerNorm", **{f"normalized_shape[{i}]": s for i, s in enumerate(shape)})
        self.normalized_shape, self.eps, self.elementwise_affine = shape, eps, elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(ones(shape, device=device, dtype=dtype))
            self.bias = Parameter(zeros(shape, device=device, dtype=dtype)) if bias else None
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def reset_parameters(self) -> None:
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, input: Tensor) -> Tensor:
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
                f"bias={self.bias is not None}")
