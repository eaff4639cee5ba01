"""Normalisation layers: ``BatchNorm1d/2d/3d``, ``InstanceNorm1d/2d/3d``, ``GroupNorm``,
``LayerNorm``, ``RMSNorm`` and ``LocalResponseNorm``, with PyTorch's options, parameters,
buffers and initialisation."""

from __future__ import annotations

import warnings
from typing import Sequence

from .. import backend, ops
from ..tensor import empty, ones, zeros
from ..tensor import Tensor
from . import functional as F
from . import init
from .module import Module, Parameter, check_sizes

__all__ = ["BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d",
           "GroupNorm", "LayerNorm", "RMSNorm", "LocalResponseNorm"]


class _NormBase(Module):
    """What batch and instance norm share: per-channel ``weight`` (ones) and ``bias`` (zeros)
    when ``affine``, and the buffers ``running_mean`` (zeros), ``running_var`` (ones) and
    ``num_batches_tracked`` when ``track_running_stats``."""

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

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")


class _BatchNorm(_NormBase):
    """Batch normalisation over dim 1 (channels) of (N, C, *) inputs; subclasses check the input's dims.

    In training it normalises with the batch's statistics and updates the running
    ones (``momentum=None``: a cumulative average over all batches so far); in
    evaluation it uses the running statistics.
    """

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


class BatchNorm3d(_BatchNorm):
    """Batch normalisation of (N, C, D, H, W) volumes, per channel C."""

    _input_dims = (5,)


class _InstanceNorm(_NormBase):
    """Instance normalisation: each channel of each sample normalised over its own spatial
    dims. PyTorch's defaults differ from batch norm's: ``affine=False`` and
    ``track_running_stats=False``. With running statistics, evaluation uses them; an
    input without the batch dim is accepted."""

    _spatial_dims = 1  # how many dims follow the channel dim

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = False,
                 track_running_stats: bool = False, device=None, dtype=None, *, bias: bool = True):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype, bias=bias)

    def forward(self, input: Tensor) -> Tensor:
        name, unbatched = type(self).__name__, self._spatial_dims + 1
        if input.ndim not in (unbatched, unbatched + 1):
            raise ValueError(f"{name}: expected {unbatched}D or {unbatched + 1}D input (got {input.ndim}D input of "
                             f"shape {tuple(input.shape)})")
        channel_dim = input.ndim - unbatched
        if input.shape[channel_dim] != self.num_features:
            if self.affine:
                raise ValueError(f"{name}: expected input's size at dim={channel_dim} to match num_features "
                                 f"({self.num_features}), but got: {input.shape[channel_dim]}.")
            warnings.warn(f"{name}: input's size at dim={channel_dim} does not match num_features. You can "
                          "silence this warning by not passing in num_features, which is not used because "
                          "affine=False", UserWarning, stacklevel=2)
        batch = input if channel_dim else ops.unsqueeze(input, 0)
        out = F.instance_norm(batch, self.running_mean, self.running_var, self.weight, self.bias,
                              self.training or not self.track_running_stats,
                              0.0 if self.momentum is None else self.momentum, self.eps)
        return out if channel_dim else ops.squeeze(out, 0)


class InstanceNorm1d(_InstanceNorm):
    """Instance normalisation of (N, C, L) or (C, L) inputs.

    >>> import nnkit
    >>> y = InstanceNorm1d(3)(nnkit.randn(2, 3, 8) * 4 + 1)
    >>> bool(y.mean(-1).abs().max() < 1e-5)
    True
    """

    _spatial_dims = 1


class InstanceNorm2d(_InstanceNorm):
    """Instance normalisation of (N, C, H, W) or (C, H, W) images (style transfer's normalisation)."""

    _spatial_dims = 2


class InstanceNorm3d(_InstanceNorm):
    """Instance normalisation of (N, C, D, H, W) or (C, D, H, W) volumes."""

    _spatial_dims = 3


class GroupNorm(Module):
    """Group normalisation: the channels of each sample split into ``num_groups`` groups, each
    normalised over its channels and spatial dims; then a per-channel ``weight`` (ones) and
    ``bias`` (zeros) when ``affine``. Independent of the batch size.

    >>> import nnkit
    >>> GroupNorm(2, 6)(nnkit.randn(4, 6, 5)).shape
    (4, 6, 5)
    """

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True, device=None,
                 dtype=None, *, bias: bool = True):
        super().__init__()
        check_sizes("GroupNorm", num_groups=num_groups, num_channels=num_channels)
        if num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_channels ({num_channels}) must be divisible by num_groups "
                             f"({num_groups})")
        self.num_groups, self.num_channels, self.eps, self.affine = num_groups, num_channels, eps, affine
        if affine:
            self.weight = Parameter(ones(num_channels, device=device, dtype=dtype))
            self.bias = Parameter(zeros(num_channels, device=device, dtype=dtype)) if bias else None
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def reset_parameters(self) -> None:
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, input: Tensor) -> Tensor:
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
                f"bias={self.bias is not None}")


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


class RMSNorm(Module):
    """x / √(mean(x²) + eps) over the last dims ``normalized_shape``, times ``weight`` (ones)
    when ``elementwise_affine``; ``eps=None`` is the machine epsilon of the input's dtype.

    >>> import nnkit
    >>> y = RMSNorm(4)(nnkit.tensor([[2.0, -2.0, 2.0, -2.0]]))
    >>> [round(v, 4) for v in y[0].tolist()]
    [1.0, -1.0, 1.0, -1.0]
    """

    def __init__(self, normalized_shape: int | Sequence[int], eps: float | None = None,
                 elementwise_affine: bool = True, device=None, dtype=None):
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        check_sizes("RMSNorm", **{f"normalized_shape[{i}]": s for i, s in enumerate(shape)})
        self.normalized_shape, self.eps, self.elementwise_affine = shape, eps, elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(ones(shape, device=device, dtype=dtype))
        else:
            self.register_parameter("weight", None)

    def reset_parameters(self) -> None:
        if self.weight is not None:
            init.ones_(self.weight)

    def forward(self, input: Tensor) -> Tensor:
        return F.rms_norm(input, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


class LocalResponseNorm(Module):
    """x / (k + α · mean of x² over ``size`` neighbouring channels)^β (AlexNet's normalisation)."""

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, input: Tensor) -> Tensor:
        return F.local_response_norm(input, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
