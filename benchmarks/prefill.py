"""A best-of-N request's prompt prefill, in process on the bundled TTS (ONNX Runtime, as the
server runs it): each candidate's rows are the same prompt, so since 2026-12-07 each distinct
row runs once and its copies take its cache (``serve.tts_runtime.OnnxStepper._prefill``);
before, every row ran. Nothing kept between runs (the textless row's store is emptied), the
ways taking turns; medians.

    python benchmarks/prefill.py [--tts tts] [--rounds 6]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import serve.tts_runtime as runtime  # noqa: E402
from serve.server import CodecRegistry, ServerConfig  # noqa: E402
from serve.tts_service import TtsRegistry  # noqa: E402
from tts.sampling import SamplingConfig  # noqa: E402

TEXT = "The quiet river carried seven small boats past the old mill before noon."
PREFILL, FIRST_ALIKE = runtime.OnnxStepper._prefill, runtime.first_alike


def every_row(ids, positions, key_mask) -> list[int]:
    """As before: no row is taken as another's copy."""
    return list(range(ids.shape[0]))


def prefill_seconds(entry, voice, best_of: int, before: bool) -> float:
    took = []

    def timed(self, *args):
        start = time.perf_counter()
        out = PREFILL(self, *args)
        took.append(time.perf_counter() - start)
        return out

    runtime.OnnxStepper._prefill, runtime.first_alike = timed, every_row if before else FIRST_ALIKE
    entry.synth.model.kept_rows.clear()
    try:
        for _ in entry.synth.stream(TEXT, voice, SamplingConfig(seed=1, best_of=best_of, max_frames=2)):
            pass
    finally:
        runtime.OnnxStepper._prefill, runtime.first_alike = PREFILL, FIRST_ALIKE
    return took[0]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tts", default="tts")
    p.add_argument("--rounds", type=int, default=6)
    args = p.parse_args()
    registry = TtsRegistry([args.tts], CodecRegistry(ServerConfig(codec="distilcodec", backend="onnx")), backend="onnx",
                           verifier="asr_verifier")
    entry = registry.default
    name, voice = next(iter(entry.voices.items()))
    ways = [(f"best of {n}, {label}", voice_, n) for n in (1, 2, 4, 8) for label, voice_ in (("no voice", None),
                                                                                            (f"voice {name}", voice))]
    times = {(way, before): [] for way, _, _ in ways for before in (True, False)}
    for _ in range(args.rounds):
        for way, voice_, n in ways:
            for before in (True, False):
                times[(way, before)].append(prefill_seconds(entry, voice_, n, before))
    registry.close()
    print(f"{TEXT!r}, medians of {args.rounds} (ways taking turns)\n")
    print("| prompt | before ms | now ms | now vs before |")
    print("|---|---|---|---|")
    for way, _, _ in ways:
        before, now = (statistics.median(times[(way, b)]) for b in (True, False))
        print(f"| {way} | {before * 1000:.1f} | {now * 1000:.1f} | {now / before:.2f}x |")


if __name__ == "__main__":
    main()
