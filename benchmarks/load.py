"""Load test: N concurrent streaming clients against a real speech-server process.

    python benchmarks/load.py [--model hificodec] [--clients 1 2 4 8 16] [--seconds 8] [--codec-step-rows 1 32]
    python benchmarks/load.py --synthesize [--tts tts] [--int8] [--clients 1 2 4] [--step-rows 1 32]

Codec mode: each client streams the codes of ``--seconds`` of audio in ``--chunk-ms`` chunks
(DecodeStream) as fast as the server answers, once for each ``--codec-step-rows`` (speech-server
--codec-step-rows: 1 runs each stream's step calls alone, more stacks concurrent streams' calls
into one; the table adds each level's stream RTF over the first setting's). ``--synthesize``: each client asks for one
sentence through SynthesizeStream (same text, a different seed per client), once for each
``--step-rows`` (speech-server --tts-step-rows: 1 runs each request's generation alone on a
worker, more stacks concurrent requests' decode steps into one model call; the settings take
turns level by level); the table adds the audio made per second of wall time, its ratio to the
first setting's at the same level, and how many answers are the first setting's bytes exactly.
Both record time to first audio and the stream's real-time factor (wall / audio); a level stays real-time
when the p95 stream RTF is below 1. The server runs in its own process with default
settings, as ``make serve`` starts it, plus ``--metrics-port``: each level also reports what the
server saw, how long its inference calls waited for a free worker (speech_inference_queue_seconds).
"""

from __future__ import annotations

import argparse
import hashlib
import json
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


SENTENCE = "The quiet river carried seven small boats past the old mill before noon."


def start_server(model: str, max_streams: int, extra: list[str]) -> tuple[subprocess.Popen, str, str | None]:
    """A speech-server process: (process, gRPC target, metrics URL when ``extra`` asks for them)."""
    cmd = [sys.executable, "-m", "serve.server", "--port", "0", "--codec", model, "--max-streams", str(max_streams), *extra]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    for line in proc.stderr:
        if '"event": "serving"' in line:
            event = proc.serving = json.loads(line[line.index("{"):])  # its addresses, for callers that need more
            threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()  # drain logs
            return proc, event["address"], f"http://{event['metrics']}/metrics" if "metrics" in event else None
    raise SystemExit("server did not start")


def queue_wait(metrics_url: str) -> tuple[float, float, float]:
    """The server's inference calls so far: (seconds waited in all, calls, calls that waited over 10 ms)."""
    from urllib.request import urlopen

    from prometheus_client.parser import text_string_to_metric_families

    text = urlopen(metrics_url, timeout=10).read().decode()
    samples = {(s.name, s.labels.get("le")): s.value for f in text_string_to_metric_families(text) for s in f.samples
               if s.name.startswith("speech_inference_queue_seconds")}
    count = samples[("speech_inference_queue_seconds_count", None)]
    return samples[("speech_inference_queue_seconds_sum", None)], count, count - samples[("speech_inference_queue_seconds_bucket", "0.01")]


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


def one_synthesis(stub, seed: int, chunk_ms: float, out: list) -> None:
    req = pb.SynthesizeSpeechRequest(text=SENTENCE, encoding=pb.FLOAT32_PCM, seed=seed, chunk_ms=int(chunk_ms))
    start, first, samples, rate, digest = time.perf_counter(), None, 0, 1, hashlib.sha256()
    try:
        for resp in stub.SynthesizeStream(req, timeout=300):
            if first is None and resp.audio:
                first = time.perf_counter() - start
            samples, rate = samples + len(resp.audio) // 4, resp.sample_rate_hz
            digest.update(resp.audio)
        out.append((first, (time.perf_counter() - start) / max(samples / rate, 1e-9), None, (seed, digest.hexdigest()),
                    samples / rate))
    except grpc.RpcError as err:
        out.append((None, None, err.code().name))


