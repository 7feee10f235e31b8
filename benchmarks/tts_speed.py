"""TTS decoding speed: tokens/s and real-time factor, torch with and without KV cache vs
ONNX Runtime fp32 and int8, at 1 and 2 threads, in one run; plus int8's quality cost and the
cost of classifier-free guidance (scale 2: every step runs a second, textless row), and the
serving case: guidance with a 5 s voice prompt, whose long context the prefill and every step pay for.

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


class TimedStepper:
    """Times the first call: the prompt's prefill, what a listener waits for before any audio."""

    def __init__(self, inner) -> None:
        self.inner, self.first_s = inner, None

    def step(self, ids, positions, key_mask):
        start = time.perf_counter()
        out = self.inner.step(ids, positions, key_mask)
        self.first_s = self.first_s if self.first_s is not None else time.perf_counter() - start
        return out


def run(lm, cfg, frames: int, cfg_scale: float = 1.0, voice_frames: int = 0) -> tuple[float, list[int], float]:
    """-> (seconds, tokens, prefill seconds); ``voice_frames`` codes of a voice prompt lengthen the context."""
    voice = [(7 * i) % cfg.codebook_size for i in range(voice_frames)] or None
    prompt = [build_prompt(lm, list(range(3, 40)), list(range(40, 80)) if voice else None, voice)]
    sampling = SamplingConfig(greedy=True, cfg_scale=cfg_scale)
    stepper = TimedStepper(lm.stepper())
    start = time.perf_counter()
    out = []
    for chunk in decode_loop(stepper, cfg, prompt, [frames], sampling, 1 << 30, min_frames=[frames]):  # no early stop
        out += chunk[0]
    return time.perf_counter() - start, out, stepper.first_s


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", help="trained TTS directory (default: a random --preset model)")
    p.add_argument("--preset", default="small")
    p.add_argument("--frames", type=int, default=150)
    p.add_argument("--voice-frames", type=int, default=250, help="codes of the voice prompt in the voiced rows (5 s)")
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
        rows, reference = [], {}
        for threads in (1, 2):
            torch.set_num_threads(threads)
            voiced = f"guidance 2, {args.voice_frames}-code voice prompt"
            backends = {  # name: (model factory, guidance scale, voice prompt codes)
                "torch, KV cache": (lambda: model, 1.0, 0),
                "torch, no cache": (lambda: type("Full", (), {"cfg": cfg, "stepper": lambda self: model.stepper(use_cache=False)})(), 1.0, 0),
                "onnxruntime fp32": (lambda: OnnxTts(directory, threads), 1.0, 0),
                "onnxruntime int8": (lambda: OnnxTts(directory, threads, int8=True), 1.0, 0),
                "torch, KV cache, guidance 2": (lambda: model, 2.0, 0),
                "onnxruntime fp32, guidance 2": (lambda: OnnxTts(directory, threads), 2.0, 0),
                f"torch, KV cache, {voiced}": (lambda: model, 2.0, args.voice_frames),
                f"onnxruntime fp32, {voiced}": (lambda: OnnxTts(directory, threads), 2.0, args.voice_frames),
                f"onnxruntime int8, {voiced}": (lambda: OnnxTts(directory, threads, int8=True), 2.0, args.voice_frames),
            }
            for name, (make, scale, voice) in backends.items():
                lm = make()
                run(lm, cfg, 5, scale, voice)  # warm-up
                seconds, tokens, first = run(lm, cfg, args.frames, scale, voice)
                if name.startswith("torch, KV cache"):
                    reference[scale, voice] = tokens
                agree = float(np.mean(np.asarray(tokens) == np.asarray(reference[scale, voice])))
                rows.append((threads, name, args.frames / seconds, seconds / audio_s, 1000 * first, agree))
    print(f"model {cfg.name} ({sum(p.numel() for p in model.parameters()) / 1e6:.1f} M params), {args.frames} greedy frames")
    print("| threads | backend | tokens/s | RTF | prefill ms | vs torch+KV | greedy tokens equal to torch+KV "
          "(same guidance and prompt) |")
    print("|---|---|---|---|---|---|---|")
    for threads, name, tps, rtf, first, agree in rows:
        base = next(r for r in rows if r[0] == threads and r[1] == "torch, KV cache")
        print(f"| {threads} | {name} | {tps:.1f} | {rtf:.3f} | {first:.0f} | {tps / base[2]:.2f}x | {100 * agree:.0f}% |")


if __name__ == "__main__":
    main()
