"""``speech-server``: the gRPC speech service (grpc.aio) on ONNX Runtime engines.

Models load once at start and are warmed; inference runs in a bounded thread pool (ONNX
Runtime releases the GIL). Streams hold their own state and nothing else lives between
requests, so replicas scale out behind any gRPC load balancer. Standard health checking
and server reflection are served, and Prometheus metrics with ``--metrics-port`` (serve.metrics);
SIGTERM marks the server NOT_SERVING, drains in-flight streams for ``--grace`` seconds, then exits.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import json
import logging
import shutil
import signal
import socket
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Callable

import grpc
import numpy as np
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from codec.audio import StreamResampler
from codec.errors import USER_MISTAKES, CodecError, describe
from codec.identity import codes_mismatch
from codec.pretrained import DEFAULT_CODEC
from codec.typed_config import ConfigError, coerce_fields
from serve import wire
from serve.codec_batcher import CodecStepBatcher
from serve.codec_batcher import flush as batched_flush
from serve.codec_batcher import push as batched_push
from serve.http_server import serve_wsgi, stop_accepting
from serve.metrics import ServerMetrics
from serve.rpc import ModelNotFound, StreamSlots, bearer_check, log_request, opening, reshaped, streaming, submit, unary
from serve.tls import server_key_pair
from serve.engine import load_codec_engine
from serve.runtime import OnnxCodec
from serve.gen.speech.v1 import speech_pb2 as pb
from serve.gen.speech.v1 import speech_pb2_grpc as pb_grpc
from tts.consent import ConsentSettings
from tts.synthesize import CONTEXTS, check_batch

log = logging.getLogger("speech.server")
CODEC_SERVICE = pb.DESCRIPTOR.services_by_name["Codec"].full_name
TTS_SERVICE = pb.DESCRIPTOR.services_by_name["TextToSpeech"].full_name


@dataclass
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 50051
    codec: str = DEFAULT_CODEC
    extra_codecs: list[str] = field(default_factory=list)
    tts: list[str] = field(default_factory=list)  # TTS model dirs / bundled names to serve
    tts_int8: bool = False  # ONNX int8 TTS graph (tts.int8.onnx): ~1.4x faster decoding, ~95% greedy-token agreement
    tts_verifier: str | None = None  # CTC recognizer (dir / bundled name) that lets requests ask for best_of > 1
    max_best_of: int = 4  # candidates one request may ask for (they run as one batch)
    # with best_of > 1: prune a sentence's candidates to the verifier's best every this many
    # seconds while they speak (tts.search; a quarter of them go on); 0: plain best of N;
    # None: the library's default (tts.sampling.DEFAULT_SEARCH_SECONDS, 0.5)
    tts_search_seconds: float | None = None
    # zero-shot voice prompts longer than this keep their first words that fit (tts.voice_trim):
    # new voices read far better after short prompts. Needs the verifier. The model's own voices
    # (training speakers) are read whole: cut to 3 s they read worse (README).
    voice_prompt_seconds: float | None = None
    # zero-shot voice prompts stretched in time (pitch kept) to the pace the model trained on
    # (tts.voice_pace): unseen voices start reading in the right place, training voices read worse
    # (README), so it is off by default; the model's own voices are never stretched
    voice_prompt_pace: bool = False
    # what a request's second and later sentences are prompted with (tts.synthesize CONTEXTS):
    # the voice prompt again, or the previous sentence's text and codes so the model goes on
    # (measured a wash on WER, and the voice drifts over long text: README "Sentence context")
    sentence_context: str = "voice"
    # a request's sentences generated together, as one batch (context "voice" only): the whole
    # answer sooner (1.5x at 4 sentences on 2 CPUs), the first audio later (README "Sentences together")
    tts_batch: int = 1
    # concurrent requests' decode steps run as one model call of up to this many rows
    # (serve.step_batcher: continuous batching, ONNX Runtime backend); 1: each request's alone,
    # its whole generation on an inference worker as before
    tts_step_rows: int = 32
    # concurrent codec streams' step calls (EncodeStream, DecodeStream, their WebSockets) run as
    # one call of up to this many streams (serve.codec_batcher, ONNX Runtime backend; each row's
    # answer is its stream's alone, bit for bit); 1: each stream's calls alone
    codec_step_rows: int = 32
    # a pronunciation dictionary file (tts.respell; Riva's custom_dictionary format) applied to
    # every request's text; a request's own custom_dictionary adds to it and overrides it
    tts_dictionary: str | None = None
    # where clients' own voices (CreateVoice; POST /v1/audio/voices) are kept: they outlive a
    # restart, and server processes sharing the folder share them (serve.voice_store). None: in memory
    voice_dir: str | None = None
    max_voices: int = 100  # custom voices kept (each up to 30 s of recording: 2.9 MB as float WAV)
    # voices made only with their speaker's consent (tts.consent): CreateVoice needs a recording of
    # the same voice saying this statement, checked by the verifier and the speaker encoder;
    # requests' own recordings are then refused. None: no consent asked for
    voice_consent: str | None = None
    consent_speaker_encoder: str = "speaker"  # directory or bundled name, with speaker.onnx
    consent_min_similarity: float = 0.6  # the cosine of the two recordings' speaker embeddings
    backend: str = "auto"
    threads: int | None = None  # per inference call
    workers: int = 2  # concurrent inference calls
    max_streams: int = 16  # concurrent streaming RPCs; more get RESOURCE_EXHAUSTED
    max_audio_seconds: float = 600.0
    # a SynthesizeTextStream that gets no message for this long is closed (DEADLINE_EXCEEDED):
    # a client gone quiet, or gone without closing its connection, frees its stream slot
    text_stream_idle_seconds: float = 120.0
    max_message_mb: int = 64
    tls_cert: str | None = None
    tls_key: str | None = None
    auth_token: str | None = None
    grace_seconds: float = 10.0
    # SO_REUSEPORT: several server processes on one port, the kernel spreading connections
    # (gRPC's multiprocessing pattern). Off by default: gRPC turns it on, and then a second
    # server started by mistake on a serving port silently takes half its clients.
    reuse_port: bool = False
    # Prometheus metrics over HTTP on host:metrics_port (0: a free port; HTTPS when TLS is set;
    # with auth_token, only to the same bearer token). None: not served.
    metrics_port: int | None = None
    # speech and the codec over plain HTTP on host:http_port: OpenAI's POST /v1/audio/speech (with
    # tts), POST /v1/audio/codes and /v1/audio/decode, a text-stream WebSocket (serve.http_gateway;
    # 0: a free port; HTTPS when TLS is set; the same bearer token). None: not served.
    http_port: int | None = None
    # web pages (origins such as "https://app.example.com", or "*") whose scripts may call the
    # HTTP gateway from a browser (CORS); none by default
    http_cors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        coerce_fields(self)
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port must be 0 (any free port) to 65535, got {self.port}")
        if self.metrics_port is not None and not 0 <= self.metrics_port <= 65535:
            raise ConfigError(f"metrics_port must be 0 (any free port) to 65535, got {self.metrics_port}")
        if self.http_port is not None and not 0 <= self.http_port <= 65535:
            raise ConfigError(f"http_port must be 0 (any free port) to 65535, got {self.http_port}")
        taken = [p for p in (self.port, self.metrics_port, self.http_port) if p]
        if len(taken) != len(set(taken)):
            raise ConfigError(f"port, metrics_port and http_port must differ, got {', '.join(map(str, taken))}")
        if self.http_cors and self.http_port is None:
            raise ConfigError("--http-cors lets pages call the HTTP gateway: it needs --http-port")
        low = [name for name in ("workers", "max_streams", "max_message_mb", "max_best_of", "tts_step_rows",
                                 "codec_step_rows", "max_voices")
               if getattr(self, name) < 1]
        low += ["threads"] if self.threads is not None and self.threads < 1 else []
        if low:
            raise ConfigError(f"{', '.join(low)} must be at least 1")
        if self.max_audio_seconds <= 0 or self.grace_seconds < 0 or self.text_stream_idle_seconds <= 0:
            raise ConfigError("max_audio_seconds and text_stream_idle_seconds must be > 0, grace_seconds >= 0")
        if bool(self.tls_cert) != bool(self.tls_key):  # one alone would silently serve plaintext
            raise ConfigError("TLS needs both a certificate and its key (--tls-cert and --tls-key)")
        if self.sentence_context not in CONTEXTS:
            raise ConfigError(f"sentence_context must be one of {', '.join(CONTEXTS)}, got {self.sentence_context!r}")
        try:
            check_batch(self.tts_batch, self.sentence_context, "tts_batch")
        except ValueError as err:
            raise ConfigError(str(err)) from None
        if self.tts_dictionary and not self.tts:
            raise ConfigError("--tts-dictionary respells TTS requests: it needs --tts")
        if self.voice_dir and not self.tts:
            raise ConfigError("--voice-dir keeps voices for TTS: it needs --tts")
        if self.tts_search_seconds is not None and self.tts_search_seconds < 0:
            raise ConfigError(f"tts_search_seconds must be >= 0, got {self.tts_search_seconds}")
        if self.tts_verifier and not self.tts:  # it would be loaded for nothing and best_of still refused
            raise ConfigError("--tts-verifier verifies TTS candidates: it needs --tts")
        if self.voice_consent is not None:
            if not self.tts_verifier:  # its recognizer hears whether the statement was said
                raise ConfigError("--voice-consent checks consent recordings with the verifier: it needs --tts-verifier")
            try:
                self.consent_settings()
            except ValueError as err:
                raise ConfigError(str(err)) from None
        if self.voice_prompt_seconds is not None:
            if self.voice_prompt_seconds <= 0:
                raise ConfigError(f"voice_prompt_seconds must be > 0, got {self.voice_prompt_seconds}")
            if not self.tts_verifier:  # its recognizer finds the words to cut between
                raise ConfigError("--voice-prompt-seconds cuts prompts between words the verifier finds: it needs --tts-verifier")


    def consent_settings(self) -> ConsentSettings | None:
        if self.voice_consent is None:
            return None
        return ConsentSettings(self.voice_consent, self.consent_speaker_encoder, self.consent_min_similarity)


class CodecRegistry:
    """Codec engines loaded once at start, by name."""

    def __init__(self, cfg: ServerConfig) -> None:
        specs = [cfg.codec, *cfg.extra_codecs]
        self.engines: dict[str, Any] = {}
        for spec in dict.fromkeys(specs):
            engine = load_codec_engine(spec, cfg.backend, cfg.threads)
            self.engines[engine.name] = engine
            self.engines.setdefault(spec, engine)  # also reachable by the spec used to load it
        self.default = self.engines[cfg.codec]
        self.backend = {name: type(e).__name__ for name, e in self.engines.items()}

    def get(self, name: str):
        if not name:
            return self.default
        if name not in self.engines:
            raise ModelNotFound(f"codec {name!r} is not loaded on this server (have: {', '.join(self.names())})")
        return self.engines[name]

    def names(self) -> list[str]:
        return sorted({e.name for e in self.engines.values()})

    def warm(self) -> None:
        """One encode/decode per engine so the first request does not pay graph setup."""
        for engine in {id(e): e for e in self.engines.values()}.values():
            engine.decode(engine.encode(np.zeros((1, engine.hop * 4), np.float32)))


class CodecService(pb_grpc.CodecServicer):
    def __init__(self, registry: CodecRegistry, cfg: ServerConfig, pool: ThreadPoolExecutor,
                 metrics: ServerMetrics | None = None) -> None:
        self.registry, self.cfg, self.pool, self.metrics = registry, cfg, pool, metrics
        self.slots = StreamSlots(cfg.max_streams)
        if metrics is not None:
            metrics.watch_streams(self.slots)
        self.batchers = {id(e): self._batcher(e) for e in registry.engines.values()
                         if cfg.codec_step_rows > 1 and isinstance(e, OnnxCodec)}

    def _batcher(self, engine: OnnxCodec) -> CodecStepBatcher:
        batcher = CodecStepBatcher(engine, lambda fn: submit(self.pool, fn), self.cfg.codec_step_rows, self.cfg.workers)
        if self.metrics is not None:
            batcher.waited, batcher.batched = self.metrics.queue_wait.observe, self.metrics.codec_step_streams.observe
        return batcher

    async def _push(self, engine, part, x: np.ndarray) -> np.ndarray:
        """One chunk through a stream's encoder or decoder: batched with other streams' when the
        engine's calls are (ONNX Runtime), else alone on the pool."""
        if (batcher := self.batchers.get(id(engine))) is not None:
            return await batched_push(part, x, batcher)
        return await self._run(part.push, x)

    async def _run(self, fn: Callable, *args: Any):
        return await submit(self.pool, fn, *args, metrics=self.metrics)

    @unary
    async def Encode(self, request: pb.EncodeRequest, context) -> pb.EncodeResponse:
        start = time.perf_counter()
        engine = self.registry.get(request.model)
        wav = wire.audio_from_proto(request.audio, engine.sample_rate, self.cfg.max_audio_seconds)
        n_q = engine.n_q_for_bandwidth(request.bandwidth_kbps or None)
        codes = (await self._run(engine.encode, wav[None], n_q))[0]
        kbps = engine.cfg.kbps(n_q)
        log_request("Encode", start, len(wav) / engine.sample_rate, self.metrics, model=engine.name)
        return pb.EncodeResponse(codes=wire.engine_codes(codes, engine, len(wav)), bitrate_kbps=kbps)

    @unary
    async def Decode(self, request: pb.DecodeRequest, context) -> pb.DecodeResponse:
        start = time.perf_counter()
        engine = self.registry.get(request.codes.model)
        self._check_identity(engine, request.codes.codes_hash, request.codes.weights_hash)
        codes = wire.codes_from_proto(request.codes)
        seconds = codes.shape[2] * engine.hop / engine.sample_rate
        if seconds > self.cfg.max_audio_seconds:
            raise CodecError(f"codes span {seconds:.1f} s; this server decodes at most {self.cfg.max_audio_seconds:g} s per request")
        engine.check_codes(codes)
        wav = (await self._run(engine.decode, codes, request.codes.num_samples or None))[0]
        log_request("Decode", start, len(wav) / engine.sample_rate, self.metrics, model=engine.name)
        return pb.DecodeResponse(audio=wire.audio_to_proto(wav, engine.sample_rate, request.encoding, request.sample_rate_hz))

    @staticmethod
    def _check_identity(engine, codes_hash: str, weights_hash: str) -> None:
        if why := codes_mismatch(engine, codes_hash, weights_hash):
            raise CodecError(f"codes were {why} here")

    @streaming
    async def EncodeStream(self, requests: AsyncIterator[pb.EncodeStreamRequest], context):
        with self.slots.hold():
            start, first_out = time.perf_counter(), None
            cfg = await opening(requests, "EncodeStream")
            engine = self.registry.get(cfg.model)
            rate = cfg.sample_rate_hz or engine.sample_rate
            wire.check_rate(rate)
            encoding = wire.stream_encoding(cfg.encoding)
            n_q = engine.n_q_for_bandwidth(cfg.bandwidth_kbps or None)
            stream, resample, seconds = engine.stream(1, n_q), StreamResampler(rate, engine.sample_rate), 0.0
            out = lambda c: pb.EncodeStreamResponse(codes=wire.engine_codes(c[0], engine))  # noqa: E731
            async for req in requests:
                if req.HasField("config"):
                    raise CodecError("StreamingConfig may only come first")
                chunk = wire.raw_to_float(req.audio_content, encoding, cfg.channels)
                seconds += len(chunk) / rate
                if seconds > self.cfg.max_audio_seconds:
                    raise CodecError(f"stream exceeds {self.cfg.max_audio_seconds:g} s of audio")
                codes = await self._push(engine, stream.encoder, resample(chunk)[None])
                first_out = first_out or time.perf_counter()
                yield out(codes)
                if req.end_of_stream:
                    break
            tail = resample(np.zeros(0, np.float32), last=True)
            codes = await self._push(engine, stream.encoder, tail[None])
            codes = np.concatenate([codes, await self._flush(engine, stream.encoder)], axis=2)
            yield out(codes)
            log_request("EncodeStream", start, seconds, self.metrics, model=engine.name,
                        first_response_s=(first_out or time.perf_counter()) - start)

    @streaming
    async def DecodeStream(self, requests: AsyncIterator[pb.DecodeStreamRequest], context):
        with self.slots.hold():
            start, first_out = time.perf_counter(), None
            cfg = await opening(requests, "DecodeStream")
            engine = self.registry.get(cfg.model)
            self._check_identity(engine, cfg.codes_hash, cfg.weights_hash)
            rate = cfg.sample_rate_hz or engine.sample_rate
            wire.check_rate(rate)
            encoding = wire.stream_encoding(cfg.encoding)  # WAV/FLAC/OGG refused before any work
            stream, resample, samples = engine.stream(1), StreamResampler(engine.sample_rate, rate), 0
            async for req in requests:
                if req.HasField("config"):
                    raise CodecError("StreamingConfig may only come first")
                codes = wire.codes_from_proto(req.codes)
                wav = await self._push(engine, stream.decoder, codes)
                samples += wav.shape[1]
                if samples / engine.sample_rate > self.cfg.max_audio_seconds:
                    raise CodecError(f"stream exceeds {self.cfg.max_audio_seconds:g} s of audio")
                first_out = first_out or time.perf_counter()
                yield self._audio_chunk(resample(wav[0]), encoding, rate)
            yield self._audio_chunk(resample(np.zeros(0, np.float32), last=True), encoding, rate)
            log_request("DecodeStream", start, samples / engine.sample_rate, self.metrics, model=engine.name,
                        first_audio_s=(first_out or time.perf_counter()) - start)

    async def _flush(self, engine, encoder) -> np.ndarray:
        if (batcher := self.batchers.get(id(engine))) is not None:
            return await batched_flush(encoder, batcher)
        return await self._run(encoder.flush)

    @staticmethod
    def _audio_chunk(wav: np.ndarray, encoding: int, rate: int) -> pb.DecodeStreamResponse:
        return pb.DecodeStreamResponse(audio=pb.Audio(data=wire.float_to_bytes(wav, encoding), encoding=encoding,
                                                      sample_rate_hz=rate, channels=1))

    @unary
    async def GetModelInfo(self, request: pb.GetModelInfoRequest, context) -> pb.ModelInfo:
        engine = self.registry.get(request.model)
        cfg = engine.cfg
        return pb.ModelInfo(
            name=engine.name, weights_hash=engine.weights_hash(), codes_hash=engine.codes_hash(), sample_rate_hz=cfg.sample_rate,
            frame_rate_hz=cfg.frame_rate, codebook_sizes=cfg.codebook_sizes, bitrate_kbps=cfg.bitrate / 1000,
            latency_ms=1000 * cfg.latency_samples / cfg.sample_rate,
            backend="onnx" if type(engine).__name__ == "OnnxCodec" else "torch", models=self.registry.names(),
        )


