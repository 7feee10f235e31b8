"""Token sequences in the one-vocabulary layout (torch-free: the ONNX runtime builds prompts too).

``<bos> <text> [voice transcript] text </text> <speech> [voice codes] codes </speech>``:
the model learns to continue speech codes after ``<speech>``; the loss covers the codes
and ``</speech>`` (text is given, never predicted).

Single-codebook models read one id per position. Multi-codebook models (``n_codebooks`` Q > 1)
read a row of Q ids per position: text rows carry the token in slot 0 and ``EMPTY`` elsewhere;
speech rows are the delay-pattern grid (``tts.delay``), with ``</speech>`` in slot 0 one step
after the last frame of codebook 0. Codes travel as *frames*: an int per frame when Q = 1, a
list of Q ints per frame otherwise.
"""

from __future__ import annotations

import numpy as np

from .delay import apply_delay

IGNORE = -100  # label of positions without a loss (text, padding)
EMPTY = -1  # no token in this slot of a multi-codebook row (text rows, delay padding): embeds to zero


def frames_to_codes(frames, n_codebooks: int) -> np.ndarray:
    """Frames (ints, or Q-lists) -> codes [Q, F] (local code values)."""
    return np.asarray(frames, dtype=np.int64).reshape(-1, n_codebooks).T


def codes_to_frames(codes: np.ndarray) -> list:
    """Codes [Q, F] -> frames: a list of ints (Q = 1) or of Q-lists."""
    codes = np.asarray(codes)
    return codes[0].tolist() if codes.shape[0] == 1 else codes.T.tolist()


def speech_rows(cfg, codes: np.ndarray, end: bool) -> np.ndarray:
    """Codes [Q, F] -> delayed token rows [n, Q] (global ids, ``EMPTY`` padding), ``</speech>``
    appended to codebook 0 when ``end``. Q = 1 gives F (+1) rows of one id."""
    q, f = codes.shape
    offsets = np.array([cfg.codebook_offset(i) for i in range(q)], dtype=np.int64)[:, None]
    grid = apply_delay(np.asarray(codes, np.int64) + offsets, EMPTY)
    if end:
        if grid.shape[1] == f:  # no delay column to hold it
            grid = np.concatenate([grid, np.full((q, 1), EMPTY, np.int64)], 1)
        grid[0, f] = cfg.special("</speech>")
    return grid.T


def build_prompt(model, text_ids: list[int], prompt_text_ids: list[int] | None = None,
                 prompt_codes: list | None = None) -> list:
    """Token ids of one prompt; voice-prompt transcript and codes (frames) go first, as in training.

    Q = 1: a list of ids. Q > 1: a list of Q-id rows; with voice codes it ends with up to Q - 1
    partial delay rows (slot 0 ``EMPTY``) whose known codes generation keeps as given."""
    cfg = model.cfg
    ids = [cfg.special("<bos>"), cfg.special("<text>"), *(prompt_text_ids or []), *text_ids, cfg.special("</text>"),
           cfg.special("<speech>")]
    if cfg.n_codebooks == 1:
        return ids + [cfg.speech_offset + c for c in (prompt_codes or [])]
    rows = [[i] + [EMPTY] * (cfg.n_codebooks - 1) for i in ids]
    if prompt_codes:
        rows += speech_rows(cfg, frames_to_codes(prompt_codes, cfg.n_codebooks), end=False).tolist()
    return rows


def without_text(cfg, seq: np.ndarray) -> np.ndarray:
    """``seq`` [L] or [L, Q] with the tokens between ``<text>`` and ``</text>`` removed (the
    markers stay): the unconditional sequence of classifier-free guidance. Training drops the
    text of some items this way (``tts.train text_dropout``) so that generation can contrast
    the model's next-code distribution with and without the text (``SamplingConfig.cfg_scale``)."""
    seq = np.asarray(seq)
    opened, closed = text_span(cfg, seq)
    return np.delete(seq, np.arange(opened + 1, closed), axis=0)


def text_span(cfg, seq) -> tuple[int, int]:
    """Positions of ``<text>`` and ``</text>`` in ``seq`` [L] or [L, Q]."""
    seq = np.asarray(seq)
    slot0 = seq if seq.ndim == 1 else seq[:, 0]
    opened, closed = np.flatnonzero(slot0 == cfg.special("<text>")), np.flatnonzero(slot0 == cfg.special("</text>"))
    if not len(opened) or not len(closed):
        raise ValueError("sequence has no <text> ... </text> span")
    return int(opened[0]), int(closed[0])