def run_level(target: str, metrics_url: str, n: int, job) -> dict:
    """``job(channel, results, i)`` -> client i's thread target; n of them at once. The server's
    own figure: how long its inference calls waited for a worker meanwhile."""
    results: list = []
    waited = queue_wait(metrics_url)
    start = time.perf_counter()
    with grpc.insecure_channel(target) as channel:
        threads = [threading.Thread(target=job(channel, results, i)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    wall = time.perf_counter() - start
    total, calls, long = (b - a for a, b in zip(waited, queue_wait(metrics_url)))
    ok = [r for r in results if r[2] is None] or [(float("nan"), float("nan"), None)]
    ttfa = np.array([r[0] for r in ok]) * 1000
    rtf = np.array([r[1] for r in ok])
    return {"n": n, "ttfa50": np.percentile(ttfa, 50), "ttfa95": np.percentile(ttfa, 95), "rtf50": np.percentile(rtf, 50),
            "rtf95": np.percentile(rtf, 95), "errors": sum(r[2] is not None for r in results),
            "wait_ms": 1000 * total / max(calls, 1), "waited": long / max(calls, 1),
            "answers": dict(r[3] for r in ok if len(r) > 3), "audio_per_s": sum(r[4] for r in ok if len(r) > 4) / wall}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="hificodec")
    p.add_argument("--clients", nargs="+", type=int, default=[1, 2, 4, 8, 16])
    p.add_argument("--seconds", type=float, default=8.0)
    p.add_argument("--chunk-ms", type=float, default=80.0)
    p.add_argument("--synthesize", action="store_true", help="load SynthesizeStream instead of DecodeStream")
    p.add_argument("--tts", default="tts", help="TTS model for --synthesize")
    p.add_argument("--int8", action="store_true", help="serve the int8 TTS graph (speech-server --tts-int8)")
    p.add_argument("--step-rows", nargs="+", type=int, default=[1, 32],
                   help="--synthesize: a server with each speech-server --tts-step-rows, the first the baseline")
    p.add_argument("--codec-step-rows", nargs="+", type=int, default=[1, 32],
                   help="a server with each speech-server --codec-step-rows, the first the baseline")
    args = p.parse_args()
    if args.synthesize:
        synthesize_levels(args)
    else:
        codec_levels(args)


def on_servers(args, settings: dict[int, list[str]], warm, job) -> dict[int, list[dict]]:
    """A server per setting (its extra flags), all up at once (idle but for the one being
    loaded): each level runs on one, then the next, so the machine's drift over a run (it slows)
    falls on every setting alike instead of on the last one. ``warm(channel)`` readies each."""
    servers = {}
    try:
        for setting, extra in settings.items():
            proc, target, metrics_url = start_server(args.model, max(args.clients), ["--metrics-port", "0", *extra])
            servers[setting] = proc, target, metrics_url
            with grpc.insecure_channel(target) as channel:
                warm(channel)
        tables = {setting: [] for setting in settings}
        for n in args.clients:
            for setting, (_, target, metrics_url) in servers.items():
                tables[setting].append(run_level(target, metrics_url, n, job))
    finally:
        for proc, _, _ in servers.values():
            proc.terminate()
            proc.wait(30)
    return tables


def codec_levels(args) -> None:
    found = {}

    def warm(channel) -> None:
        stub = pb_grpc.CodecStub(channel)
        info = found["info"] = stub.GetModelInfo(pb.GetModelInfoRequest(), wait_for_ready=True, timeout=60)
        if "codes" not in found:
            rng = np.random.default_rng(0)
            wav = (0.1 * rng.standard_normal(int(args.seconds * info.sample_rate_hz))).astype("<f4")
            audio = pb.Audio(data=wav.tobytes(), encoding=pb.FLOAT32_PCM, sample_rate_hz=info.sample_rate_hz)
            found["codes"] = wire.codes_from_proto(stub.Encode(pb.EncodeRequest(audio=audio)).codes)[0]

    def job(channel, results, i):
        chunk = max(1, round(args.chunk_ms / 1000 * found["info"].frame_rate_hz))
        return lambda: one_stream(pb_grpc.CodecStub(channel), found["codes"], chunk, args.seconds, results)

    tables = on_servers(args, {rows: ["--codec-step-rows", str(rows)] for rows in args.codec_step_rows}, warm, job)
    info = found["info"]
    print(f"model {info.name} ({info.backend}), {args.seconds:g} s streams in {args.chunk_ms:g} ms chunks, {os.cpu_count()} CPUs")
    base = tables[args.codec_step_rows[0]]
    for rows, table in tables.items():
        print(f"\ncodec step rows {rows}" + ("" if table is base else " (stream RTF p50 vs the first setting's)"))
        print_table(table, base if table is not base else None)


def synthesize_levels(args) -> None:
    """Levels on a server per ``--step-rows`` setting, taking turns (``on_servers``)."""
    tts = ["--tts", args.tts] + (["--tts-int8"] if args.int8 else [])
    found = {}

    def warm(channel) -> None:
        stub = pb_grpc.TextToSpeechStub(channel)
        found["models"] = list(stub.ListModels(pb.ListModelsRequest(), wait_for_ready=True, timeout=120).models)
        list(stub.SynthesizeStream(pb.SynthesizeSpeechRequest(text="Warm up.", seed=0), timeout=300))

    def job(channel, results, i):
        return lambda: one_synthesis(pb_grpc.TextToSpeechStub(channel), i, args.chunk_ms, results)

    tables = on_servers(args, {rows: [*tts, "--tts-step-rows", str(rows)] for rows in args.step_rows}, warm, job)
    models = found["models"]
    print(f"TTS {', '.join(models)}{' (int8)' if args.int8 else ''}: SynthesizeStream of one {len(SENTENCE)}-character "
          f"sentence, first chunk {args.chunk_ms:g} ms, {os.cpu_count()} CPUs")
    print("| step rows | clients | first audio p50 ms | p95 ms | stream RTF p50 | p95 | real-time | audio s per s "
          "| vs first | same audio as first | server: queue wait mean ms |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    base = tables[args.step_rows[0]]
    for step_rows, rows in tables.items():
        for r, b in zip(rows, base):
            same = sum(r["answers"].get(seed) == digest for seed, digest in b["answers"].items())
            print(f"| {step_rows} | {r['n']} | {r['ttfa50']:.1f} | {r['ttfa95']:.1f} | {r['rtf50']:.3f} | {r['rtf95']:.3f} | "
                  f"{'yes' if r['rtf95'] < 1 and not r['errors'] else 'no'} | {r['audio_per_s']:.2f} | "
                  f"{r['audio_per_s'] / b['audio_per_s']:.2f}x | {same} of {len(b['answers'])} | {r['wait_ms']:.2f} |")


def print_table(rows: list[dict], base: list[dict] | None = None) -> None:
    ratio = base is not None
    print("| clients | first audio p50 ms | p95 ms | stream RTF p50 | p95 | errors | real-time "
          "| server: queue wait mean ms | calls waiting > 10 ms |" + (" RTF p50 vs first |" if ratio else ""))
    print("|---|---|---|---|---|---|---|---|---|" + ("---|" if ratio else ""))
    for k, r in enumerate(rows):
        print(f"| {r['n']} | {r['ttfa50']:.1f} | {r['ttfa95']:.1f} | {r['rtf50']:.3f} | {r['rtf95']:.3f} | {r['errors']} | "
              f"{'yes' if r['rtf95'] < 1 and not r['errors'] else 'no'} | {r['wait_ms']:.2f} | {100 * r['waited']:.1f}% |"
              + (f" {r['rtf50'] / base[k]['rtf50']:.2f}x |" if ratio else ""))
    realtime = [r["n"] for r in rows if r["rtf95"] < 1 and not r["errors"]]
    print(f"largest real-time level: {max(realtime) if realtime else 0} concurrent streams")


if __name__ == "__main__":
    main()
