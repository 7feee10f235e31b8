"""The generation loop, written once for every backend (torch or ONNX Runtime), in numpy.

A backend supplies a ``Stepper``: ``step(ids [B, L], positions [B, L], key_mask [B, T])``
returns the logits of each item's last position [B, V] and keeps its own K/V cache
(T = everything fed so far); ``ids`` are [B, L, Q] rows for multi-codebook models. Prompts
are left-padded; each item stops at ``</speech>`` or at its frame budget; frames are yielded
every ``chunk_frames`` steps.
"""

from __future__ import annotations

import copy
from typing import Callable, Iterator, Protocol

import numpy as np

from .config import TtsConfig
from .sampling import RowGroups, SamplingConfig, guided, sample_next
from .delay import complete_frames, revert_delay
from .sequence import EMPTY, codes_to_frames, without_text


def first_alike(ids: np.ndarray, positions: np.ndarray, key_mask: np.ndarray) -> list[int]:
    """For each row, the first row with the same ids, positions and mask (itself if none before):
    best of N prompts the same rows N times, and a stepper prefills each distinct row once."""
    seen: dict[bytes, int] = {}
    return [seen.setdefault(ids[r].tobytes() + positions[r].tobytes() + key_mask[r].tobytes(), r)
            for r in range(ids.shape[0])]


class Stepper(Protocol):
    def step(self, ids: np.ndarray, positions: np.ndarray, key_mask: np.ndarray) -> np.ndarray: ...

    def reorder(self, rows: np.ndarray) -> None: ...


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


class Decoding:
    """One batch being generated, a step at a time: the rows' K/V caches (in the stepper), their
    fed ids, and each item's progress. ``reorder`` lets a search (``tts.search``) carry on from
    some rows in place of others."""

    def __init__(self, stepper: Stepper, cfg: TtsConfig, prompts: list[list], max_frames: list[int],
                 sampling: SamplingConfig, min_frames: list[int] | None = None, rng: RowGroups | None = None) -> None:
        self.stepper, self.cfg, self.sampling = stepper, cfg, sampling
        n_q = cfg.n_codebooks
        self.rng = rng or np.random.default_rng(sampling.seed)
        self.pad_row = np.array([cfg.special("<pad>")] + [EMPTY] * (n_q - 1), dtype=np.int64)
        split = [split_forced(p, n_q) for p in prompts]
        self.items = [_Item(cfg, limit, forced) for (_, forced), limit in zip(split, max_frames)]
        self.min_frames = None if min_frames is None else np.asarray(min_frames)
        rows = [r for r, _ in split]
        self.scale = sampling.guidance_scale(cfg)
        self.copies = 2 if self.scale != 1 else 1
        self.seq, self.mask = left_pad(rows + [without_text(cfg, r) for r in rows] * (self.copies - 1), self.pad_row)
        self.pos = np.maximum(self.mask.cumsum(1) - 1, 0)
        self.step, self.steps = 0, max(max_frames) + max(1, n_q - 1)
        self.logits = self._logits(self.seq, self.pos, self.mask)

    @property
    def done(self) -> bool:
        return self.step >= self.steps or all(item.done for item in self.items)

    def _logits(self, ids: np.ndarray, positions: np.ndarray, key_mask: np.ndarray) -> np.ndarray:
        out = self.stepper.step(ids[..., 0] if self.cfg.n_codebooks == 1 else ids, positions, key_mask)
        n = len(self.items)
        return out if self.copies == 1 else guided(out[:n], out[n:], self.scale)

    def advance(self) -> list[list]:
        """Sample one step for every live item and feed it: each item's newly complete frames."""
        cfg, sampling, n_q, step = self.cfg, self.sampling, self.cfg.n_codebooks, self.step
        n = len(self.items)
        recent = self.seq[:n, -sampling.repetition_window:]
        history = np.where(recent == EMPTY, self.pad_row[0], recent)
        heads = [head_logits(self.logits, cfg, q) for q in range(n_q)]
        if self.min_frames is not None:
            heads[0][self.min_frames > step, cfg.special("</speech>")] = -np.inf
        sampled = np.stack([sample_next(heads[q], history[..., q], sampling, self.rng) for q in range(n_q)], 1)
        nxt, new = np.tile(self.pad_row, (n, 1)), [[] for _ in self.items]
        for i, item in enumerate(self.items):
            if not item.done:
                nxt[i] = item.take(step, sampled[i].tolist())
                new[i] = item.new_frames()
        self.step += 1
        if not self.done:
            finished = np.array([item.done for item in self.items])
            nxt = np.tile(np.where(finished[:, None], self.pad_row, nxt), (self.copies, 1))[:, None]
            live = np.tile(~finished, self.copies)[:, None]
            last = self.pos[:, -1:] + 1
            self.seq, self.mask = np.concatenate([self.seq, nxt], 1), np.concatenate([self.mask, live], 1)
            self.pos = np.concatenate([self.pos, last], 1)
            self.logits = self._logits(nxt, last, self.mask)
        return new

    def reorder(self, index: list[int]) -> None:
        """Row i goes on as row ``index[i]`` was (its cache, ids and progress, copied)."""
        index = np.asarray(index, dtype=np.int64)
        rows = np.concatenate([index + k * len(self.items) for k in range(self.copies)])
        self.stepper.reorder(rows)
        self.seq, self.mask, self.pos, self.logits = self.seq[rows], self.mask[rows], self.pos[rows], self.logits[index]
        self.items = [copy.deepcopy(self.items[i]) for i in index]


def decode_loop(stepper: Stepper, cfg: TtsConfig, prompts: list[list], max_frames: list[int],
                sampling: SamplingConfig, chunk_frames: int = 10, first_chunk_frames: int | None = None,
                should_stop: Callable[[], bool] | None = None, min_frames: list[int] | None = None,
                rng: RowGroups | None = None) -> Iterator[list[list]]:
    """Yield the new frames of each item every ``chunk_frames`` steps (lists may be empty);
    ``</speech>`` is not sampled before an item's ``min_frames``; ``rng``: draws per group of
    rows (default: all from ``sampling.seed``).

    Multi-codebook models sample one code per head per step in the delay pattern and hand out
    a frame once all its codebooks are known (Q - 1 steps later). With a guidance scale > 1
    (``sampling.cfg_scale``, else the model's ``cfg.cfg_scale``) each item also runs without
    its text (``without_text``: a second batch row, fed the same codes) and samples from
    ``uncond + scale * (cond - uncond)`` (classifier-free guidance, as in Koel-TTS): the codes
    move toward what the text adds. ``first_chunk_frames`` makes
    the first chunk smaller (lower time to first audio); ``should_stop`` is polled every step
    so a cancelled request stops generating at once."""
    decoding = Decoding(stepper, cfg, prompts, max_frames, sampling, min_frames, rng)
    next_yield = first_chunk_frames or chunk_frames
    pending: list[list] = [[] for _ in prompts]
    while not decoding.done:
        for frames, new in zip(pending, decoding.advance()):
            frames.extend(new)
        if (decoding.done or decoding.step >= next_yield) and any(pending):
            yield pending
            pending = [[] for _ in prompts]
            next_yield = decoding.step + chunk_frames
        if should_stop is not None and should_stop():
            return
    if any(pending):
        yield pending
