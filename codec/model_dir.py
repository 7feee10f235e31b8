"""The model directory format shared by codec and TTS: ``config.json`` + ``model.safetensors``.

``config.json`` holds ``format_version``, ``kind`` ("codec" or "tts"), the weights hash and the
model config; weights are safetensors only, so loading never unpickles anything. Both files
are written atomically.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any, ClassVar

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from .atomic import atomic_write
from .checkpoint import state_hash
from .config import CONFIG_FILE, WEIGHTS_FILE
from .errors import ModelMismatch

FORMAT_VERSION = 1


def save_model_dir(module: nn.Module, directory: str | Path, kind: str, config: dict[str, Any],
                   dtype: torch.dtype | None = None) -> Path:
    """``dtype`` (e.g. float16) stores floating tensors smaller; loading casts back to the
    module's dtype. Round the module first (``half().float()``) so the recorded hash holds."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: (v.to(dtype) if dtype is not None and v.is_floating_point() else v).detach().cpu().contiguous()
             for k, v in module.state_dict().items()}
    meta = {"format_version": FORMAT_VERSION, "kind": kind, "weights_hash": state_hash(module), "config": config}
    atomic_write(directory / WEIGHTS_FILE, lambda p: save_file(state, p, metadata={"format_version": str(FORMAT_VERSION)}))
    atomic_write(directory / CONFIG_FILE, lambda p: Path(p).write_text(json.dumps(meta, indent=2) + "\n"))
    return directory


def read_model_dir(directory: str | Path, kind: str, map_location: str = "cpu") -> tuple[dict[str, Any], dict]:
    """(config dict, state dict) of a ``kind`` model directory, or a one-line error."""
    directory = Path(directory)
    cfg_path, weights_path = directory / CONFIG_FILE, directory / WEIGHTS_FILE
    if not cfg_path.is_file() or not weights_path.is_file():
        raise FileNotFoundError(f"{directory}: not a {kind} model directory (needs {CONFIG_FILE} and {WEIGHTS_FILE})")
    meta = json.loads(cfg_path.read_text())
    if meta.get("kind") != kind or meta.get("format_version") != FORMAT_VERSION:
        raise ModelMismatch(f"{cfg_path}: not a version-{FORMAT_VERSION} {kind} config")
    return meta["config"], load_file(str(weights_path), device=map_location)


class PretrainedDir:
    """``save_pretrained`` / ``from_pretrained`` for a module built from one config dataclass
    (``self.cfg``): the small recipe models (recognizer, speaker encoder) name their ``KIND``
    and ``CONFIG`` and get both."""

    KIND: ClassVar[str]
    CONFIG: ClassVar[type]

    def save_pretrained(self, directory: str | Path) -> Path:
        return save_model_dir(self, directory, self.KIND, asdict(self.cfg))

    @classmethod
    def from_pretrained(cls, directory: str | Path):
        config, state = read_model_dir(directory, cls.KIND)
        model = cls(cls.CONFIG(**config))
        model.load_state_dict(state)
        return model.eval()
