"""Group-residual VQ (HiFi-Codec): split channels into groups, one residual VQ per group.

Groups quantize independent channel blocks, so G small codebooks per level cover the
latent like one codebook of size K^G.  Codes are level-major, [l0g0, l0g1, ..., l1g0, ...],
so the first k*G streams are a valid lower bitrate.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..config import QuantizerConfig
from .base import QuantizedResult, QuantizerBase
from .rvq import ResidualVQ


class GroupResidualVQ(QuantizerBase):
    """``cfg.groups`` ResidualVQs of ``cfg.n_q`` levels over equal channel blocks of [B, dim, F]."""

    def __init__(self, dim: int, cfg: QuantizerConfig) -> None:
        super().__init__()
        if dim % cfg.groups:
            raise ValueError(f"latent dim {dim} is not divisible by groups={cfg.groups}")
        self.dim, self.groups, self.levels, self.dropout = dim, cfg.groups, cfg.n_q, cfg.dropout
        self.rvqs = nn.ModuleList(ResidualVQ(dim // cfg.groups, cfg) for _ in range(cfg.groups))

    def streams(self) -> list[nn.Module]:
        return [rvq.layers[level] for level in range(self.levels) for rvq in self.rvqs]

    def stream_channels(self, i: int) -> slice:
        g, width = i % self.groups, self.dim // self.groups
        return slice(g * width, (g + 1) * width)

    def _split(self, z: Tensor) -> tuple[Tensor, ...]:
        return z.chunk(self.groups, dim=1)

    def _interleave(self, per_group: list[Tensor]) -> Tensor:
        """G x [B, L, F] -> level-major [B, L*G, F]."""
        stacked = torch.stack(per_group, 2)  # [B, L, G, F]
        return stacked.reshape(stacked.shape[0], -1, stacked.shape[3])

    def forward(self, z: Tensor, n_q: int | None = None) -> QuantizedResult:
        """n_q counts code streams (a multiple of groups); sampled per batch in training with dropout."""
        self.check_latent(z, self.dim)
        levels = self.resolve_n_q(n_q, z.device, step=self.groups) // self.groups
        results = [rvq(part, levels) for rvq, part in zip(self.rvqs, self._split(z))]
        return QuantizedResult(
            torch.cat([r.quantized for r in results], 1),
            self._interleave([r.codes for r in results]),
            sum(r.commit_loss for r in results),
            sum(r.codebook_loss for r in results),
        )

    def encode(self, z: Tensor, n_q: int | None = None) -> Tensor:
        """z [B, D, F] -> codes [B, n_q, F], level-major."""
        self.check_latent(z, self.dim)
        n = self.n_codebooks if n_q is None else self.resolve_n_q(n_q, z.device, step=self.groups)
        return self._interleave([rvq.encode(part, n // self.groups) for rvq, part in zip(self.rvqs, self._split(z))])

    def decode(self, codes: Tensor) -> Tensor:
        """codes [B, Q', F], Q' a multiple of groups -> latent [B, D, F]."""
        q = self.check_codes(codes, step=self.groups)
        per_level = codes.reshape(codes.shape[0], q // self.groups, self.groups, codes.shape[2])
        return torch.cat([rvq.decode(per_level[:, :, g]) for g, rvq in enumerate(self.rvqs)], 1)
