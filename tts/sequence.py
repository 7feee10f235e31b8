"""Token sequences in the one-vocabulary layout, for generation prompts and for training.

``<bos> <text> [voice transcript] text </text> <speech> [voice codes] codes </speech>``:
the model learns to continue speech codes after ``<speech>``; the loss covers the codes
and ``</speech>`` (text is given, never predicted).
"""

from __future__ import annotations

import torch
from torch import Tensor

from .model import TtsModel

IGNORE = -100


def build_prompt(model: TtsModel, text_ids: list[int], prompt_text_ids: list[int] | None = None,
                 prompt_codes: list[int] | None = None) -> list[int]:
    """Token ids of one prompt; voice-prompt transcript and codes go first, as in training."""
    cfg = model.cfg
    ids = [cfg.special("<bos>"), cfg.special("<text>"), *(prompt_text_ids or []), *text_ids, cfg.special("</text>"),
           cfg.special("<speech>")]
    return ids + [cfg.speech_offset + c for c in (prompt_codes or [])]


def training_sequence(model: TtsModel, text_ids: list[int], codes: list[int]) -> tuple[Tensor, Tensor]:
    """(input_ids [L], labels [L]): labels are the next token on speech positions, else IGNORE."""
    cfg = model.cfg
    prompt = build_prompt(model, text_ids)
    seq = prompt + [cfg.speech_offset + c for c in codes] + [cfg.special("</speech>")]
    ids = torch.tensor(seq[:-1])
    labels = torch.tensor(seq[1:])
    labels[: len(prompt) - 1] = IGNORE
    return ids, labels


def lm_loss(model: TtsModel, input_ids: Tensor, labels: Tensor, key_mask: Tensor | None = None) -> Tensor:
    """Mean cross-entropy over labelled (speech) positions of a right-padded batch."""
    logits, _ = model(input_ids, key_mask=key_mask)
    return torch.nn.functional.cross_entropy(logits.flatten(0, 1).float(), labels.flatten(), ignore_index=IGNORE)
