"""MusicGen-style delay pattern for multi-codebook codecs (one LM head per codebook).

Codebook q is shifted right by q steps, so at step t the model predicts codebook 0 of frame
t, codebook 1 of frame t-1, ...: each level is conditioned on the coarser levels of the same
frame. ``apply_delay`` turns codes [Q, F] into a [Q, F + Q - 1] grid padded with ``pad``;
``revert_delay`` undoes it exactly.
"""

from __future__ import annotations

import numpy as np


def apply_delay(codes: np.ndarray, pad: int) -> np.ndarray:
    q, f = codes.shape
    out = np.full((q, f + q - 1), pad, dtype=codes.dtype)
    for level in range(q):
        out[level, level : level + f] = codes[level]
    return out


def revert_delay(delayed: np.ndarray) -> np.ndarray:
    q, width = delayed.shape
    f = width - q + 1
    if f < 0:
        raise ValueError(f"a delayed grid of width {width} cannot hold {q} codebooks")
    return np.stack([delayed[level, level : level + f] for level in range(q)])


def complete_frames(delayed_steps: int, n_codebooks: int) -> int:
    """Frames fully known after ``delayed_steps`` generation steps (streaming lags Q-1 steps)."""
    return max(0, delayed_steps - n_codebooks + 1)
