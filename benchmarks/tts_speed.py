"""TTS decoding speed: tokens/s and real-time factor, torch with and without KV cache vs
ONNX Runtime fp32 and int8, at 1 and 2 threads, in one run; plus int8's quality cost.

    python benchmarks/tts_speed.py [--model models/tts | --preset small] [--frames 150]

RTF = seconds spent / seconds of audio those tokens decode to (codec frame rate); greedy
decoding of a fixed prompt with the stop token disabled, so every backend does equal work.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from serve.tts_runtime import OnnxTts  # noqa: E402
from tts.config import load_preset  # noqa: E402
from tts.decoding import decode_loop  # noqa: E402
from tts.model import TtsModel  # noqa: E402
from tts.onnx_export import export_tts  # noqa: E402
from tts.sampling import SamplingConfig  # noqa: E402
from tts.sequence import build_prompt  # noqa: E402


class NoStop:
    """Wraps a stepper so </speech> is never chosen: fixed-length runs for timing."""

    def __init__(self, inner, end: int) -> None:
        self.inner, self.end = inner, end

    def step(self, *args):
        logits = self.inner.step(*args)
        logits[:, self.end] = -np.inf
        return logits


def run(lm, cfg, frames: int) -> tuple[float, list[int]]:
    prompt = [build_prompt(lm, list(range(3, 40)))]
    start = time.perf_counter()
    out = []
    for chunk in decode_loop(NoStop(lm.stepper(), cfg.special("</speech>")), cfg, prompt, [frames], SamplingConfig(greedy=True), 1 << 30):
        out += chunk[0]
    return time.perf_counter() - start, out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", help="trained TTS directory (default: a random --preset model)")
    p.add_argument("--preset", default="small")
    p.add_argument("--frames", type=int, default=150)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.model:
            model, directory = TtsModel.from_pretrained(args.model), Path(args.model)
        else:
            torch.manual_seed(0)
            model, directory = TtsModel(load_preset(args.preset)).eval(), Path(tmp)
            model.save_pretrained(directory)
        if not (directory / "tts.int8.onnx").is_file():
            directory = Path(tmp) / "onnx"
            model.save_pretrained(directory)
            export_tts(model, directory, quantize_int8=True)
        cfg, audio_s = model.cfg, args.frames / model.cfg.codec_frame_rate
        rows, reference = [], None
        for threads in (1, 2):
            torch.set_num_threads(threads)
            backends = {
                "torch, KV cache": lambda: model,
                "torch, no cache": lambda: type("Full", (), {"cfg": cfg, "stepper": lambda self: model.stepper(use_cache=False)})(),
                "onnxruntime fp32": lambda: OnnxTts(directory, threads),
                "onnxruntime int8": lambda: OnnxTts(directory, threads, int8=True),
            }
            for name, make in backends.items():
                lm = make()
                run(lm, cfg, 5)  # warm-up
                seconds, tokens = run(lm, cfg, args.frames)
                reference = tokens if name == "torch, KV cache" else reference
                agree = float(np.mean(np.asarray(tokens) == np.asarray(reference)))
                rows.append((threads, name, args.frames / seconds, seconds / audio_s, agree))
    print(f"model {cfg.name} ({sum(p.numel() for p in model.parameters()) / 1e6:.1f} M params), {args.frames} greedy frames")
    print("| threads | backend | tokens/s | RTF | vs torch+KV | greedy tokens equal to torch+KV |")
    print("|---|---|---|---|---|---|")
    for threads, name, tps, rtf, agree in rows:
        base = next(r for r in rows if r[0] == threads and r[1] == "torch, KV cache")
        print(f"| {threads} | {name} | {tps:.1f} | {rtf:.3f} | {tps / base[2]:.2f}x | {100 * agree:.0f}% |")


if __name__ == "__main__":
    main()
