"""Codec training losses and the evaluation metrics that share their spectrograms.

Reconstruction: multi-scale log-mel L1 (several FFT sizes, so neither time nor
frequency resolution is favoured).  GAN: least-squares (LSGAN, as HiFi-GAN) on every
discriminator's logits -- smooth gradients that do not vanish when the discriminator
wins -- plus relative feature matching (EnCodec), which stays scale-free across layers.

All spectrograms are computed in float32 with autocast off: bf16 STFTs and logs of
small mel energies are too coarse.  Logs are natural (ln) throughout.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence, Union

import numpy as np
import torch
import torchaudio
from torch import Tensor, nn

from .discriminators import DiscOutput
from .typed_config import coerce_fields

ArrayLike = Union[Tensor, np.ndarray]
LOG_EPS = 1e-5


@dataclass
class LossWeights:
    """Generator loss weights.  ``mel`` is large because ln-mel L1 is O(0.1-1) (HiFi-GAN: 45)."""

    mel: float = 45.0
    adversarial: float = 1.0
    feature: float = 2.0
    commitment: float = 1.0
    codebook: float = 1.0
    perceptual: float = 0.0  # PESQ-shaped loudness disturbance (codec.perceptual); 0 = off

    def __post_init__(self) -> None:
        coerce_fields(self)


# ---------------------------------------------------------------- spectrograms


@lru_cache(maxsize=32)
def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int) -> Tensor:
    """Slaney mel filterbank [n_fft//2 + 1, n_mels] (cached; CPU float32)."""
    return torchaudio.functional.melscale_fbanks(
        n_fft // 2 + 1, 0.0, sample_rate / 2, n_mels, sample_rate, norm="slaney", mel_scale="slaney"
    )


def _as_batch(wav: Tensor) -> Tensor:
    """[T], [B, T] or [B, 1, T] -> float32 [B, T]."""
    if wav.dim() == 3:
        wav = wav.squeeze(1)
    return (wav if wav.dim() == 2 else wav.reshape(1, -1)).float()


def magnitude(wav: Tensor, n_fft: int, hop: int, window: Tensor) -> Tensor:
    """|STFT| [B, n_fft//2 + 1, frames] of wav [B, T] (centred, reflect padded)."""
    with torch.autocast(wav.device.type, enabled=False):
        spec = torch.stft(_as_batch(wav), n_fft, hop, window=window.to(wav.device), return_complex=True)
    return spec.abs()


def log_mel(mag: Tensor, fbank: Tensor) -> Tensor:
    """[B, F, frames] magnitude -> ln(mel) [B, n_mels, frames], floored at LOG_EPS."""
    with torch.autocast(mag.device.type, enabled=False):
        mel = torch.matmul(fbank.to(mag.device).T, mag.float())
    return mel.clamp_min(LOG_EPS).log()


def log_mel_spectrogram(wav: Tensor, sample_rate: int, n_fft: int = 1024, hop: int | None = None,
                        n_mels: int = 80) -> Tensor:
    """ln-mel [B, n_mels, frames] of wav [T] / [B, T] (for logging and evaluation)."""
    hop = hop or n_fft // 4
    window = torch.hann_window(n_fft, device=wav.device)
    return log_mel(magnitude(wav, n_fft, hop, window), mel_filterbank(sample_rate, n_fft, n_mels))


class MultiScaleMelLoss(nn.Module):
    """Mean over scales of L1(ln-mel(est), ln-mel(ref)), + ``mag_weight`` * linear-|STFT| L1.

    Filterbanks and windows are non-persistent buffers: built once, moved with ``.to``,
    and kept out of checkpoints.  Inputs: est, ref [B, T] (or [B, 1, T]).
    """

    def __init__(self, sample_rate: int, n_ffts: Sequence[int] = (512, 1024, 2048),
                 n_mels: Sequence[int] = (64, 128, 128), mag_weight: float = 0.0) -> None:
        super().__init__()
        if len(n_ffts) != len(n_mels):
            raise ValueError(f"n_ffts {tuple(n_ffts)} and n_mels {tuple(n_mels)} differ in length")
        self.sample_rate, self.n_ffts, self.mag_weight = sample_rate, tuple(n_ffts), mag_weight
        for n_fft, mels in zip(n_ffts, n_mels):
            self.register_buffer(f"window_{n_fft}", torch.hann_window(n_fft), persistent=False)
            self.register_buffer(f"fbank_{n_fft}", mel_filterbank(sample_rate, n_fft, mels).clone(),
                                 persistent=False)

    def scale_loss(self, est: Tensor, ref: Tensor, n_fft: int) -> Tensor:
        window, fbank = getattr(self, f"window_{n_fft}"), getattr(self, f"fbank_{n_fft}")
        mag_e, mag_r = (magnitude(x, n_fft, n_fft // 4, window) for x in (est, ref))
        loss = (log_mel(mag_e, fbank) - log_mel(mag_r, fbank)).abs().mean()
        if self.mag_weight:
            loss = loss + self.mag_weight * (mag_e - mag_r).abs().mean()
        return loss

    def forward(self, est: Tensor, ref: Tensor) -> Tensor:
        if est.shape[-1] != ref.shape[-1]:
            raise ValueError(f"length mismatch: est {tuple(est.shape)} vs ref {tuple(ref.shape)}")
        return torch.stack([self.scale_loss(est, ref, n) for n in self.n_ffts]).mean()


# ---------------------------------------------------------------- adversarial (LSGAN)


def generator_adversarial_loss(fake: list[DiscOutput]) -> Tensor:
    """LSGAN generator term: mean over discriminators of mean((1 - D(fake))^2)."""
    return torch.stack([(1 - out.logits.float()).pow(2).mean() for out in fake]).mean()


def discriminator_loss(real: list[DiscOutput], fake: list[DiscOutput]) -> Tensor:
    """LSGAN discriminator term: push D(real) to 1 and D(fake) to 0; mean over discriminators.

    ``fake`` should come from detached audio so the generator gets no gradient here.
    """
    terms = [(1 - r.logits.float()).pow(2).mean() + f.logits.float().pow(2).mean() for r, f in zip(real, fake)]
    return torch.stack(terms).mean()


def feature_matching_loss(real: list[DiscOutput], fake: list[DiscOutput]) -> Tensor:
    """Relative L1 between hidden features, mean over all layers of all discriminators.

    Each layer's L1 is divided by the mean |real feature| so loud, wide layers do not
    dominate.  Real features are treated as constants (detached).
    """
    terms = []
    for r_out, f_out in zip(real, fake):
        for r, f in zip(r_out.features, f_out.features):
            r = r.detach().float()
            terms.append((r - f.float()).abs().mean() / (r.abs().mean() + 1e-8))
    return torch.stack(terms).mean()


# ---------------------------------------------------------------- evaluation metrics


def _to_tensor(x: ArrayLike) -> Tensor:
    return torch.from_numpy(np.asarray(x)) if not isinstance(x, Tensor) else x


def _aligned(ref: ArrayLike, est: ArrayLike) -> tuple[Tensor, Tensor]:
    """Both as float64 [B, T], trimmed to the shorter length."""
    ref, est = (_as_batch(_to_tensor(x).detach().cpu()).double() for x in (ref, est))
    n = min(ref.shape[-1], est.shape[-1])
    return ref[..., :n], est[..., :n]


@torch.no_grad()
def log_mel_distance(ref: ArrayLike, est: ArrayLike, sample_rate: int) -> float:
    """Mean |ln-mel(ref) - ln-mel(est)| (1024-point FFT, 80 mels); numpy or tensors, [T] or [B, T]."""
    ref, est = _aligned(ref, est)
    ref_mel, est_mel = (log_mel_spectrogram(x.float(), sample_rate) for x in (ref, est))
    return float((ref_mel - est_mel).abs().mean())


@torch.no_grad()
def si_sdr(ref: ArrayLike, est: ArrayLike, eps: float = 1e-10) -> Tensor:
    """Scale-invariant SDR in dB per item: [B] for [B, T] inputs, a scalar for [T].

    Both signals are made zero-mean and ``ref`` is rescaled to best fit ``est``, so a
    gain change of ``est`` does not change the score.
    """
    one_d = _to_tensor(ref).dim() == 1
    ref, est = _aligned(ref, est)
    ref = ref - ref.mean(-1, keepdim=True)
    est = est - est.mean(-1, keepdim=True)
    alpha = (est * ref).sum(-1, keepdim=True) / (ref.pow(2).sum(-1, keepdim=True) + eps)
    target = alpha * ref
    noise = est - target
    sdr = 10 * torch.log10((target.pow(2).sum(-1) + eps) / (noise.pow(2).sum(-1) + eps))
    sdr = sdr.float()
    return sdr[0] if one_d else sdr
