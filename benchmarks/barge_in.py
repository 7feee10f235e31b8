"""Barge-in: a voice agent's listener talks over the answer, the agent stops it and says the
next one. Two ways, on a real speech-server process with the bundled TTS:

- interrupt: ``{"interrupt": true}`` / ``interrupt=True`` on the open text stream, with the next text;
- baseline: cancel the stream and open a new SynthesizeTextStream with the next text (what a
  client had to do before there was an interrupt).

    python benchmarks/barge_in.py [--tts tts] [--after 1.0] [--rounds 5]

The long answer is sent whole (a language model writing faster than speech); ``--after``
seconds after its first audio the agent cuts in. Reported, medians over ``--rounds``: time from
the cut to the mark (interrupt only), to the next answer's first audio, and how much of the old
answer's audio arrived after the cut (gRPC's and the socket's own buffering; the clients drop it).
"""

from __future__ import annotations

import argparse
import json
import queue
import statistics
import sys
import threading
import time
from pathlib import Path

import grpc
from websockets.sync.client import connect

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from text_stream import ANSWER as ONE_ANSWER, speech_server  # noqa: E402
from serve.gen.speech.v1 import speech_pb2 as pb  # noqa: E402

ANSWER = (ONE_ANSWER + " ") * 3  # a long answer (744 characters)
NEXT = "Sorry, go on. What did you want to ask?"


def interrupt_grpc(stub, options: dict, after: float) -> tuple[float, float, float]:
    """(cut -> mark, cut -> next first audio, old audio s after the cut) on one stream."""
    cut_now, cut_at = threading.Event(), []

    def messages():
        yield pb.SynthesizeTextStreamRequest(config=pb.SynthesizeSpeechRequest(**options))
        yield pb.SynthesizeTextStreamRequest(text=ANSWER)
        cut_now.wait()
        cut_at.append(time.perf_counter())
        yield pb.SynthesizeTextStreamRequest(interrupt=True, text=NEXT, flush=True)

    first, mark, late, next_first = None, None, 0.0, None
    call = stub.SynthesizeTextStream(messages())
    for answer in call:
        now = time.perf_counter()
        if first is None and answer.audio:
            first = now
            threading.Timer(after, cut_now.set).start()
        if answer.interrupted:
            mark = now
        elif mark is None and cut_at:
            late += len(answer.audio) / 4 / answer.sample_rate_hz
        elif mark is not None and answer.audio:
            next_first = now
            call.cancel()
            break
    return mark - cut_at[0], next_first - cut_at[0], late


def cancel_and_reopen(stub, options: dict, after: float) -> tuple[float, float, float]:
    call = stub.SynthesizeTextStream(iter([pb.SynthesizeTextStreamRequest(config=pb.SynthesizeSpeechRequest(
        text=ANSWER, **options))]))
    cut_at = []

    def cut() -> None:
        cut_at.append(time.perf_counter())
        call.cancel()

    timer = None
    try:
        for answer in call:
            if answer.audio and timer is None:
                timer = threading.Timer(after, cut)
                timer.start()
    except grpc.RpcError as err:
        if err.code() != grpc.StatusCode.CANCELLED:
            raise
    for _ in range(100):  # the server frees the old stream's slot as the cancel reaches it
        try:
            for answer in stub.SynthesizeTextStream(iter([pb.SynthesizeTextStreamRequest(
                    config=pb.SynthesizeSpeechRequest(text=NEXT, **options))])):
                if answer.audio:
                    return float("nan"), time.perf_counter() - cut_at[0], 0.0
        except grpc.RpcError as err:
            if err.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
                raise
            time.sleep(0.01)
    raise SystemExit("no slot after the cancel")


