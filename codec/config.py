"""Typed codec configuration and the preset registry.

Presets live as YAML data in ``codec/presets/<name>.yaml``; a preset may carry
``sizes: {tiny: {...overrides}}`` so ``hificodec-tiny`` is the same codec, smaller.
Derived sizes (n_fft, frame rate, bitrate) are computed here once, never stored in YAML.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .typed_config import ConfigError, build, coerce_fields

PRESET_DIR = Path(__file__).parent / "presets"
QUANTIZER_KINDS = ("rvq", "grvq", "mcrvq", "single")
CONFIG_FILE = "config.json"  # a model directory: config + safetensors weights (+ ONNX graphs)
WEIGHTS_FILE = "model.safetensors"
BACKBONES = ("spectral", "seanet")


@dataclass
class QuantizerConfig:
    """Quantizer family and codebook geometry.

    kind: rvq | grvq | mcrvq | single.  ``n_q`` counts levels per group, so the
    total number of code streams is ``groups * n_q``.
    """

    kind: str = "rvq"
    n_q: int = 8
    groups: int = 1
    codebook_size: int = 1024
    codebook_dim: int = 0  # 0: look up in the full latent dim; >0: factorized low-dim l2 lookup
    parametrization: str = "ema"  # ema | simvq
    ema_decay: float = 0.99
    commitment_weight: float = 1.0
    dead_code_threshold: float = 1.0  # restart a code whose EMA count falls below this
    kmeans_iters: int = 10
    dropout: bool = True  # quantizer dropout: train on a random number of levels
    mcrvq_masked_levels: int = 3  # MCRVQ: levels that each see one channel subset

    def __post_init__(self) -> None:
        coerce_fields(self)
        if self.kind not in QUANTIZER_KINDS:
            raise ConfigError(f"quantizer.kind must be one of {QUANTIZER_KINDS}, got {self.kind!r}")
        if self.kind == "single" and (self.n_q != 1 or self.groups != 1):
            raise ConfigError("a single-codebook quantizer has n_q=1 and groups=1")
        if self.kind != "grvq" and self.groups != 1:
            raise ConfigError(f"groups={self.groups} needs kind 'grvq'")
        if self.kind == "mcrvq" and self.n_q <= self.mcrvq_masked_levels:
            raise ConfigError("mcrvq needs more levels than masked levels")
        if self.parametrization not in ("ema", "simvq"):
            raise ConfigError(f"unknown parametrization {self.parametrization!r}")

    @property
    def n_codebooks(self) -> int:
        return self.groups * self.n_q

    @property
    def bits_per_code(self) -> int:
        return max(1, math.ceil(math.log2(self.codebook_size)))


@dataclass
class CodecConfig:
    """Everything needed to rebuild a codec from ``config.json``."""

    name: str = "codec"
    sample_rate: int = 24000
    hop: int = 320  # samples per code frame
    backbone: str = "spectral"  # spectral (ConvNeXt + iSTFT) | seanet (strided convs)
    latent_dim: int = 128
    delay_frames: int = 2  # decoder output lags by this many frames: quality for latency
    # spectral backbone
    dim: int = 384
    n_layers: int = 8
    decoder_layers: int = 0  # ConvNeXt blocks of the decoder; 0: n_layers (a decoder grown by Codec.grow_decoder)
    kernel_size: int = 7
    n_fft_factor: int = 4  # n_fft = n_fft_factor * hop
    # seanet backbone
    channels: int = 32
    ratios: list[int] = field(default_factory=lambda: [8, 5, 4, 2])
    n_residual: int = 1
    quantizer: QuantizerConfig = field(default_factory=QuantizerConfig)

    def __post_init__(self) -> None:
        coerce_fields(self)  # also turns a quantizer mapping into a QuantizerConfig
        if self.backbone not in BACKBONES:
            raise ConfigError(f"backbone must be one of {BACKBONES}, got {self.backbone!r}")
        if self.backbone == "seanet" and math.prod(self.ratios) != self.hop:
            raise ConfigError(f"seanet ratios {self.ratios} multiply to {math.prod(self.ratios)}, not hop={self.hop}")
        if self.decoder_layers < 0 or (self.decoder_layers and self.backbone != "spectral"):
            raise ConfigError(f"decoder_layers={self.decoder_layers}: a count of the spectral backbone's decoder blocks (0: n_layers)")
        if self.backbone == "spectral" and self.n_fft_factor < 3:
            raise ConfigError("n_fft_factor must be >= 3 so Hann frames overlap-add to a constant")
        if self.sample_rate % self.hop:
            raise ConfigError(f"hop {self.hop} must divide sample_rate {self.sample_rate}")

    @property
    def n_fft(self) -> int:
        return self.n_fft_factor * self.hop

    @property
    def frame_rate(self) -> float:
        return self.sample_rate / self.hop

    @property
    def bitrate(self) -> float:
        """Nominal bits per second with every codebook in use."""
        return self.kbps() * 1000

    def kbps(self, n_q: int | None = None) -> float:
        """Nominal kbit/s of the first ``n_q`` code streams (all when None)."""
        q = self.quantizer
        return self.frame_rate * (n_q or q.n_codebooks) * q.bits_per_code / 1000

    @property
    def latency_samples(self) -> int:
        """Algorithmic latency: one hop of input per frame plus the decoder's delay."""
        return self.hop * (1 + self.delay_frames)

    @property
    def delay_samples(self) -> int:
        return self.hop * self.delay_frames

    @property
    def codebook_sizes(self) -> list[int]:
        return [self.quantizer.codebook_size] * self.quantizer.n_codebooks

    def n_frames(self, n_samples: int) -> int:
        """Frames ``encode`` emits for ``n_samples`` of audio (the decoder delay is padded)."""
        return math.ceil((n_samples + self.delay_samples) / self.hop)

    def n_q_for_bandwidth(self, kbps: float | None) -> int:
        """Largest number of code streams whose bitrate fits ``kbps`` (all when None)."""
        q = self.quantizer
        if kbps is None:
            return q.n_codebooks
        per_stream = self.frame_rate * q.bits_per_code / 1000
        n_q = int(kbps / per_stream + 1e-6) // q.groups * q.groups
        variable = q.kind in ("rvq", "grvq", "mcrvq")
        if n_q < 1 or (n_q < q.n_codebooks and not variable):
            raise ValueError(f"{self.name} supports {self.bitrate / 1000:g} kbit/s, not {kbps:g}")
        return min(n_q, q.n_codebooks)

    def codes_problem(self, shape: tuple[int, ...], lo: int, hi: int) -> str | None:
        """Why codes of ``shape`` [B, Q, F] with values in [lo, hi] cannot be decoded, or None."""
        q = self.quantizer
        if len(shape) != 3 or not 1 <= shape[1] <= q.n_codebooks or shape[1] % q.groups:
            step = f", a multiple of {q.groups}" if q.groups > 1 else ""
            return f"codes shape {tuple(shape)} does not fit {self.name} ([B, Q <= {q.n_codebooks}{step}, F])"
        if lo < 0 or hi >= q.codebook_size:
            return f"codes out of range for {self.name} codebooks ({q.n_codebooks} x {q.codebook_size})"
        return None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "CodecConfig":
        return build(cls, data, "codec config")


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def list_presets() -> list[str]:
    """All preset names, sizes included (``hificodec``, ``hificodec-tiny``, ...)."""
    names = []
    for path in sorted(PRESET_DIR.glob("*.yaml")):
        data = yaml.safe_load(path.read_text())
        names.append(path.stem)
        names.extend(f"{path.stem}-{size}" for size in data.get("sizes", {}))
    return names


def load_preset(name: str, **overrides: Any) -> CodecConfig:
    """Build a ``CodecConfig`` from a preset name such as ``distilcodec-tiny``."""
    base, _, size = name.partition("-")
    path = PRESET_DIR / f"{base}.yaml"
    if not path.exists():
        raise ConfigError(f"unknown codec preset {name!r}; known: {', '.join(list_presets())}")
    data = yaml.safe_load(path.read_text())
    sizes = data.pop("sizes", {})
    if size:
        if size not in sizes:
            raise ConfigError(f"preset {base!r} has no size {size!r}; sizes: {sorted(sizes)}")
        data = _merge(data, sizes[size])
        data["name"] = name
    return CodecConfig.from_dict(_merge(data, overrides))
