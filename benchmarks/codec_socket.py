"""A microphone's audio to codes as it is spoken: the codec's EncodeStream over gRPC against the
gateway's WebSocket (/v1/audio/codes/stream, what a page uses), on a real speech-server process.

    python benchmarks/codec_socket.py [--model distilcodec] [--seconds 5] [--chunk-ms 20] [--rounds 3]

A "microphone" sends ``--chunk-ms`` of 16-bit audio at a time, in real time; each message of
codes that comes back is timed from when the chunk that completed its last frame was sent.
Reported: that latency's median and 95th percentile over the rounds, and the socket's ratio
against gRPC measured in the same run (same audio, same chunks).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from pathlib import Path

import grpc
import numpy as np
from websockets.sync.client import connect

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from codec import audio  # noqa: E402
from load import start_server  # noqa: E402
from serve.gen.speech.v1 import speech_pb2 as pb  # noqa: E402
from serve.gen.speech.v1 import speech_pb2_grpc as pb_grpc  # noqa: E402


def paced(chunks: list[bytes], sent: list[float], rate: int):
    """The chunks (16-bit samples at ``rate``) at real-time pace, each one's send time noted."""
    start = time.perf_counter()
    for i, chunk in enumerate(chunks):
        time.sleep(max(0.0, start + i * len(chunks[0]) / 2 / rate - time.perf_counter()))
        sent.append(time.perf_counter())
        yield chunk


def latencies(frames_back: list[tuple[float, int]], sent: list[float], hop: int, chunk_samples: int) -> list[float]:
    """Each arrival's delay from the chunk that completed its last frame (frames counted so far)."""
    out = []
    for arrived, frames in frames_back:
        chunk = min(len(sent) - 1, (frames * hop - 1) // chunk_samples)  # the chunk holding that frame's last sample
        out.append(arrived - sent[chunk])
    return out


def over_grpc(stub, chunks: list[bytes], hop: int, rate: int) -> list[float]:
    sent, back, frames = [], [], 0

    def requests():
        yield pb.EncodeStreamRequest(config=pb.StreamingConfig())
        yield from (pb.EncodeStreamRequest(audio_content=c) for c in paced(chunks, sent, rate))

    for answer in stub.EncodeStream(requests()):
        if answer.codes.num_frames:
            frames += answer.codes.num_frames
            back.append((time.perf_counter(), frames))
    return latencies(back, sent, hop, len(chunks[0]) // 2)


def over_socket(url: str, chunks: list[bytes], hop: int, rate: int) -> list[float]:
    sent, back = [], []
    with connect(url, open_timeout=30) as ws:
        ws.send(json.dumps({}))

        def listen() -> None:
            frames, width = 0, None
            for message in ws:
                if isinstance(message, str):
                    event = json.loads(message)
                    width = event.get("codebooks", width) * 2 if event["type"] == "start" else width
                    continue
                frames += len(message) // width
                back.append((time.perf_counter(), frames))

        listener = threading.Thread(target=listen)
        listener.start()
        for chunk in paced(chunks, sent, rate):
            ws.send(chunk)
        ws.send(json.dumps({"end": True}))
        listener.join()
    return latencies(back, sent, hop, len(chunks[0]) // 2)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="distilcodec")
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--chunk-ms", type=float, default=20.0)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    proc, target, _ = start_server(args.model, 4, ["--http-port", "0"])
    url = f"ws://{proc.serving['http']}/v1/audio/codes/stream"
    try:
        with grpc.insecure_channel(target) as channel:
            stub = pb_grpc.CodecStub(channel)
            info = stub.GetModelInfo(pb.GetModelInfoRequest())
            rate, hop = info.sample_rate_hz, round(info.sample_rate_hz / info.frame_rate_hz)
            chunk = round(args.chunk_ms / 1000 * rate)
            t = np.arange(int(args.seconds * rate)) / rate
            wav = (0.3 * np.sin(2 * np.pi * (120 + 50 * np.sin(2 * np.pi * t)) * t)).astype(np.float32)
            pcm = audio.to_pcm16(wav)
            chunks = [pcm[i:i + 2 * chunk] for i in range(0, len(pcm), 2 * chunk)]
            over_grpc(stub, chunks[:10], hop, rate)  # warm both paths
            over_socket(url, chunks[:10], hop, rate)
            rows = {"gRPC EncodeStream": [], "WebSocket /v1/audio/codes/stream": []}
            for _ in range(args.rounds):
                rows["gRPC EncodeStream"] += over_grpc(stub, chunks, hop, rate)
                rows["WebSocket /v1/audio/codes/stream"] += over_socket(url, chunks, hop, rate)
        print(f"{info.name}: {args.seconds:g} s of audio in {args.chunk_ms:g} ms chunks, real time, {args.rounds} rounds; "
              f"latency from the chunk that completes a frame to its codes\n")
        print("| way | messages | p50 ms | p95 ms | p50 ratio |")
        print("|---|---|---|---|---|")
        base = statistics.median(rows["gRPC EncodeStream"])
        for name, values in rows.items():
            p50, p95 = statistics.median(values), float(np.percentile(values, 95))
            print(f"| {name} | {len(values)} | {1000 * p50:.1f} | {1000 * p95:.1f} | {base / p50:.2f}x |")
    finally:
        proc.terminate()
        proc.wait(30)


if __name__ == "__main__":
    main()
