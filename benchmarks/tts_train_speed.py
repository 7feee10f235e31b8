"""TTS training throughput by batch size: what a GPU lease (or a user's card) trains per second.

    python benchmarks/tts_train_speed.py [--preset small] [--batches 16,64,256] [--frames 300]

Runs the real trainer (``tts.train.TtsTrainer``: self-feed pre-pass, guided attention,
classifier-free text dropout, AdamW) on a generated token file of equal-length utterances, and
times batch preparation and the training step apart. A small model on a large GPU is bound by
per-step overhead, not arithmetic: there, utterances per second grow almost with the batch, and
the batch (with its learning rate) is the lever for a short lease. Ratios are against the first
batch size of the same run. ``--device cuda`` on a GPU; the default is the CPU.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from codec.train import Dist  # noqa: E402
from tts.config import load_preset  # noqa: E402
from tts.text import TextTokenizer, train_tokenizer  # noqa: E402
from tts.train import TtsTrainConfig, TtsTrainer  # noqa: E402

WORDS = "the river old lantern gently painted seven horses across quiet market basket".split()


def token_file(folder: Path, n: int, frames: int, codebook_size: int) -> tuple[Path, Path]:
    """``n`` utterances of ``frames`` random codes and ~``frames`` / 4 characters of text, with a tokenizer."""
    from safetensors.torch import save_file

    g = torch.Generator().manual_seed(0)
    words = [WORDS[int(i)] for i in torch.randint(len(WORDS), (n * frames // 20,), generator=g)]
    per = max(1, frames // 20)
    rows = [{"id": f"u{i}", "text": " ".join(words[i * per : (i + 1) * per]), "speaker": f"s{i % 8}"} for i in range(n)]
    codes = {r["id"]: torch.randint(codebook_size, (1, frames), generator=g, dtype=torch.int32) for r in rows}
    tokens, tokenizer = folder / "tokens.safetensors", folder / "tokenizer.json"
    save_file(codes, str(tokens), metadata={"codec": "bench", "codec_hash": "", "rows": json.dumps(rows)})
    TextTokenizer(train_tokenizer([r["text"] for r in rows], vocab_size=300)).save(tokenizer)
    return tokens, tokenizer


def measure(cfg: TtsTrainConfig, device: torch.device, steps: int) -> tuple[float, float]:
    """(seconds per batch preparation, seconds per training step), after two warm-up steps."""
    trainer = TtsTrainer(cfg, Dist(device=device))
    stream = trainer.batches()
    prep = train = 0.0
    for i in range(steps + 2):
        start = time.perf_counter()
        ids, labels, mask = (t.to(device) for t in next(stream))
        mid = time.perf_counter()
        trainer.train_step(ids, labels, mask)
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i >= 2:
            prep, train = prep + mid - start, train + time.perf_counter() - mid
    return prep / steps, train / steps


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="tiny", help="tts preset (small is the bundled model's)")
    p.add_argument("--batches", default="4,8,16", help="batch sizes, comma-separated; the first is the baseline")
    p.add_argument("--frames", type=int, default=150, help="codec frames per utterance (50 per second)")
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=0)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    sizes = [int(b) for b in args.batches.split(",")]
    codebook = load_preset(args.preset).codebook_size
    with tempfile.TemporaryDirectory() as tmp:
        tokens, tokenizer = token_file(Path(tmp), 2 * max(sizes), args.frames, codebook)
        print(f"preset {args.preset}, {args.frames} frames per utterance, {device}, self-feed 0.3, guided attention, "
              f"text dropout 0.1, voice prompts 0.5\n")
        print("| batch | prepare ms | step ms | utterances/s | vs first |\n|---|---|---|---|---|")
        base = None
        for size in sizes:
            cfg = TtsTrainConfig(train_tokens=str(tokens), tokenizer=str(tokenizer), out_dir=tmp, batch_size=size,
                                 model={"preset": args.preset, "cfg_scale": 2.0}, text_dropout=0.1, self_feed=0.3,
                                 voice_prompts=0.5, token_noise=0.2, warmup_steps=1,
                                 align={"weight": 1.0, "layers": [0], "heads": 1})
            prep, step = measure(cfg, device, args.steps)
            rate = size / (prep + step)
            base = base or rate
            print(f"| {size} | {prep * 1e3:.1f} | {step * 1e3:.1f} | {rate:.1f} | {rate / base:.2f}x |")


if __name__ == "__main__":
    main()
