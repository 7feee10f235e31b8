"""Load test: N concurrent DecodeStream clients against a real speech-server process.

    python benchmarks/load.py [--model hificodec] [--clients 1 2 4 8 16] [--seconds 8]

Each client streams the codes of ``--seconds`` of audio in ``--chunk-ms`` chunks as fast as
the server answers and records time to first audio and its real-time factor (wall / audio).
A level stays real-time when the p95 stream RTF is below 1. The server runs in its own
process with default settings, as ``make serve`` starts it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from serve import wire  # noqa: E402
from serve.gen.speech.v1 import speech_pb2 as pb  # noqa: E402
from serve.gen.speech.v1 import speech_pb2_grpc as pb_grpc  # noqa: E402


def start_server(model: str, max_streams: int) -> tuple[subprocess.Popen, str]:
    cmd = [sys.executable, "-m", "serve.server", "--port", "0", "--codec", model, "--max-streams", str(max_streams)]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    for line in proc.stderr:
        if '"event": "serving"' in line:
            port = line.split('"address": "127.0.0.1:')[1].split('"')[0]
            threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()  # drain logs
            return proc, f"127.0.0.1:{port}"
    raise SystemExit("server did not start")


def one_stream(stub, codes: np.ndarray, chunk: int, seconds: float, out: list) -> None:
    def requests():
        yield pb.DecodeStreamRequest(config=pb.StreamingConfig(encoding=pb.LINEAR_PCM))
        for i in range(0, codes.shape[1], chunk):
            yield pb.DecodeStreamRequest(codes=wire.codes_to_proto(codes[:, i : i + chunk], "", ""))

    start, first = time.perf_counter(), None
    try:
        for resp in stub.DecodeStream(requests(), timeout=120):
            if first is None and resp.audio.data:
                first = time.perf_counter() - start
        out.append((first, (time.perf_counter() - start) / seconds, None))
    except grpc.RpcError as err:
        out.append((None, None, err.code().name))


def run_level(target: str, n: int, codes: np.ndarray, chunk: int, seconds: float) -> dict:
    results: list = []
    with grpc.insecure_channel(target) as channel:
        stub = pb_grpc.CodecStub(channel)
        threads = [threading.Thread(target=one_stream, args=(stub, codes, chunk, seconds, results)) for _ in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    ok = [r for r in results if r[2] is None]
    ttfa = np.array([r[0] for r in ok]) * 1000
    rtf = np.array([r[1] for r in ok])
    return {"n": n, "ttfa50": np.percentile(ttfa, 50), "ttfa95": np.percentile(ttfa, 95), "rtf50": np.percentile(rtf, 50),
            "rtf95": np.percentile(rtf, 95), "errors": len(results) - len(ok)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="hificodec")
    p.add_argument("--clients", nargs="+", type=int, default=[1, 2, 4, 8, 16])
    p.add_argument("--seconds", type=float, default=8.0)
    p.add_argument("--chunk-ms", type=float, default=80.0)
    args = p.parse_args()
    proc, target = start_server(args.model, max(args.clients))
    try:
        with grpc.insecure_channel(target) as channel:
            stub = pb_grpc.CodecStub(channel)
            info = stub.GetModelInfo(pb.GetModelInfoRequest(), wait_for_ready=True, timeout=60)
            rng = np.random.default_rng(0)
            wav = (0.1 * rng.standard_normal(int(args.seconds * info.sample_rate_hz))).astype("<f4")
            audio = pb.Audio(data=wav.tobytes(), encoding=pb.FLOAT32_PCM, sample_rate_hz=info.sample_rate_hz)
            codes = wire.codes_from_proto(stub.Encode(pb.EncodeRequest(audio=audio)).codes)[0]
        chunk = max(1, round(args.chunk_ms / 1000 * info.frame_rate_hz))
        rows = [run_level(target, n, codes, chunk, args.seconds) for n in args.clients]
    finally:
        proc.terminate()
        proc.wait(30)
    print(f"model {info.name} ({info.backend}), {args.seconds:g} s streams in {args.chunk_ms:g} ms chunks, {os.cpu_count()} CPUs")
    print("| clients | first audio p50 ms | p95 ms | stream RTF p50 | p95 | errors | real-time |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['n']} | {r['ttfa50']:.1f} | {r['ttfa95']:.1f} | {r['rtf50']:.3f} | {r['rtf95']:.3f} | {r['errors']} | "
              f"{'yes' if r['rtf95'] < 1 and not r['errors'] else 'no'} |")
    realtime = [r["n"] for r in rows if r["rtf95"] < 1 and not r["errors"]]
    print(f"largest real-time level: {max(realtime) if realtime else 0} concurrent streams")


if __name__ == "__main__":
    main()
