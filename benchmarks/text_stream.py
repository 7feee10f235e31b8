"""Voice-agent latency: text that a language model writes at a steady pace, spoken as it comes
(SynthesizeTextStream, over gRPC and over the HTTP port's WebSocket) against waiting for the
whole answer and then streaming it (SynthesizeStream), on a real speech-server process with the
bundled TTS.

    python benchmarks/text_stream.py [--tts tts] [--chars-per-second 60 120] [--sentences 4] [--rounds 3]

The "model" sends its answer a token (4 characters) at a time at ``--chars-per-second``; both
ways get the same text, voice and seed, and say the same audio. Reported: time from the first
token to the first audio, and to the last audio; medians over ``--rounds``, and the text-stream's
ratio against the baseline measured in the same run.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import re
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

import grpc
from websockets.sync.client import connect

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from load import start_server  # noqa: E402
from serve.gen.speech.v1 import speech_pb2 as pb  # noqa: E402
from serve.gen.speech.v1 import speech_pb2_grpc as pb_grpc  # noqa: E402

ANSWER = ("The old mill stood by the river for a hundred years. Every spring the water rose and turned its wheel. "
          "The miller's children played on the bank and counted the boats. One morning a stranger came to the door. "
          "He asked for bread and a place to rest.")


def tokens(text: str, chars_per_second: float, size: int = 4):
    """``text`` in ``size``-character tokens at a steady pace, the first one at once."""
    start = time.perf_counter()
    for i in range(0, len(text), size):
        time.sleep(max(0.0, start + i / chars_per_second - time.perf_counter()))
        yield text[i:i + size]


def whole_then_stream(stub, text: str, cps: float, options: dict) -> tuple[float, float]:
    start = time.perf_counter()
    written = "".join(tokens(text, cps))
    first = None
    for answer in stub.SynthesizeStream(pb.SynthesizeSpeechRequest(text=written, **options)):
        first = first or (answer.audio and time.perf_counter() - start)
    return first, time.perf_counter() - start


def as_it_comes(stub, text: str, cps: float, options: dict) -> tuple[float, float]:
    start = time.perf_counter()

    def messages():
        yield pb.SynthesizeTextStreamRequest(config=pb.SynthesizeSpeechRequest(**options))
        for token in tokens(text, cps):
            yield pb.SynthesizeTextStreamRequest(text=token)

    first = None
    for answer in stub.SynthesizeTextStream(messages()):
        first = first or (answer.audio and time.perf_counter() - start)
    return first, time.perf_counter() - start


def over_websocket(url: str, _stub, text: str, cps: float, options: dict) -> tuple[float, float]:
    """The same stream through the gateway's /v1/audio/speech/stream-input (pcm: the gateway asks
    gRPC for 16-bit samples, the browser's format); the answers are read while the text is being
    sent, as a browser's onmessage would. ``_stub`` unused (the ways share one signature)."""
    start, heard = time.perf_counter(), []
    with connect(url, open_timeout=30) as ws:
        def listen() -> None:
            for message in ws:
                if isinstance(message, bytes) and not heard:
                    heard.append(time.perf_counter() - start)
        listener = threading.Thread(target=listen)
        listener.start()
        ws.send(json.dumps({"voice": options["voice_name"], "seed": options["seed"]}))
        for token in tokens(text, cps):
            ws.send(json.dumps({"text": token}))
        ws.send(json.dumps({"end": True}))
        listener.join()
    return heard[0], time.perf_counter() - start


@contextlib.contextmanager
def speech_server(tts: str) -> Iterator[tuple[pb_grpc.TextToSpeechStub, str, dict]]:
    """A speech-server process with ``tts`` and the HTTP port: its TTS stub, its text socket's
    URL, and request options (its first voice, a fixed seed, float32 audio)."""
    proc, target, _ = start_server("distilcodec", 4, ["--tts", tts, "--http-port", "0"])
    try:
        with grpc.insecure_channel(target) as channel:
            stub = pb_grpc.TextToSpeechStub(channel)
            voice = stub.ListVoices(pb.ListVoicesRequest()).voices[0].name
            yield (stub, f"ws://{proc.serving['http']}/v1/audio/speech/stream-input",
                   dict(voice_name=voice, seed=1, encoding=pb.FLOAT32_PCM))
    finally:
        proc.terminate()
        proc.wait(30)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tts", default="tts")
    p.add_argument("--chars-per-second", type=float, nargs="+", default=[60.0, 120.0])
    p.add_argument("--sentences", type=int, default=4)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    text = " ".join(re.split(r"(?<=\.) ", ANSWER)[: args.sentences])
    with speech_server(args.tts) as (stub, url, options):
        websocket = functools.partial(over_websocket, url)
        as_it_comes(stub, "Ready.", 1e6, options)  # warm the paths
        websocket(stub, "Ready.", 1e6, options)
        print(f"{len(text)} characters, {args.sentences} sentences, voice {options['voice_name']}, "
              f"medians of {args.rounds}\n")
        print("| text pace (chars/s) | way | first audio s | last audio s | first audio ratio |")
        print("|---|---|---|---|---|")
        for cps in args.chars_per_second:
            rows = {name: [way(stub, text, cps, options) for _ in range(args.rounds)]
                    for name, way in (("whole answer, then SynthesizeStream", whole_then_stream),
                                      ("SynthesizeTextStream", as_it_comes),
                                      ("WebSocket stream-input", websocket))}
            base = statistics.median(f for f, _ in rows["whole answer, then SynthesizeStream"])
            for name, runs in rows.items():
                first, last = statistics.median(f for f, _ in runs), statistics.median(t for _, t in runs)
                print(f"| {cps:g} | {name} | {first:.2f} | {last:.2f} | {base / first:.2f}x |")


if __name__ == "__main__":
    main()
