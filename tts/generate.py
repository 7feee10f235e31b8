"""Speech-token generation with the torch model: KV-cached (or full-recompute) stepping
plugged into the shared decoding loop.

Prompt (Llasa layout): ``<bos> <text> [prompt transcript] text </text> <speech> [prompt codes]``
and the model continues with speech codes until ``</speech>``. A voice prompt is a reference
recording's codes plus its transcript: the continuation keeps that voice.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
import torch

from .decoding import decode_loop, first_alike
from .model import TtsModel
from .sampling import SamplingConfig, max_frames_for
from .sequence import build_prompt

# The public generation API: the sampling and prompt helpers are re-exported with it.
__all__ = ["SamplingConfig", "TorchStepper", "build_prompt", "generate", "generate_stream", "max_frames_for"]


class TorchStepper:
    """Runs the torch model one step at a time; ``use_cache=False`` recomputes everything
    (the reference the KV cache is tested against)."""

    def __init__(self, model: TtsModel, use_cache: bool = True) -> None:
        self.model, self.use_cache = model.eval(), use_cache
        self.past = None
        self.ids = self.pos = None

    @torch.inference_mode()
    def step(self, ids: np.ndarray, positions: np.ndarray, key_mask: np.ndarray) -> np.ndarray:
        device = self.model.embed.weight.device  # numpy in and out; the model may sit on a GPU
        ids_t, pos_t, mask_t = (torch.from_numpy(np.ascontiguousarray(a)).to(device) for a in (ids, positions, key_mask))
        first = first_alike(ids, positions, key_mask) if self.use_cache and self.past is None else []
        distinct = sorted(set(first))
        if len(distinct) < len(first):  # a prompt repeating rows (best of N): each distinct row once
            logits, past = self.model(ids_t[distinct], pos_t[distinct], None, mask_t[distinct], last_only=True)
            rows = torch.tensor([distinct.index(f) for f in first], device=device)
            logits, self.past = logits.index_select(0, rows), [(k.index_select(0, rows), v.index_select(0, rows))
                                                                for k, v in past]
        elif self.use_cache:
            logits, self.past = self.model(ids_t, pos_t, self.past, mask_t, last_only=True)
        else:
            self.ids = ids_t if self.ids is None else torch.cat([self.ids, ids_t], 1)
            self.pos = pos_t if self.pos is None else torch.cat([self.pos, pos_t], 1)
            logits, _ = self.model(self.ids, self.pos, None, mask_t, last_only=True)
        return logits[:, -1].float().cpu().numpy()

    def reorder(self, rows: np.ndarray) -> None:
        """Row i of the cache becomes a copy of row ``rows[i]`` (``tts.decoding.Decoding.reorder``)."""
        index = torch.from_numpy(np.asarray(rows, dtype=np.int64)).to(self.model.embed.weight.device)
        if self.past is not None:
            self.past = [(k.index_select(0, index), v.index_select(0, index)) for k, v in self.past]
        if self.ids is not None:
            self.ids, self.pos = self.ids.index_select(0, index), self.pos.index_select(0, index)


def generate_stream(model: TtsModel, prompts: list[list[int]], max_frames: list[int], sampling: SamplingConfig,
                    chunk_frames: int = 10, use_cache: bool = True,
                    min_frames: list[int] | None = None) -> Iterator[list[list[int]]]:
    """Yield, every ``chunk_frames`` steps, the new codes of each item (lists may be empty)."""
    return decode_loop(TorchStepper(model, use_cache), model.cfg, prompts, max_frames, sampling, chunk_frames,
                       min_frames=min_frames)


def generate(model: TtsModel, prompts: list[list[int]], max_frames: list[int], sampling: SamplingConfig,
             use_cache: bool = True, min_frames: list[int] | None = None) -> list[list[int]]:
    """All codes of each item (offline)."""
    out: list[list[int]] = [[] for _ in prompts]
    for chunk in generate_stream(model, prompts, max_frames, sampling, 1 << 30, use_cache, min_frames):
        for i, codes in enumerate(chunk):
            out[i].extend(codes)
    return out
