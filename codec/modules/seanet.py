"""SEANet-style waveform encoder/decoder (EnCodec, HiFi-Codec family), fully causal.

Strided causal convs downsample by ``ratios`` (product = hop); the decoder mirrors them
with causal transposed convs.  Each stage has dilated residual units.  Unlike EnCodec
there is no LSTM, so every layer's streaming state is a conv tail.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .conv import CausalConv1d, CausalConvTranspose1d, PointwiseConv1d
from .streaming import State, StreamingModule, StreamingSequential


class ResidualUnit(StreamingModule):
    """x + Conv1x1(ELU(CausalConv_k3,dilated(ELU(x))))."""

    def __init__(self, channels: int, dilation: int) -> None:
        super().__init__()
        self.body = StreamingSequential(
            nn.ELU(),
            CausalConv1d(channels, channels // 2, 3, dilation=dilation),
            nn.ELU(),
            PointwiseConv1d(channels // 2, channels),
        )

    def initial_state(self, batch: int, device: torch.device | None = None, dtype: torch.dtype | None = None) -> State:
        return self.body.initial_state(batch, device, dtype)

    def step(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        h, state = self.body.step(x, state)
        return x + h, state


def _residual_units(channels: int, n_residual: int) -> list[nn.Module]:
    return [ResidualUnit(channels, 3**j) for j in range(n_residual)]


def seanet_encoder(channels: int, ratios: list[int], latent_dim: int, n_residual: int) -> StreamingSequential:
    """Waveform [B, 1, T] -> latent [B, latent_dim, T / prod(ratios)]."""
    layers: list[nn.Module] = [CausalConv1d(1, channels, 7)]
    ch = channels
    for r in ratios:
        layers += _residual_units(ch, n_residual)
        layers += [nn.ELU(), CausalConv1d(ch, 2 * ch, 2 * r, stride=r)]
        ch *= 2
    layers += [nn.ELU(), CausalConv1d(ch, latent_dim, 3)]
    return StreamingSequential(*layers)


def seanet_decoder(channels: int, ratios: list[int], latent_dim: int, n_residual: int) -> StreamingSequential:
    """Latent [B, latent_dim, F] -> waveform [B, 1, F * prod(ratios)]."""
    ch = channels * 2 ** len(ratios)
    layers: list[nn.Module] = [CausalConv1d(latent_dim, ch, 7)]
    for r in reversed(ratios):
        layers += [nn.ELU(), CausalConvTranspose1d(ch, ch // 2, 2 * r, stride=r)]
        ch //= 2
        layers += _residual_units(ch, n_residual)
    layers += [nn.ELU(), CausalConv1d(ch, 1, 7)]
    return StreamingSequential(*layers)