def interrupt_socket(url: str, options: dict, after: float) -> tuple[float, float, float]:
    messages: queue.Queue = queue.Queue()
    with connect(url, open_timeout=30) as ws:
        def listen() -> None:
            for message in ws:
                messages.put((time.perf_counter(), message))
        threading.Thread(target=listen, daemon=True).start()
        ws.send(json.dumps({"voice": options["voice_name"], "seed": options["seed"], "text": ANSWER}))
        while not isinstance(messages.get(timeout=60)[1], bytes):
            pass
        time.sleep(after)  # the answer's audio goes on arriving meanwhile
        cut, mark, late = time.perf_counter(), None, 0.0
        ws.send(json.dumps({"interrupt": True, "text": NEXT, "flush": True}))
        while True:
            now, message = messages.get(timeout=60)
            if now < cut:
                continue
            if message == json.dumps({"type": "interrupted"}):
                mark = now
            elif isinstance(message, bytes) and mark is None:
                late += len(message) / 2 / 24000
            elif isinstance(message, bytes):
                return mark - cut, now - cut, late


def next_turn(stub, options: dict, same_stream: bool) -> float:
    """Seconds from sending a second answer to its first audio: on the stream whose first
    answer was flushed and said (``same_stream``), or on a stream of its own."""
    if not same_stream:
        start = time.perf_counter()
        for answer in stub.SynthesizeTextStream(iter([pb.SynthesizeTextStreamRequest(config=pb.SynthesizeSpeechRequest(
                text=NEXT, **options))])):
            if answer.audio:
                return time.perf_counter() - start
    said, sent = threading.Event(), []

    def messages():
        yield pb.SynthesizeTextStreamRequest(config=pb.SynthesizeSpeechRequest(text="Hello there.", **options))
        yield pb.SynthesizeTextStreamRequest(flush=True)
        said.wait()
        sent.append(time.perf_counter())
        yield pb.SynthesizeTextStreamRequest(text=NEXT, flush=True)

    call = stub.SynthesizeTextStream(messages())
    for answer in call:
        if answer.flushed:
            said.set()
        elif sent and answer.audio:
            call.cancel()
            return time.perf_counter() - sent[0]
    raise SystemExit("no second turn")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tts", default="tts")
    p.add_argument("--after", type=float, default=1.0, help="seconds of the answer's audio before the cut")
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()
    with speech_server(args.tts) as (stub, url, options):
        ways = (("cancel, open a new SynthesizeTextStream", lambda: cancel_and_reopen(stub, options, args.after)),
                ("interrupt on the SynthesizeTextStream", lambda: interrupt_grpc(stub, options, args.after)),
                ("interrupt on the WebSocket", lambda: interrupt_socket(url, options, args.after)))
        for _, way in ways:
            way()  # warm every path
        rows = {name: [way() for _ in range(args.rounds)] for name, way in ways}
        turns = {name: [next_turn(stub, options, same) for _ in range(args.rounds)]
                 for name, same in (("a new SynthesizeTextStream", False), ("the next turn, after a flush", True))}
    print(f"answer {len(ANSWER)} characters sent at once, cut {args.after:g} s into its audio, voice "
          f"{options['voice_name']}, medians of {args.rounds}\n")
    print("| way | cut -> mark ms | cut -> next answer's first audio ms | old audio after the cut s | "
          "first audio ratio |")
    print("|---|---|---|---|---|")
    base = statistics.median(r[1] for r in rows[ways[0][0]])
    for name, runs in rows.items():
        mark, heard, late = (statistics.median(r[i] for r in runs) for i in range(3))
        mark_ms = "-" if mark != mark else f"{1000 * mark:.0f}"
        print(f"| {name} | {mark_ms} | {1000 * heard:.0f} | {late:.2f} | {base / heard:.2f}x |")
    print(f"\nthe next answer ({len(NEXT)} characters) once the first is said, medians of {args.rounds}\n")
    print("| way | first audio ms | ratio |")
    print("|---|---|---|")
    base = statistics.median(turns["a new SynthesizeTextStream"])
    for name, runs in turns.items():
        print(f"| {name} | {1000 * statistics.median(runs):.0f} | {base / statistics.median(runs):.2f}x |")


if __name__ == "__main__":
    main()
