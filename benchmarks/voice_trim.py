"""What cutting a long voice prompt costs on the serving path (``tts.voice_trim``): the ONNX
recognizer's forced alignment plus encoding the kept words, against encoding the whole prompt
(what a server without --voice-prompt-seconds does), measured in the same run.

    python benchmarks/voice_trim.py [--tts tts --verifier asr_verifier] [--repeats 1 2 4 8] [--seconds 3] [--threads 2]

Prompts are a bundled voice's recording said 1, 2, 4 and 8 times over (transcript likewise).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from codec import audio  # noqa: E402
from codec.errors import run_cli  # noqa: E402
from timing import best_time  # noqa: E402
from tts.pretrained import bundled_voice, find_tts_dir, load_tts  # noqa: E402
from tts.synthesize import Synthesizer  # noqa: E402
from tts.verify import load_verifier  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tts", default="tts")
    p.add_argument("--verifier", default="asr_verifier")
    p.add_argument("--repeats", nargs="+", type=int, default=[1, 2, 4, 8])
    p.add_argument("--seconds", type=float, default=3.0, help="the cut (speech-server --voice-prompt-seconds)")
    p.add_argument("--voice", default="speaker1222", help="which of the model's voices (tts-cli voices) is read")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--runs", type=int, default=3)
    args = p.parse_args()
    model, tokenizer = load_tts(args.tts, "onnx", args.threads)
    verifier = load_verifier(args.verifier, "onnx", args.threads)
    synth = Synthesizer(model, tokenizer, backend="onnx", verifier=verifier)
    path, text = bundled_voice(find_tts_dir(args.tts), args.voice)
    said = audio.load(path, synth.sample_rate)
    print(f"voice {path.stem} ({len(said) / synth.sample_rate:.1f} s), cut to {args.seconds:g} s; {args.verifier} and "
          f"{synth.codec.name} on ONNX Runtime, {args.threads} threads, best of {args.runs} runs")
    print("| prompt (s) | encode whole (ms) | align (ms) | align + encode kept (ms) | vs whole |")
    print("|---|---|---|---|---|")
    for n in args.repeats:
        wav, transcript = np.tile(said, n), " ".join([text] * n)
        whole = best_time(lambda: synth.voice_from_audio(wav, transcript), args.runs)
        align = best_time(lambda: verifier.trim(wav, synth.sample_rate, transcript, args.seconds), args.runs)
        cut = best_time(lambda: synth.voice_from_audio(wav, transcript, args.seconds), args.runs)
        print(f"| {len(wav) / synth.sample_rate:.1f} | {1e3 * whole:.0f} | {1e3 * align:.0f} | {1e3 * cut:.0f} | "
              f"{cut / whole:.2f}x |")


if __name__ == "__main__":
    sys.exit(run_cli("voice_trim.py", main))
