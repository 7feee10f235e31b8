"""Causal STFT analysis and a Vocos-style iSTFT synthesis head, as fixed-basis convs.

Both transforms are written as convolutions with a windowed DFT basis instead of
``torch.stft``/``torch.istft``: that exports to ONNX as plain Conv/ConvTranspose, and
the synthesis overlap-add tail is then just a transposed-conv streaming state.

Alignment: analysis frame i covers input [(i+1)*hop - n_fft, (i+1)*hop) (past only);
synthesis frame i covers output [i*hop, i*hop + n_fft), so output block i is complete
as soon as frame i is decoded.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .conv import causal_conv_step, check_chunk, conv_transpose_step
from .streaming import ConvState, StreamingModule


# ~85 dB below a full-scale sine's bin: empty bands (band-limited input, digital silence) then give
# stable features instead of amplified float rounding noise, so torch and ONNX Runtime
# (different conv kernels) produce the same latents and the same codes.
POWER_FLOOR = 1e-6


def hann_window(n_fft: int) -> Tensor:
    """Periodic Hann window (the one that overlap-adds to a constant)."""
    return torch.hann_window(n_fft, periodic=True, dtype=torch.float64)


def dft_basis(n_fft: int) -> tuple[Tensor, Tensor]:
    """cos and sin tables [n_bins, n_fft] for the one-sided DFT."""
    k = torch.arange(n_fft // 2 + 1, dtype=torch.float64)[:, None]
    n = torch.arange(n_fft, dtype=torch.float64)[None, :]
    angle = 2 * math.pi * k * n / n_fft
    return torch.cos(angle), torch.sin(angle)


def ola_envelope(window: Tensor, hop: int) -> Tensor:
    """Steady-state sum of squared windows over overlapping frames, per phase [hop]."""
    return (window**2).view(-1, hop).sum(0)  # n_fft is a multiple of hop


class CausalSTFT(StreamingModule):
    """Waveform [B, 1, T] -> spectral features [B, 3*n_bins, T/hop].

    Features are log-magnitude plus the power-compressed complex spectrum
    (|X|^0.3 with the phase of X): log keeps quiet detail, the complex part keeps phase.
    """

    def __init__(self, n_fft: int, hop: int, compression: float = 0.3) -> None:
        super().__init__()
        self.n_fft, self.hop, self.compression = n_fft, hop, compression
        self.n_bins = n_fft // 2 + 1
        cos, sin = dft_basis(n_fft)
        window = hann_window(n_fft) / hann_window(n_fft).pow(2).sum().sqrt()
        basis = torch.cat([cos * window, -sin * window])[:, None, :]  # [2*n_bins, 1, n_fft]
        self.register_buffer("basis", basis.float(), persistent=False)

    @property
    def out_channels(self) -> int:
        return 3 * self.n_bins

    def initial_state(self, batch: int, device: torch.device | None = None, dtype: torch.dtype | None = None) -> ConvState:
        b = self.basis
        return ConvState(torch.zeros(batch, 1, self.n_fft - self.hop, device=device or b.device, dtype=dtype or b.dtype))

    def step(self, x: Tensor, state: ConvState) -> tuple[Tensor, ConvState]:
        check_chunk(x, self.hop, "CausalSTFT")
        spec, tail = causal_conv_step(x, state.buffer, self.basis, None, self.hop)
        re, im = spec.split(self.n_bins, dim=1)
        power = re * re + im * im + POWER_FLOOR
        log_mag = 0.5 * torch.log(power)
        scale = power.pow((self.compression - 1.0) / 2)
        return torch.cat([log_mag, re * scale, im * scale], dim=1), ConvState(tail)


class ISTFTHead(StreamingModule):
    """Log-magnitude + phase [B, 2*n_bins, F] -> waveform [B, 1, F*hop] by overlap-add."""

    def __init__(self, n_fft: int, hop: int, max_log_mag: float = 4.6) -> None:
        super().__init__()
        self.n_fft, self.hop, self.max_log_mag = n_fft, hop, max_log_mag
        self.n_bins = n_fft // 2 + 1
        cos, sin = dft_basis(n_fft)
        window = hann_window(n_fft)
        envelope = ola_envelope(window, hop)
        if envelope.max() / envelope.min() > 1.001:
            raise ValueError(f"n_fft={n_fft}, hop={hop}: Hann frames do not overlap-add to a constant; use n_fft >= 3*hop")
        weight = torch.ones(self.n_bins, 1, dtype=torch.float64) * 2
        weight[0] = weight[-1] = 1  # DC and Nyquist appear once in the one-sided spectrum
        scale = weight * window / (n_fft * envelope.mean())
        basis = torch.cat([cos * scale, -sin * scale])[:, None, :]  # [2*n_bins, 1, n_fft]
        self.register_buffer("basis", basis.float(), persistent=False)

    @property
    def in_channels(self) -> int:
        return 2 * self.n_bins

    def initial_state(self, batch: int, device: torch.device | None = None, dtype: torch.dtype | None = None) -> ConvState:
        b = self.basis
        return ConvState(torch.zeros(batch, 1, self.n_fft - self.hop, device=device or b.device, dtype=dtype or b.dtype))

    def step(self, x: Tensor, state: ConvState) -> tuple[Tensor, ConvState]:
        log_mag, phase = x.split(self.n_bins, dim=1)
        mag = torch.exp(log_mag.clamp(max=self.max_log_mag))
        spec = torch.cat([mag * torch.cos(phase), mag * torch.sin(phase)], dim=1)
        y, tail = conv_transpose_step(spec, state.buffer, self.basis, None, self.hop)
        return y, ConvState(tail)
