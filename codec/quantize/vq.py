"""One codebook: nearest-neighbour lookup, k-means init, EMA or SimVQ updates, dead-code restarts.

Lookup space: the full latent dim (``codebook_dim=0``) or, factorized like DAC, a learnable
1x1 projection to ``codebook_dim`` where inputs and codebook are l2-normalized, so nearest
means highest cosine.  Codebook parametrizations:

* ``ema``: the codebook is a buffer moved towards the mean of its assigned vectors by an
  exponential moving average (Laplace-smoothed), so it needs no codebook loss.
* ``simvq``: codebook = frozen random basis C [K, d] times a learnable linear map W [d, d];
  gradients on W move every code at once, which keeps large codebooks in use.

``cluster_size`` is a decayed sum of hits (about the hits in the last 1/(1-decay) steps); a
code whose value falls below ``dead_code_threshold`` is restarted on a random vector of the
current batch.  ``refit`` re-estimates a trained codebook by k-means over a large sample
(``codec.refit``).  All quantization maths runs in float32, outside autocast.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .base import all_reduce_sum_, broadcast_, codebook_stats, tracing

LAPLACE_EPS = 1e-5


@dataclass
class VQResult:
    quantized: Tensor  # [B, D, F]
    codes: Tensor  # [B, F] int64
    commit_loss: Tensor  # scalar, times commitment_weight
    codebook_loss: Tensor  # scalar (0 for ema)


def nearest(flat: Tensor, codebook: Tensor) -> Tensor:
    """Index of the nearest code by squared L2 (||c||^2 - 2 x.c); export-friendly matmul + argmin."""
    dist = torch.addmm(codebook.pow(2).sum(-1), flat, codebook.t(), alpha=-2)  # one fused pass
    return dist.argmin(dim=-1)


def assign(x: Tensor, codebook: Tensor, chunk: int = 8192) -> Tensor:
    """``nearest`` in row chunks, so N x K distances never sit in memory at once."""
    return torch.cat([nearest(x[i : i + chunk], codebook) for i in range(0, x.shape[0], chunk)])


@torch.no_grad()
def kmeans(x: Tensor, k: int, iters: int, spherical: bool, reseed_empty: bool = False) -> Tensor:
    """Lloyd's k-means on x [N, d]; seeds from random rows.

    Empty clusters keep their old centroid, or with ``reseed_empty`` move to random rows
    (off by default: during training the number of empties differs between DDP ranks, and
    rank-dependent RNG use would desynchronize them).
    """
    n = x.shape[0]
    if n >= k:
        centroids = x[torch.randperm(n, device=x.device)[:k]].clone()
    else:  # fewer vectors than codes: jitter duplicates apart, restarts sort out the rest
        centroids = x[torch.randint(n, (k,), device=x.device)]
        centroids = centroids + 1e-3 * x.std() * torch.randn_like(centroids)
    if spherical:
        centroids = F.normalize(centroids, dim=-1)
    for _ in range(iters):
        codes = assign(x, centroids)
        counts = torch.bincount(codes, minlength=k)
        sums = torch.zeros_like(centroids).index_add_(0, codes, x)
        means = sums / counts.clamp(min=1).unsqueeze(1).to(x.dtype)
        if spherical:
            means = F.normalize(means, dim=-1)
        centroids = torch.where(counts.unsqueeze(1) > 0, means, centroids)
        empty = counts == 0
        if reseed_empty and bool(empty.any()):
            centroids[empty] = x[torch.randint(n, (int(empty.sum()),), device=x.device)]
    return centroids


def _no_autocast(device_type: str) -> contextlib.AbstractContextManager:
    """Nearest-neighbour search in bf16 picks wrong codes: force float32 inside the quantizer."""
    if device_type in ("cpu", "cuda") and torch.is_autocast_enabled(device_type):
        return torch.autocast(device_type, enabled=False)
    return contextlib.nullcontext()


class VectorQuantizer(nn.Module):
    """A single codebook over latents [B, dim, F]."""

    def __init__(
        self,
        dim: int,
        codebook_size: int,
        codebook_dim: int = 0,
        parametrization: str = "ema",
        ema_decay: float = 0.99,
        commitment_weight: float = 1.0,
        dead_code_threshold: float = 1.0,
        kmeans_iters: int = 10,
    ) -> None:
        super().__init__()
        if parametrization not in ("ema", "simvq"):
            raise ValueError(f"parametrization must be 'ema' or 'simvq', got {parametrization!r}")
        self.dim, self.codebook_size = dim, codebook_size
        self.factorized = codebook_dim > 0
        self.code_dim = d = codebook_dim if self.factorized else dim
        self.parametrization, self.ema_decay = parametrization, ema_decay
        self.commitment_weight, self.dead_code_threshold = commitment_weight, dead_code_threshold
        self.kmeans_iters = kmeans_iters
        self.in_proj = nn.Conv1d(dim, d, 1) if self.factorized else nn.Identity()
        self.out_proj = nn.Conv1d(d, dim, 1) if self.factorized else nn.Identity()
        init = torch.randn(codebook_size, d)
        if parametrization == "ema":
            self.register_buffer("embed", init)
            self.register_buffer("embed_sum", init.clone())
        else:
            self.register_buffer("base", init)
            self.proj = nn.Linear(d, d, bias=False)
            nn.init.eye_(self.proj.weight)
        self.register_buffer("cluster_size", torch.ones(codebook_size))
        self.register_buffer("initialized", torch.tensor(False))
        self.register_buffer("counts", torch.zeros(codebook_size, dtype=torch.long), persistent=False)

    @classmethod
    def from_config(cls, dim: int, cfg) -> "VectorQuantizer":
        """Build from a ``QuantizerConfig`` (codebook geometry and update rule)."""
        return cls(
            dim, cfg.codebook_size, cfg.codebook_dim, cfg.parametrization, cfg.ema_decay,
            cfg.commitment_weight, cfg.dead_code_threshold, cfg.kmeans_iters,
        )

    # -- codebook ------------------------------------------------------------------
    def codebook(self) -> Tensor:
        """Effective codebook [K, d] in the lookup space (unit rows when factorized)."""
        c = self.embed if self.parametrization == "ema" else self.proj(self.base)
        return F.normalize(c, dim=-1) if self.factorized else c

    def _project(self, x: Tensor) -> Tensor:
        """[B, D, F] -> lookup space [B, d, F]."""
        h = self.in_proj(x)
        return F.normalize(h, dim=1) if self.factorized else h

    def _check(self, x: Tensor) -> None:
        if x.dim() != 3 or x.shape[1] != self.dim:
            raise ValueError(f"VectorQuantizer expects [B, {self.dim}, F], got {tuple(x.shape)}")

    # -- public API ------------------------------------------------------------------
    def forward(self, x: Tensor) -> VQResult:
        """x [B, D, F] -> quantized [B, D, F] (straight-through), codes [B, F], losses."""
        self._check(x)
        with _no_autocast(x.device.type):
            h = self._project(x.float())
            b, d, f = h.shape
            flat = h.transpose(1, 2).reshape(b * f, d)
            if self.training:
                self._train_prepare(flat.detach())
            cb = self.codebook()
            with torch.no_grad():
                codes = nearest(flat, cb)
            q = F.embedding(codes, cb).view(b, f, d).transpose(1, 2)
            commit = self.commitment_weight * F.mse_loss(h, q.detach())
            cb_loss = F.mse_loss(q, h.detach()) if self.parametrization == "simvq" else h.new_zeros(())
            q_st = h + (q - h).detach() if h.requires_grad else q.detach()
            if self.training:
                self._ema_update(flat.detach(), codes)
            self._count(codes)
            return VQResult(self.out_proj(q_st), codes.view(b, f), commit, cb_loss)

    def encode(self, x: Tensor) -> Tensor:
        """x [B, D, F] -> codes [B, F] int64 (no data-dependent Python control flow)."""
        self._check(x)
        with _no_autocast(x.device.type):
            h = self._project(x.float())
            b, d, f = h.shape
            codes = nearest(h.transpose(1, 2).reshape(b * f, d), self.codebook()).view(b, f)
        self._count(codes)
        return codes

    def decode(self, codes: Tensor) -> Tensor:
        """codes [B, F] -> [B, D, F]."""
        if codes.dim() != 2:
            raise ValueError(f"VectorQuantizer.decode expects codes [B, F], got {tuple(codes.shape)}")
        with _no_autocast(codes.device.type):
            return self.out_proj(F.embedding(codes, self.codebook()).transpose(1, 2))

    def stats(self) -> dict[str, float]:
        return codebook_stats(self.counts)

    def reset_stats(self) -> None:
        self.counts.zero_()

    # -- training updates --------------------------------------------------------------
    def _count(self, codes: Tensor) -> None:
        if not tracing():
            self.counts += torch.bincount(codes.reshape(-1), minlength=self.codebook_size)

    @property
    def _reset_count(self) -> float:
        """Hit count given to fresh codes: survives ~log(2)/(1-decay) idle steps before restarting."""
        return 2.0 * self.dead_code_threshold

    @torch.no_grad()
    def _train_prepare(self, flat: Tensor) -> None:
        """k-means init on the first batch, then dead-code restarts (both before the lookup)."""
        if flat.shape[0] == 0:
            return
        if not bool(self.initialized):
            self._kmeans_init(flat)
        elif self.dead_code_threshold > 0:
            self._restart_dead(flat)

    @torch.no_grad()
    def _kmeans_init(self, flat: Tensor) -> None:
        """All ranks run k-means (same RNG use), rank 0's centroids win."""
        centroids = broadcast_(kmeans(flat, self.codebook_size, self.kmeans_iters, self.factorized).contiguous())
        # A small prior hit count: centroids from an untrained encoder's first batch are poor,
        # and a code that wins nothing must be restarted within ~70 steps, not after hundreds.
        self._set_codebook(centroids)

    @torch.no_grad()
    def refit(self, latents: Tensor, iters: int = 20) -> None:
        """Re-estimate the codebook by k-means over many latents [N, dim] (LBG re-estimation).

        Why: restarts during training put a code on one vector of one small batch; with 16k
        codes and a few hundred frames per step many codes end far from the data and never
        win.  Lloyd iterations over a large sample give every code its own cell.  The codes
        stay in the same lookup space, so ``out_proj`` and the decoder still fit them.
        """
        if latents.dim() != 2 or latents.shape[1] != self.dim:
            raise ValueError(f"refit expects latents [N, {self.dim}], got {tuple(latents.shape)}")
        if latents.shape[0] < self.codebook_size:
            raise ValueError(f"refit needs at least {self.codebook_size} frames, got {latents.shape[0]}")
        with _no_autocast(latents.device.type):
            h = self._project(latents.float().t()[None])[0].t().contiguous()
            centroids = kmeans(h, self.codebook_size, iters, self.factorized, reseed_empty=True)
        self._set_codebook(centroids)

    def _set_codebook(self, centroids: Tensor) -> None:
        """Make ``codebook()`` return ``centroids`` and give every code a fresh hit count."""
        self.initialized.fill_(True)
        self.cluster_size.fill_(self._reset_count)
        if self.parametrization == "ema":
            self.embed.copy_(centroids)
            self.embed_sum.copy_(centroids * self._reset_count)
        else:
            self.base.copy_(centroids)
            nn.init.eye_(self.proj.weight)

    @torch.no_grad()
    def _restart_dead(self, flat: Tensor) -> None:
        """Move codes with too few recent hits onto random batch vectors (rank 0's choice)."""
        dead = self.cluster_size < self.dead_code_threshold  # identical on all ranks
        n_dead = int(dead.sum())
        if n_dead == 0:
            return
        new = broadcast_(flat[torch.randint(flat.shape[0], (n_dead,), device=flat.device)].contiguous())
        if self.parametrization == "ema":
            self.embed[dead] = new
            self.embed_sum[dead] = new * self._reset_count
        else:  # pick basis rows that W maps onto the chosen vectors
            self.base[dead] = new @ torch.linalg.pinv(self.proj.weight.float()).t()
        self.cluster_size[dead] = self._reset_count

    @torch.no_grad()
    def _ema_update(self, flat: Tensor, codes: Tensor) -> None:
        """Decay hit counts (all parametrizations) and, for ema, move codes to their cluster means."""
        counts = all_reduce_sum_(torch.bincount(codes, minlength=self.codebook_size).to(flat.dtype))
        self.cluster_size.mul_(self.ema_decay).add_(counts)
        if self.parametrization != "ema":
            return
        sums = all_reduce_sum_(torch.zeros_like(self.embed).index_add_(0, codes, flat))
        self.embed_sum.mul_(self.ema_decay).add_(sums)
        total = self.cluster_size.sum()
        smoothed = (self.cluster_size + LAPLACE_EPS) / (total + self.codebook_size * LAPLACE_EPS) * total
        self.embed.copy_(self.embed_sum / smoothed.unsqueeze(1))
