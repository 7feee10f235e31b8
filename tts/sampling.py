"""Next-token sampling in numpy, shared by the torch and ONNX Runtime backends.

One implementation means one behaviour: the same logits and seed give the same tokens on
either backend (the RNG is numpy's PCG64, seeded per request).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


MAX_BEST_OF = 16  # candidates run as one batch: more costs memory and time for little gain
DEFAULT_SEARCH_SECONDS = 0.5  # best of N searched this often (tts.search): better than plain best of N (README)


@dataclass
class SamplingConfig:
    temperature: float = 0.8
    top_k: int = 50
    top_p: float = 0.95
    repetition_penalty: float = 1.1
    repetition_window: int = 64  # tokens looked back for the penalty
    seed: int | None = 0
    max_frames: int | None = None  # default: from the text length
    greedy: bool = False
    seconds_per_char: float = 0.15  # max-length rule: 1 s + this per character (~2x normal speech)
    min_seconds_per_char: float = 0.03  # min-length rule (~half of fast speech): no </speech> before
    cfg_scale: float | None = None  # classifier-free guidance on the text, 1 = off; None: the model's own
    best_of: int = 1  # candidates per sentence, the one a verifier hears best is kept (tts.verify)
    # with best_of: prune the candidates every this many seconds (tts.search); 0 = plain best of N;
    # None: DEFAULT_SEARCH_SECONDS with best_of > 1
    search_seconds: float | None = None
    search_beams: int = 0  # candidates kept at each prune (each then copied to refill); 0: a quarter of best_of

    def __post_init__(self) -> None:
        if self.temperature <= 0 and not self.greedy:
            raise ValueError("temperature must be > 0 (or use greedy)")
        if not 0 < self.top_p <= 1 or self.top_k < 0 or self.repetition_penalty < 1:
            raise ValueError("need 0 < top_p <= 1, top_k >= 0, repetition_penalty >= 1")
        if self.cfg_scale is not None and self.cfg_scale < 1:
            raise ValueError(f"cfg_scale must be >= 1 (1 = no guidance), got {self.cfg_scale}")
        if not 1 <= self.best_of <= MAX_BEST_OF:
            raise ValueError(f"best_of must be 1 to {MAX_BEST_OF}, got {self.best_of}")
        if self.best_of > 1 and self.greedy:
            raise ValueError("best_of > 1 needs sampling: greedy candidates are all the same")
        if (self.search_seconds or 0) < 0 or not 0 <= self.search_beams <= self.best_of:
            raise ValueError(f"need search_seconds >= 0 and 0 <= search_beams <= best_of ({self.best_of})")
        if self.search_seconds and self.best_of < 2:
            raise ValueError("search_seconds needs best_of > 1: it prunes among the candidates")

    def search_every(self) -> float:
        """Seconds between a search's checks; 0: none (one candidate, or plain best of N)."""
        if self.search_seconds is not None:
            return self.search_seconds
        return DEFAULT_SEARCH_SECONDS if self.best_of > 1 else 0.0

    def beams(self) -> int:
        """Candidates kept at each prune of a search (``tts.search``)."""
        return self.search_beams or max(1, self.best_of // 4)  # 2 of 8 measured best (README)

    def guidance_scale(self, cfg) -> float:
        """The guidance this request runs with: its own ``cfg_scale``, else the model's default."""
        return cfg.cfg_scale if self.cfg_scale is None else self.cfg_scale


def guided(cond: np.ndarray, plain: np.ndarray, scale: float) -> np.ndarray:
    """Classifier-free guidance: ``plain + scale * (cond - plain)``; a token the conditional
    logits rule out (-inf) stays out, also where both are -inf (their difference is NaN)."""
    with np.errstate(invalid="ignore"):
        mixed = plain + scale * (cond - plain)
    return np.where(np.isneginf(cond), -np.inf, mixed)


def max_frames_for(n_chars: int, frame_rate: float, sampling: SamplingConfig) -> int:
    return sampling.max_frames or int(np.ceil(frame_rate * (1.0 + sampling.seconds_per_char * n_chars)))


def min_frames_for(n_chars: int, frame_rate: float, sampling: SamplingConfig) -> int:
    """Frames before ``</speech>`` may be chosen (CosyVoice-style length floor): an LM that has not
    learned to track the unsaid text would otherwise stop early, e.g. right after a voice prompt."""
    return min(int(frame_rate * sampling.min_seconds_per_char * n_chars), max_frames_for(n_chars, frame_rate, sampling))


class RowGroups:
    """Random draws for a batch whose rows come in groups (a request's sentences generated
    together, each ``best_of`` times): each group draws from its own seed, as it would alone,
    so a sentence sounds the same at any batch size. Stands in for a ``np.random.Generator``."""

    def __init__(self, seeds: list[int | None], sizes: list[int]) -> None:
        self.generators = [np.random.default_rng(seed) for seed in seeds]
        self.sizes = sizes

    def random(self, shape: tuple[int, ...]) -> np.ndarray:
        if shape[0] != sum(self.sizes):
            raise ValueError(f"{shape[0]} rows, but the groups hold {sum(self.sizes)}")
        return np.concatenate([g.random((n, *shape[1:])) for g, n in zip(self.generators, self.sizes)])


def sample_next(logits: np.ndarray, history: np.ndarray, cfg: SamplingConfig,
                rng: "np.random.Generator | RowGroups") -> np.ndarray:
    """logits [B, V] float32 (disallowed entries -inf) -> next ids [B]; ``history`` [B, n] recent ids.

    Repetition penalty, temperature, top-k, then top-p (the smallest set of most likely tokens
    reaching ``top_p``), then one uniform draw per row walked through the kept tokens in
    vocabulary order. Past top-k only the kept tokens are worked on: a step samples in ~0.1 ms
    instead of ~1.5 ms over the whole 16k vocabulary, which a server stepping many requests at
    once pays per request (serve.step_batcher)."""
    logits = logits.astype(np.float64, copy=True)
    if cfg.repetition_penalty > 1 and history.size:
        rows = np.arange(logits.shape[0])[:, None]
        seen = logits[rows, history]
        logits[rows, history] = np.where(seen > 0, seen / cfg.repetition_penalty, seen * cfg.repetition_penalty)
    if cfg.greedy:
        return logits.argmax(-1)
    logits /= cfg.temperature
    if cfg.top_k and cfg.top_k < logits.shape[-1]:
        kth = np.partition(logits, -cfg.top_k, axis=-1)[:, -cfg.top_k][:, None]
        logits[logits < kth] = -np.inf
    u = rng.random((logits.shape[0], 1))
    return np.array([_draw(row, cfg.top_p, float(v)) for row, v in zip(logits, u[:, 0])], dtype=np.int64)


def _draw(logits: np.ndarray, top_p: float, u: float) -> int:
    """One row: the token at ``u`` of the kept tokens' renormalized probabilities."""
    kept = np.flatnonzero(logits > -np.inf)
    probs = np.exp(logits[kept] - logits[kept].max())
    probs /= probs.sum()
    if top_p < 1:
        order = np.argsort(-probs, kind="stable")
        ranked = probs[order]
        inside = np.cumsum(ranked) - ranked <= top_p  # the smallest set reaching top_p
        probs = np.zeros_like(probs)
        probs[order] = ranked * inside
        probs /= probs.sum()
    total = np.cumsum(probs)
    at = min(int(np.searchsorted(total, u, side="right")), int(np.flatnonzero(probs)[-1]))  # never a dropped token
    return int(kept[at])
