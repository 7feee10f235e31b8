"""Masked-channel residual VQ (Language-Codec).

The first m = ``mcrvq_masked_levels`` levels each see only one channel block of size dim/m
(the rest is masked to zero), so the first few code streams carry information about the
whole latent evenly instead of the first level taking most of it.  Level m quantizes the
residual z - sum(masked outputs), later levels are plain residual VQ.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import QuantizerConfig
from .base import QuantizedResult, QuantizerBase
from .vq import VectorQuantizer


class MaskedChannelRVQ(QuantizerBase):
    """``cfg.n_q`` levels over [B, dim, F]: m masked channel-block levels, then residual levels."""

    def __init__(self, dim: int, cfg: QuantizerConfig) -> None:
        super().__init__()
        m = cfg.mcrvq_masked_levels
        if m < 1 or dim % m:
            raise ValueError(f"latent dim {dim} is not divisible by mcrvq_masked_levels={m}")
        if cfg.n_q <= m:
            raise ValueError(f"mcrvq needs n_q > mcrvq_masked_levels, got n_q={cfg.n_q}, m={m}")
        self.dim, self.masked, self.block, self.dropout = dim, m, dim // m, cfg.dropout
        sizes = [self.block] * m + [dim] * (cfg.n_q - m)
        self.layers = nn.ModuleList(VectorQuantizer.from_config(d, cfg) for d in sizes)

    def streams(self) -> list[nn.Module]:
        return list(self.layers)

    def stream_channels(self, i: int) -> slice:
        return slice(i * self.block, (i + 1) * self.block) if i < self.masked else slice(None)

    def _mask_in(self, z: Tensor, level: int) -> Tensor:
        """Channel block ``level`` of z: the only input a masked level sees."""
        return z[:, level * self.block : (level + 1) * self.block]

    def _mask_out(self, q: Tensor, level: int) -> Tensor:
        """Place a block's output back at its channels, zeros elsewhere."""
        return F.pad(q, (0, 0, level * self.block, self.dim - (level + 1) * self.block))

    def forward(self, z: Tensor, n_q: int | None = None) -> QuantizedResult:
        """z [B, D, F] -> QuantizedResult over the first n_q levels (sampled when training with dropout)."""
        self.check_latent(z, self.dim)
        n = self.resolve_n_q(n_q, z.device)
        quantized, levels = torch.zeros_like(z, dtype=torch.float32), []
        for i, vq in enumerate(self.layers[:n]):
            if i < self.masked:
                levels.append(r := vq(self._mask_in(z, i)))
                quantized = quantized + self._mask_out(r.quantized, i)
            else:
                levels.append(r := vq(z - quantized))
                quantized = quantized + r.quantized
        return QuantizedResult.of_levels(quantized, levels)

    def encode(self, z: Tensor, n_q: int | None = None) -> Tensor:
        """z [B, D, F] -> codes [B, n_q, F] (all levels when n_q is None)."""
        self.check_latent(z, self.dim)
        n = self.n_codebooks if n_q is None else self.resolve_n_q(n_q, z.device)
        quantized = torch.zeros_like(z, dtype=torch.float32)
        codes = []
        for i, vq in enumerate(self.layers[:n]):
            c = vq.encode(self._mask_in(z, i) if i < self.masked else z - quantized)
            quantized = quantized + self._level_out(c, i)
            codes.append(c)
        return torch.stack(codes, 1)

    def _level_out(self, codes: Tensor, level: int) -> Tensor:
        """Decoded contribution [B, D, F] of one level's codes [B, F]."""
        q = self.layers[level].decode(codes)
        return self._mask_out(q, level) if level < self.masked else q

    def decode(self, codes: Tensor) -> Tensor:
        """codes [B, Q', F] with 1 <= Q' <= n_q -> latent [B, D, F] from the first Q' levels."""
        q = self.check_codes(codes)
        out = torch.zeros(codes.shape[0], self.dim, codes.shape[2], device=codes.device)
        for i in range(q):
            out = out + self._level_out(codes[:, i], i)
        return out
