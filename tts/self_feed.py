"""Two-pass scheduled sampling: train on inputs that hold the model's own predictions.

Teacher forcing shows the model only true histories; free-running, it reads its own codes and
its first mistakes compound (exposure bias). On the mini corpus the gap is the whole problem:
one-step-ahead codes give 23% WER, free-running 85-93%. Random codes (``token_noise``) do
not look like the model's mistakes, which are near misses. Here a first, gradient-free pass
predicts every target position (argmax of its codebook's head) and a ``rate`` share of the
inputs that generation would have produced itself is replaced by those predictions before the
training pass (Mihaylova & Martins 2019, scheduled sampling for transformers). Text, voice
prompt codes, specials and padding stay true: generation is given them too.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .sequence import IGNORE


@torch.no_grad()
def feed_own_predictions(net, cfg, ids: Tensor, labels: Tensor, key_mask: Tensor, rate: float,
                         generator: torch.Generator) -> Tensor:
    """``ids`` [B, L(, Q)] with a ``rate`` share of its generated speech codes replaced by the
    model's argmax from the first pass (same shape; ``labels`` from ``training_sequence``)."""
    if rate <= 0:
        return ids
    grid, targets = (ids, labels) if ids.dim() == 3 else (ids[..., None], labels[..., None])
    logits = net(ids, key_mask=key_mask)[0]  # [B, L, V]
    out = grid.clone()
    for q in range(grid.shape[-1]):
        lo = cfg.codebook_offset(q)
        guess = logits[:, :-1, lo : lo + cfg.codebook_size].argmax(-1) + lo  # predicts position t + 1
        nxt = grid[:, 1:, q]
        own = (targets[:, :-1, q] != IGNORE) & (nxt >= lo) & (nxt < lo + cfg.codebook_size)  # generated, not given
        hit = own & (torch.rand(own.shape, generator=generator) < rate).to(own.device)
        out[:, 1:, q] = torch.where(hit, guess, nxt)
    return out if ids.dim() == 3 else out[..., 0]