class BearerAuth(grpc.aio.ServerInterceptor):
    """Require ``authorization: Bearer <token>`` on every RPC except health checks."""

    def __init__(self, token: str) -> None:
        self.matches = bearer_check(token)

    async def intercept_service(self, continuation, details):
        handler = await continuation(details)
        if details.method.startswith("/grpc.health.v1.Health/") or handler is None:
            return handler
        if self.matches(dict(details.invocation_metadata or ()).get("authorization", "")):
            return handler
        return _refusing(handler)


def _refusing(handler):
    """A handler of the same shape that answers UNAUTHENTICATED."""

    async def deny(request, context):
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")

    async def deny_stream(request, context):
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")
        yield  # pragma: no cover  (makes this an async generator)

    return reshaped(handler, deny_stream if handler.response_streaming else deny)


class SpeechServer:
    """Owns the grpc.aio server, the registry and the worker pool; ``start``/``stop``."""

    def __init__(self, cfg: ServerConfig) -> None:
        self.cfg = cfg
        self.registry = CodecRegistry(cfg)
        self.registry.warm()
        self.tts_registry = None
        if cfg.tts:
            from serve.tts_service import TtsRegistry

            self.tts_registry = TtsRegistry(cfg.tts, self.registry, cfg.backend, cfg.threads, cfg.tts_int8,
                                            cfg.tts_verifier, cfg.voice_prompt_seconds, cfg.voice_prompt_pace,
                                            cfg.sentence_context, cfg.tts_batch, cfg.tts_dictionary, cfg.tts_step_rows,
                                            cfg.voice_dir, cfg.max_voices, cfg.consent_settings())
            self.tts_registry.warm()
        self.pool = ThreadPoolExecutor(max_workers=cfg.workers, thread_name_prefix="infer")
        # batched steps: a generation waits on the batcher, not on a worker, so each gets a thread
        # (the streams are bounded by max_streams; unary requests beyond wait here)
        self.tts_pool = (ThreadPoolExecutor(max_workers=cfg.max_streams + cfg.workers, thread_name_prefix="tts")
                         if self.tts_registry is not None and self.tts_registry.batchers else None)
        self.health = health.aio.HealthServicer()
        self.metrics = self._metrics() if cfg.metrics_port is not None else None  # nothing collected unless served
        self.server: grpc.aio.Server | None = None
        self.port = self.metrics_port = self.http_port = 0
        self._gateway = self._http = self._socket_dir = None

    def _metrics(self) -> ServerMetrics:
        metrics = ServerMetrics()
        metrics.workers.set(self.cfg.workers)
        for batcher in self.tts_registry.batchers if self.tts_registry else []:
            batcher.waited, batcher.batched = metrics.queue_wait.observe, metrics.tts_step_requests.observe
        for name in self.registry.names():
            metrics.model("codec", name, self.registry.get(name).weights_hash())
        for name, entry in (self.tts_registry.entries if self.tts_registry else {}).items():
            digest = entry.synth.model.weights_hash  # a method of the torch model, an attribute of the ONNX one
            metrics.model("tts", name, digest() if callable(digest) else digest)
        return metrics

    async def start(self) -> int:
        limit = self.cfg.max_message_mb * 1024 * 1024
        interceptors = [BearerAuth(self.cfg.auth_token)] if self.cfg.auth_token else []
        if self.metrics is not None:  # first: they count what the token check refuses too
            interceptors.insert(0, self.metrics.interceptor())
        self.server = grpc.aio.server(
            interceptors=interceptors,
            options=[("grpc.max_receive_message_length", limit), ("grpc.max_send_message_length", limit),
                     ("grpc.so_reuseport", int(self.cfg.reuse_port))],
        )
        self.codec_service = CodecService(self.registry, self.cfg, self.pool, self.metrics)
        pb_grpc.add_CodecServicer_to_server(self.codec_service, self.server)
        served = [CODEC_SERVICE]
        if self.tts_registry is not None:
            from serve.tts_service import TextToSpeechService

            tts = TextToSpeechService(self.tts_registry, self.cfg, self.pool, self.codec_service.slots, self.metrics,
                                      self.tts_pool)
            pb_grpc.add_TextToSpeechServicer_to_server(tts, self.server)
            served.append(TTS_SERVICE)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        services = (*served, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME)
        reflection.enable_server_reflection(services, self.server)
        address = f"{self.cfg.host}:{self.cfg.port}"
        creds = None  # ServerConfig makes sure a certificate comes with its key
        if self.cfg.tls_cert:
            creds = grpc.ssl_server_credentials([server_key_pair(self.cfg.tls_cert, self.cfg.tls_key)])
        if self.cfg.port and not self.cfg.reuse_port:
            check_port_free(self.cfg.host, self.cfg.port)
        try:
            self.port = self.server.add_secure_port(address, creds) if creds else self.server.add_insecure_port(address)
        except RuntimeError:  # grpc's bind failure says only "Failed to bind"
            raise OSError(f"cannot listen on {address}: the port is in use or not permitted") from None
        if self.metrics is not None:
            self.metrics_port = self.metrics.serve_http(self.cfg.host, self.cfg.metrics_port, self.cfg.tls_cert, self.cfg.tls_key,
                                                         self.cfg.auth_token)
        if self.cfg.http_port is not None:
            self._serve_http()
        await self.server.start()
        for service in ("", *served):
            await self.health.set(service, health_pb2.HealthCheckResponse.SERVING)
        metrics = {"metrics": f"{self.cfg.host}:{self.metrics_port}"} if self.metrics is not None else {}
        metrics |= {"http": f"{self.cfg.host}:{self.http_port}"} if self._http is not None else {}
        log.info(json.dumps({"event": "serving", "address": f"{self.cfg.host}:{self.port}", "codecs": self.registry.names(),
                             "backend": sorted(set(self.registry.backend.values())), **metrics}))
        return self.port

    def _serve_http(self) -> None:
        """The HTTP gateway, calling this server over a Unix socket in a private (0700) folder: no
        TLS to set up between them, and the bearer token still checked by gRPC."""
        from serve.http_gateway import Gateway

        self._socket_dir = tempfile.mkdtemp(prefix="speech-server-")
        target = f"unix:{self._socket_dir}/grpc.sock"
        self.server.add_insecure_port(target)
        usage = self.tts_registry.usage if self.tts_registry is not None else None
        self._gateway = Gateway(target, self.cfg.http_cors, self.metrics, usage, self.cfg.max_message_mb)
        try:
            self._http = serve_wsgi(self._gateway, self.cfg.host, self.cfg.http_port, self.cfg.tls_cert, self.cfg.tls_key,
                                    "http")
        except OSError:  # e.g. the port is taken: nothing is left behind
            self._gateway.close()
            shutil.rmtree(self._socket_dir, ignore_errors=True)
            raise
        self.http_port = self._http.server_port

    async def stop(self, grace: float | None = None) -> None:
        """Refuse new work (health NOT_SERVING), let in-flight RPCs finish within ``grace``."""
        await self.health.enter_graceful_shutdown()
        if self._http is not None:  # no new HTTP requests; those in flight finish with their gRPC calls
            await asyncio.to_thread(stop_accepting, self._http)
        if self.server is not None:
            await self.server.stop(self.cfg.grace_seconds if grace is None else grace)
        if self._http is not None:
            self._http.server_close()
            self._gateway.close()
            shutil.rmtree(self._socket_dir, ignore_errors=True)
        self.pool.shutdown(wait=False, cancel_futures=True)
        if self.tts_pool is not None:
            self.tts_pool.shutdown(wait=False, cancel_futures=True)
        if self.tts_registry is not None:
            self.tts_registry.close()
        if self.metrics is not None:
            self.metrics.close()
        log.info(json.dumps({"event": "stopped"}))


