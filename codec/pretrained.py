"""Resolve a model spec (directory, bundled model name, or preset) to a loaded Codec.

Bundled models live in ``models/<name>/`` beside the packages (override the folder with
``SPEECH_MODELS_DIR``).  A bare preset name with no trained weights gives a randomly
initialised codec with a fixed seed, so encode and decode in separate processes agree;
callers must tell the user (``codec.pretrained`` is False).
"""

from __future__ import annotations

import os
from pathlib import Path

from typing import TYPE_CHECKING

from .config import CONFIG_FILE, load_preset
from .errors import CodecError

if TYPE_CHECKING:
    from .model import Codec

DEFAULT_CODEC = "hificodec"
TTS_TOKENIZER_CODEC = "distilcodec"
RANDOM_INIT_SEED = 1234


def models_dir() -> Path:
    """Folder of bundled models (``SPEECH_MODELS_DIR`` or the repo's ``models/``)."""
    env = os.environ.get("SPEECH_MODELS_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[1] / "models"


def resolve_model_dir(spec: str) -> Path | None:
    """The directory holding ``spec``'s weights, or None when there is none."""
    for candidate in (Path(spec), models_dir() / spec):
        if (candidate / CONFIG_FILE).is_file():
            return candidate
    return None


def load_codec(spec: str | None = None, device: str = "cpu") -> "Codec":
    """Load a codec from a directory, a bundled model name or a preset name."""
    import torch

    from .model import Codec

    spec = spec or DEFAULT_CODEC
    directory = resolve_model_dir(spec)
    if directory is not None:
        return Codec.from_pretrained(directory, map_location=device)
    try:
        cfg = load_preset(spec)
    except ValueError as err:
        raise CodecError(f"{spec}: no model directory, bundled model or preset of that name ({err})") from None
    with torch.random.fork_rng():
        torch.manual_seed(RANDOM_INIT_SEED)
        codec = Codec(cfg)
    return codec.to(device).eval()
