"""Which codes a codec speaks: the one rule that binds token files and TTS models to a codec.

``weights_hash`` names a whole model; ``codes_hash`` covers only
the encoder and quantizer, which fix what each code means. A decoder-only fine-tune changes the
first and keeps the second, so tokens, ``.codes`` files and a TTS trained on them stay valid. Torch-free: the
ONNX serving path uses it too.
"""

from __future__ import annotations


def speaks_codes(codec, recorded: str) -> bool:
    """Whether codes recorded under ``recorded`` (a ``codes_hash``, or the ``weights_hash`` that
    older token files and TTS configs kept) mean the same to ``codec`` (torch or ONNX engine)."""
    return bool(recorded) and recorded in (codec.codes_hash(), codec.weights_hash())


def codes_mismatch(codec, codes_hash: str, weights_hash: str) -> str | None:
    """Why ``codec`` must not decode codes labelled so (``.codes`` headers, gRPC ``Codes``), or
    None: the codes hash decides where it is known (version 2 files, newer clients), else the
    weights hash; an unlabelled stream is not checked."""
    recorded = codes_hash or weights_hash
    if not recorded or speaks_codes(codec, recorded):
        return None
    made = f"codes {codes_hash}" if codes_hash else f"weights {weights_hash}"
    return f"made by {made}, but {codec.name} has codes {codec.codes_hash()} (weights {codec.weights_hash()})"
