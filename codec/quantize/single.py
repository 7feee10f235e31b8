"""Single-codebook VQ (DistilCodec): one large codebook, one token stream per frame.

One stream is what a language model wants to predict, but a 16k-entry codebook collapses
easily; the factorized, l2-normalized low-dim lookup (``codebook_dim``, e.g. 8), k-means
init and dead-code restarts of ``VectorQuantizer`` keep most of it alive, and ``codec.refit``
re-estimates it by k-means over many latents after training (restarts alone left the bundled
student using 74% of its codes on its own training audio; after the refit, 100%).
"""

from __future__ import annotations

from torch import Tensor, nn

from ..config import QuantizerConfig
from .base import QuantizedResult, QuantizerBase
from .vq import VectorQuantizer


class SingleCodebookVQ(QuantizerBase):
    """One ``VectorQuantizer`` over [B, dim, F]; codes [B, 1, F]."""

    def __init__(self, dim: int, cfg: QuantizerConfig) -> None:
        super().__init__()
        self.dim = dim
        self.vq = VectorQuantizer.from_config(dim, cfg)

    def streams(self) -> list[nn.Module]:
        return [self.vq]

    def forward(self, z: Tensor, n_q: int | None = None) -> QuantizedResult:
        """z [B, D, F] -> QuantizedResult with codes [B, 1, F]; n_q, if given, must be 1."""
        self.check_latent(z, self.dim)
        self.resolve_n_q(n_q, z.device)
        r = self.vq(z)
        return QuantizedResult(r.quantized, r.codes.unsqueeze(1), r.commit_loss, r.codebook_loss)

    def encode(self, z: Tensor, n_q: int | None = None) -> Tensor:
        """z [B, D, F] -> codes [B, 1, F]."""
        self.check_latent(z, self.dim)
        self.resolve_n_q(n_q, z.device)
        return self.vq.encode(z).unsqueeze(1)

    def decode(self, codes: Tensor) -> Tensor:
        """codes [B, 1, F] -> latent [B, D, F]."""
        self.check_codes(codes)
        return self.vq.decode(codes[:, 0])
