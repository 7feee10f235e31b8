"""TTS model configuration and the one-vocabulary layout (Llasa / UniTTS style).

Token ids: ``[0, text_vocab)`` text BPE | specials | ``n_codebooks`` x ``codebook_size`` speech
codes (codebook q owns its own id range, so with tied embeddings each codebook has its own
output head). A single sequence reads ``<bos> <text> text ids </text> <speech> codes... </speech>``;
multi-codebook codecs use the delay pattern (``tts.delay``), one position per delayed step. Presets are
YAML data in ``tts/presets/`` (``tiny`` for tests, ``small`` bundled, ``base`` and ``1b`` for
GPU users); derived sizes are computed here, never stored.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from codec.typed_config import ConfigError, build, coerce_fields

SPECIALS = ("<pad>", "<bos>", "<text>", "</text>", "<speech>", "</speech>")
PRESET_DIR = Path(__file__).resolve().parent / "presets"


@dataclass
class TtsConfig:
    name: str = "tts-tiny"
    text_vocab: int = 512
    codebook_size: int = 256
    n_codebooks: int = 1  # > 1: delay pattern, one head (id range) per codebook
    codec: str = "distilcodec"  # the speech tokenizer these codes belong to
    codec_hash: str = ""  # that codec's codes_hash: codes mean nothing under another encoder ("" = unchecked)
    codec_frame_rate: float = 50.0
    dim: int = 64
    n_layers: int = 2
    n_heads: int = 4
    n_kv_heads: int = 2  # grouped-query attention: n_heads / n_kv_heads queries share a K/V head
    hidden: int = 0  # SwiGLU width; 0: 8/3 * dim rounded up to 32
    max_seq_len: int = 1024
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5
    tie_embeddings: bool = True
    cfg_scale: float = 1.0  # default classifier-free guidance (> 1 only if trained with text_dropout)
    # heads trained by guided attention to read the text in order (``tts.alignment``; training
    # records them): the first ``align_heads`` heads of each block in ``align_layers``. Tools
    # read from them where in the text the speech is.
    align_layers: tuple[int, ...] = ()
    align_heads: int = 0
    # the training audio's median speaking rate, normalized characters per second (training
    # records it): a new voice's prompt can be stretched to it (``tts.voice_pace``, opt-in); 0 = unknown
    chars_per_second: float = 0.0

    def __post_init__(self) -> None:
        coerce_fields(self)
        if self.dim % self.n_heads or self.n_heads % self.n_kv_heads:
            raise ConfigError(f"dim {self.dim} / heads {self.n_heads} / kv heads {self.n_kv_heads} do not divide")
        if (self.dim // self.n_heads) % 2:
            raise ConfigError("head dim must be even for rotary embeddings")
        if self.n_codebooks < 1:
            raise ConfigError("n_codebooks must be >= 1")
        if self.cfg_scale < 1:
            raise ConfigError(f"cfg_scale must be >= 1 (1 = no guidance), got {self.cfg_scale}")
        if any(not 0 <= i < self.n_layers for i in self.align_layers) or not 0 <= self.align_heads <= self.n_heads:
            raise ConfigError(f"align_layers {list(self.align_layers)} / align_heads {self.align_heads} must name "
                              f"blocks of {self.n_layers} and up to {self.n_heads} heads")
        if self.chars_per_second < 0:
            raise ConfigError(f"chars_per_second must be >= 0 (0 = unknown), got {self.chars_per_second}")

    # -- vocabulary layout -----------------------------------------------------------
    def special(self, token: str) -> int:
        return self.text_vocab + SPECIALS.index(token)

    @property
    def speech_offset(self) -> int:
        return self.text_vocab + len(SPECIALS)

    def codebook_offset(self, q: int) -> int:
        """First token id of codebook ``q``'s codes."""
        return self.speech_offset + q * self.codebook_size

    @property
    def vocab_size(self) -> int:
        return self.speech_offset + self.n_codebooks * self.codebook_size

    @property
    def ffn_hidden(self) -> int:
        return self.hidden or -(-int(8 * self.dim / 3) // 32) * 32

    @property
    def head_dim(self) -> int:
        return self.dim // self.n_heads

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TtsConfig":
        return build(cls, data, "TTS config")


def list_presets() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def load_preset(name: str, **overrides: Any) -> TtsConfig:
    path = PRESET_DIR / f"{name}.yaml"
    if not path.is_file():
        raise ConfigError(f"unknown TTS preset {name!r} (have: {', '.join(list_presets())})")
    data = yaml.safe_load(path.read_text()) or {}
    data.update(overrides)
    return TtsConfig.from_dict(data)
