"""Which codes a codec speaks: the one rule that binds token files and TTS models to a codec.

``weights_hash`` names a whole model (``.codes`` files record it); ``codes_hash`` covers only
the encoder and quantizer, which fix what each code means. A decoder-only fine-tune changes the
first and keeps the second, so tokens and a TTS trained on them stay valid. Torch-free: the
ONNX serving path uses it too.
"""

from __future__ import annotations


def speaks_codes(codec, recorded: str) -> bool:
    """Whether codes recorded under ``recorded`` (a ``codes_hash``, or the ``weights_hash`` that
    older token files and TTS configs kept) mean the same to ``codec`` (torch or ONNX engine)."""
    return bool(recorded) and recorded in (codec.codes_hash(), codec.weights_hash())
