"""Llama-style decoder-only transformer over text + speech-code tokens.

RMSNorm, rotary position embeddings, SwiGLU, grouped-query attention, optional tied
embeddings. ``forward(input_ids, position_ids, past, key_mask)`` serves prefill and decode
alike: ``past`` is a list of (K, V) per layer [B, n_kv, T_past, head_dim] and the returned
``present`` is the same list extended by this call, the interface the ONNX graph exports.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from codec.checkpoint import state_hash
from codec.model_dir import read_model_dir, save_model_dir

from .config import TtsConfig

KV = tuple[Tensor, Tensor]


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        x32 = x.float()
        return (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)).type_as(x) * self.weight


def rotary(x: Tensor, positions: Tensor, theta: float) -> Tensor:
    """Rotate pairs of x [B, H, L, D] by position-dependent angles (half-split layout)."""
    half = x.shape[-1] // 2
    freqs = theta ** (-torch.arange(half, device=x.device, dtype=torch.float32) / half)
    angles = positions.float()[:, None, :, None] * freqs  # [B, 1, L, half]
    cos, sin = angles.cos(), angles.sin()
    x1, x2 = x.float()[..., :half], x.float()[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1).type_as(x)


class Attention(nn.Module):
    def __init__(self, cfg: TtsConfig) -> None:
        super().__init__()
        self.cfg = cfg
        hd = cfg.head_dim
        self.q = nn.Linear(cfg.dim, cfg.n_heads * hd, bias=False)
        self.kv = nn.Linear(cfg.dim, 2 * cfg.n_kv_heads * hd, bias=False)
        self.o = nn.Linear(cfg.n_heads * hd, cfg.dim, bias=False)

    def forward(self, x: Tensor, positions: Tensor, past: KV | None, mask: Tensor,
                probe_heads: int = 0) -> tuple[Tensor, KV, Tensor | None]:
        """-> (output, K/V including this call, the attention probabilities [B, h, L, T] of the
        first ``probe_heads`` heads, for the alignment loss, or None)."""
        b, length, _ = x.shape
        c, hd = self.cfg, self.cfg.head_dim
        q = self.q(x).view(b, length, c.n_heads, hd).transpose(1, 2)
        k, v = self.kv(x).view(b, length, 2, c.n_kv_heads, hd).permute(2, 0, 3, 1, 4)
        q, k = rotary(q, positions, c.rope_theta), rotary(k, positions, c.rope_theta)
        if past is not None:
            k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
        out = grouped_attention(q, k, v, mask)
        probs = None
        if probe_heads:  # the same scores SDPA used, materialized for these heads only
            k_probe = k[:, torch.arange(probe_heads, device=k.device) // (c.n_heads // c.n_kv_heads)]  # each head's K
            scores = (q[:, :probe_heads].float() @ k_probe.float().transpose(-1, -2)) * hd**-0.5
            probs = scores.masked_fill(~mask, float("-inf")).softmax(-1)
        return self.o(out.transpose(1, 2).reshape(b, length, -1)), (k, v), probs


def grouped_attention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor) -> Tensor:
    """Grouped-query attention: q [B, H, L, D] over k, v [B, H_kv, T, D] (query head h reads
    K/V head h // (H / H_kv)), mask [B, 1, L, T] -> [B, H, L, D].

    The queries of a group are stacked along L instead of copying K/V once per query head:
    the same dot products, without re-materializing the whole cache every decoding step."""
    b, heads, length, hd = q.shape
    groups = heads // k.shape[1]
    if groups == 1:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    stacked = q.reshape(b, k.shape[1], groups * length, hd)
    mask = mask.unsqueeze(2).expand(b, 1, groups, length, mask.shape[-1]).reshape(b, 1, groups * length, -1)
    return F.scaled_dot_product_attention(stacked, k, v, attn_mask=mask).reshape(b, heads, length, hd)


class SwiGLU(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.gate_up = nn.Linear(dim, 2 * hidden, bias=False)
        self.down = nn.Linear(hidden, dim, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        gate, up = self.gate_up(x).chunk(2, dim=-1)
        return self.down(F.silu(gate) * up)


class Block(nn.Module):
    def __init__(self, cfg: TtsConfig) -> None:
        super().__init__()
        self.attn_norm, self.attn = RMSNorm(cfg.dim, cfg.norm_eps), Attention(cfg)
        self.ffn_norm, self.ffn = RMSNorm(cfg.dim, cfg.norm_eps), SwiGLU(cfg.dim, cfg.ffn_hidden)

    def forward(self, x: Tensor, positions: Tensor, past: KV | None, mask: Tensor,
                probe_heads: int = 0) -> tuple[Tensor, KV, Tensor | None]:
        h, present, probs = self.attn(self.attn_norm(x), positions, past, mask, probe_heads)
        x = x + h
        return x + self.ffn(self.ffn_norm(x)), present, probs


def attention_mask(key_mask: Tensor, query_len: int) -> Tensor:
    """Boolean [B, 1, L, T]: causal over the last ``query_len`` of T keys, padding keys hidden.

    Every query also sees itself, so a left-padding query row is never empty (no NaN)."""
    total = key_mask.shape[1]
    k_idx = torch.arange(total, device=key_mask.device)[None, :]
    q_idx = torch.arange(total - query_len, total, device=key_mask.device)[:, None]
    mask = (k_idx <= q_idx)[None] & key_mask[:, None, :].bool()
    return (mask | (k_idx == q_idx)[None])[:, None]


class TtsModel(nn.Module):
    """Decoder-only LM over the unified vocabulary."""

    def __init__(self, cfg: TtsConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.dim)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.head = None if cfg.tie_embeddings else nn.Linear(cfg.dim, cfg.vocab_size, bias=False)
        self.apply(self._init)
        self.pretrained = False

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=0.02)

    def forward(self, input_ids: Tensor, position_ids: Tensor | None = None, past: list[KV] | None = None,
                key_mask: Tensor | None = None, probe: tuple[tuple[int, ...], int] | None = None,
                last_only: bool = False):
        """input_ids [B, L] (or [B, L, Q] rows) -> logits [B, L, V] and the K/V cache including
        these positions. ``probe=(layers, heads)`` appends a third item: the attention
        probabilities of the first ``heads`` heads of each listed layer (``tts.alignment``).
        ``last_only`` gives logits [B, 1, V] of the last position: all that generation reads,
        and for a prompt of L positions the output layer then costs 1/L of its full price."""
        b, length = input_ids.shape[:2]
        past_len = past[0][0].shape[2] if past else 0
        if position_ids is None:
            position_ids = torch.arange(past_len, past_len + length, device=input_ids.device).expand(b, length)
        if key_mask is None:
            key_mask = torch.ones(b, past_len + length, dtype=torch.bool, device=input_ids.device)
        mask = attention_mask(key_mask, length)
        x = self.embed_tokens(input_ids)
        layers, heads = probe or ((), 0)
        present, probs = [], []
        for i, block in enumerate(self.blocks):
            x, kv, p = block(x, position_ids, past[i] if past else None, mask, heads if i in layers else 0)
            present.append(kv)
            if p is not None:
                probs.append(p)
        x = self.norm(x[:, -1:] if last_only else x)
        logits = x @ self.embed.weight.t() if self.head is None else self.head(x)
        return (logits, present, probs) if probe else (logits, present)

    def embed_tokens(self, input_ids: Tensor) -> Tensor:
        """One id per position, or the sum of a multi-codebook row's embeddings (``EMPTY`` adds 0)."""
        if input_ids.dim() == 2:
            return self.embed(input_ids)
        present = (input_ids >= 0).unsqueeze(-1)
        return (self.embed(input_ids.clamp(min=0)) * present).sum(2)

    def stepper(self, use_cache: bool = True):
        """A fresh generation stepper (K/V cache) over this model, for ``tts.decoding``."""
        from .generate import TorchStepper

        return TorchStepper(self, use_cache)

    def with_text_vocab(self, text_vocab: int) -> "TtsModel":
        """A copy for another text tokenizer: every weight kept except the text rows of the
        embedding (and untied head), which start fresh; specials and speech codes move to
        their new ids. Warm-starts a model whose speech side is trained with new text units."""
        cfg = TtsConfig.from_dict({**self.cfg.to_dict(), "text_vocab": text_vocab})
        new = TtsModel(cfg)
        state = {k: v for k, v in self.state_dict().items() if not k.startswith(("embed.", "head."))}
        new.load_state_dict(state, strict=False)
        with torch.no_grad():
            for name in ("embed", "head"):
                old_w, new_w = getattr(self, name), getattr(new, name)
                if old_w is not None:
                    new_w.weight[cfg.text_vocab :] = old_w.weight[self.cfg.text_vocab :]
        return new

    # -- persistence ------------------------------------------------------------------
    def weights_hash(self) -> str:
        return state_hash(self)

    def save_pretrained(self, directory: str | Path, dtype: torch.dtype | None = None) -> Path:
        return save_model_dir(self, directory, "tts", self.cfg.to_dict(), dtype)

    @classmethod
    def from_pretrained(cls, directory: str | Path, map_location: str = "cpu") -> "TtsModel":
        config, state = read_model_dir(directory, "tts", map_location)
        model = cls(TtsConfig.from_dict(config))
        model.load_state_dict(state)
        model.pretrained = True
        return model.eval()
