"""GAN discriminators for codec training: multi-period (waveform) + multi-resolution STFT.

The period discriminators (HiFi-GAN style) see the waveform folded by a prime period,
which exposes periodic structure (pitch, harmonics) that a 1-D view blurs.  The STFT
discriminators (EnCodec style) see the complex spectrum at several time/frequency
trade-offs, so phase and high-band artefacts are penalised too.

These run only during training (``torch.stft`` is fine here; nothing is exported).
Every discriminator returns a :class:`DiscOutput`: its logits, flattened to ``[B, N]``,
and the intermediate feature maps used for feature matching.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import weight_norm

LRELU_SLOPE = 0.1


@dataclass
class DiscOutput:
    """One discriminator's verdict: ``logits`` [B, N] and hidden ``features`` (any shape)."""

    logits: Tensor
    features: list[Tensor] = field(default_factory=list)


@dataclass
class DiscriminatorConfig:
    """Sizes of the combined discriminator; ``resolutions`` are (n_fft, hop) pairs."""

    periods: tuple[int, ...] = (2, 3, 5, 7, 11)
    mpd_channels: int = 32
    mpd_max_channels: int = 512
    resolutions: tuple[tuple[int, int], ...] = ((2048, 512), (1024, 256), (512, 128))
    stft_channels: int = 32

    def __post_init__(self) -> None:  # YAML gives lists; keep the declared tuple types
        self.periods = tuple(int(p) for p in self.periods)
        self.resolutions = tuple((int(n), int(h)) for n, h in self.resolutions)

    @classmethod
    def tiny(cls) -> "DiscriminatorConfig":
        """A few channels and two of each kind: for unit tests, not for training."""
        return cls(periods=(2, 3), mpd_channels=4, mpd_max_channels=16,
                   resolutions=((512, 128), (256, 64)), stft_channels=4)

    @classmethod
    def small(cls) -> "DiscriminatorConfig":
        """Half-width discriminators, for quick CPU experiments."""
        return cls(mpd_channels=16, mpd_max_channels=256, stft_channels=16)

    @classmethod
    def lite(cls) -> "DiscriminatorConfig":
        """Quarter-width: ~4x cheaper than ``small``; what a 2-core CPU can afford to train with."""
        return cls(mpd_channels=8, mpd_max_channels=128, stft_channels=8)


DISCRIMINATOR_PRESETS: dict[str, DiscriminatorConfig] = {
    "default": DiscriminatorConfig(),
    "small": DiscriminatorConfig.small(),
    "lite": DiscriminatorConfig.lite(),
    "tiny": DiscriminatorConfig.tiny(),
}


def _as_batch(wav: Tensor) -> Tensor:
    """Accept [T], [B, T] or [B, 1, T]; return [B, T]."""
    if wav.dim() == 3:
        wav = wav.squeeze(1)
    return wav if wav.dim() == 2 else wav.reshape(1, -1)


