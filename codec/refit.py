"""Codebook re-estimation for a trained single-codebook codec (k-means over its latents).

    python -m codec.refit --model exp/student/model --manifest data/mini/manifests/train.jsonl \\
        --out exp/student_refit/model --frames 500000 --iters 12

Training restarts a dead code on one vector of one small batch.  A 16k codebook fed a few
hundred frames per step therefore ends with thousands of codes that no frame reaches (the
distilled student used 74% of its codes on its own training set).  This re-estimates the
codebook with Lloyd iterations over a large sample of the encoder's latents, in the
quantizer's own lookup space, and writes a new model directory; a short fine-tune of the
decoder (``codec.distill`` with ``init_from``) then follows the moved codes.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import torch
from tqdm import tqdm

from .audio import load
from .data import read_manifest
from .errors import describe
from .model import Codec
from .quantize.base import codebook_stats
from .quantize.single import SingleCodebookVQ
from .quantize.vq import VectorQuantizer, assign


def collect_latents(codec: Codec, rows: list[dict], frames: int, seed: int) -> torch.Tensor:
    """Encoder latents [N, D] of whole utterances, in a seeded random order, until ``frames``."""
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    parts, total = [], 0
    with tqdm(total=frames, desc="latents", unit="frame", file=sys.stderr, mininterval=5) as bar:  # 10 redraws a second flood a log file
        for i in order:
            wav = torch.from_numpy(load(rows[i]["path"], codec.sample_rate))[None]
            z = codec.latent(wav)[0].t()
            parts.append(z)
            total += z.shape[0]
            bar.update(z.shape[0])
            if total >= frames:
                break
    return torch.cat(parts)[:frames]


def summary(vq: VectorQuantizer, latents: torch.Tensor) -> dict[str, float]:
    """Usage/perplexity of the codes the latents get, and the mean squared lookup error."""
    with torch.no_grad():
        h, cb = vq._project(latents.t()[None])[0].t(), vq.codebook()
        codes = assign(h, cb)
        err = (h - cb[codes]).pow(2).sum(-1).mean()
    stats = codebook_stats(torch.bincount(codes, minlength=vq.codebook_size))
    return {**stats, "lookup_mse": float(err)}


def single_codebook(codec: Codec) -> VectorQuantizer:
    """The codec's one codebook; residual quantizers need level-by-level refits (not done here)."""
    if not isinstance(codec.quantizer, SingleCodebookVQ):
        raise ValueError(f"needs a single-codebook codec; {codec.cfg.name} has "
                         f"{codec.cfg.quantizer.kind!r} ({codec.n_codebooks} codebooks)")
    return codec.quantizer.vq


def refit_codec(codec: Codec, latents: torch.Tensor, iters: int, ema_decay: float | None = None) -> tuple[dict, dict]:
    """Refit ``codec``'s single codebook in place; returns stats (before, after) on ``latents``."""
    vq = single_codebook(codec)
    before = summary(vq, latents)
    vq.refit(latents, iters)
    if ema_decay is not None:
        vq.ema_decay = codec.cfg.quantizer.ema_decay = ema_decay
    return before, summary(vq, latents)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m codec.refit", description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True, help="trained single-codebook codec directory")
    p.add_argument("--manifest", required=True, help="JSONL manifest of training audio")
    p.add_argument("--out", required=True, help="directory for the refitted codec")
    p.add_argument("--frames", type=int, default=300_000, help="latent frames to cluster (>= codebook size)")
    p.add_argument("--iters", type=int, default=20, help="Lloyd iterations")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ema-decay", type=float, default=None,
                   help="new decay of the hit counts that decide restarts (longer window: fewer false restarts)")
    p.add_argument("--threads", type=int, default=0)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    try:
        codec = Codec.from_pretrained(args.model).eval()
        single_codebook(codec)
        latents = collect_latents(codec, read_manifest(args.manifest), args.frames, args.seed)
        before, after = refit_codec(codec, latents, args.iters, args.ema_decay)
    except (OSError, ValueError) as e:
        print(f"refit: error: {describe(e)}", file=sys.stderr)
        return 2
    codec.save_pretrained(Path(args.out))
    for name, s in (("before", before), ("after", after)):
        print(f"{name}: usage {s['usage']:.1%}  perplexity {s['perplexity']:.0f}  lookup mse {s['lookup_mse']:.4f}"
              f"  ({latents.shape[0]} frames)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
