"""The training loop of the recipe's small judge models (the CTC recognizer, the speaker
encoder): AdamW with a 100-step warmup and a linear decay to 5%, an atomic checkpoint and a
published model directory every 200 steps, and resumption that continues bit-exactly (the
model, the optimizer and the RNGs come back; each step's batch is a function of the step)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable

import torch
from torch import Tensor, nn

from codec.checkpoint import LATEST, load_checkpoint, save_checkpoint, saved_step

SAVE_EVERY = 200


def finished(out: str | Path, steps: int) -> bool:
    """Whether ``out`` already holds a run of ``steps`` steps (a rerun of the stage costs nothing)."""
    return saved_step(Path(out) / LATEST) >= steps


def fit(model: nn.Module, out: str | Path, steps: int, loss_at: Callable[[int], Tensor], lr: float, desc: str,
        stop_after: int | None = None, clip: float | None = None) -> bool:
    """Train ``model`` (which has ``save_pretrained``) on ``loss_at(step)``; True when all
    ``steps`` ran, False when it stopped at ``stop_after`` (a later call resumes)."""
    from tqdm import tqdm

    ckpt = Path(out) / LATEST
    opt = torch.optim.AdamW(model.parameters(), lr, weight_decay=0.01)
    start = load_checkpoint(ckpt, {"model": model}, {"opt": opt})["step"] if ckpt.exists() else 0
    progress = tqdm(range(start, steps), desc=desc, unit="step", file=sys.stderr, mininterval=10,
                    initial=start, total=steps)
    for step in progress:
        loss = loss_at(step)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if clip:
            nn.utils.clip_grad_norm_(model.parameters(), clip)
        for group in opt.param_groups:
            group["lr"] = lr * min(1.0, (step + 1) / 100) * (1 - 0.95 * step / steps)
        opt.step()
        progress.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
        if (step + 1) % SAVE_EVERY == 0 or step + 1 in (steps, stop_after):
            save_checkpoint(ckpt, step + 1, {"model": model}, {"opt": opt})
            model.save_pretrained(out)
        if step + 1 == stop_after:
            return False
    return True