def _conv2d(cin: int, cout: int, kernel: tuple[int, int], stride: tuple[int, int] = (1, 1),
            dilation: tuple[int, int] = (1, 1)) -> nn.Module:
    """Weight-normalised 'same'-padded conv (odd kernels)."""
    padding = tuple((k - 1) * d // 2 for k, d in zip(kernel, dilation))
    return weight_norm(nn.Conv2d(cin, cout, kernel, stride, padding, dilation))


def _run_stack(x: Tensor, convs: nn.ModuleList, post: nn.Module) -> DiscOutput:
    """Conv + leaky ReLU per layer (each kept as a feature), then the logit conv."""
    features = []
    for conv in convs:
        x = F.leaky_relu(conv(x), LRELU_SLOPE)
        features.append(x)
    return DiscOutput(post(x).flatten(1), features)


class PeriodDiscriminator(nn.Module):
    """Waveform [B, T] -> folded [B, 1, T/p, p] -> convs along the T/p axis only."""

    def __init__(self, period: int, channels: int = 32, max_channels: int = 512) -> None:
        super().__init__()
        self.period = period
        widths = [1] + [min(channels * 4**i, max_channels) for i in range(4)]
        convs = [_conv2d(a, b, (5, 1), (3, 1)) for a, b in zip(widths[:-1], widths[1:])]
        convs.append(_conv2d(widths[-1], widths[-1], (5, 1)))
        self.convs = nn.ModuleList(convs)
        self.post = _conv2d(widths[-1], 1, (3, 1))

    def forward(self, wav: Tensor) -> DiscOutput:
        x = _as_batch(wav)
        pad = (-x.shape[-1]) % self.period
        if pad:  # reflect keeps the tail free of an artificial step
            x = F.pad(x[:, None], (0, pad), mode="reflect")[:, 0]
        x = x.reshape(x.shape[0], 1, -1, self.period)
        return _run_stack(x, self.convs, self.post)


class MultiPeriodDiscriminator(nn.Module):
    """One :class:`PeriodDiscriminator` per (prime) period."""

    def __init__(self, periods: tuple[int, ...] = (2, 3, 5, 7, 11), channels: int = 32,
                 max_channels: int = 512) -> None:
        super().__init__()
        self.discs = nn.ModuleList(PeriodDiscriminator(p, channels, max_channels) for p in periods)

    def forward(self, wav: Tensor) -> list[DiscOutput]:
        return [d(wav) for d in self.discs]


class STFTDiscriminator(nn.Module):
    """Waveform [B, T] -> complex STFT as [B, 2, frames, bins] -> 2-D convs.

    Strides only along frequency and dilates along time, so short hops keep their
    temporal resolution while the wide spectrum is pooled down.
    """

    def __init__(self, n_fft: int, hop: int, channels: int = 32) -> None:
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        c = channels
        self.convs = nn.ModuleList([
            _conv2d(2, c, (3, 9)),
            _conv2d(c, c, (3, 9), (1, 2), (1, 1)),
            _conv2d(c, c, (3, 9), (1, 2), (2, 1)),
            _conv2d(c, c, (3, 9), (1, 2), (4, 1)),
            _conv2d(c, c, (3, 3)),
        ])
        self.post = _conv2d(c, 1, (3, 3))

    def spectrum(self, wav: Tensor) -> Tensor:
        """[B, T] -> [B, 2, frames, bins], computed in float32 even under autocast."""
        x = _as_batch(wav)
        with torch.autocast(x.device.type, enabled=False):
            spec = torch.stft(x.float(), self.n_fft, self.hop, window=self.window,
                              normalized=True, return_complex=True)
        return torch.view_as_real(spec).permute(0, 3, 2, 1)

    def forward(self, wav: Tensor) -> DiscOutput:
        return _run_stack(self.spectrum(wav), self.convs, self.post)


class MultiResolutionSTFTDiscriminator(nn.Module):
    """One :class:`STFTDiscriminator` per (n_fft, hop) resolution."""

    def __init__(self, resolutions: tuple[tuple[int, int], ...] = ((2048, 512), (1024, 256), (512, 128)),
                 channels: int = 32) -> None:
        super().__init__()
        self.discs = nn.ModuleList(STFTDiscriminator(n, h, channels) for n, h in resolutions)

    def forward(self, wav: Tensor) -> list[DiscOutput]:
        return [d(wav) for d in self.discs]


class Discriminators(nn.Module):
    """All discriminators together: ``forward(wav [B, T])`` -> MPD outputs then STFT outputs."""

    def __init__(self, cfg: DiscriminatorConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg = cfg or DiscriminatorConfig()
        self.mpd = MultiPeriodDiscriminator(cfg.periods, cfg.mpd_channels, cfg.mpd_max_channels)
        self.mrsd = MultiResolutionSTFTDiscriminator(cfg.resolutions, cfg.stft_channels)

    @classmethod
    def from_preset(cls, name: str) -> "Discriminators":
        if name not in DISCRIMINATOR_PRESETS:
            raise KeyError(f"unknown discriminator preset {name!r}; choose from {sorted(DISCRIMINATOR_PRESETS)}")
        return cls(DISCRIMINATOR_PRESETS[name])

    def forward(self, wav: Tensor) -> list[DiscOutput]:
        return self.mpd(wav) + self.mrsd(wav)
