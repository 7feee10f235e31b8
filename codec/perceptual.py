"""A differentiable loss shaped like PESQ's perceptual model (ITU-T P.862 / P.862.2, wideband).

Log-mel L1 treats a spectral valley filled with noise and a peak cut short alike; a listener
(and PESQ) does not: loudness is compressive, differences below a dead zone go unheard, and
added components (noise between harmonics, buzz in pauses) are heard far more than missing
ones. This module computes that disturbance with the same stages as PESQ, written to give
gradients: 16 kHz, level alignment, 32 ms power spectra, Bark bands, compensation of short-term
gain (and of linear filtering, see below), Zwicker loudness over the hearing threshold,
symmetric and asymmetric disturbance, and PESQ's L6-over-320-ms then L2-over-time pooling.
It leaves out what needs no gradient or cannot have one: the time alignment (a codec's output
is sample-aligned with its input) and the final MOS mapping (monotonic).

One stage is off by default: PESQ forgives linear filtering up to 20 dB per band, and a decoder
trained against that learns to exploit it (measured: cutting most bands by 20 dB, which
brings both signals near the hearing threshold, raised PESQ-WB 1.18 -> 1.42 while STOI fell
0.76 -> 0.67). ``filtering_db`` sets how much of a band's colouring is forgiven (0: none).

The loss is ``0.1 * D_sym + 0.0309 * D_asym`` (PESQ's raw score is ``4.5`` minus that), so a
lower loss means a higher PESQ; the compensation factors are held constant for the gradient.
"""

from __future__ import annotations

import torch
import torchaudio
from torch import Tensor, nn

RATE = 16000  # PESQ-WB's rate
N_FFT, HOP = 512, 256  # 32 ms frames, half overlap
LISTENING_DB = 79.0  # P.862's assumed listening level: the aligned speech band sits here
LEVEL_BAND = (325.0, 3250.0)  # the band whose power sets the level
GAMMA = 0.23  # Zwicker's loudness exponent
D_SYM, D_ASYM = 0.1, 0.0309  # PESQ's weights of the two disturbances
EPS = 1e-12


def bark(hz: Tensor) -> Tensor:
    """Traunmueller's Bark scale."""
    return 26.81 * hz / (1960.0 + hz) - 0.53


def hearing_threshold_db(hz: Tensor) -> Tensor:
    """Terhardt's threshold in quiet (dB SPL)."""
    khz = (hz / 1000.0).clamp_min(0.05)
    return 3.64 * khz ** -0.8 - 6.5 * torch.exp(-0.6 * (khz - 3.3) ** 2) + 1e-3 * khz ** 4