def check_port_free(host: str, port: int) -> None:
    """Bind the address once ourselves before gRPC does: a busy port is then refused in our one
    line, where gRPC's own failure also logs a line of its core's (add_port.cc) to stderr.
    SO_REUSEADDR as gRPC sets it, so a port merely in TIME_WAIT is not called busy."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as err:
        raise OSError(f"cannot listen on {host}:{port}: {err.strerror}") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as err:
            reason = "the port is in use" if err.errno == errno.EADDRINUSE else f"not permitted ({err.strerror})"
            raise OSError(f"cannot listen on {host}:{port}: {reason}") from None


async def serve(cfg: ServerConfig) -> None:
    server = SpeechServer(cfg)
    await server.start()
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    await stopping.wait()
    log.info(json.dumps({"event": "draining", "grace_s": cfg.grace_seconds}))
    await server.stop()


def parse_args(argv: list[str] | None) -> ServerConfig:
    p = argparse.ArgumentParser(prog="speech-server", description="gRPC speech codec service (ONNX Runtime)")
    d = ServerConfig()
    p.add_argument("--host", default=d.host, help="bind address (default loopback only)")
    p.add_argument("--port", type=int, default=d.port, help="0 picks a free port")
    p.add_argument("--codec", default=d.codec, help="default codec: bundled name, directory or preset")
    p.add_argument("--extra-codec", dest="extra_codecs", action="append", default=[], help="also serve this codec")
    p.add_argument("--tts", action="append", default=[], help="serve this TTS model (directory or bundled name)")
    p.add_argument("--tts-int8", action="store_true", help="use the int8 TTS graph (tts-cli export-onnx --quantize int8)")
    p.add_argument("--tts-verifier", help="CTC recognizer (directory or bundled name, e.g. asr_verifier) that "
                                          "lets requests ask for best_of candidates")
    p.add_argument("--max-best-of", type=int, default=d.max_best_of, help="most candidates one request may ask for")
    p.add_argument("--tts-search-seconds", type=float, default=d.tts_search_seconds, metavar="S",
                   help="with best_of: every S seconds of speech, keep the quarter of the candidates the verifier hears "
                        "on track and let copies of them go on (tts.search; default 0.5); 0 = plain best of N")
    p.add_argument("--voice-prompt-seconds", type=float,
                   help="cut longer zero-shot voice prompts to their first words that fit (e.g. 3; needs "
                        "--tts-verifier); the model's own voices are read whole")
    p.add_argument("--voice-prompt-pace", action="store_true",
                   help="stretch zero-shot voice prompts to the pace the model trained on (tts.voice_pace)")
    p.add_argument("--sentence-context", choices=CONTEXTS, default=d.sentence_context,
                   help="what a request's later sentences are prompted with: the voice prompt again (default) or "
                        "the previous sentence's text and codes")
    p.add_argument("--tts-batch", type=int, default=d.tts_batch, metavar="N",
                   help="a request's sentences generated N at a time as one batch (whole answers sooner, "
                        "first audio later; --sentence-context voice only)")
    p.add_argument("--tts-step-rows", type=int, default=d.tts_step_rows, metavar="N",
                   help="concurrent requests' decode steps run as one model call of up to N rows (continuous "
                        "batching, ONNX Runtime; 1: each request alone)")
    p.add_argument("--codec-step-rows", type=int, default=d.codec_step_rows, metavar="N",
                   help="concurrent codec streams' step calls run as one model call of up to N streams (ONNX "
                        "Runtime; 1: each stream alone)")
    p.add_argument("--tts-dictionary", metavar="FILE",
                   help="pronunciations for every request: a word, two spaces (or a tab), how to say it, one per line "
                        "(Riva's custom_dictionary format; a request's own entries override these)")
    p.add_argument("--voice-dir", metavar="DIR", help="keep clients' own voices (CreateVoice) here: they outlive a "
                                                      "restart and are shared by servers using the same folder")
    p.add_argument("--max-voices", type=int, default=d.max_voices, help="most custom voices kept")
    p.add_argument("--voice-consent", metavar="STATEMENT",
                   help="make voices only with their speaker's consent: CreateVoice needs a recording of the same "
                        "voice saying STATEMENT (needs --tts-verifier); requests' own recordings are refused")
    p.add_argument("--consent-speaker-encoder", default=d.consent_speaker_encoder, metavar="DIR",
                   help="speaker encoder (directory or bundled name, with speaker.onnx) that compares the voices")
    p.add_argument("--consent-min-similarity", type=float, default=d.consent_min_similarity, metavar="COS",
                   help="how alike the consent and the recording must sound (cosine of speaker embeddings)")
    p.add_argument("--backend", choices=("auto", "onnx", "torch"), default=d.backend)
    p.add_argument("--threads", type=int, help="threads per inference call")
    p.add_argument("--workers", type=int, default=d.workers, help="concurrent inference calls")
    p.add_argument("--max-streams", type=int, default=d.max_streams)
    p.add_argument("--max-audio-seconds", type=float, default=d.max_audio_seconds)
    p.add_argument("--text-stream-idle", dest="text_stream_idle_seconds", type=float, default=d.text_stream_idle_seconds,
                   metavar="S", help="close a SynthesizeTextStream that sends nothing for S seconds once its text is said "
                        "(frees its slot)")
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    p.add_argument("--auth-token", help="require 'authorization: Bearer TOKEN' metadata")
    p.add_argument("--grace", dest="grace_seconds", type=float, default=d.grace_seconds, help="drain time on SIGTERM")
    p.add_argument("--metrics-port", type=int, help="serve Prometheus metrics at http(s)://HOST:PORT/metrics (0: a free port)")
    p.add_argument("--http-cors", action="append", default=[], metavar="ORIGIN",
                   help="let scripts of pages from ORIGIN (e.g. https://app.example.com, or *) call the HTTP gateway "
                        "from a browser; repeatable")
    p.add_argument("--http-port", type=int, help="also serve over HTTP(S) on this port: OpenAI's POST /v1/audio/speech "
                                                 "(with --tts), the codec's POST /v1/audio/codes and /v1/audio/decode "
                                                 "(0: a free port)")
    p.add_argument("--reuse-port", action="store_true",
                   help="let several server processes share --port (SO_REUSEPORT; the kernel spreads connections)")
    return ServerConfig(**vars(p.parse_args(argv)))


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s", stream=sys.stderr)
    try:
        cfg = parse_args(argv)
        asyncio.run(serve(cfg))
    except USER_MISTAKES as err:
        print(f"speech-server: error: {describe(err)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
