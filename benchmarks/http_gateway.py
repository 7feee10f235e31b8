"""What the HTTP gateway costs: one sentence asked for over gRPC (SynthesizeStream, Synthesize)
and over HTTP (POST /v1/audio/speech as pcm, wav, mp3 and opus, streamed, and a flac file), on a real
speech-server process with the bundled TTS, one request at a time; then the codec: that
sentence's audio (a WAV file) to codes and back over gRPC (Encode + GetModelInfo, Decode) and
over HTTP (POST /v1/audio/codes, /v1/audio/decode). And a voice of one's own (the longest bundled
voice's recording, as a client's): its recording sent with each request (``voice_audio``), and
kept once by ``POST /v1/audio/voices`` then named (``voice``).

    python benchmarks/http_gateway.py [--tts tts] [--rounds 5]

Reported: time to the first audio byte and to the last, medians over ``--rounds``, each row's
ratio against gRPC's SynthesizeStream measured in the same run (same text, voice and seed); the
codec's calls (5x the rounds) against gRPC's.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import statistics
import sys
import time
from pathlib import Path

import grpc

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from codec import audio  # noqa: E402
from load import SENTENCE, start_server  # noqa: E402
from serve.gen.speech.v1 import speech_pb2 as pb  # noqa: E402
from serve.gen.speech.v1 import speech_pb2_grpc as pb_grpc  # noqa: E402
from tts.pretrained import find_tts_dir  # noqa: E402


def over_grpc(stub, request: pb.SynthesizeSpeechRequest, stream: bool) -> tuple[float, float, int]:
    start, first, size = time.perf_counter(), None, 0
    answers = stub.SynthesizeStream(request) if stream else [stub.Synthesize(request)]
    for answer in answers:
        first = first or (answer.audio and time.perf_counter() - start)
        size += len(answer.audio)
    return first, time.perf_counter() - start, size


def over_http(port: int, body: dict, path: str = "/v1/audio/speech") -> tuple[float, float, int]:
    start = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    resp = conn.getresponse()
    assert resp.status in (200, 201), resp.read()
    data = resp.read(1)
    first = time.perf_counter() - start
    data += resp.read()
    conn.close()
    return first, time.perf_counter() - start, len(data)


def own_voice(port: int, tts: str, voices: list[str], body: dict) -> dict:
    """The longest bundled voice's recording as a client's own: sent with each request, or kept
    once (POST /v1/audio/voices, as ``mine``) and named; each way's request size too."""
    folder = find_tts_dir(tts) / "voices"
    name = max(voices, key=lambda v: (folder / f"{v}.wav").stat().st_size)
    sent = {**body, "voice": "", "response_format": "pcm", "voice_text": (folder / f"{name}.txt").read_text().strip(),
            "voice_audio": base64.b64encode((folder / f"{name}.wav").read_bytes()).decode()}
    over_http(port, {"name": "mine", "audio": sent["voice_audio"], "text": sent["voice_text"]}, "/v1/audio/voices")
    named = {**body, "voice": "mine", "response_format": "pcm"}
    return {f"HTTP pcm, {name}.wav sent ({len(json.dumps(sent))} B request)": lambda: over_http(port, sent),
            f"HTTP pcm, {name}.wav kept, named ({len(json.dumps(named))} B request)": lambda: over_http(port, named)}


def post(port: int, path: str, data: bytes, kind: str) -> bytes:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.request("POST", path, data, {"Content-Type": kind})
    resp = conn.getresponse()
    body = resp.read()
    assert resp.status == 200, body
    conn.close()
    return body


def timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def codec_ways(channel, port: int, wav_file: bytes) -> dict:
    """Encode (answered as a .codes file's worth: codes and the model's info) and Decode (16-bit)."""
    codec = pb_grpc.CodecStub(channel)
    codes = codec.Encode(pb.EncodeRequest(audio=pb.Audio(data=wav_file))).codes
    codes_file = post(port, "/v1/audio/codes", wav_file, "audio/wav")

    def grpc_encode():
        answer = codec.Encode(pb.EncodeRequest(audio=pb.Audio(data=wav_file)))
        return codec.GetModelInfo(pb.GetModelInfoRequest(model=answer.codes.model))

    return {"gRPC Encode + GetModelInfo": grpc_encode,
            "HTTP /v1/audio/codes": lambda: post(port, "/v1/audio/codes", wav_file, "audio/wav"),
            "gRPC Decode (LINEAR_PCM)": lambda: codec.Decode(pb.DecodeRequest(codes=codes, encoding=pb.LINEAR_PCM)),
            "HTTP /v1/audio/decode?format=pcm": lambda: post(port, "/v1/audio/decode?format=pcm", codes_file,
                                                             "application/octet-stream")}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tts", default="tts")
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()
    proc, target, _ = start_server("distilcodec", 4, ["--tts", args.tts, "--http-port", "0"])
    try:
        with grpc.insecure_channel(target) as channel:
            stub = pb_grpc.TextToSpeechStub(channel)
            voices = [v.name for v in stub.ListVoices(pb.ListVoicesRequest()).voices]
            voice = voices[0]
            port = int(proc.serving["http"].rsplit(":", 1)[1])
            request = pb.SynthesizeSpeechRequest(text=SENTENCE, voice_name=voice, seed=1, encoding=pb.LINEAR_PCM)
            body = {"model": "", "input": SENTENCE, "voice": voice, "seed": 1}
            ways = {"gRPC SynthesizeStream (LINEAR_PCM)": lambda: over_grpc(stub, request, True),
                    "gRPC Synthesize (LINEAR_PCM)": lambda: over_grpc(stub, request, False),
                    **{f"HTTP {fmt}": (lambda fmt=fmt: over_http(port, {**body, "response_format": fmt}))
                       for fmt in ("pcm", "wav", "mp3", "opus", "flac")},
                    **own_voice(port, args.tts, voices, body)}
            for way in ways.values():
                way()  # warm
            rows = {name: [way() for _ in range(args.rounds)] for name, way in ways.items()}
            pcm = b"".join(a.audio for a in stub.SynthesizeStream(request))
            wav_file = audio.to_file_bytes(audio.from_pcm16(pcm), 24000, "WAV")
            codec_rows = {name: [timed(way)[0] for _ in range(5 * args.rounds + 1)][1:]  # quick: 5x rounds; the first warms
                          for name, way in codec_ways(channel, port, wav_file).items()}
    finally:
        proc.terminate()
        proc.wait(30)
    base = statistics.median(r[0] for r in rows["gRPC SynthesizeStream (LINEAR_PCM)"])
    print(f"{SENTENCE!r}, voice {voice}, medians of {args.rounds}\n")
    print("| way | first byte s | last byte s | bytes | first byte vs gRPC stream |")
    print("|---|---|---|---|---|")
    for name, runs in rows.items():
        first, last = statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)
        print(f"| {name} | {first:.3f} | {last:.3f} | {runs[0][2]} | {first / base:.2f}x |")
    print(f"\nthe codec, that sentence's {len(pcm) / 48000:.1f} s of audio ({len(wav_file)} bytes of WAV)\n")
    print("| way | s | vs gRPC |")
    print("|---|---|---|")
    names = list(codec_rows)  # each HTTP way follows its gRPC baseline
    for i, name in enumerate(names):
        baseline = statistics.median(codec_rows[names[i - i % 2]])
        print(f"| {name} | {statistics.median(codec_rows[name]):.4f} | {statistics.median(codec_rows[name]) / baseline:.2f}x |")


if __name__ == "__main__":
    main()
