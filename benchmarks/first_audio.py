"""Time to a request's first audio chunk, in process through what the server runs (ONNX Runtime,
the step batcher, the bundled TTS and codec), with no voice prompt and with a bundled voice:
as before 2026-12-07 (the prompt's rows padded to the longest in one call, the voice's decoder
stream warmed afresh) and now (``serve.tts_runtime.OnnxStepper``: rows prefilled at their own
lengths, guidance's textless row taken as kept; ``Synthesizer._decoder``: a fork of the stream
the voice warmed), and now with nothing kept yet (a voice's first request). The ways take
turns, round after round; medians.

    python benchmarks/first_audio.py [--tts tts] [--rounds 15]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from serve.server import CodecRegistry, ServerConfig  # noqa: E402
from serve.tts_runtime import OnnxStepper  # noqa: E402
from serve.tts_service import TtsRegistry  # noqa: E402
from tts.sampling import SamplingConfig  # noqa: E402

TEXT = "The quiet river carried seven small boats past the old mill before noon."
ROWS_PREFILL = OnnxStepper._prefill


def padded_prefill(self, ids, positions, key_mask):
    """As before 2026-12-07: the prompt's rows padded to the longest, one call."""
    mask = np.concatenate([np.zeros((ids.shape[0], 1), bool), key_mask], axis=1)
    logits, self.past = self._run(ids, positions, mask, self.tts.empty_past(ids.shape[0]))
    return logits


def first_chunk(synth, voice, before: bool, afresh: bool) -> float:
    OnnxStepper._prefill = padded_prefill if before else ROWS_PREFILL
    if before or afresh:
        synth._warmed.clear()
        synth.model.tts.kept_rows.clear()
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
    ways = {"no voice, before": (None, True, True), "no voice, now": (None, False, False),
            f"voice {name}, before": (voice, True, True), f"voice {name}, now, nothing kept yet": (voice, False, True),
            f"voice {name}, now": (voice, False, False)}
    times = {way: [] for way in ways}
    for _ in range(args.rounds):
        for way, how in ways.items():
            times[way].append(first_chunk(entry.synth, *how))
    registry.close()
    print(f"{TEXT!r}, medians of {args.rounds} (ways taking turns)\n")
    print("| way | first chunk ms | vs before |")
    print("|---|---|---|")
    for way, runs in times.items():
        base = statistics.median(times[way.split(",")[0] + ", before"])
        print(f"| {way} | {statistics.median(runs) * 1000:.1f} | {statistics.median(runs) / base:.2f}x |")


if __name__ == "__main__":
    main()
