"""The generation loop, written once for every backend (torch or ONNX Runtime), in numpy.

A backend supplies a ``Stepper``: ``step(ids [B, L], positions [B, L], key_mask [B, T])``
returns the logits of each item's last position [B, V] and keeps its own K/V cache
(T = everything fed so far); ``ids`` are [B, L, Q] rows for multi-codebook models. Prompts
are left-padded; each item stops at ``</speech>`` or at its frame budget; frames are yielded
every ``chunk_frames`` steps.
"""

from __future__ import annotations

from typing import Callable, Iterator, Protocol

import numpy as np

from .config import TtsConfig
from .sampling import SamplingConfig, guided, sample_next
from .delay import complete_frames, revert_delay
from .sequence import EMPTY, codes_to_frames, without_text


class Stepper(Protocol):
    def step(self, ids: np.ndarray, positions: np.ndarray, key_mask: np.ndarray) -> np.ndarray: ...


def left_pad(prompts: list[np.ndarray], pad_row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Prompts [L_i, Q] -> ids [B, W, Q] left-padded with ``pad_row``, key mask [B, W]."""
    width = max(len(p) for p in prompts)
    ids = np.tile(pad_row, (len(prompts), width, 1))
    mask = np.zeros((len(prompts), width), dtype=bool)
    for i, p in enumerate(prompts):
        ids[i, width - len(p):] = p
        mask[i, width - len(p):] = True
    return ids, mask


def head_logits(logits: np.ndarray, cfg: TtsConfig, q: int) -> np.ndarray:
    """Codebook ``q``'s head: only its codes (and ``</speech>`` for codebook 0) may follow."""
    out = np.full_like(logits, -np.inf, dtype=np.float32)
    lo, hi = cfg.codebook_offset(q), cfg.codebook_offset(q + 1)
    out[:, lo:hi] = logits[:, lo:hi]
    if q == 0:
        end = cfg.special("</speech>")
        out[:, end] = logits[:, end]
    return out


class _Item:
    """One request's delayed rows: which slots are live, when it ends, which frames are complete."""

    def __init__(self, cfg: TtsConfig, max_frames: int, forced: np.ndarray) -> None:
        self.cfg, self.q, self.max_frames, self.forced = cfg, cfg.n_codebooks, max_frames, forced
        self.rows: list[list[int]] = []  # local codes per generated step, EMPTY where no code
        self.end_at: int | None = None  # frames of codebook 0 (set when </speech> is chosen or forced)
        self.emitted = 0
        self.done = False

    def take(self, step: int, sampled: list[int]) -> list[int]:
        """Row of global ids fed back after ``step`` from the heads' samples."""
        cfg, row, local = self.cfg, [EMPTY] * self.q, [EMPTY] * self.q
        for q in range(self.q):
            frame = step - q  # < 0: a voice prompt's frame, given in the forced partial rows
            if frame < 0:
                if step < len(self.forced):
                    row[q] = int(self.forced[step, q])
                continue
            if self.end_at is not None and frame >= self.end_at:
                continue
            if q == 0 and (sampled[0] == cfg.special("</speech>") or frame >= self.max_frames):
                self.end_at, row[0] = frame, cfg.special("</speech>")
                continue
            row[q] = int(sampled[q])
            local[q] = row[q] - cfg.codebook_offset(q)
        self.rows.append(local)
        self.done = self.end_at is not None and step >= self.end_at + max(0, self.q - 2)
        return row

    def new_frames(self) -> list:
        """Frames whose every codebook is known and that were not handed out yet."""
        complete = complete_frames(len(self.rows), self.q)
        if self.end_at is not None:
            complete = min(complete, self.end_at)
        if complete <= self.emitted:
            return []
        grid = np.array(self.rows[self.emitted : complete + self.q - 1], dtype=np.int64).T  # delayed [Q, n + Q - 1]
        self.emitted = complete
        return codes_to_frames(revert_delay(grid))


def split_forced(prompt, n_codebooks: int) -> tuple[np.ndarray, np.ndarray]:
    """A prompt -> (rows [L, Q], forced trailing partial delay rows [k, Q]) (see ``build_prompt``)."""
    rows = np.asarray(prompt, dtype=np.int64).reshape(len(prompt), n_codebooks)
    k = 0
    while n_codebooks > 1 and k < len(rows) and rows[len(rows) - 1 - k, 0] == EMPTY:
        k += 1
    return rows[: len(rows) - k], rows[len(rows) - k:]


def decode_loop(stepper: Stepper, cfg: TtsConfig, prompts: list[list], max_frames: list[int],
                sampling: SamplingConfig, chunk_frames: int = 10, first_chunk_frames: int | None = None,
                should_stop: Callable[[], bool] | None = None, min_frames: list[int] | None = None) -> Iterator[list[list]]:
    """Yield the new frames of each item every ``chunk_frames`` steps (lists may be empty);
    ``</speech>`` is not sampled before an item's ``min_frames``.

    Multi-codebook models sample one code per head per step in the delay pattern and hand out
    a frame once all its codebooks are known (Q - 1 steps later). With a guidance scale > 1
    (``sampling.cfg_scale``, else the model's ``cfg.cfg_scale``) each item also runs without
    its text (``without_text``: a second batch row, fed the same codes) and samples from
    ``uncond + scale * (cond - uncond)`` (classifier-free guidance, as in Koel-TTS): the codes
    move toward what the text adds. ``first_chunk_frames`` makes
    the first chunk smaller (lower time to first audio); ``should_stop`` is polled every step
    so a cancelled request stops generating at once."""
    n_q, next_yield = cfg.n_codebooks, first_chunk_frames or chunk_frames
    rng = np.random.default_rng(sampling.seed)
    pad_row = np.array([cfg.special("<pad>")] + [EMPTY] * (n_q - 1), dtype=np.int64)
    split = [split_forced(p, n_q) for p in prompts]
    items = [_Item(cfg, limit, forced) for (_, forced), limit in zip(split, max_frames)]
    rows = [r for r, _ in split]
    scale = sampling.guidance_scale(cfg)
    n, copies = len(items), 2 if scale != 1 else 1
    seq, mask = left_pad(rows + [without_text(cfg, r) for r in rows] * (copies - 1), pad_row)
    pos = np.maximum(mask.cumsum(1) - 1, 0)
    feed = (lambda ids: ids[..., 0]) if n_q == 1 else (lambda ids: ids)

    def step_logits(ids: np.ndarray, positions: np.ndarray, key_mask: np.ndarray) -> np.ndarray:
        out = stepper.step(feed(ids), positions, key_mask)
        return out if copies == 1 else guided(out[:n], out[n:], scale)

    pending: list[list] = [[] for _ in items]
    logits = step_logits(seq, pos, mask)
    for step in range(max(max_frames) + max(1, n_q - 1)):
        recent = seq[:n, -sampling.repetition_window:]
        history = np.where(recent == EMPTY, pad_row[0], recent)
        heads = [head_logits(logits, cfg, q) for q in range(n_q)]
        if min_frames is not None:
            heads[0][np.asarray(min_frames) > step, cfg.special("</speech>")] = -np.inf
        sampled = np.stack([sample_next(heads[q], history[..., q], sampling, rng) for q in range(n_q)], 1)
        nxt = np.tile(pad_row, (len(items), 1))
        for i, item in enumerate(items):
            if not item.done:
                nxt[i] = item.take(step, sampled[i].tolist())
                pending[i].extend(item.new_frames())
        done = np.array([item.done for item in items])
        if (done.all() or step + 1 >= next_yield) and any(pending):
            yield pending
            pending = [[] for _ in items]
            next_yield = step + 1 + chunk_frames
        if done.all() or (should_stop is not None and should_stop()):
            return
        nxt = np.tile(np.where(done[:, None], pad_row, nxt), (copies, 1))[:, None]
        live = np.tile(~done, copies)[:, None]
        last = pos[:, -1:] + 1
        seq, mask, pos = np.concatenate([seq, nxt], 1), np.concatenate([mask, live], 1), np.concatenate([pos, last], 1)
        logits = step_logits(nxt, last, mask)
    if any(pending):
        yield pending
