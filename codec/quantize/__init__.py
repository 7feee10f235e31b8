"""Quantizers: residual, group-residual, masked-channel residual and single-codebook VQ.

Every quantizer maps latents [B, D, F] to codes [B, Q, F] int64 and back, and exposes
``n_codebooks``, ``codebook_sizes``, ``forward(z, n_q=None) -> QuantizedResult``,
``encode(z, n_q=None)``, ``decode(codes)``, ``stats()`` and ``reset_stats()``.
"""

from __future__ import annotations

from ..config import QuantizerConfig
from .base import QuantizedResult, QuantizerBase, codebook_stats
from .grvq import GroupResidualVQ
from .mcrvq import MaskedChannelRVQ
from .rvq import ResidualVQ
from .single import SingleCodebookVQ
from .vq import VectorQuantizer, VQResult

QUANTIZERS: dict[str, type[QuantizerBase]] = {
    "rvq": ResidualVQ,
    "grvq": GroupResidualVQ,
    "mcrvq": MaskedChannelRVQ,
    "single": SingleCodebookVQ,
}


def build_quantizer(dim: int, cfg: QuantizerConfig) -> QuantizerBase:
    """The quantizer ``cfg.kind`` over latents of ``dim`` channels."""
    if cfg.kind not in QUANTIZERS:
        raise ValueError(f"unknown quantizer kind {cfg.kind!r}; known: {sorted(QUANTIZERS)}")
    return QUANTIZERS[cfg.kind](dim, cfg)


__all__ = [
    "QUANTIZERS",
    "GroupResidualVQ",
    "MaskedChannelRVQ",
    "QuantizedResult",
    "QuantizerBase",
    "ResidualVQ",
    "SingleCodebookVQ",
    "VQResult",
    "VectorQuantizer",
    "build_quantizer",
    "codebook_stats",
]
