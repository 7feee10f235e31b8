"""The codec: causal encoder -> quantizer -> causal decoder, offline and streaming.

Timing contract (all in samples, ``D = delay_frames * hop``):
- ``encode(wav[T])`` pads the end with zeros to ``F = ceil((T + D) / hop)`` frames, so the
  decoder, whose output lags by D, still reaches the last input sample;
- ``decode(codes[F])`` returns ``F * hop - D`` samples aligned with the input (trim to the
  original length with ``n_samples``).
Streaming (``codec.stream``) gives exactly the same codes and audio chunk by chunk.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from .checkpoint import state_hash
from .config import CodecConfig
from .errors import ModelMismatch
from .model_dir import read_model_dir, save_model_dir
from .modules.convnext import ConvNeXtStack
from .modules.seanet import seanet_decoder, seanet_encoder
from .modules.spectral import CausalSTFT, ISTFTHead
from .modules.streaming import StreamingSequential
from .quantize import build_quantizer
from .typed_config import ConfigError


@dataclass
class CodecOutput:
    """Result of a training forward pass."""

    audio: Tensor  # [B, T] reconstruction aligned with the input
    codes: Tensor  # [B, Q, F]
    latent: Tensor  # [B, D, F] encoder output before quantization
    quantized: Tensor  # [B, D, F]
    commit_loss: Tensor
    codebook_loss: Tensor


def build_encoder(cfg: CodecConfig) -> StreamingSequential:
    """Waveform [B, 1, T] -> latent [B, latent_dim, T / hop]."""
    if cfg.backbone == "seanet":
        return seanet_encoder(cfg.channels, cfg.ratios, cfg.latent_dim, cfg.n_residual)
    stft = CausalSTFT(cfg.n_fft, cfg.hop)
    return StreamingSequential(stft, ConvNeXtStack(stft.out_channels, cfg.dim, cfg.latent_dim, cfg.n_layers, cfg.kernel_size))


def build_decoder(cfg: CodecConfig) -> StreamingSequential:
    """Latent [B, latent_dim, F] -> waveform [B, 1, F * hop]."""
    if cfg.backbone == "seanet":
        return seanet_decoder(cfg.channels, cfg.ratios, cfg.latent_dim, cfg.n_residual)
    head = ISTFTHead(cfg.n_fft, cfg.hop)
    stack = ConvNeXtStack(cfg.latent_dim, cfg.dim, head.in_channels, cfg.decoder_layers or cfg.n_layers, cfg.kernel_size)
    return StreamingSequential(stack, head)


class Codec(nn.Module):
    """Streaming neural speech codec for 24 kHz mono audio."""

    def __init__(self, cfg: CodecConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = build_encoder(cfg)
        self.quantizer = build_quantizer(cfg.latent_dim, cfg.quantizer)
        self.decoder = build_decoder(cfg)
        self.pretrained = False  # True once real weights are loaded

    # -- geometry -------------------------------------------------------------------
    @property
    def hop(self) -> int:
        return self.cfg.hop

    @property
    def sample_rate(self) -> int:
        return self.cfg.sample_rate

    @property
    def n_codebooks(self) -> int:
        return self.quantizer.n_codebooks

    @property
    def codebook_sizes(self) -> list[int]:
        return list(self.quantizer.codebook_sizes)

    def n_frames(self, n_samples: int) -> int:
        """Frames ``encode`` emits for ``n_samples`` of audio."""
        return self.cfg.n_frames(n_samples)

    def n_q_for_bandwidth(self, kbps: float | None) -> int:
        """Largest number of code streams whose bitrate fits ``kbps`` (all when None)."""
        return self.cfg.n_q_for_bandwidth(kbps)

    # -- offline ----------------------------------------------------------------------
    def _pad(self, wav: Tensor) -> Tensor:
        if wav.dim() != 2:
            raise ValueError(f"expected wav [B, T], got {tuple(wav.shape)}")
        total = self.n_frames(wav.shape[-1]) * self.hop
        return nn.functional.pad(wav, (0, total - wav.shape[-1]))

    def forward(self, wav: Tensor, n_q: int | None = None) -> CodecOutput:
        """Training pass: wav [B, T] -> reconstruction [B, T] plus codes and losses."""
        latent = self.encoder(self._pad(wav)[:, None])
        q = self.quantizer(latent, n_q)
        audio = self.decoder(q.quantized)[:, 0, self.cfg.delay_samples :]
        return CodecOutput(audio[:, : wav.shape[-1]], q.codes, latent, q.quantized, q.commit_loss, q.codebook_loss)

    @torch.no_grad()
    def latent(self, wav: Tensor) -> Tensor:
        """wav [B, T] float -> the encoder's latent [B, D, F] that ``encode`` quantizes."""
        return self.encoder(self._pad(wav)[:, None])

    @torch.no_grad()
    def encode(self, wav: Tensor, n_q: int | None = None) -> Tensor:
        """wav [B, T] float -> codes [B, Q, ceil((T + delay) / hop)] int64."""
        return self.quantizer.encode(self.latent(wav), n_q)

    @torch.no_grad()
    def decode(self, codes: Tensor, n_samples: int | None = None) -> Tensor:
        """codes [B, Q, F] -> wav [B, F * hop - delay], cut to ``n_samples`` if given."""
        self.check_codes(codes)
        wav = self.decoder(self.quantizer.decode(codes))[:, 0, self.cfg.delay_samples :]
        return wav if n_samples is None else wav[:, :n_samples]

    def check_codes(self, codes: Tensor) -> None:
        """Reject codes this model cannot decode, with the reason."""
        lo, hi = (int(codes.min()), int(codes.max())) if codes.numel() else (0, 0)
        problem = self.cfg.codes_problem(tuple(codes.shape), lo, hi)
        if problem:
            raise ModelMismatch(problem)

    def stream(self, batch: int = 1, n_q: int | None = None):
        """Chunked encoder and decoder for ``batch`` parallel streams (see codec.stream)."""
        from .stream import CodecStream

        return CodecStream(self, batch, n_q)

    def grow_decoder(self, n_layers: int) -> None:
        """Deepen the decoder to ``n_layers`` ConvNeXt blocks without changing its output (the new
        ones start as identities, their last projection zero; ``ConvNeXtStack.grow``). The encoder
        and the codes are untouched, so a decoder-only fine-tune of the grown codec keeps
        ``codes_hash`` and every TTS on it."""
        stack = self.decoder.layers[0] if self.cfg.backbone == "spectral" else None
        have = len(stack.blocks) if stack is not None else 0
        if stack is None or n_layers < have:
            raise ConfigError(f"decoder_layers={n_layers}: a spectral decoder can only grow (it has {have} blocks)")
        stack.grow(n_layers)
        self.cfg.decoder_layers = n_layers

    # -- persistence ------------------------------------------------------------------
    def weights_hash(self) -> str:
        """Short content hash of the weights: identifies the model in .codes files."""
        return state_hash(self)

    def codes_hash(self) -> str:
        """Content hash of the encoder and quantizer alone: what the codes mean. A decoder-only
        fine-tune keeps it, so token files and a TTS bind to this, not to ``weights_hash``."""
        return state_hash(nn.ModuleDict({"encoder": self.encoder, "quantizer": self.quantizer}))

    def save_pretrained(self, directory: str | Path) -> Path:
        """Write config.json + model.safetensors (atomically) into ``directory``."""
        return save_model_dir(self, directory, "codec", self.cfg.to_dict())

    @classmethod
    def from_pretrained(cls, directory: str | Path, map_location: str = "cpu") -> "Codec":
        """Load a codec saved by ``save_pretrained`` (safetensors only, nothing unpickled)."""
        config, state = read_model_dir(directory, "codec", map_location)
        model = cls(CodecConfig.from_dict(config))
        model.load_state_dict(state)
        model.pretrained = True
        return model.eval()