def bark_bands(n_bands: int, low_hz: float = 100.0, high_hz: float = 7900.0) -> tuple[Tensor, Tensor, Tensor]:
    """Bands equally wide in Bark: (bin-to-band matrix [F, n_bands], width in Bark, centre Hz)."""
    freqs = torch.arange(N_FFT // 2 + 1, dtype=torch.float64) * RATE / N_FFT
    edges = torch.linspace(float(bark(torch.tensor(low_hz))), float(bark(torch.tensor(high_hz))), n_bands + 1,
                           dtype=torch.float64)
    z = bark(freqs)
    member = ((z[:, None] >= edges[None, :-1]) & (z[:, None] < edges[None, 1:])).double()
    centre = (member * freqs[:, None]).sum(0) / member.sum(0).clamp_min(1)
    empty = member.sum(0) == 0  # low bands narrower than a bin: take the nearest bin
    nearest = (z[:, None] - (edges[:-1] + edges[1:])[None] / 2).abs().argmin(0)
    member[nearest[empty], torch.nonzero(empty).flatten()] = 1.0
    centre[empty] = freqs[nearest[empty]]
    return member.float(), (edges[1:] - edges[:-1]).float(), centre.float()


class PesqLikeLoss(nn.Module):
    """``forward(est, ref)`` [B, T] (or [B, 1, T]) at ``sample_rate`` -> scalar loss."""

    def __init__(self, sample_rate: int, n_bands: int = 49, filtering_db: float = 0.0) -> None:
        super().__init__()
        self.sample_rate = sample_rate
        self.filtering = (10 ** (-filtering_db / 10), 10 ** (filtering_db / 10))
        member, width, centre = bark_bands(n_bands)
        freqs = torch.arange(N_FFT // 2 + 1) * RATE / N_FFT
        level = ((freqs >= LEVEL_BAND[0]) & (freqs <= LEVEL_BAND[1])).float()
        for name, value in (("member", member), ("width", width), ("level_bins", level),
                            ("threshold", 10 ** (hearing_threshold_db(centre) / 10)),
                            ("window", torch.hann_window(N_FFT))):
            self.register_buffer(name, value, persistent=False)

    def band_power(self, wav: Tensor) -> Tensor:
        """Power per Bark band [B, frames, bands] in SPL intensity units (1 = 0 dB SPL)."""
        if wav.dim() == 3:
            wav = wav.squeeze(1)
        wav = torchaudio.functional.resample(wav.float(), self.sample_rate, RATE) if self.sample_rate != RATE else wav.float()
        spec = torch.stft(wav, N_FFT, HOP, window=self.window, center=False, return_complex=True)
        power = spec.real ** 2 + spec.imag ** 2  # [B, F, frames]
        speech = (power * self.level_bins[:, None]).sum(1).mean(-1)  # [B]: the level band's mean power
        power = power * (10 ** (LISTENING_DB / 10) / (speech + EPS))[:, None, None]
        return torch.einsum("bft,fk->btk", power, self.member)

    def loudness(self, power: Tensor) -> Tensor:
        """Zwicker's specific loudness (sone / Bark): zero at the threshold, compressive above."""
        p0 = self.threshold
        return (0.08 * p0 ** GAMMA * ((0.5 + 0.5 * power / p0) ** GAMMA - 1)).clamp_min(0)

    def disturbances(self, est: Tensor, ref: Tensor) -> tuple[Tensor, Tensor]:
        """(D_sym, D_asym) per item [B]: PESQ's two disturbance scores, before the MOS mapping."""
        deg, ref = self.band_power(est), self.band_power(ref)
        with torch.no_grad():  # compensation factors: what PESQ forgives, held constant
            heard = self.loudness(ref).sum(-1)  # [B, frames]
            weights = (heard > 0.1 * heard.amax(-1, keepdim=True)).float()[..., None]
            mean = lambda p: (p * weights).sum(1) / weights.sum(1).clamp_min(1)  # noqa: E731
            filt = ((mean(deg) + 1e3) / (mean(ref) + 1e3)).clamp(*self.filtering)[:, None]  # linear filtering
            gain = ((ref * filt).sum(-1) + 5e3) / (deg.sum(-1) + 5e3)  # short-term gain
            gain = torch.cat([gain[:, :1], 0.8 * gain[:, 1:] + 0.2 * gain[:, :-1]], 1).clamp(3e-4, 5.0)
        ref, deg = ref * filt, deg * gain[..., None]
        loud_ref, loud_deg = self.loudness(ref), self.loudness(deg)
        diff = loud_deg - loud_ref
        dead = 0.25 * torch.minimum(loud_deg, loud_ref)
        dist = torch.sign(diff) * (diff.abs() - dead).clamp_min(0)
        added = ((deg + 50.0) / (ref + 50.0)) ** 1.2  # noise where the reference has little
        added = torch.where(added < 3.0, torch.zeros_like(added), added.clamp(max=12.0))
        w = self.width  # PESQ's band-width weighted norms: L2 * sqrt(total width) and L1
        sym = ((dist.abs() * w) ** 2).sum(-1).add(EPS).sqrt() * w.sum().sqrt()
        asym = (dist.abs() * added * w).sum(-1)
        return pooled(sym.clamp(max=45.0)), pooled(asym.clamp(max=45.0))

    def forward(self, est: Tensor, ref: Tensor) -> Tensor:
        d_sym, d_asym = self.disturbances(est, ref)
        return (D_SYM * d_sym + D_ASYM * d_asym).mean()


def pooled(frames: Tensor) -> Tensor:
    """PESQ's time pooling [B, frames] -> [B]: L6 over 20-frame (320 ms) half-overlapping
    windows, then L2 over windows; short inputs make one window."""
    size = min(20, frames.shape[-1])
    windows = frames.unfold(-1, size, max(1, size // 2))  # [B, n, size]
    l6 = (windows ** 6).mean(-1).add(EPS ** 3).pow(1 / 6)  # a floor of 1e-6, as the L2's
    return (l6 ** 2).mean(-1).add(EPS).sqrt()
