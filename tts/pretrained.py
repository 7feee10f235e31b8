"""Resolve a TTS spec (directory or bundled name under ``models/``) to a loaded model.

ONNX Runtime (``tts.onnx``) is used where exported unless ``backend='torch'``; the ONNX path
imports no torch.
"""

from __future__ import annotations

from pathlib import Path

from codec.errors import CodecError

DEFAULT_TTS = "tts"


def find_tts_dir(spec: str | None) -> Path:
    from codec.pretrained import models_dir

    from .text import TOKENIZER_FILE

    spec = spec or DEFAULT_TTS
    for directory in (Path(spec), models_dir() / spec):
        if (directory / "config.json").is_file() and (directory / TOKENIZER_FILE).is_file():
            return directory
    raise CodecError(f"{spec}: no trained TTS model there (train one: recipes/libritts/run.sh --stage 6)")


def bundled_voices(directory: Path) -> dict[str, tuple[Path, str]]:
    """A model's prompt voices, ``voices/NAME.wav`` with its transcript ``NAME.txt``, by name
    (sorted; a recording without a transcript is no voice)."""
    return {wav.stem: (wav, wav.with_suffix(".txt").read_text().strip())
            for wav in sorted((Path(directory) / "voices").glob("*.wav")) if wav.with_suffix(".txt").is_file()}


def bundled_voice(directory: Path, name: str) -> tuple[Path, str]:
    """One of the model's prompt voices by name: (its wav, its transcript)."""
    voices = bundled_voices(directory)
    if name not in voices:
        raise ValueError(f"{directory}: no voice {name!r} (have: {', '.join(voices) or 'none'})")
    return voices[name]


def load_tts(spec: str | None, backend: str = "auto", threads: int | None = None, int8: bool = False):
    """(model, tokenizer): ONNX Runtime where ``tts.onnx`` exists (``auto``), else torch."""
    from .text import TOKENIZER_FILE, TextTokenizer

    directory = find_tts_dir(spec)
    tokenizer = TextTokenizer.from_file(directory / TOKENIZER_FILE)
    if backend == "onnx" or (backend == "auto" and (directory / "tts.onnx").is_file()):
        from serve.tts_runtime import OnnxTts

        return OnnxTts(directory, threads, int8=int8), tokenizer
    from .model import TtsModel

    return TtsModel.from_pretrained(directory), tokenizer
