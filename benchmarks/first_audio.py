"""Time to a request's first audio chunk, in process through what the server runs (ONNX Runtime,
the step batcher, the bundled TTS and codec): with no voice prompt and with a bundled voice,
its decoder stream warmed afresh (as every request did before 2026-12-07) or forked from the one
that voice warmed (``Synthesizer._decoder``). The ways take turns, round after round; medians.

    python benchmarks/first_audio.py [--tts tts] [--rounds 15]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from serve.server import CodecRegistry, ServerConfig  # noqa: E402
from serve.tts_service import TtsRegistry  # noqa: E402
from tts.sampling import SamplingConfig  # noqa: E402

TEXT = "The quiet river carried seven small boats past the old mill before noon."


def first_chunk(synth, voice, afresh: bool) -> float:
    if afresh:
        synth._warmed.clear()
    start = time.perf_counter()
    chunks = synth.stream(TEXT, voice, SamplingConfig(seed=1), 25, 4)  # as SynthesizeStream asks (80 ms first)
    next(chunks)
    took = time.perf_counter() - start
    chunks.close()
    return took


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tts", default="tts")
    p.add_argument("--rounds", type=int, default=15)
    args = p.parse_args()
    registry = TtsRegistry([args.tts], CodecRegistry(ServerConfig(codec="distilcodec", backend="onnx")), backend="onnx",
                           step_rows=32)
    registry.warm()
    entry = registry.default
    name, voice = next(iter(entry.voices.items()))
    ways = {"no voice": (None, False), f"voice {name}, decoder warmed afresh": (voice, True),
            f"voice {name}, decoder forked": (voice, False)}
    times = {way: [] for way in ways}
    for _ in range(args.rounds):
        for way, (v, afresh) in ways.items():
            times[way].append(first_chunk(entry.synth, v, afresh))
    registry.close()
    base = statistics.median(times[f"voice {name}, decoder warmed afresh"])
    print(f"{TEXT!r}, medians of {args.rounds} (ways taking turns)\n")
    print("| way | first chunk ms | vs warmed afresh |")
    print("|---|---|---|")
    for way, runs in times.items():
        print(f"| {way} | {statistics.median(runs) * 1000:.1f} | {statistics.median(runs) / base:.2f}x |")


if __name__ == "__main__":
    main()
