"""Objective speech-quality metrics for codec evaluation (numpy in, floats out).

PESQ wide-band and STOI are computed at 16 kHz, the rate both standards define; SI-SDR and
log-mel distance at the codec rate. Each function takes reference and degraded signals of
any length and compares their common prefix, since codecs may pad the tail by a frame.
"""

from __future__ import annotations

import functools

import numpy as np

from .audio import resample

METRIC_RATE = 16000


def _align(ref: np.ndarray, deg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = min(len(ref), len(deg))
    return ref[:n].astype(np.float64), deg[:n].astype(np.float64)


def pesq_wb(ref: np.ndarray, deg: np.ndarray, sample_rate: int) -> float:
    """ITU-T P.862.2 MOS-LQO (1.04-4.64); NaN where PESQ finds no speech to compare."""
    from pesq import PesqError, pesq

    ref16, deg16 = _align(resample(ref, sample_rate, METRIC_RATE), resample(deg, sample_rate, METRIC_RATE))
    try:
        return float(pesq(METRIC_RATE, ref16, deg16, "wb"))
    except PesqError:
        return float("nan")


def stoi(ref: np.ndarray, deg: np.ndarray, sample_rate: int) -> float:
    """Short-time objective intelligibility (0-1)."""
    from pystoi import stoi as _stoi

    ref16, deg16 = _align(resample(ref, sample_rate, METRIC_RATE), resample(deg, sample_rate, METRIC_RATE))
    return float(_stoi(ref16, deg16, METRIC_RATE, extended=False))


def si_sdr(ref: np.ndarray, deg: np.ndarray) -> float:
    """Scale-invariant signal-to-distortion ratio in dB (sensitive to phase, unlike the others)."""
    ref, deg = _align(ref, deg)
    ref = ref - ref.mean()
    deg = deg - deg.mean()
    scale = np.dot(deg, ref) / (np.dot(ref, ref) + 1e-12)
    target = scale * ref
    noise = deg - target
    return float(10 * np.log10((np.dot(target, target) + 1e-12) / (np.dot(noise, noise) + 1e-12)))


@functools.lru_cache(maxsize=4)
def _mel_basis(sample_rate: int, n_fft: int, n_mels: int) -> np.ndarray:
    import librosa

    return librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels)


def log_mel_distance(ref: np.ndarray, deg: np.ndarray, sample_rate: int, n_fft: int = 1024,
                     hop: int = 256, n_mels: int = 80) -> float:
    """Mean absolute difference of natural-log mel spectrograms (lower is better)."""
    ref, deg = _align(ref, deg)
    basis = _mel_basis(sample_rate, n_fft, n_mels)
    return float(np.mean(np.abs(_log_mel(ref, basis, n_fft, hop) - _log_mel(deg, basis, n_fft, hop))))


def _log_mel(x: np.ndarray, basis: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    if len(x) < n_fft:
        x = np.pad(x, (0, n_fft - len(x)))
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[::hop] * np.hanning(n_fft)
    mag = np.abs(np.fft.rfft(frames, axis=-1))
    return np.log(np.maximum(mag @ basis.T, 1e-5))


def codebook_usage(codes: np.ndarray, codebook_sizes: list[int]) -> tuple[list[float], list[float]]:
    """Per codebook: fraction of entries used and perplexity, from codes [Q, F] (frames pooled)."""
    usage, perplexity = [], []
    for q, k in enumerate(codebook_sizes):
        counts = np.bincount(codes[q].astype(np.int64), minlength=k)[:k]
        p = counts / max(counts.sum(), 1)
        nz = p[p > 0]
        usage.append(float((counts > 0).mean()))
        perplexity.append(float(np.exp(-(nz * np.log(nz)).sum())))
    return usage, perplexity
