"""The gRPC service end to end: a real server on a free loopback port (ONNX Runtime engine),
real channels, every RPC, streaming == unary, limits and status codes, auth, SIGTERM drain,
Prometheus metrics."""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import grpc
import numpy as np
import pytest
import soundfile as sf
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from codec import audio, g711
from serve import wire
from serve.client import SpeechClient
from serve.gen.speech.v1 import speech_pb2 as pb
from serve.gen.speech.v1 import speech_pb2_grpc as pb_grpc
from serve.runtime import OnnxCodec
from codec.typed_config import ConfigError
from serve.server import ServerConfig, parse_args
from tests.conftest import self_signed

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from grpc_harness import RunningServer  # noqa: E402

SR = 24000


@pytest.fixture(scope="module")
def model_dir(exported_codec) -> Path:
    return exported_codec("hificodec-tiny")[1]


@pytest.fixture(scope="module")
def server(model_dir):
    running = RunningServer(ServerConfig(port=0, codec=str(model_dir), max_streams=2, max_audio_seconds=30, workers=2))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    t = np.arange(int(1.3 * SR)) / SR
    rng = np.random.default_rng(0)
    return (0.3 * np.sin(2 * np.pi * (120 + 300 * t) * t) * (1 + np.sin(2 * np.pi * 3 * t)) / 2
            + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


@pytest.fixture
def stub(server):
    with grpc.insecure_channel(server.target) as channel:
        yield pb_grpc.CodecStub(channel)


def float_audio(wav: np.ndarray, rate: int = SR) -> pb.Audio:
    return pb.Audio(data=wav.astype("<f4").tobytes(), encoding=pb.FLOAT32_PCM, sample_rate_hz=rate)


def assert_status(code: grpc.StatusCode, fn, *args, **kw) -> str:
    with pytest.raises(grpc.RpcError) as info:
        result = fn(*args, **kw)
        if hasattr(result, "__iter__") and not isinstance(result, (bytes, str)):
            list(result)
    assert info.value.code() == code, info.value.details()
    return info.value.details()


def test_health_and_reflection(server):
    with grpc.insecure_channel(server.target) as channel:
        status = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service="speech.v1.Codec"))
        assert status.status == health_pb2.HealthCheckResponse.SERVING
        reflect = reflection_pb2_grpc.ServerReflectionStub(channel)
        (resp,) = list(reflect.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")])))
        names = {s.name for s in resp.list_services_response.service}
        assert {"speech.v1.Codec", "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"} <= names


def test_encode_decode_match_the_engine(stub, model_dir, speech):
    engine = OnnxCodec(model_dir)
    resp = stub.Encode(pb.EncodeRequest(audio=float_audio(speech)))
    codes = wire.codes_from_proto(resp.codes)
    np.testing.assert_array_equal(codes, engine.encode(speech[None]))
    assert resp.codes.weights_hash == engine.weights_hash() and resp.bitrate_kbps == pytest.approx(2.4)
    assert resp.codes.codes_hash == engine.codes_hash() != ""
    out = stub.Decode(pb.DecodeRequest(codes=resp.codes, encoding=pb.FLOAT32_PCM))
    wav = np.frombuffer(out.audio.data, "<f4")
    np.testing.assert_allclose(wav, engine.decode(codes, n_samples=len(speech))[0], atol=1e-6)
    info = stub.GetModelInfo(pb.GetModelInfoRequest())
    assert info.backend == "onnx" and info.sample_rate_hz == SR and list(info.codebook_sizes) == [64] * 4
    assert (info.weights_hash, info.codes_hash) == (engine.weights_hash(), engine.codes_hash())


def test_rates_encodings_and_bandwidth(stub, speech):
    pcm16k = audio.to_pcm16(audio.resample(speech, SR, 16000))
    resp = stub.Encode(pb.EncodeRequest(audio=pb.Audio(data=pcm16k, encoding=pb.LINEAR_PCM, sample_rate_hz=16000),
                                        bandwidth_kbps=1.2))
    assert resp.codes.num_codebooks == 2 and resp.bitrate_kbps == pytest.approx(1.2)
    wav_file = stub.Decode(pb.DecodeRequest(codes=resp.codes, encoding=pb.WAV, sample_rate_hz=16000)).audio
    decoded = audio.decode_bytes(wav_file.data, 16000)
    assert wav_file.sample_rate_hz == 16000 and abs(len(decoded) - len(speech) * 2 // 3) <= 1
    as_file = stub.Encode(pb.EncodeRequest(audio=pb.Audio(data=audio.to_file_bytes(speech, SR))))
    assert as_file.codes.num_frames == resp.codes.num_frames



def test_telephone_and_compressed_encodings(stub, speech):
    """G.711 8 kHz in and out (Riva's MULAW/ALAW), FLAC and OGG (Opus) files out of a unary call;
    a stream carries raw samples only."""
    phone = audio.resample(speech, SR, 8000)
    resp = stub.Encode(pb.EncodeRequest(audio=pb.Audio(data=g711.mulaw_encode(phone), encoding=pb.MULAW, sample_rate_hz=8000)))
    heard = stub.Encode(pb.EncodeRequest(audio=pb.Audio(data=audio.to_pcm16(g711.mulaw_decode(g711.mulaw_encode(phone))),
                                                        encoding=pb.LINEAR_PCM, sample_rate_hz=8000)))
    assert resp.codes.values == heard.codes.values  # the same samples as the server's decoding of the bytes
    decode = lambda encoding, rate=8000: stub.Decode(pb.DecodeRequest(codes=resp.codes, encoding=encoding,  # noqa: E731
                                                                      sample_rate_hz=rate)).audio
    floats = np.frombuffer(decode(pb.FLOAT32_PCM).data, "<f4")
    for encoding, encode in ((pb.MULAW, g711.mulaw_encode), (pb.ALAW, g711.alaw_encode)):
        out = decode(encoding)
        assert (out.encoding, out.sample_rate_hz, out.data) == (encoding, 8000, encode(floats))
    flac = decode(pb.FLAC, SR)
    assert flac.encoding == pb.FLAC and flac.data[:4] == b"fLaC"
    assert audio.decode_bytes(flac.data, SR).tolist() == audio.from_pcm16(decode(pb.LINEAR_PCM, SR).data).tolist()
    ogg = decode(pb.OGG, 16000)
    assert ogg.data[:4] == b"OggS" and abs(len(audio.decode_bytes(ogg.data, 16000)) - len(floats) * 2) <= 2
    bad = grpc.StatusCode.INVALID_ARGUMENT
    assert "Opus) audio can be 8000, 12000, 16000, 24000, 48000 Hz, not 22050" in assert_status(
        bad, stub.Decode, pb.DecodeRequest(codes=resp.codes, encoding=pb.OGG, sample_rate_hz=22050))
    assert "not a whole number of 2-channel 8-bit samples" in assert_status(
        bad, stub.Encode, pb.EncodeRequest(audio=pb.Audio(data=b"\0" * 101, encoding=pb.ALAW, sample_rate_hz=8000, channels=2)))
    stream = iter([pb.EncodeStreamRequest(config=pb.StreamingConfig(encoding=pb.WAV))])
    assert "a stream's audio must be LINEAR_PCM, FLOAT32_PCM, MULAW or ALAW" in assert_status(
        bad, lambda r: list(stub.EncodeStream(r)), stream)


def test_streaming_equals_unary(stub, speech):
    unary_codes = stub.Encode(pb.EncodeRequest(audio=float_audio(speech))).codes
    rng = np.random.default_rng(0)
    cuts = np.sort(rng.integers(0, len(speech), 12))
    chunks = np.split(speech, cuts)

    def enc_requests():
        yield pb.EncodeStreamRequest(config=pb.StreamingConfig(encoding=pb.FLOAT32_PCM, sample_rate_hz=SR))
        for c in chunks:
            yield pb.EncodeStreamRequest(audio_content=c.astype("<f4").tobytes())

    streamed = np.concatenate([wire.codes_from_proto(r.codes) for r in stub.EncodeStream(enc_requests())], axis=2)
    np.testing.assert_array_equal(streamed, wire.codes_from_proto(unary_codes))

    unary_wav = np.frombuffer(stub.Decode(pb.DecodeRequest(codes=unary_codes, encoding=pb.FLOAT32_PCM)).audio.data, "<f4")

    def dec_requests():
        yield pb.DecodeStreamRequest(config=pb.StreamingConfig(encoding=pb.FLOAT32_PCM))
        for i in range(0, streamed.shape[2], 3):
            yield pb.DecodeStreamRequest(codes=wire.codes_to_proto(streamed[0, :, i : i + 3], "", ""))

    wav = np.concatenate([np.frombuffer(r.audio.data, "<f4") for r in stub.DecodeStream(dec_requests())])
    np.testing.assert_allclose(wav[: len(unary_wav)], unary_wav, atol=1e-5)

    def alaw_requests():  # the same stream as telephone audio: 8-bit A-law chunks
        yield pb.DecodeStreamRequest(config=pb.StreamingConfig(encoding=pb.ALAW))
        yield from list(dec_requests())[1:]

    answers = list(stub.DecodeStream(alaw_requests()))
    assert {r.audio.encoding for r in answers} == {pb.ALAW}
    assert b"".join(r.audio.data for r in answers) == b"".join(g711.alaw_encode(np.frombuffer(r.audio.data, "<f4"))
                                                                for r in stub.DecodeStream(dec_requests()))


def test_concurrent_streams_batch_and_each_gets_its_own_answer(model_dir, speech):
    """Streams' step calls stacked into one call (serve.codec_batcher): every stream's codes and
    audio are, byte for byte, what it got alone; some calls held several streams (one worker, so
    they queue), none more than --codec-step-rows; a stream of another chunk length runs apart."""
    rng = np.random.default_rng(1)
    clips = [np.roll(speech, 1700 * i) * (0.5 + 0.05 * i) for i in range(10)]
    chunk = {i: 1920 if i < 9 else 1000 for i in range(10)}  # 80 ms (4 frames) but one stream

    def encode(stub, i):
        def requests():
            yield pb.EncodeStreamRequest(config=pb.StreamingConfig(encoding=pb.FLOAT32_PCM, sample_rate_hz=SR))
            for k in range(0, len(clips[i]), chunk[i]):
                yield pb.EncodeStreamRequest(audio_content=clips[i][k : k + chunk[i]].astype("<f4").tobytes())
        return b"".join(r.codes.SerializeToString() for r in stub.EncodeStream(requests()))

    def decode(stub, i, codes):
        def requests():
            yield pb.DecodeStreamRequest(config=pb.StreamingConfig(encoding=pb.FLOAT32_PCM))
            for k in range(0, codes.shape[1], 4 if i < 9 else 3):
                yield pb.DecodeStreamRequest(codes=wire.codes_to_proto(codes[:, k : k + 4 if i < 9 else k + 3], "", ""))
        return b"".join(r.audio.data for r in stub.DecodeStream(requests()))

    running = RunningServer(ServerConfig(port=0, codec=str(model_dir), max_streams=12, workers=1, codec_step_rows=4))
    try:
        with grpc.insecure_channel(running.target) as channel:
            stub = pb_grpc.CodecStub(channel)
            codes = [wire.codes_from_proto(stub.Encode(pb.EncodeRequest(audio=float_audio(c))).codes)[0] for c in clips]
            alone = [(encode(stub, i), decode(stub, i, codes[i])) for i in range(len(clips))]
            batcher = next(iter(running.server.codec_service.batchers.values()))
            assert set(batcher.sizes) == {1}  # one stream at a time: each call alone
            together: dict[int, tuple[bytes, bytes]] = {}

            def client(i):
                together[i] = encode(stub, i), decode(stub, i, codes[i])

            threads = [threading.Thread(target=client, args=(i,)) for i in rng.permutation(len(clips))]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
    finally:
        running.stop()
    assert [together[i] for i in range(len(clips))] == alone
    assert max(batcher.sizes) == 4 and sum(n * k for n, k in batcher.sizes.items() if n > 1) > len(clips)


def test_bad_inputs_get_clear_status(stub, speech):
    bad = grpc.StatusCode.INVALID_ARGUMENT
    assert "empty" in assert_status(bad, stub.Encode, pb.EncodeRequest(audio=pb.Audio()))
    assert "readable" in assert_status(bad, stub.Encode, pb.EncodeRequest(audio=pb.Audio(data=b"RIFF....garbage")))
    assert "sample_rate_hz" in assert_status(bad, stub.Encode, pb.EncodeRequest(audio=pb.Audio(data=b"\0\0" * 100, encoding=pb.LINEAR_PCM)))
    long = np.zeros(31 * SR, np.float32)
    assert "at most 30" in assert_status(bad, stub.Encode, pb.EncodeRequest(audio=float_audio(long)))
    nan = speech.copy()
    nan[5] = np.nan
    assert "NaN" in assert_status(bad, stub.Encode, pb.EncodeRequest(audio=float_audio(nan)))
    codes = stub.Encode(pb.EncodeRequest(audio=float_audio(speech))).codes
    out_of_range = pb.Codes(); out_of_range.CopyFrom(codes); out_of_range.values[0] = 9999
    assert "out of range" in assert_status(bad, stub.Decode, pb.DecodeRequest(codes=out_of_range))
    other = pb.Codes(); other.CopyFrom(codes); other.codes_hash = "0123456789abcdef"
    assert "made by codes 0123456789abcdef" in assert_status(bad, stub.Decode, pb.DecodeRequest(codes=other))
    other.codes_hash = ""  # an older client: the weights decide
    other.weights_hash = "0123456789abcdef"
    assert "made by weights 0123456789abcdef" in assert_status(bad, stub.Decode, pb.DecodeRequest(codes=other))
    other.codes_hash = codes.codes_hash  # other weights, same codes (a decoder-only fine-tune): decoded
    assert stub.Decode(pb.DecodeRequest(codes=other)).audio.data
    short = pb.Codes(); short.CopyFrom(codes); del short.values[-1]
    assert "carry" in assert_status(bad, stub.Decode, pb.DecodeRequest(codes=short))
    assert_status(grpc.StatusCode.NOT_FOUND, stub.Encode, pb.EncodeRequest(audio=float_audio(speech), model="nope"))
    assert_status(grpc.StatusCode.NOT_FOUND, stub.GetModelInfo, pb.GetModelInfoRequest(model="nope"))
    no_config = iter([pb.EncodeStreamRequest(audio_content=b"\0\0")])
    assert "StreamingConfig" in assert_status(bad, stub.EncodeStream, no_config)


def test_overload_cancellation_and_deadline(server, stub, speech):
    gate = threading.Event()

    def held_requests():
        yield pb.DecodeStreamRequest(config=pb.StreamingConfig())
        gate.wait(30)

    held = [stub.DecodeStream(held_requests()) for _ in range(2)]
    slots = server.server.codec_service.slots
    wait_for(lambda: slots.active == 2)
    msg = assert_status(grpc.StatusCode.RESOURCE_EXHAUSTED, stub.DecodeStream, iter([pb.DecodeStreamRequest(config=pb.StreamingConfig())]))
    assert "2 concurrent streams" in msg
    for call in held:
        call.cancel()
    wait_for(lambda: slots.active == 0)  # cancelled streams free their slots at once
    gate.set()
    list(stub.DecodeStream(iter([pb.DecodeStreamRequest(config=pb.StreamingConfig())])))  # a slot is free again
    assert_status(grpc.StatusCode.DEADLINE_EXCEEDED, stub.Encode, pb.EncodeRequest(audio=float_audio(np.tile(speech, 20))), timeout=0.001)


def wait_for(condition, seconds: float = 10.0) -> None:
    deadline = time.time() + seconds
    while not condition():
        assert time.time() < deadline, "condition not reached in time"
        time.sleep(0.02)


def test_python_client(server, speech):
    with SpeechClient(server.target) as client:
        codes = client.encode(speech, SR)
        wav, rate = client.decode(codes)
        assert rate == SR and len(wav) == len(speech)
        streamed = np.concatenate(list(client.encode_stream(np.array_split(speech, 5), SR)), axis=1)
        np.testing.assert_array_equal(streamed, wire.codes_from_proto(codes)[0])


def test_client_cli_streams_files_as_the_unary_calls_do(server, speech, tmp_path):
    """speech-client encode/decode --stream (1 s messages read per block, answers written as they
    come) write the files the one-message Encode/Decode write: codes byte for byte."""
    src = tmp_path / "in.wav"
    stereo = np.stack([speech, 0.5 * speech[::-1]], axis=1)
    sf.write(src, np.concatenate([stereo] * 2), 44100, subtype="FLOAT")  # the client resamples and mixes down

    def client(*args: str) -> None:
        run = subprocess.run([sys.executable, "-m", "serve.client", "--server", server.target, *args],
                             capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr

    client("encode", str(src), "-o", str(tmp_path / "one.codes"))
    client("encode", "--stream", str(src), "-o", str(tmp_path / "streamed.codes"))
    assert (tmp_path / "streamed.codes").read_bytes() == (tmp_path / "one.codes").read_bytes()
    client("decode", str(tmp_path / "one.codes"), "-o", str(tmp_path / "one.wav"))
    client("decode", "--stream", str(tmp_path / "one.codes"), "-o", str(tmp_path / "streamed.wav"))
    one, streamed = (np.frombuffer(audio.to_pcm16(audio.load(tmp_path / f"{n}.wav", SR)), "<i2").astype(int) for n in ("one", "streamed"))
    assert one.shape == streamed.shape == (round(2 * len(speech) * SR / 44100),) and np.abs(one - streamed).max() <= 1


def test_the_codec_over_http(model_dir, speech, tmp_path):
    """--http-port on a codec-only server: POST /v1/audio/codes answers the .codes file
    speech-client writes (byte for byte), /v1/audio/decode its audio; speech is not served. A
    connection kept open takes no request once the server has stopped."""
    from http.client import HTTPConnection, RemoteDisconnected
    from urllib.error import HTTPError
    from urllib.request import Request, urlopen

    running = RunningServer(ServerConfig(port=0, codec=str(model_dir), http_port=0))

    def post(path: str, data: bytes, kind: str) -> tuple[int, dict, bytes]:
        req = Request(f"http://127.0.0.1:{running.server.http_port}{path}", data=data, headers={"Content-Type": kind})
        try:
            with urlopen(req, timeout=60) as resp:
                return resp.status, dict(resp.headers), resp.read()
        except HTTPError as err:
            return err.code, dict(err.headers), err.read()

    try:
        src = tmp_path / "in.wav"
        sf.write(src, speech, SR, subtype="PCM_16")
        run = subprocess.run([sys.executable, "-m", "serve.client", "--server", running.target, "encode", str(src), "-o",
                              str(tmp_path / "one.codes")], capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr
        status, headers, codes = post("/v1/audio/codes", src.read_bytes(), "audio/wav")
        assert (status, headers["Content-Type"]) == (200, "application/octet-stream")
        assert codes == (tmp_path / "one.codes").read_bytes() and float(headers["X-Bitrate-Kbps"]) > 0
        pcm = audio.to_pcm16(audio.load(src, SR))
        assert post(f"/v1/audio/codes?sample_rate={SR}", pcm, "audio/pcm")[2] == codes
        status, headers, low = post("/v1/audio/codes?bandwidth_kbps=1.2", src.read_bytes(), "audio/wav")
        assert status == 200 and len(low) < len(codes) and float(headers["X-Bitrate-Kbps"]) == pytest.approx(1.2)
        status, headers, wav = post("/v1/audio/decode", codes, "application/octet-stream")
        with SpeechClient(running.target) as client:
            decoded, _ = client.decode(client.encode(audio.load(src, SR), SR))
        assert (status, headers["Content-Type"]) == (200, "audio/wav")
        assert post("/v1/audio/decode?format=pcm", codes, "application/octet-stream")[2] == audio.to_pcm16(decoded)
        written = np.frombuffer(audio.to_pcm16(audio.decode_bytes(wav, SR)), "<i2").astype(int)  # libsndfile rounds
        assert np.abs(written - np.frombuffer(audio.to_pcm16(decoded), "<i2")).max() <= 1
        status, headers, flac = post("/v1/audio/decode?format=flac&sample_rate=16000", codes, "application/octet-stream")
        assert (status, headers["Content-Type"], headers["X-Sample-Rate"]) == (200, "audio/flac", "16000")
        for path, data, kind, code, needle in (
                ("/v1/audio/codes", b"RIFF", "text/plain", 415, "send an audio file"),
                ("/v1/audio/codes", pcm, "audio/pcm", 400, "needs ?sample_rate="),
                ("/v1/audio/codes?rate=1", pcm, "audio/wav", 400, "unknown parameter rate"),
                ("/v1/audio/codes?bandwidth_kbps=lots", pcm, "audio/wav", 400, "bandwidth_kbps must be a number"),
                ("/v1/audio/codes", b"not audio", "audio/wav", 400, ""),
                ("/v1/audio/decode", b"not codes", "application/octet-stream", 400, "not a .codes file"),
                ("/v1/audio/decode?format=mp3", codes, "application/octet-stream", 400, "format must be one of wav"),
                ("/v1/audio/speech", b'{"input": "Hi."}', "application/json", 404, "no TTS model loaded")):
            got, _, body = post(path, data, kind)
            assert got == code and needle in json.loads(body)["error"]["message"], (path, got, body)
        with urlopen(f"http://127.0.0.1:{running.server.http_port}/healthz", timeout=10) as health:
            assert json.loads(health.read()) == {"status": "SERVING"}
        kept = HTTPConnection("127.0.0.1", running.server.http_port, timeout=10)
        kept.request("GET", "/healthz")
        body = kept.getresponse().read()
        assert json.loads(body) == {"status": "SERVING"}
        kept.request("HEAD", "/healthz")  # a GET's headers, no body: the connection then carries the next request
        head = kept.getresponse()
        assert (head.status, head.headers["Content-Length"], head.read()) == (200, str(len(body)), b"")
        kept.request("GET", "/healthz")
        assert kept.getresponse().read() == body
    finally:
        running.stop()
    with pytest.raises((RemoteDisconnected, ConnectionError)):  # not an answer from a server that has stopped
        kept.request("GET", "/healthz")
        kept.getresponse()


def test_the_codec_streams_over_websockets(model_dir, speech):
    """A browser's way into EncodeStream / DecodeStream: the audio in binary messages of any
    length gives the gRPC stream's codes for the same chunks (frame-major uint16), and codes in
    messages of any whole number of frames give its audio; errors are a message then a close."""
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    running = RunningServer(ServerConfig(port=0, codec=str(model_dir), http_port=0))

    def over(path: str, messages: list) -> tuple[list, list, int]:
        """(JSON messages, binary messages, close code) of a socket sent ``messages``."""
        got = []
        with connect(f"ws://127.0.0.1:{running.server.http_port}{path}", open_timeout=30) as ws:
            for message in messages:
                ws.send(json.dumps(message) if isinstance(message, dict) else message)
            try:
                while True:
                    got.append(ws.recv(timeout=60))
            except ConnectionClosed:
                pass
        return [json.loads(m) for m in got if isinstance(m, str)], [m for m in got if isinstance(m, bytes)], ws.close_code

    try:
        pcm = audio.to_pcm16(speech)
        chunks = [pcm[i:i + 3002] for i in range(0, len(pcm), 3002)]
        events, codes_out, code = over("/v1/audio/codes/stream", [{}, *chunks, {"end": True}])
        with grpc.insecure_channel(running.target) as channel:
            stub = pb_grpc.CodecStub(channel)
            answers = stub.EncodeStream(iter([pb.EncodeStreamRequest(config=pb.StreamingConfig()),
                                              *(pb.EncodeStreamRequest(audio_content=c) for c in chunks)]))
            expected = np.concatenate([wire.codes_from_proto(a.codes)[0] for a in answers], axis=1)
            info = stub.GetModelInfo(pb.GetModelInfoRequest())
            frames = np.frombuffer(b"".join(codes_out), "<u2").reshape(-1, expected.shape[0])
            assert code == 1000 and np.array_equal(frames.T, expected) and len(codes_out) > 1
            assert events == [{"type": "start", "model": info.name, "sample_rate": SR, "frame_rate": info.frame_rate_hz,
                               "codebooks": expected.shape[0], "codebook_sizes": list(info.codebook_sizes),
                               "dtype": "uint16", "weights_hash": info.weights_hash, "codes_hash": info.codes_hash},
                              {"type": "done", "frames": expected.shape[1]}]
            pieces = [np.ascontiguousarray(frames[i:i + 7]).tobytes() for i in range(0, len(frames), 7)]
            events, audio_out, code = over("/v1/audio/decode/stream", [{"codes_hash": info.codes_hash}, *pieces,
                                                                       {"end": True}])
            played = b"".join(a.audio.data for a in stub.DecodeStream(iter(
                [pb.DecodeStreamRequest(config=pb.StreamingConfig())]
                + [pb.DecodeStreamRequest(codes=wire.codes_to_proto(frames[i:i + 7].T, "", "")) for i in range(0, len(frames), 7)])))
        assert code == 1000 and b"".join(audio_out) == played and len(audio_out) > 1
        assert events == [{"type": "start", "model": info.name, "sample_rate": SR, "format": "pcm",
                           "codebooks": expected.shape[0], "dtype": "uint16"}, {"type": "done", "samples": len(played) // 2}]
        events, low, _ = over("/v1/audio/codes/stream", [{"bandwidth_kbps": info.bitrate_kbps / 2}, pcm, {"end": True}])
        fewer = events[0]["codebooks"]
        assert 0 < fewer < expected.shape[0] and len(b"".join(low)) == 2 * fewer * expected.shape[1]
        events, audio_out, code = over("/v1/audio/decode/stream", [{"codebooks": fewer}, b"".join(low), {"end": True}])
        assert code == 1000 and events[-1]["samples"] == len(played) // 2
        for path, messages, needle, closed in (
                ("/v1/audio/decode/stream", [{}, b"\x00\x01\x02"], "not a whole number of frames", 1008),
                ("/v1/audio/decode/stream", [{}, b"\xff\xff" * expected.shape[0], {"end": True}], "codes out of range", 1008),
                ("/v1/audio/decode/stream", [{"codes_hash": "0" * 16}, {"end": True}], "codes were", 1008),
                ("/v1/audio/codes/stream", [{"format": "mp3"}], "format must be one of pcm", 1008),
                ("/v1/audio/codes/stream", [{"sample_rate": "fast"}], "sample_rate must be a number", 1008),
                ("/v1/audio/codes/stream", [{"pitch": 1}], "unknown option pitch", 1008),
                ("/v1/audio/codes/stream", [b"\x00\x00"], "send the options first", 1008),
                ("/v1/audio/codes/stream", [{}, {"stop": True}], "unknown field stop", 1008),
                ("/v1/audio/codes/stream", [{}, b"\x00\x01\x02", {"end": True}], "not a whole number", 1008),
                ("/v1/audio/codes/stream", [{"model": "nope"}], "nope", 1008),
                ("/v1/audio/decode/stream", [{"codebooks": 99}], "codebooks must be 1 to", 1008)):
            events, _, closed_with = over(path, messages)
            assert events[-1]["type"] == "error" and needle in events[-1]["error"]["message"], (messages, events)
            assert closed_with == closed
    finally:
        running.stop()


def test_bearer_token_auth(model_dir, speech):
    running = RunningServer(ServerConfig(port=0, codec=str(model_dir), auth_token="s3cret"))
    try:
        with grpc.insecure_channel(running.target) as channel:
            stub = pb_grpc.CodecStub(channel)
            assert_status(grpc.StatusCode.UNAUTHENTICATED, stub.GetModelInfo, pb.GetModelInfoRequest())
            assert_status(grpc.StatusCode.UNAUTHENTICATED, stub.EncodeStream, iter([pb.EncodeStreamRequest(config=pb.StreamingConfig())]))
            assert stub.GetModelInfo(pb.GetModelInfoRequest(), metadata=[("authorization", "Bearer s3cret")]).name
            health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())  # health needs no token
        with SpeechClient(running.target, token="s3cret") as client:
            assert client.model_info().name == "hificodec-tiny"
    finally:
        running.stop()


def scrape(port: int, token: str | None = None) -> dict[tuple, float]:
    """The server's /metrics as {(sample name, (label, value), ...): value}."""
    from prometheus_client.parser import text_string_to_metric_families

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    text = urlopen(Request(f"http://127.0.0.1:{port}/metrics", headers=headers), timeout=10).read().decode()
    return {(s.name, *sorted(s.labels.items())): s.value for f in text_string_to_metric_families(text) for s in f.samples}


def test_metrics_count_every_rpc_by_status_with_audio_and_streams(model_dir, speech):
    """Prometheus metrics: each RPC counted once by how it ended (ok, bad input, refused token,
    cancelled), its messages, the audio it handled, time to first audio, streams in use."""
    running = RunningServer(ServerConfig(port=0, codec=str(model_dir), metrics_port=0, max_streams=3, auth_token="t0k"))
    token = [("authorization", "Bearer t0k")]
    grpc_labels = lambda kind, method, **more: tuple(sorted({"grpc_type": kind, "grpc_service": "speech.v1.Codec",  # noqa: E731
                                                             "grpc_method": method, **more}.items()))
    try:
        with grpc.insecure_channel(running.target) as channel:
            stub = pb_grpc.CodecStub(channel)
            codes = stub.Encode(pb.EncodeRequest(audio=float_audio(speech)), metadata=token).codes
            assert_status(grpc.StatusCode.INVALID_ARGUMENT, stub.Encode, pb.EncodeRequest(audio=float_audio(speech, 7)), metadata=token)
            assert_status(grpc.StatusCode.UNAUTHENTICATED, stub.Encode, pb.EncodeRequest(audio=float_audio(speech)))
            frames = wire.codes_from_proto(codes)
            requests = [pb.DecodeStreamRequest(config=pb.StreamingConfig(encoding=pb.FLOAT32_PCM))]
            requests += [pb.DecodeStreamRequest(codes=wire.codes_to_proto(frames[0, :, i : i + 20], "", ""))
                         for i in range(0, frames.shape[2], 20)]
            responses = list(stub.DecodeStream(iter(requests), metadata=token))
            gate = threading.Event()

            def held():
                yield requests[0]
                gate.wait(30)

            call = stub.DecodeStream(held(), metadata=token)
            wait_for(lambda: running.server.codec_service.slots.active == 1)
            assert scrape(running.server.metrics_port, "t0k")[("speech_streams_active",)] == 1
            call.cancel()
            gate.set()
            health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
            watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest())
            assert next(watch).status == health_pb2.HealthCheckResponse.SERVING  # written, not yielded
            watch.cancel()
        port = running.server.metrics_port
        wait_for(lambda: scrape(port, "t0k").get(("grpc_server_handled_total", *grpc_labels("bidi_stream", "DecodeStream", grpc_code="CANCELLED"))) == 1)
        watched = (("grpc_method", "Watch"), ("grpc_service", "grpc.health.v1.Health"), ("grpc_type", "server_stream"))
        wait_for(lambda: scrape(port, "t0k").get(("grpc_server_handled_total", ("grpc_code", "CANCELLED"), *watched)) == 1)
        m = scrape(port, "t0k")
        for wrong in (None, "t0", "t0k0"):  # the gRPC token guards the metrics too
            with pytest.raises(HTTPError, match="401"):
                scrape(port, wrong)
    finally:
        running.stop()
    handled = lambda kind, method, code: m.get(("grpc_server_handled_total", *grpc_labels(kind, method, grpc_code=code)), 0)  # noqa: E731
    assert [handled("unary", "Encode", c) for c in ("OK", "INVALID_ARGUMENT", "UNAUTHENTICATED")] == [1, 1, 1]
    assert m[("grpc_server_started_total", *grpc_labels("unary", "Encode"))] == 3
    assert m[("grpc_server_handling_seconds_count", *grpc_labels("unary", "Encode"))] == 3
    assert handled("bidi_stream", "DecodeStream", "OK") == 1
    # the whole stream's messages and the held one's config; what the client got of the whole one
    assert m[("grpc_server_msg_received_total", *grpc_labels("bidi_stream", "DecodeStream"))] == len(requests) + 1
    assert m[("grpc_server_msg_sent_total", *grpc_labels("bidi_stream", "DecodeStream"))] == len(responses)
    assert m[("grpc_server_handled_total", ("grpc_code", "OK"), ("grpc_method", "Check"), ("grpc_service", "grpc.health.v1.Health"),
              ("grpc_type", "unary"))] == 1
    assert m[("grpc_server_msg_sent_total", *watched)] == 1
    assert m[("speech_audio_seconds_total", ("model", "hificodec-tiny"), ("rpc", "Encode"))] == pytest.approx(len(speech) / SR)
    assert m[("speech_audio_seconds_total", ("model", "hificodec-tiny"), ("rpc", "DecodeStream"))] == pytest.approx(
        len(speech) / SR, abs=0.01)  # whole frames of it
    assert m[("speech_real_time_factor_count", ("rpc", "Encode"))] == 1  # the failed ones handled no audio
    assert m[("speech_first_response_seconds_count", ("rpc", "DecodeStream"))] == 1  # the cancelled one never finished
    assert (m[("speech_streams_active",)], m[("speech_streams_limit",)]) == (0, 3)
    # one inference call for the good Encode and one per code chunk decoded, each timed from its wait for a worker
    assert m[("speech_inference_queue_seconds_count",)] == 1 + len(requests[1:]) and m[("speech_inference_workers",)] == 2
    assert m[("speech_codec_step_streams_count",)] == len(requests[1:])  # the chunks' step calls, each alone here
    digest = OnnxCodec(model_dir).weights_hash()
    assert m[("speech_model_info", ("kind", "codec"), ("name", "hificodec-tiny"), ("weights_hash", digest))] == 1


def test_no_metrics_are_collected_unless_served(server):
    assert server.server.metrics is None  # no --metrics-port: no interceptor, no registry


def test_tls_serves_only_encrypted(model_dir, tmp_path):
    cert, key = self_signed(tmp_path)
    running = RunningServer(ServerConfig(port=0, codec=str(model_dir), tls_cert=str(cert), tls_key=str(key), metrics_port=0))
    try:
        port = running.target.rsplit(":", 1)[1]
        credentials = grpc.ssl_channel_credentials(root_certificates=cert.read_bytes())
        with grpc.secure_channel(f"localhost:{port}", credentials) as channel:
            assert pb_grpc.CodecStub(channel).GetModelInfo(pb.GetModelInfoRequest(), timeout=30).name == "hificodec-tiny"
        with grpc.insecure_channel(running.target) as channel:  # plaintext gets no answer
            assert_status(grpc.StatusCode.UNAVAILABLE, pb_grpc.CodecStub(channel).GetModelInfo, pb.GetModelInfoRequest(),
                          timeout=5)
        metrics = f"localhost:{running.server.metrics_port}/metrics"  # the metrics are served over TLS too
        with socket.create_connection(("127.0.0.1", running.server.metrics_port)):  # connects, never says a word
            text = urlopen(f"https://{metrics}", context=ssl.create_default_context(cafile=str(cert)), timeout=5).read()
        assert b'grpc_method="GetModelInfo"' in text
        with pytest.raises(OSError):
            urlopen(f"http://{metrics}", timeout=10)
    finally:
        running.stop()


def test_sigterm_drains_in_flight_stream(model_dir, speech, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-m", "serve.server", "--port", "0", "--codec", str(model_dir), "--grace", "20"],
        stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        port = None
        for line in proc.stderr:
            if '"event": "serving"' in line:
                port = int(line.split('"address": "127.0.0.1:')[1].split('"')[0])
                break
        assert port, "server did not start"
        release = threading.Event()

        def slow_requests():
            yield pb.DecodeStreamRequest(config=pb.StreamingConfig(encoding=pb.FLOAT32_PCM))
            release.wait(30)
            yield pb.DecodeStreamRequest(codes=wire.codes_to_proto(np.zeros((4, 5), np.int64), "", ""))

        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.CodecStub(channel)
            stub.GetModelInfo(pb.GetModelInfoRequest(), wait_for_ready=True)
            call = stub.DecodeStream(slow_requests())
            time.sleep(0.5)
            proc.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            release.set()
            chunks = list(call)  # the in-flight stream completes after SIGTERM
            assert sum(len(c.audio.data) for c in chunks) > 0
        assert proc.wait(30) == 0
        assert '"event": "stopped"' in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.parametrize("settings, message", [
    ({"port": -5}, "port must be 0"),
    ({"port": 70000}, "port must be 0"),
    ({"workers": 0}, "workers must be at least 1"),
    ({"threads": 0}, "threads must be at least 1"),
    ({"max_audio_seconds": 0}, "max_audio_seconds and text_stream_idle_seconds must be > 0"),
    ({"text_stream_idle_seconds": 0}, "max_audio_seconds and text_stream_idle_seconds must be > 0"),
    ({"tls_cert": "server.crt"}, "TLS needs both"),  # alone it used to serve plaintext
    ({"tts_verifier": "asr_verifier"}, "it needs --tts"),
    ({"tts_dictionary": "say.txt"}, "--tts-dictionary respells TTS requests: it needs --tts"),
    ({"max_best_of": 0}, "max_best_of must be at least 1"),
    ({"codec_step_rows": 0}, "codec_step_rows must be at least 1"),
    ({"tts_search_seconds": -1}, "tts_search_seconds must be >= 0"),
    ({"tts": ["tts"], "voice_prompt_seconds": 3.0}, "it needs --tts-verifier"),  # nothing would find the words
    ({"tts": ["tts"], "tts_verifier": "asr_verifier", "voice_prompt_seconds": 0}, "voice_prompt_seconds must be > 0"),
    ({"port": "fifty"}, "ServerConfig.port: expected an integer"),
    ({"sentence_context": "last"}, "sentence_context must be one of voice, previous"),
    ({"tts_batch": 0}, "tts_batch must be 1 to 64 sentences"),
    ({"tts_batch": 2, "sentence_context": "previous"}, "tts_batch > 1 needs context 'voice'"),
    ({"metrics_port": 70000}, "metrics_port must be 0"),
    ({"port": 9100, "metrics_port": 9100}, "port, metrics_port and http_port must differ, got 9100, 9100"),
    ({"port": 9100, "http_port": 9100, "tts": ["tts"]}, "port, metrics_port and http_port must differ"),
    ({"http_port": 70000}, "http_port must be 0"),
    ({"http_cors": ["*"]}, "--http-cors lets pages call the HTTP gateway: it needs --http-port"),
    ({"tts": ["tts"], "voice_consent": "I agree."}, "--voice-consent checks consent recordings with the verifier"),
    ({"tts": ["tts"], "tts_verifier": "asr_verifier", "voice_consent": " ..."}, "the consent statement: text has nothing to say"),
    ({"tts": ["tts"], "tts_verifier": "asr_verifier", "voice_consent": "I agree.", "consent_min_similarity": 2},
     "a cosine, -1 to 1"),
])
def test_server_config_refuses_impossible_settings(settings, message):
    with pytest.raises(ConfigError, match=message):
        ServerConfig(**settings)


def test_server_flags_reach_the_config():
    assert parse_args(["--voice-prompt-pace"]).voice_prompt_pace and not parse_args([]).voice_prompt_pace
    consent = parse_args(["--tts", "tts", "--tts-verifier", "asr_verifier", "--voice-consent", "I agree.",
                          "--consent-min-similarity", "0.7"]).consent_settings()
    assert (consent.statement, consent.speaker_encoder, consent.min_similarity) == ("I agree.", "speaker", 0.7)
    assert parse_args(["--sentence-context", "previous"]).sentence_context == "previous"
    assert parse_args(["--tts-batch", "4"]).tts_batch == 4 and parse_args([]).tts_batch == 1
    cfg = parse_args(["--tts", "tts", "--tts-verifier", "asr_verifier", "--voice-prompt-seconds", "3"])
    assert cfg.voice_prompt_seconds == 3.0 and cfg.tts == ["tts"]
    assert parse_args(["--metrics-port", "9100"]).metrics_port == 9100 and parse_args([]).metrics_port is None
    assert parse_args(["--tts", "tts", "--http-port", "8080"]).http_port == 8080 and parse_args([]).http_port is None
    assert parse_args(["--text-stream-idle", "30"]).text_stream_idle_seconds == 30.0
    assert parse_args(["--codec-step-rows", "1"]).codec_step_rows == 1 and parse_args([]).codec_step_rows == 32


def run_server(args: list[str]) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "serve.server", *args], capture_output=True, text=True, env=env, timeout=120)


def test_server_startup_mistakes_are_one_line(model_dir, tmp_path):
    not_pem = tmp_path / "key.pem"
    not_pem.write_text("not a key")
    pairs = {}
    for name in ("a", "b"):  # two self-signed certificates with their keys
        pairs[name] = self_signed(tmp_path, name)
    garbled = tmp_path / "garbled.key"
    garbled.write_text("-----BEGIN PRIVATE KEY-----\nnot base64 key material\n-----END PRIVATE KEY-----\n")
    (cert_a, key_a), (_, key_b) = pairs["a"], pairs["b"]
    with socket.socket() as busy:  # no SO_REUSEPORT: gRPC cannot share it
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        cases = {
            ("--port", str(port)): f"cannot listen on 127.0.0.1:{port}: the port is in use",
            ("--port", "0", "--metrics-port", str(port)): f"cannot serve metrics on 127.0.0.1:{port}: Address already in use",
            ("--port", "0", "--tls-cert", str(not_pem), "--tls-key", str(not_pem)): f"{not_pem}: not a PEM file",
            ("--port", "0", "--tls-cert", str(not_pem), "--tls-key", str(tmp_path / "no.key")):
                f"{tmp_path / 'no.key'}: No such file or directory",
            ("--workers", "0"): "workers must be at least 1",
            # gRPC's core used to log three lines of its own for these, then call the port busy
            ("--port", "0", "--tls-cert", str(cert_a), "--tls-key", str(key_b)):
                f"--tls-key {key_b} is not the key of --tls-cert {cert_a}",
            ("--port", "0", "--tls-cert", str(cert_a), "--tls-key", str(garbled)): f"--tls-key {garbled}: not a usable private key",
            ("--port", "0", "--tls-cert", str(key_a), "--tls-key", str(key_a)): f"--tls-cert {key_a}: not a certificate",
        }
        for args, message in cases.items():
            run = run_server(["--codec", str(model_dir), *args])
            assert run.returncode == 1, run.stderr
            lines = run.stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith(f"speech-server: error: {message}"), run.stderr  # one line
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for ca, message in ((key_a, f"--tls-ca {key_a}: not a certificate"), (garbled, f"--tls-ca {garbled}: not a certificate"),
                        (not_pem, f"{not_pem}: not a PEM file (expected '-----BEGIN ...')")):  # the client's CA, before gRPC's core logs its own lines
        run = subprocess.run([sys.executable, "-m", "serve.client", "--tls-ca", str(ca), "--server", "127.0.0.1:1", "info"],
                             capture_output=True, text=True, env=env, timeout=60)
        assert run.returncode == 1 and run.stderr.strip().splitlines() == [f"speech-client: error: {message}"], run.stderr


def test_a_second_server_cannot_take_a_serving_port(server, model_dir):
    """gRPC turns SO_REUSEPORT on by default, so a second speech-server started on a serving port
    used to come up and silently take part of its connections. Now it is refused, unless every
    server on the port asks to share it (--reuse-port)."""
    run = run_server(["--codec", str(model_dir), "--port", str(server.port)])
    assert run.returncode == 1, run.stderr
    # one line: ours, not gRPC core's add_port.cc log before it
    assert run.stderr.strip().splitlines() == [f"speech-server: error: cannot listen on 127.0.0.1:{server.port}: "
                                               "the port is in use"], run.stderr
    first = RunningServer(ServerConfig(port=0, codec=str(model_dir), reuse_port=True))
    try:
        second = RunningServer(ServerConfig(port=first.port, codec=str(model_dir), reuse_port=True))
        assert second.port == first.port
        second.stop()
    finally:
        first.stop()


def test_generated_stubs_match_proto():
    proc = subprocess.run([sys.executable, str(ROOT / "proto" / "generate.py"), "--check"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_every_rpc_of_the_proto_is_implemented():
    """The generated base servicers answer UNIMPLEMENTED (grpc_tools output, kept as generated);
    our services override every RPC the proto declares."""
    from serve.gen.speech.v1 import speech_pb2 as pb
    from serve.gen.speech.v1 import speech_pb2_grpc as pb_grpc
    from serve.server import CodecService
    from serve.tts_service import TextToSpeechService

    for name, ours, base in (("Codec", CodecService, pb_grpc.CodecServicer),
                             ("TextToSpeech", TextToSpeechService, pb_grpc.TextToSpeechServicer)):
        rpcs = [m.name for m in pb.DESCRIPTOR.services_by_name[name].methods]
        assert rpcs and all(getattr(ours, rpc) is not getattr(base, rpc) for rpc in rpcs), name
