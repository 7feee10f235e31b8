"""Token sequences in the one-vocabulary layout (torch-free: the ONNX runtime builds prompts too).

``<bos> <text> [voice transcript] text </text> <speech> [voice codes] codes </speech>``:
the model learns to continue speech codes after ``<speech>``; the loss covers the codes
and ``</speech>`` (text is given, never predicted).
"""

from __future__ import annotations

IGNORE = -100  # label of positions without a loss (text, padding)


def build_prompt(model, text_ids: list[int], prompt_text_ids: list[int] | None = None,
                 prompt_codes: list[int] | None = None) -> list[int]:
    """Token ids of one prompt; voice-prompt transcript and codes go first, as in training."""
    cfg = model.cfg
    ids = [cfg.special("<bos>"), cfg.special("<text>"), *(prompt_text_ids or []), *text_ids, cfg.special("</text>"),
           cfg.special("<speech>")]
    return ids + [cfg.speech_offset + c for c in (prompt_codes or [])]
