"""What WSOLA time stretching costs on the serving path (``tts.time_stretch``): a request's
``speaking_rate`` stretches every decoded chunk, and a zero-shot voice prompt is paced before it
is encoded. Both against the codec work they ride on, measured in the same run: decoding the
same audio's codes chunk by chunk, and encoding the prompt.

    python benchmarks/time_stretch.py [--tts tts] [--rates 0.5 0.8 1.25 2] [--chunk-frames 10] [--threads 2]
    python benchmarks/time_stretch.py --intelligibility data/mini16k/manifests/test.jsonl [--limit 60]

The audio is a bundled voice's recording said 3 times over. ``--intelligibility`` instead
transcribes held-out recordings played at each rate (the recipe's recognizer, words snapped
to the training vocabulary) and gives the word error rate next to the same speed change by
resampling (pitch and formants move with it), the naive baseline.
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
from tts.time_stretch import TimeStretcher  # noqa: E402


def stretch_chunks(chunks: list[np.ndarray], factor: float, sample_rate: int) -> None:
    stretcher = TimeStretcher(factor, sample_rate)
    for chunk in chunks:
        stretcher.push(chunk)
    stretcher.flush()


def intelligibility(manifest: str, train_manifest: str, asr: str, rates: list[float], limit: int) -> None:
    """WER of held-out recordings at each rate: WSOLA against resampling."""
    from codec.data import read_manifest
    from tts.asr import CtcRecognizer, Lexicon, SnappedRecognizer
    from tts.data import speed_perturb
    from tts.time_stretch import time_stretch
    from tts.wer import word_error_rate

    rows = read_manifest(manifest)[:limit]
    judge = SnappedRecognizer(CtcRecognizer.from_pretrained(asr), Lexicon([r["text"] for r in read_manifest(train_manifest)]))
    wavs = [audio.load(r["path"], 24000) for r in rows]
    refs = [r["text"] for r in rows]
    print(f"{len(rows)} recordings of {manifest}, judged by {asr} + lexicon")
    print("| speaking_rate | WER, WSOLA (pitch kept) | WER, resampled (pitch moves) |")
    print("|---|---|---|")
    for rate in [1.0, *rates]:
        wsola = [judge.transcribe(time_stretch(w, 1 / rate, 24000), 24000) for w in wavs]
        moved = [judge.transcribe(speed_perturb(w, rate, 24000), 24000) for w in wavs]
        print(f"| {rate:g} | {100 * word_error_rate(refs, wsola):.1f}% | {100 * word_error_rate(refs, moved):.1f}% |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tts", default="tts")
    p.add_argument("--rates", nargs="+", type=float, default=[0.5, 0.8, 1.25, 2.0])
    p.add_argument("--chunk-frames", type=int, default=10, help="codec frames per streamed chunk")
    p.add_argument("--voice", default="speaker1222", help="which of the model's voices (tts-cli voices) is read")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--intelligibility", metavar="MANIFEST", help="measure WER at each rate instead of time")
    p.add_argument("--train-manifest", default="data/mini16k/manifests/train.jsonl", help="the lexicon's words")
    p.add_argument("--asr", default="models/asr")
    p.add_argument("--limit", type=int, default=60)
    args = p.parse_args()
    if args.intelligibility:
        return intelligibility(args.intelligibility, args.train_manifest, args.asr, args.rates, args.limit)
    model, tokenizer = load_tts(args.tts, "onnx", args.threads)
    synth = Synthesizer(model, tokenizer, backend="onnx")
    rate = synth.sample_rate
    path, text = bundled_voice(find_tts_dir(args.tts), args.voice)
    said = audio.load(path, rate)
    wav = np.tile(said, 3)
    codes = synth.codec.encode(wav[None])
    step = args.chunk_frames

    def decode() -> list[np.ndarray]:
        decoder = synth.codec.stream(1).decoder
        return [decoder.push(codes[..., i : i + step])[0] for i in range(0, codes.shape[-1], step)]

    chunks = decode()
    seconds = sum(len(c) for c in chunks) / rate
    base = best_time(decode, args.runs)
    print(f"{seconds:.1f} s of {synth.codec.name} audio ({path.stem} x 3) in chunks of {step} frames; ONNX Runtime, "
          f"{args.threads} threads, best of {args.runs} runs")
    print("| speaking_rate | stretch (ms) | ms per audio second | vs streaming decode |")
    print("|---|---|---|---|")
    print(f"| (streaming decode alone) | {1e3 * base:.0f} | {1e3 * base / seconds:.1f} | 1.00x |")
    for speaking_rate in args.rates:
        took = best_time(lambda: stretch_chunks(chunks, 1 / speaking_rate, rate), args.runs)
        print(f"| {speaking_rate:g} | {1e3 * took:.0f} | {1e3 * took / seconds:.1f} | {took / base:.2f}x |")
    encode = best_time(lambda: synth.voice_from_audio(said, text), args.runs)
    paced = best_time(lambda: synth.voice_from_audio(said, text, pace=model.cfg.chars_per_second or 16.0), args.runs)
    print(f"\nvoice prompt ({len(said) / rate:.1f} s): encode {1e3 * encode:.0f} ms, pace + encode {1e3 * paced:.0f} ms "
          f"({paced / encode:.2f}x)")


if __name__ == "__main__":
    sys.exit(run_cli("time_stretch.py", main))
