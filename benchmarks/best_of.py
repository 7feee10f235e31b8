"""What best-of-N synthesis costs on the serving path: the bundled TTS on ONNX Runtime with a
bundled voice, N candidates per sentence in one batch, each rendered by the codec and scored
by the ONNX verifier (``tts.verify``), against N = 1 measured in the same run.

    python benchmarks/best_of.py [--tts tts --verifier asr_verifier] [--n 1 2 4 8] [--int8] [--threads 2]

RTF = seconds spent / seconds of audio kept. "choosing" is the rendering and scoring of the
candidates (the rest is generation). Sampling is the serving default, seeds fixed, so every
N sees the same sentences; lengths differ with what is sampled, hence RTF.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from codec import audio  # noqa: E402
from tts.pretrained import find_tts_dir, load_tts  # noqa: E402
from tts.sampling import SamplingConfig  # noqa: E402
from tts.synthesize import Synthesizer  # noqa: E402
from tts.verify import load_verifier  # noqa: E402

SENTENCES = ["The old mill stood by the river for a hundred years.",
             "She carried the basket home before the rain began.",
             "A quiet bridge crossed the valley below the town."]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tts", default="tts")
    p.add_argument("--verifier", default="asr_verifier")
    p.add_argument("--n", nargs="+", type=int, default=[1, 2, 4, 8])
    p.add_argument("--int8", action="store_true")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    model, tokenizer = load_tts(args.tts, "onnx", args.threads, args.int8)
    verifier = load_verifier(args.verifier, "onnx", args.threads)
    synth = Synthesizer(model, tokenizer, backend="onnx", verifier=verifier)
    voices = sorted((find_tts_dir(args.tts) / "voices").glob("*.wav"))
    voice = synth.voice_from_audio(audio.load(voices[0], synth.sample_rate), voices[0].with_suffix(".txt").read_text().strip()) if voices else None
    choose = [0.0]
    plain_choose = synth._choose

    def timed_choose(*a, **k):  # rendering and scoring the candidates; the rest is generation
        start = time.perf_counter()
        out = plain_choose(*a, **k)
        choose[0] += time.perf_counter() - start
        return out

    synth._choose = timed_choose
    synth.synthesize("Warm up.", voice, SamplingConfig(seed=0, best_of=2))
    rows = []
    for n in args.n:
        choose[0], spent, kept = 0.0, 0.0, 0.0
        for i, text in enumerate(SENTENCES):
            start = time.perf_counter()
            wav = synth.synthesize(text, voice, SamplingConfig(seed=i, best_of=n))
            spent += time.perf_counter() - start
            kept += len(wav) / synth.sample_rate
        rows.append((n, spent, kept, choose[0]))
    graph = "int8" if args.int8 else "fp32"
    print(f"{args.tts} ({graph}) + {args.verifier}, ONNX Runtime, {args.threads} threads, {len(SENTENCES)} sentences, "
          f"voice {voices[0].stem if voices else 'none'}")
    print("| best of | seconds | audio kept (s) | RTF | choosing (s) | time vs best of 1 |")
    print("|---|---|---|---|---|---|")
    for n, spent, kept, chose in rows:
        print(f"| {n} | {spent:.2f} | {kept:.1f} | {spent / kept:.3f} | {chose:.2f} | {spent / rows[0][1]:.2f}x |")


if __name__ == "__main__":
    main()
