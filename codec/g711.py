"""G.711 companding: 8-bit mu-law (North America, Japan) and A-law (Europe) samples, the
telephone network's audio (Riva's MULAW/ALAW encodings, 8 kHz on a phone line).

Each sample's 13-14-bit magnitude is stored as a 3-bit segment (which power of two) and a 4-bit
step within it, so quiet sounds keep fine steps and loud ones coarse ones. The bytes are those
libsndfile writes in a ``.wav`` of subtype ULAW/ALAW (tests compare them). No audioop: it left
the standard library in Python 3.13.
"""

from __future__ import annotations

import numpy as np

from .audio import pcm16_samples

_MU_BIAS = 0x84  # added to the magnitude so every segment starts on a power of two
_MU_CLIP = 32635  # the largest magnitude that still fits the top segment after the bias


def _segment(x: np.ndarray, first: int) -> np.ndarray:
    """Segment of each magnitude: how many doublings past ``first`` (0..7; 8 for overflow)."""
    return np.clip(np.floor(np.log2(np.maximum(x, 1))).astype(np.int32) - (first - 1), 0, 8)


def mulaw_encode(wav: np.ndarray) -> bytes:
    """Float audio in [-1, 1] to mu-law bytes."""
    x = pcm16_samples(wav).astype(np.int32)
    mag = np.minimum(np.abs(x), _MU_CLIP) + _MU_BIAS
    seg = _segment(mag, 8)  # the biased magnitude lies in [2^(seg+7), 2^(seg+8))
    step = (mag >> (seg + 3)) & 0x0F
    sign = np.where(x < 0, 0x80, 0)
    return (~(sign | (seg << 4) | step) & 0xFF).astype(np.uint8).tobytes()


def mulaw_decode(data: bytes) -> np.ndarray:
    """Mu-law bytes to float32 audio."""
    b = ~np.frombuffer(data, dtype=np.uint8).astype(np.int32) & 0xFF
    seg, step = (b >> 4) & 0x07, b & 0x0F
    mag = (((step << 3) + _MU_BIAS) << seg) - _MU_BIAS
    return (np.where(b & 0x80, -mag, mag) / 32768.0).astype(np.float32)


def alaw_encode(wav: np.ndarray) -> bytes:
    """Float audio in [-1, 1] to A-law bytes."""
    x = pcm16_samples(wav).astype(np.int32)
    mask = np.where(x >= 0, 0xD5, 0x55)  # sign bit set for positive, even bits inverted (line coding)
    mag = np.abs(x) >> 3  # A-law codes 13 bits; both signs truncated alike, as libsndfile does
    seg = _segment(mag, 5)  # segment 0 and 1 share a step size: magnitudes below 32 are linear
    step = np.where(seg < 2, mag >> 1, mag >> np.maximum(seg, 1)) & 0x0F
    code = np.where(seg >= 8, 0x7F, (np.minimum(seg, 7) << 4) | step)
    return ((code ^ mask) & 0xFF).astype(np.uint8).tobytes()


def alaw_decode(data: bytes) -> np.ndarray:
    """A-law bytes to float32 audio."""
    a = np.frombuffer(data, dtype=np.uint8).astype(np.int32) ^ 0x55
    seg, step = (a >> 4) & 0x07, a & 0x0F
    mag = np.where(seg == 0, (step << 4) + 8, ((step << 4) + 0x108) << np.maximum(seg - 1, 0))
    return (np.where(a & 0x80, mag, -mag) / 32768.0).astype(np.float32)
