"""Time to a request's first audio chunk, in process through what the server runs (ONNX Runtime,
the step batcher, the bundled TTS and codec), with no voice prompt and with a bundled voice:
as before 2026-12-07 (the prompt's rows padded to the longest in one call, the voice's decoder
stream warmed afresh) and now (``serve.tts_runtime.OnnxStepper``: rows prefilled at their own
lengths, guidance's textless row taken as kept; ``Synthesizer._decoder``: a fork of the stream
the voice warmed), and now with nothing kept yet (a voice's first request); and that voice's
recording sent with the request (zero-shot, as HTTP's ``voice_audio``): made into a prompt each
time before, kept now (``TtsRegistry.zero_shot``). The ways take turns, round after round; medians.

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

from serve.gen.speech.v1 import speech_pb2 as pb  # noqa: E402
from serve.server import CodecRegistry, ServerConfig  # noqa: E402
from serve.tts_runtime import OnnxStepper  # noqa: E402
from serve.tts_service import TtsRegistry  # noqa: E402
from tts.lru import Lru  # noqa: E402
from tts.pretrained import find_tts_dir  # noqa: E402
from tts.sampling import SamplingConfig  # noqa: E402

TEXT = "The quiet river carried seven small boats past the old mill before noon."
ROWS_PREFILL = OnnxStepper._prefill


def padded_prefill(self, ids, positions, key_mask):
    """As before 2026-12-07: the prompt's rows padded to the longest, one call."""
    mask = np.concatenate([np.zeros((ids.shape[0], 1), bool), key_mask], axis=1)
    logits, self.past = self._run(ids, positions, mask, self.tts.empty_past(ids.shape[0]))
    return logits


def first_chunk(registry, voice, before: bool, afresh: bool) -> float:
    """Seconds to the first chunk; ``voice`` a bundled voice, a recording sent with the request
    (``pb.ZeroShotData``: made into a prompt first, as the server does) or None."""
    entry = registry.default
    synth, tts = entry.synth, entry.synth.model.tts
    OnnxStepper._prefill = padded_prefill if before else ROWS_PREFILL
    kept = synth._warmed, tts.kept_rows, registry.zero_shot_voices
    if before or afresh:  # empty stores for this run; the kept ones stay for the ways that keep
        synth._warmed, tts.kept_rows, registry.zero_shot_voices = Lru(8), Lru(8), Lru(8)
    start = time.perf_counter()
    if isinstance(voice, pb.ZeroShotData):
        voice = registry.zero_shot(entry, voice, voice.transcript)
    chunks = synth.stream(TEXT, voice, SamplingConfig(seed=1), 25, 4)  # as SynthesizeStream asks (80 ms first)
    next(chunks)
    took = time.perf_counter() - start
    chunks.close()
    synth._warmed, tts.kept_rows, registry.zero_shot_voices = kept
    return took


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tts", default="tts")
    p.add_argument("--rounds", type=int, default=15)
    args = p.parse_args()
    registry = TtsRegistry([args.tts], CodecRegistry(ServerConfig(codec="distilcodec", backend="onnx")), backend="onnx",
                           step_rows=32, verifier="asr_verifier", voice_seconds=3.0)  # as make serve runs
    registry.warm()
    entry = registry.default
    name, voice = next(iter(entry.voices.items()))
    directory = find_tts_dir(args.tts) / "voices"
    recording = pb.ZeroShotData(audio_prompt=(directory / f"{name}.wav").read_bytes(),
                                transcript=(directory / f"{name}.txt").read_text().strip())
    ways = {"no voice, before": (None, True, True), "no voice, now": (None, False, False),
            f"voice {name}, before": (voice, True, True), f"voice {name}, now, nothing kept yet": (voice, False, True),
            f"voice {name}, now": (voice, False, False),
            f"{name}.wav sent with the request, before": (recording, True, True),
            f"{name}.wav sent with the request, now": (recording, False, False)}
    times = {way: [] for way in ways}
    for _ in range(args.rounds):
        for way, how in ways.items():
            times[way].append(first_chunk(registry, *how))
    registry.close()
    print(f"{TEXT!r}, medians of {args.rounds} (ways taking turns)\n")
    print("| way | first chunk ms | vs before |")
    print("|---|---|---|")
    for way, runs in times.items():
        base = statistics.median(times[way.split(",")[0] + ", before"])
        print(f"| {way} | {statistics.median(runs) * 1000:.1f} | {statistics.median(runs) / base:.2f}x |")


if __name__ == "__main__":
    main()
