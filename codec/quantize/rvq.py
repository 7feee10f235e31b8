"""Residual VQ (SoundStream/EnCodec/DAC): each level quantizes what the previous ones missed.

Truncating the code stack to its first Q' levels is a valid lower bitrate, which quantizer
dropout trains for: in training a uniform number of levels in [1, n_q] is used per batch.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..config import QuantizerConfig
from .base import QuantizedResult, QuantizerBase
from .vq import VectorQuantizer


class ResidualVQ(QuantizerBase):
    """``cfg.n_q`` codebooks applied to successive residuals of latents [B, dim, F]."""

    def __init__(self, dim: int, cfg: QuantizerConfig) -> None:
        super().__init__()
        self.dim, self.dropout = dim, cfg.dropout
        self.layers = nn.ModuleList(VectorQuantizer.from_config(dim, cfg) for _ in range(cfg.n_q))

    def streams(self) -> list[nn.Module]:
        return list(self.layers)

    def forward(self, z: Tensor, n_q: int | None = None) -> QuantizedResult:
        """z [B, D, F] -> QuantizedResult over the first n_q levels (sampled when training with dropout)."""
        self.check_latent(z, self.dim)
        n = self.resolve_n_q(n_q, z.device)
        residual, quantized, levels = z, torch.zeros_like(z, dtype=torch.float32), []
        for vq in self.layers[:n]:
            levels.append(r := vq(residual))
            residual = residual - r.quantized
            quantized = quantized + r.quantized
        return QuantizedResult.of_levels(quantized, levels)

    def encode(self, z: Tensor, n_q: int | None = None) -> Tensor:
        """z [B, D, F] -> codes [B, n_q, F] (all levels when n_q is None)."""
        self.check_latent(z, self.dim)
        n = self.n_codebooks if n_q is None else self.resolve_n_q(n_q, z.device)
        residual, codes = z, []
        for vq in self.layers[:n]:
            c = vq.encode(residual)
            residual = residual - vq.decode(c)
            codes.append(c)
        return torch.stack(codes, 1)

    def decode(self, codes: Tensor) -> Tensor:
        """codes [B, Q', F] with 1 <= Q' <= n_q -> latent [B, D, F] from the first Q' levels."""
        q = self.check_codes(codes)
        out = torch.zeros(codes.shape[0], self.dim, codes.shape[2], device=codes.device)
        for i, vq in enumerate(self.layers[:q]):
            out = out + vq.decode(codes[:, i])
        return out
