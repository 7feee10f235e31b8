"""The generation loop, written once for every backend (torch or ONNX Runtime), in numpy.

A backend supplies a ``Stepper``: ``step(ids [B, L], positions [B, L], key_mask [B, T])``
returns the logits of each item's last position [B, V] and keeps its own K/V cache
(T = everything fed so far). Prompts are left-padded; each item stops at ``</speech>`` or at
its frame budget; codes are yielded every ``chunk_frames`` steps.
"""

from __future__ import annotations

from typing import Callable, Iterator, Protocol

import numpy as np

from .config import TtsConfig
from .sampling import SamplingConfig, sample_next


class Stepper(Protocol):
    def step(self, ids: np.ndarray, positions: np.ndarray, key_mask: np.ndarray) -> np.ndarray: ...


def left_pad(prompts: list[list[int]], pad: int) -> tuple[np.ndarray, np.ndarray]:
    width = max(len(p) for p in prompts)
    ids = np.full((len(prompts), width), pad, dtype=np.int64)
    mask = np.zeros((len(prompts), width), dtype=bool)
    for i, p in enumerate(prompts):
        ids[i, width - len(p):] = p
        mask[i, width - len(p):] = True
    return ids, mask


def speech_only(logits: np.ndarray, cfg: TtsConfig) -> np.ndarray:
    """Only speech codes and </speech> may follow <speech>."""
    out = np.full_like(logits, -np.inf, dtype=np.float32)
    out[:, cfg.speech_offset:] = logits[:, cfg.speech_offset:]
    end = cfg.special("</speech>")
    out[:, end] = logits[:, end]
    return out


def decode_loop(stepper: Stepper, cfg: TtsConfig, prompts: list[list[int]], max_frames: list[int],
                sampling: SamplingConfig, chunk_frames: int = 10, first_chunk_frames: int | None = None,
                should_stop: Callable[[], bool] | None = None) -> Iterator[list[list[int]]]:
    """Yield the new codes of each item every ``chunk_frames`` steps (lists may be empty).

    ``first_chunk_frames`` makes the first chunk smaller (lower time to first audio);
    ``should_stop`` is polled every step so a cancelled request stops generating at once."""
    next_yield = first_chunk_frames or chunk_frames
    rng = np.random.default_rng(sampling.seed)
    pad, end = cfg.special("<pad>"), cfg.special("</speech>")
    seq, mask = left_pad(prompts, pad)
    pos = np.maximum(mask.cumsum(1) - 1, 0)
    b = len(prompts)
    done = np.zeros(b, dtype=bool)
    counts = [0] * b
    pending: list[list[int]] = [[] for _ in range(b)]
    logits = stepper.step(seq, pos, mask)
    for step in range(max(max_frames)):
        nxt = sample_next(speech_only(logits, cfg), seq[:, -sampling.repetition_window:], sampling, rng)
        for i in range(b):
            if done[i]:
                continue
            if nxt[i] == end or counts[i] >= max_frames[i]:
                done[i] = True
                continue
            pending[i].append(int(nxt[i]) - cfg.speech_offset)
            counts[i] += 1
        if (done.all() or step + 1 >= next_yield) and any(pending):
            yield pending
            pending = [[] for _ in range(b)]
            next_yield = step + 1 + chunk_frames
        if done.all() or (should_stop is not None and should_stop()):
            return
        nxt = np.where(done, pad, nxt)[:, None].astype(np.int64)
        last = pos[:, -1:] + 1
        seq, mask, pos = np.concatenate([seq, nxt], 1), np.concatenate([mask, ~done[:, None]], 1), np.concatenate([pos, last], 1)
        logits = stepper.step(nxt, last, mask)
    if any(pending):
        yield pending
