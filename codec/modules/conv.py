"""Causal convolutions that run offline or chunk by chunk with the same weights.

Geometry (pure helpers below): a causal conv with span K = (k-1)*d+1 and stride s keeps
the last K-s input samples; output frame i then covers input [i*s-(K-s), (i+1)*s), so it
never looks ahead.  A causal transposed conv emits s samples per input frame and carries
the k-s sample overlap-add tail to the next chunk (the bias is added once, on emission).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .streaming import ConvState, StreamingModule


def conv_span(kernel_size: int, dilation: int = 1) -> int:
    """Number of input samples one output sample sees."""
    return (kernel_size - 1) * dilation + 1


def conv_context(kernel_size: int, stride: int = 1, dilation: int = 1) -> int:
    """Past samples a causal conv keeps between chunks."""
    context = conv_span(kernel_size, dilation) - stride
    if context < 0:
        raise ValueError(f"kernel span {conv_span(kernel_size, dilation)} shorter than stride {stride}")
    return context


def check_chunk(x: Tensor, stride: int, what: str) -> None:
    """Streaming input must be whole frames; a partial frame must be buffered by the caller."""
    if x.dim() != 3:
        raise ValueError(f"{what}: expected [B, C, T], got {tuple(x.shape)}")
    if x.shape[-1] % stride:
        raise ValueError(f"{what}: chunk of {x.shape[-1]} samples is not a multiple of stride {stride}; buffer the rest")


def causal_conv_step(
    x: Tensor, tail: Tensor, weight: Tensor, bias: Tensor | None, stride: int, dilation: int = 1, groups: int = 1
) -> tuple[Tensor, Tensor]:
    """One chunk of a causal conv: prepend the tail, convolve, keep the new tail."""
    context = tail.shape[-1]
    full = torch.cat([tail, x], dim=-1)
    y = F.conv1d(full, weight, bias, stride=stride, dilation=dilation, groups=groups)
    return y, full[..., full.shape[-1] - context :]


def conv_transpose_step(x: Tensor, tail: Tensor, weight: Tensor, bias: Tensor | None, stride: int) -> tuple[Tensor, Tensor]:
    """One chunk of a causal transposed conv with explicit overlap-add of the tail."""
    y = F.conv_transpose1d(x, weight, None, stride=stride)  # [B, C, (n-1)*s + k]
    overlap = tail.shape[-1]
    y = torch.cat([y[..., :overlap] + tail, y[..., overlap:]], dim=-1)
    emit = x.shape[-1] * stride
    out, new_tail = y[..., :emit], y[..., emit:]
    if bias is not None:
        out = out + bias.view(1, -1, 1)
    return out, new_tail


class CausalConv1d(StreamingModule):
    """Conv1d that only looks at the past; state = the last ``context`` input samples."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, dilation: int = 1,
        groups: int = 1, bias: bool = True,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv1d(in_channels, out_channels, kernel_size, stride, dilation=dilation, groups=groups, bias=bias)
        self.stride, self.dilation, self.groups = stride, dilation, groups
        self.context = conv_context(kernel_size, stride, dilation)

    def initial_state(self, batch: int, device: torch.device | None = None, dtype: torch.dtype | None = None) -> ConvState:
        w = self.conv.weight
        return ConvState(torch.zeros(batch, self.conv.in_channels, self.context, device=device or w.device, dtype=dtype or w.dtype))

    def step(self, x: Tensor, state: ConvState) -> tuple[Tensor, ConvState]:
        check_chunk(x, self.stride, "CausalConv1d")
        y, tail = causal_conv_step(x, state.buffer, self.conv.weight, self.conv.bias, self.stride, self.dilation, self.groups)
        return y, ConvState(tail)


class CausalConvTranspose1d(StreamingModule):
    """Transposed conv emitting ``stride`` samples per frame; state = overlap-add tail."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int, bias: bool = True) -> None:
        super().__init__()
        if kernel_size < stride:
            raise ValueError(f"kernel {kernel_size} shorter than stride {stride} leaves gaps")
        self.conv = nn.ConvTranspose1d(in_channels, out_channels, kernel_size, stride, bias=bias)
        self.stride = stride
        self.overlap = kernel_size - stride

    def initial_state(self, batch: int, device: torch.device | None = None, dtype: torch.dtype | None = None) -> ConvState:
        w = self.conv.weight
        return ConvState(torch.zeros(batch, self.conv.out_channels, self.overlap, device=device or w.device, dtype=dtype or w.dtype))

    def step(self, x: Tensor, state: ConvState) -> tuple[Tensor, ConvState]:
        check_chunk(x, 1, "CausalConvTranspose1d")
        y, tail = conv_transpose_step(x, state.buffer, self.conv.weight, self.conv.bias, self.stride)
        return y, ConvState(tail)


class PointwiseConv1d(nn.Conv1d):
    """1x1 conv: frame-local, so it needs no streaming state."""

    def __init__(self, in_channels: int, out_channels: int, bias: bool = True) -> None:
        super().__init__(in_channels, out_channels, 1, bias=bias)
