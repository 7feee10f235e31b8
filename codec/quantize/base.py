"""Pieces every quantizer shares: the result type, DDP-safe helpers, level sampling, stats.

Collectives (all-reduce, broadcast) only run in training mode, when torch.distributed is
initialized with more than one rank, and every rank reaches them in the same order: the
random draws that decide control flow (dropout level count, restarts) are made on rank 0
and broadcast, so ranks never diverge into different collective sequences.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor, nn


@dataclass
class QuantizedResult:
    quantized: Tensor  # [B, D, F] decoded latent (straight-through in training)
    codes: Tensor  # [B, Q, F] int64, Q = code streams actually used
    commit_loss: Tensor  # scalar, summed over levels, already times commitment_weight
    codebook_loss: Tensor  # scalar, summed over levels (0 for EMA codebooks)

    @classmethod
    def of_levels(cls, quantized: Tensor, levels: list) -> "QuantizedResult":
        """The result of residual levels (each a codebook's result) whose outputs sum to ``quantized``."""
        return cls(quantized, torch.stack([r.codes for r in levels], 1), sum(r.commit_loss for r in levels),
                   sum(r.codebook_loss for r in levels))


def distributed() -> bool:
    """True when running under a multi-rank process group."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    return dist.get_world_size() if distributed() else 1


def all_reduce_sum_(t: Tensor) -> Tensor:
    """Sum over ranks in place (no-op on one process)."""
    if distributed():
        dist.all_reduce(t)
    return t


def broadcast_(t: Tensor) -> Tensor:
    """Overwrite with rank 0's tensor in place (no-op on one process)."""
    if distributed():
        dist.broadcast(t, src=0)
    return t


def tracing() -> bool:
    """True under torch.export / ONNX / jit tracing, where side effects must be skipped."""
    return (
        torch.compiler.is_exporting()
        or torch.compiler.is_compiling()
        or torch.jit.is_tracing()
        or torch.onnx.is_in_onnx_export()
    )


def sample_levels(max_levels: int, device: torch.device) -> int:
    """Quantizer dropout: a uniform level count in [1, max_levels], identical on all ranks."""
    k = torch.randint(1, max_levels + 1, (1,)).to(device)
    return int(broadcast_(k).item())


def codebook_stats(counts: Tensor) -> dict[str, float]:
    """usage: fraction of entries hit; perplexity: exp(entropy) of the hit histogram (K if uniform)."""
    total = counts.sum()
    if int(total) == 0:
        return {"usage": 0.0, "perplexity": 0.0}
    p = counts.double() / total
    return {
        "usage": float((counts > 0).double().mean()),
        "perplexity": float(torch.special.entr(p).sum().exp()),
    }


class QuantizerBase(nn.Module, abc.ABC):
    """Common API over a list of codebooks kept in code-stream order.

    Subclasses set ``self.dropout`` and implement ``streams()`` (the VectorQuantizers in the
    order their codes appear along Q), ``forward``, ``encode`` and ``decode``.
    """

    dropout: bool = False

    @abc.abstractmethod
    def streams(self) -> list[nn.Module]:
        """The VectorQuantizers in code-stream order."""

    def stream_channels(self, i: int) -> slice:
        """Latent channels that code stream ``i`` writes (all of them unless overridden)."""
        return slice(None)

    @torch.no_grad()
    def code_tables(self) -> Tensor:
        """[Q, K_max, D]: stream i's contribution to the latent for each code.

        Decoding is a sum of per-stream contributions, so ``decode(codes)`` equals
        ``sum_i tables[i, codes[:, i]]``; ONNX graphs and servers dequantize this way
        (one gather and a sum over however many streams arrived).
        """
        streams = self.streams()
        dim = self.dim
        tables = torch.zeros(len(streams), max(self.codebook_sizes), dim)
        for i, vq in enumerate(streams):
            k = vq.codebook_size
            tables[i, :k, self.stream_channels(i)] = vq.decode(torch.arange(k)[None])[0].t().float()
        return tables

    @property
    def n_codebooks(self) -> int:
        return len(self.streams())

    @property
    def codebook_sizes(self) -> list[int]:
        return [vq.codebook_size for vq in self.streams()]

    def stats(self) -> dict[str, list[float]]:
        """Per-codebook usage and perplexity since the last ``reset_stats``."""
        per = [vq.stats() for vq in self.streams()]
        return {key: [s[key] for s in per] for key in ("usage", "perplexity")}

    def reset_stats(self) -> None:
        for vq in self.streams():
            vq.reset_stats()

    def resolve_n_q(self, n_q: int | None, device: torch.device, step: int = 1) -> int:
        """Number of code streams to use: explicit, sampled (training + dropout), or all."""
        total = self.n_codebooks
        if n_q is None:
            if self.training and self.dropout:
                return sample_levels(total // step, device) * step
            return total
        if not 1 <= n_q <= total or n_q % step:
            raise ValueError(f"n_q={n_q} must be in [1, {total}] and a multiple of {step}")
        return n_q

    def check_codes(self, codes: Tensor, step: int = 1) -> int:
        """Validate codes [B, Q', F] for decode; returns Q'."""
        if codes.dim() != 3:
            raise ValueError(f"{type(self).__name__}.decode expects codes [B, Q, F], got {tuple(codes.shape)}")
        q = codes.shape[1]
        if not 1 <= q <= self.n_codebooks or q % step:
            raise ValueError(
                f"{type(self).__name__}.decode: codes {tuple(codes.shape)} need 1 <= Q <= {self.n_codebooks}"
                + (f" and Q a multiple of {step} (groups)" if step > 1 else "")
            )
        return q

    def check_latent(self, z: Tensor, dim: int) -> None:
        if z.dim() != 3 or z.shape[1] != dim:
            raise ValueError(f"{type(self).__name__} expects latent [B, {dim}, F], got {tuple(z.shape)}")


def dequantize(tables: Tensor, codes: Tensor) -> Tensor:
    """codes [B, Q', F] -> latent [B, D, F] via ``code_tables`` (any Q' <= Q, export-friendly)."""
    q = codes.shape[1]
    picked = tables[torch.arange(q, device=codes.device).view(1, q, 1), codes]  # [B, Q', F, D]
    return picked.sum(1).transpose(1, 2)
