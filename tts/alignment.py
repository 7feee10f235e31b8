"""Guided attention for a decoder-only TTS: teach a few heads to read the text in order.

A decoder-only TTS must discover by itself which text token each speech frame voices. On a
small corpus that takes many thousand steps: after 1800 steps the bundled model had no head
whose attention over the text followed the speech (best correlation with the diagonal 0.36),
and it babbled. Guided attention (DCTTS; Neekhara et al. 2024, monotonic alignment for
LLM-based TTS) hands the listed heads the rough shape of the answer: speech query ``j`` of
``T`` should look near the text token where the text's cumulative character share reaches
``j / T`` (spoken length follows characters far better than token count): weight 1 inside
that token's share of the time, a Gaussian fall-off (``sigma``) outside it. The loss is
``-log`` of the attention mass a head puts inside that Gaussian band, so it is zero when the
head reads the text in order; other heads and inference are untouched. The trained heads are
recorded in the model's config, and ``reading_positions`` reads back from them where in the
text a generated utterance was.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from codec.typed_config import coerce_fields

from .config import TtsConfig
from .sequence import IGNORE, text_span

if TYPE_CHECKING:
    from .model import TtsModel
    from .synthesize import Spoken


@dataclass
class AlignConfig:
    weight: float = 0.0  # 0 turns the loss off
    layers: tuple[int, ...] = ()  # blocks whose heads are guided
    heads: int = 1  # the first ``heads`` heads of each of those blocks
    sigma: float = 0.1  # fall-off outside the band, as a share of the utterance

    def __post_init__(self) -> None:
        coerce_fields(self)

    def check(self, model_cfg: TtsConfig) -> None:
        if self.weight <= 0:
            return
        bad = [i for i in self.layers if not 0 <= i < model_cfg.n_layers]
        if not self.layers or bad:
            raise ValueError(f"align.layers must name blocks in [0, {model_cfg.n_layers}), got {list(self.layers)}")
        if not 1 <= self.heads <= model_cfg.n_heads:
            raise ValueError(f"align.heads must be in [1, {model_cfg.n_heads}], got {self.heads}")
        if self.sigma <= 0:
            raise ValueError(f"align.sigma must be > 0, got {self.sigma}")


def token_lengths(tokenizer, text_vocab: int) -> Tensor:
    """Characters per text id (at least 1): each token's expected share of the spoken time."""
    tok = tokenizer.tok
    return torch.tensor([max(len((tok.id_to_token(i) or "").strip("\u0120 ")), 1) for i in range(text_vocab)],
                        dtype=torch.float32)


class Aligner:
    """The guided-attention term for batches in the training layout (``tts.data``)."""

    def __init__(self, cfg: AlignConfig, model_cfg: TtsConfig, token_len: Tensor) -> None:
        cfg.check(model_cfg)
        self.cfg, self.model_cfg, self.token_len = cfg, model_cfg, token_len

    @property
    def probe(self) -> tuple[tuple[int, ...], int]:
        return self.cfg.layers, self.cfg.heads

    def prior(self, input_ids: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        """(weights [B, L, L] in [0, 1] on (speech query, text key) pairs, zero elsewhere;
        speech query mask [B, L]). Text keys run from the first text token to ``</text>``;
        speech queries from ``<speech>`` to the last target, so a voice prompt's codes (no
        targets) read its transcript, which leads the text."""
        ids = input_ids if input_ids.dim() == 2 else input_ids[..., 0]
        targets = labels != IGNORE if labels.dim() == 2 else (labels != IGNORE).any(-1)
        b, length = ids.shape
        prior = torch.zeros(b, length, length, device=ids.device)
        queries = torch.zeros(b, length, dtype=torch.bool, device=ids.device)
        start_id, end_id = self.model_cfg.special("<text>"), self.model_cfg.special("</text>")
        for i in range(b):
            opened, closed = (ids[i] == start_id).nonzero(), (ids[i] == end_id).nonzero()
            last = targets[i].nonzero()[:, 0]
            if not len(opened) or not len(closed) or not len(last) or closed[0] == opened[0] + 1:
                continue  # no speech targets, or no text to read (an unconditional item)
            q = torch.arange(int(closed[0]) + 1, int(last[-1]) + 1, device=ids.device)  # <speech> .. last target
            queries[i, q] = True
            lo, hi = int(opened[0]) + 1, int(closed[0])
            # </text> counts as one character: the pause before the speech ends
            lengths = torch.cat([self.token_len.to(ids.device)[ids[i, lo:hi]], torch.ones(1, device=ids.device)])
            ends = lengths.cumsum(0) / lengths.sum()  # each key's share of the time: [end - share, end)
            starts = ends - lengths / lengths.sum()
            progress = (torch.arange(len(q), device=ids.device) + 0.5)[:, None] / len(q)
            outside = (starts[None] - progress).clamp(min=0) + (progress - ends[None]).clamp(min=0)
            band = torch.exp(-(outside**2) / (2 * self.cfg.sigma**2))  # 1 inside the key's share
            prior[i, q[:, None], torch.arange(lo, hi + 1, device=ids.device)[None]] = band
        return prior, queries

    def loss(self, probs: list[Tensor], input_ids: Tensor, labels: Tensor) -> Tensor:
        """Mean over guided heads and speech queries of -log(attention mass inside the band)."""
        prior, queries = self.prior(input_ids, labels)
        weight = queries.float()[:, None]  # [B, 1, L]
        total = prior.new_zeros(())
        for p in probs:  # [B, heads, L, L]
            mass = (p * prior[:, None]).sum(-1).clamp_min(1e-6)
            total = total - (mass.log() * weight).sum() / (weight.sum() * p.shape[1]).clamp(min=1)
        return total / max(len(probs), 1)


def diagonality(probs: Tensor, prior: Tensor, queries: Tensor) -> Tensor:
    """Per head [h]: the mean attention mass inside the band (1 = reads the text in order).

    ``probs`` [B, h, L, L] of one layer; for logging and tests."""
    mass = (probs * prior[:, None]).sum(-1)  # [B, h, L]
    w = queries.float()[:, None]
    return (mass * w).sum((0, 2)) / w.sum((0, 2)).clamp(min=1)


def reading_positions(model: "TtsModel", spoken: "Spoken") -> np.ndarray:
    """Per generated frame [F], the text token the aligned heads (``TtsConfig.align_layers``)
    read when it was chosen (their mean attention's peak over the text), counted from the
    sentence's first token: negative = still inside the voice prompt's transcript.

    Measures whether a voice-prompted model starts where the prompt's recording ended (a torch
    single-codebook model; one forward over the prompt and the frames)."""
    cfg = model.cfg
    if cfg.n_codebooks != 1 or not cfg.align_layers or not cfg.align_heads:
        raise ValueError("reading positions need a single-codebook model with align_layers / align_heads in its config")
    ids = list(spoken.prompt) + [cfg.speech_offset + int(f) for f in spoken.frames]
    opened, end = text_span(cfg, spoken.prompt)
    device = model.embed.weight.device
    with torch.inference_mode():
        _, _, probs = model(torch.tensor([ids], device=device), probe=(cfg.align_layers, cfg.align_heads))
    mean = torch.stack([p[0].float() for p in probs]).mean((0, 1))  # [L, L] over layers and heads
    rows = mean[len(spoken.prompt) - 1 : len(ids) - 1]  # the position that chose each frame
    return (rows[:, opened + 1 : end + 1].argmax(-1) - spoken.prompt_text).cpu().numpy()
