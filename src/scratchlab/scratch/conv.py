"""2-D convolution and pooling via im2col (`unfold`/`fold`), with explicit backward passes."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from scratchlab.errors import ConfigError, ShapeError
from scratchlab.scratch.layer import Layer


def _pair(value: int | tuple[int, int], name: str) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or any(int(v) != v for v in pair):
        raise ConfigError(f"{name} must be an int or a pair of ints, got {value!r}")
    return int(pair[0]), int(pair[1])


def _check_input(
    layer: Layer, x: Tensor, channels: int | None, k: tuple[int, int], pad: tuple[int, int]
) -> None:
    if x.ndim != 4 or (channels is not None and x.shape[1] != channels):
        want = f"(N, {channels}, H, W)" if channels is not None else "(N, C, H, W)"
        raise ShapeError(f"{layer!r} expects input of shape {want}, got {tuple(x.shape)}")
    if x.shape[2] + 2 * pad[0] < k[0] or x.shape[3] + 2 * pad[1] < k[1]:
        raise ShapeError(f"{layer!r}: input {tuple(x.shape)} is smaller than the kernel {k}")


class Conv2d(Layer):
    """Cross-correlation of (N, C_in, H, W) inputs with (C_out, C_in, kh, kw) kernels, plus bias.

    Args:
        in_channels, out_channels: channel counts.
        kernel_size, stride, padding: int or (height, width) pair; padding is with zeros.
        wstd: std of the normal initialisation of `w`; default sqrt(2 / fan_in) (He).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        wstd: float | None = None,
    ) -> None:
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.stride, self.padding = _pair(stride, "stride"), _pair(padding, "padding")
        if (
            min(in_channels, out_channels, *self.kernel_size, *self.stride) < 1
            or min(self.padding) < 0
        ):
            raise ConfigError(f"Conv2d needs positive sizes and padding >= 0, got {self!r}")
        fan_in = in_channels * self.kernel_size[0] * self.kernel_size[1]
        std = math.sqrt(2 / fan_in) if wstd is None else wstd
        self.add_param("w", torch.randn(out_channels, in_channels, *self.kernel_size) * std)
        self.add_param("b", torch.zeros(out_channels))

    def forward(self, x: Tensor) -> Tensor:
        _check_input(self, x, self.in_channels, self.kernel_size, self.padding)
        n, _, h, w = x.shape
        cols = F.unfold(
            x, self.kernel_size, padding=self.padding, stride=self.stride
        )  # (N, C*k*k, L)
        out = self.w.reshape(self.out_channels, -1) @ cols + self.b.reshape(1, -1, 1)
        h_out = (h + 2 * self.padding[0] - self.kernel_size[0]) // self.stride[0] + 1
        w_out = (w + 2 * self.padding[1] - self.kernel_size[1]) // self.stride[1] + 1
        self._cache = {"cols": cols, "size": (h, w)}
        return out.reshape(n, self.out_channels, h_out, w_out)

    def backward(self, dout: Tensor) -> Tensor:
        cols, size = self.saved("cols", "size")
        d = dout.reshape(dout.shape[0], self.out_channels, -1)  # (N, C_out, L)
        self.grads["w"] += (d @ cols.transpose(1, 2)).sum(dim=0).reshape(self.w.shape)
        self.grads["b"] += dout.sum(dim=(0, 2, 3))
        dcols = self.w.reshape(self.out_channels, -1).T @ d
        return F.fold(dcols, size, self.kernel_size, padding=self.padding, stride=self.stride)

    def extra_repr(self) -> str:
        return (
            f"in_channels={self.in_channels}, out_channels={self.out_channels}, "
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"
        )


class _Pool2d(Layer):
    """Pooling over each channel's (kh, kw) windows; `stride` defaults to the kernel size."""

    def __init__(
        self, kernel_size: int | tuple[int, int], stride: int | tuple[int, int] | None = None
    ) -> None:
        super().__init__()
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.stride = self.kernel_size if stride is None else _pair(stride, "stride")
        if min(*self.kernel_size, *self.stride) < 1:
            raise ConfigError(f"{type(self).__name__} needs positive sizes, got {self!r}")

    def _windows(self, x: Tensor) -> Tensor:
        """(N*C, kh*kw, L) windows of x, one channel at a time."""
        _check_input(self, x, None, self.kernel_size, (0, 0))
        n, c, h, w = x.shape
        self._cache = {"shape": x.shape}
        return F.unfold(x.reshape(n * c, 1, h, w), self.kernel_size, stride=self.stride)

    def _output(self, pooled: Tensor) -> Tensor:
        n, c, h, _ = self.saved("shape")
        h_out = (h - self.kernel_size[0]) // self.stride[0] + 1
        return pooled.reshape(n, c, h_out, -1)

    def _fold(self, dcols: Tensor) -> Tensor:
        n, c, h, w = self.saved("shape")
        return F.fold(dcols, (h, w), self.kernel_size, stride=self.stride).reshape(n, c, h, w)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}"


class MaxPool2d(_Pool2d):
    """Maximum over each window; the gradient goes to the first maximal entry, or to the last NaN
    of a window that holds NaNs (torch's pool lets each NaN replace the running maximum)."""

    def forward(self, x: Tensor) -> Tensor:
        cols = self._windows(x)
        pooled, index = cols.max(dim=1)  # the first maximum, or the first NaN
        nan = cols.isnan()
        if nan.any():
            last_nan = cols.shape[1] - 1 - nan.flip(1).int().argmax(dim=1)
            index = torch.where(nan.any(dim=1), last_nan, index)
        self._cache.update(index=index, cols_shape=cols.shape)
        return self._output(pooled)

    def backward(self, dout: Tensor) -> Tensor:
        index, cols_shape = self.saved("index", "cols_shape")
        dcols = torch.zeros(cols_shape, dtype=dout.dtype, device=dout.device)
        dcols.scatter_(1, index.unsqueeze(1), dout.reshape(cols_shape[0], 1, -1))
        return self._fold(dcols)


class AvgPool2d(_Pool2d):
    """Mean over each window."""

    def forward(self, x: Tensor) -> Tensor:
        cols = self._windows(x)
        self._cache.update(cols_shape=cols.shape)
        return self._output(cols.mean(dim=1))

    def backward(self, dout: Tensor) -> Tensor:
        cols_shape = self.saved("cols_shape")
        d = dout.reshape(cols_shape[0], 1, -1) / cols_shape[1]
        return self._fold(d.expand(cols_shape).contiguous())
