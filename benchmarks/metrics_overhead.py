"""What Prometheus metrics cost a request: two speech-server processes, one started with
``--metrics-port 0`` and one without, called in turn from one client.

    python benchmarks/metrics_overhead.py [--model hificodec] [--calls 300] [--rounds 5]

Each round times ``--calls`` calls of each kind on each server, alternating servers so drift
hits both: GetModelInfo (no inference: the interceptor's cost shows most), Encode of 1 s of
audio, and a DecodeStream of 1 s in 80 ms chunks (a message counted per chunk). Reported:
median milliseconds per call over the rounds and the ratio with / without metrics.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import grpc
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load import start_server  # noqa: E402

from serve import wire  # noqa: E402  (load put the repository on sys.path)
from serve.gen.speech.v1 import speech_pb2 as pb  # noqa: E402
from serve.gen.speech.v1 import speech_pb2_grpc as pb_grpc  # noqa: E402


def per_call_ms(fn, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return 1000 * (time.perf_counter() - start) / calls


def workloads(stub) -> dict:
    info = stub.GetModelInfo(pb.GetModelInfoRequest(), wait_for_ready=True, timeout=60)
    wav = (0.1 * np.random.default_rng(0).standard_normal(info.sample_rate_hz)).astype("<f4")
    audio = pb.Audio(data=wav.tobytes(), encoding=pb.FLOAT32_PCM, sample_rate_hz=info.sample_rate_hz)
    codes = wire.codes_from_proto(stub.Encode(pb.EncodeRequest(audio=audio)).codes)[0]
    chunk = max(1, round(0.08 * info.frame_rate_hz))
    stream = [pb.DecodeStreamRequest(config=pb.StreamingConfig(encoding=pb.LINEAR_PCM))]
    stream += [pb.DecodeStreamRequest(codes=wire.codes_to_proto(codes[:, i : i + chunk], "", ""))
               for i in range(0, codes.shape[1], chunk)]
    return {
        "GetModelInfo": lambda: stub.GetModelInfo(pb.GetModelInfoRequest()),
        "Encode 1 s": lambda: stub.Encode(pb.EncodeRequest(audio=audio)),
        f"DecodeStream 1 s ({len(stream)} messages)": lambda: list(stub.DecodeStream(iter(stream))),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="hificodec")
    p.add_argument("--calls", type=int, default=300, help="calls of each kind per round (streams: a tenth)")
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()
    servers = {"off": start_server(args.model, 16, []), "on": start_server(args.model, 16, ["--metrics-port", "0"])}
    channels = {k: grpc.insecure_channel(target) for k, (_, target, _) in servers.items()}
    try:
        jobs = {k: workloads(pb_grpc.CodecStub(c)) for k, c in channels.items()}
        times: dict = {(kind, k): [] for kind in jobs["off"] for k in servers}
        for _ in range(args.rounds):
            for kind in jobs["off"]:
                calls = args.calls if kind == "GetModelInfo" else max(1, args.calls // 10)
                for k in ("off", "on"):
                    times[kind, k].append(per_call_ms(jobs[k][kind], calls))
    finally:
        for channel in channels.values():
            channel.close()
        for proc, _, _ in servers.values():
            proc.terminate()
            proc.wait(30)
    print(f"codec {args.model}, {args.rounds} rounds, {os.cpu_count()} CPUs; median ms per call")
    print("| call | without metrics | with metrics | ratio |")
    print("|---|---|---|---|")
    for kind in jobs["off"]:
        off, on = statistics.median(times[kind, "off"]), statistics.median(times[kind, "on"])
        print(f"| {kind} | {off:.3f} | {on:.3f} | {on / off:.3f}x |")


if __name__ == "__main__":
    main()
