"""Speech-token generation: prompt layout, sampling, KV-cached decoding, token streaming.

Prompt (Llasa layout): ``<bos> <text> [prompt transcript] text </text> <speech> [prompt codes]``
and the model continues with speech codes until ``</speech>``. A voice prompt is a reference
recording's codes plus its transcript: the continuation keeps that voice. A batch of prompts
is left-padded and decoded together; each item stops on its own ``</speech>``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator

import torch
from torch import Tensor

from .model import TtsModel
from .sequence import build_prompt  # noqa: F401  (re-exported: the prompt belongs with generation)


@dataclass
class SamplingConfig:
    temperature: float = 0.8
    top_k: int = 50
    top_p: float = 0.95
    repetition_penalty: float = 1.1
    repetition_window: int = 64  # frames looked back for the penalty
    seed: int | None = 0
    max_frames: int | None = None  # default: from the text length
    greedy: bool = False
    seconds_per_char: float = 0.15  # max-length rule: 1 s + this per character (~2x normal speech)

    def __post_init__(self) -> None:
        if self.temperature <= 0 and not self.greedy:
            raise ValueError("temperature must be > 0 (or use greedy)")
        if not 0 < self.top_p <= 1 or self.top_k < 0 or self.repetition_penalty < 1:
            raise ValueError("need 0 < top_p <= 1, top_k >= 0, repetition_penalty >= 1")


def max_frames_for(n_chars: int, frame_rate: float, sampling: SamplingConfig) -> int:
    return sampling.max_frames or int(math.ceil(frame_rate * (1.0 + sampling.seconds_per_char * n_chars)))


def _left_pad(prompts: list[list[int]], pad: int) -> tuple[Tensor, Tensor]:
    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), pad, dtype=torch.long)
    mask = torch.zeros(len(prompts), width, dtype=torch.bool)
    for i, p in enumerate(prompts):
        ids[i, width - len(p):] = torch.tensor(p)
        mask[i, width - len(p):] = True
    return ids, mask


def _allowed_logits(logits: Tensor, model: TtsModel) -> Tensor:
    """Only speech codes and </speech> may follow <speech>."""
    cfg = model.cfg
    out = torch.full_like(logits, float("-inf"))
    out[:, cfg.speech_offset:] = logits[:, cfg.speech_offset:]
    end = cfg.special("</speech>")
    out[:, end] = logits[:, end]
    return out


def sample_next(logits: Tensor, history: Tensor, cfg: SamplingConfig, generator: torch.Generator | None) -> Tensor:
    """logits [B, V] (float32) -> next ids [B]; ``history`` [B, n] recent ids for the penalty."""
    if cfg.repetition_penalty > 1 and history.numel():
        seen = logits.gather(1, history)
        logits = logits.scatter(1, history, torch.where(seen > 0, seen / cfg.repetition_penalty, seen * cfg.repetition_penalty))
    if cfg.greedy:
        return logits.argmax(-1)
    logits = logits / cfg.temperature
    if cfg.top_k:
        kth = logits.topk(min(cfg.top_k, logits.shape[-1]), dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if cfg.top_p < 1:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        cum = sorted_logits.softmax(-1).cumsum(-1)
        drop = cum - sorted_logits.softmax(-1) > cfg.top_p  # keep the smallest set reaching top_p
        logits = logits.scatter(1, order, sorted_logits.masked_fill(drop, float("-inf")))
    probs = logits.softmax(-1)
    return torch.multinomial(probs, 1, generator=generator)[:, 0]


@torch.inference_mode()
def generate_stream(model: TtsModel, prompts: list[list[int]], max_frames: list[int], sampling: SamplingConfig,
                    chunk_frames: int = 10, use_cache: bool = True) -> Iterator[list[list[int]]]:
    """Yield, every ``chunk_frames`` steps, the new codes of each item (lists may be empty).

    Items that emitted ``</speech>`` or reached their ``max_frames`` stop growing; the
    generator ends when all have stopped. ``use_cache=False`` recomputes the whole sequence
    each step (the reference the KV cache is tested against).
    """
    cfg = model.cfg
    generator = torch.Generator().manual_seed(sampling.seed) if sampling.seed is not None else None
    ids, key_mask = _left_pad(prompts, cfg.special("<pad>"))
    positions = (key_mask.long().cumsum(1) - 1).clamp(min=0)
    b = len(prompts)
    done = torch.zeros(b, dtype=torch.bool)
    generated: list[list[int]] = [[] for _ in range(b)]
    pending: list[list[int]] = [[] for _ in range(b)]
    logits, past = model(ids, positions, None, key_mask)
    seq, seq_mask, seq_pos = ids, key_mask, positions
    for step in range(max(max_frames)):
        history = seq[:, -sampling.repetition_window:]
        nxt = sample_next(_allowed_logits(logits[:, -1].float(), model), history, sampling, generator)
        for i in range(b):
            if done[i]:
                continue
            if nxt[i] == cfg.special("</speech>") or len(generated[i]) >= max_frames[i]:
                done[i] = True
                continue
            code = int(nxt[i]) - cfg.speech_offset
            generated[i].append(code)
            pending[i].append(code)
        if bool(done.all()) or (step + 1) % chunk_frames == 0:
            if any(pending):
                yield pending
                pending = [[] for _ in range(b)]
        if bool(done.all()):
            return
        nxt = torch.where(done, torch.full_like(nxt, cfg.special("<pad>")), nxt)[:, None]
        pos = seq_pos[:, -1:] + 1
        seq, seq_mask, seq_pos = torch.cat([seq, nxt], 1), torch.cat([seq_mask, ~done[:, None]], 1), torch.cat([seq_pos, pos], 1)
        if use_cache:
            logits, past = model(nxt, pos, past, seq_mask)
        else:
            logits, _ = model(seq, seq_pos, None, seq_mask)
    if any(pending):
        yield pending


def generate(model: TtsModel, prompts: list[list[int]], max_frames: list[int], sampling: SamplingConfig,
             use_cache: bool = True) -> list[list[int]]:
    """All codes of each item (offline)."""
    out: list[list[int]] = [[] for _ in prompts]
    for chunk in generate_stream(model, prompts, max_frames, sampling, chunk_frames=1 << 30, use_cache=use_cache):
        for i, codes in enumerate(chunk):
            out[i].extend(codes)
    return out
