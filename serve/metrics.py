"""Prometheus metrics of the speech server, scraped over HTTP(S) (``--metrics-port``).

The gRPC part uses go-grpc-prometheus's names and labels (``grpc_server_started_total``,
``grpc_server_handled_total`` with ``grpc_code``, ``grpc_server_handling_seconds``, message
counts), so existing gRPC dashboards and alerts work unchanged. The speech part says what only
this service knows: audio seconds processed, real-time factor, time to the first response of a
stream, streams in use against the limit, characters read, and which models are loaded.
Each server owns its registry: several servers in one process (tests) never share counters.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any, AsyncIterator, Callable

import grpc
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_wsgi_app

from serve.http_server import serve_wsgi, stop
from serve.rpc import bearer_check, handler_function, handler_kind, reshaped

GRPC_LABELS = ("grpc_type", "grpc_service", "grpc_method")
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
RTF_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 5.0)


class ServerMetrics:
    """Every metric of one server, in a registry of its own."""

    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.started = Counter("grpc_server_started_total", "RPCs started on the server.", GRPC_LABELS, registry=r)
        self.handled = Counter("grpc_server_handled_total", "RPCs completed on the server, by status code.",
                               (*GRPC_LABELS, "grpc_code"), registry=r)
        self.handling = Histogram("grpc_server_handling_seconds", "Time from an RPC's start to its status.",
                                  GRPC_LABELS, buckets=LATENCY_BUCKETS, registry=r)
        self.received = Counter("grpc_server_msg_received_total", "Request messages received.", GRPC_LABELS, registry=r)
        self.sent = Counter("grpc_server_msg_sent_total", "Response messages sent.", GRPC_LABELS, registry=r)
        self.audio = Counter("speech_audio_seconds_total", "Seconds of audio encoded, decoded or synthesized.",
                             ("rpc", "model"), registry=r)
        self.rtf = Histogram("speech_real_time_factor", "Wall time of a request over the seconds of audio it handled.",
                             ("rpc",), buckets=RTF_BUCKETS, registry=r)
        self.first = Histogram("speech_first_response_seconds", "Time from a stream's start to its first response "
                               "(codes for EncodeStream, audio otherwise).", ("rpc",), buckets=LATENCY_BUCKETS, registry=r)
        self.chars = Counter("speech_text_characters_total", "Characters of text synthesized.", ("model",), registry=r)
        self.queue_wait = Histogram("speech_inference_queue_seconds", "Time an inference call waited for a free "
                                    "worker (--workers), or a batched TTS or codec stream step for its batch: "
                                    "the server is saturated when it grows.",
                                    buckets=(0.001, *LATENCY_BUCKETS), registry=r)
        self.tts_step_requests = Histogram("speech_tts_step_requests", "TTS requests whose decode steps ran as one "
                                           "model call (--tts-step-rows): how well concurrent requests batch.",
                                           buckets=(1, 2, 3, 4, 6, 8, 12, 16, 24, 32), registry=r)
        self.codec_step_streams = Histogram("speech_codec_step_streams", "Codec streams whose step calls ran as "
                                            "one model call (--codec-step-rows): how well concurrent streams batch.",
                                            buckets=(1, 2, 3, 4, 6, 8, 12, 16, 24, 32), registry=r)
        self.workers = Gauge("speech_inference_workers", "Inference calls run at once (--workers).", registry=r)
        self.streams = Gauge("speech_streams_active", "Streaming RPCs in progress.", registry=r)
        self.stream_limit = Gauge("speech_streams_limit", "Streaming RPCs allowed at once (--max-streams).", registry=r)
        self.http = Counter("speech_http_requests_total", "HTTP gateway requests (--http-port), by endpoint and "
                            "status: those refused before any gRPC call show only here.", ("path", "code"), registry=r)
        self.models = Gauge("speech_model_info", "Models this server serves (value 1).", ("kind", "name", "weights_hash"),
                            registry=r)
        self._http = None

    def watch_streams(self, slots) -> None:
        """Report ``slots`` (a serve.rpc.StreamSlots) at every scrape."""
        self.streams.set_function(lambda: slots.active)
        self.stream_limit.set(slots.limit)

    def queued(self, fn: Callable) -> Callable:
        """``fn`` as submitted to the inference pool now: when it starts, its wait is recorded."""
        submitted = time.perf_counter()

        def run(*args: Any) -> Any:
            self.queue_wait.observe(time.perf_counter() - submitted)
            return fn(*args)
        return run

    def model(self, kind: str, name: str, weights_hash: str) -> None:
        self.models.labels(kind, name, weights_hash).set(1)

    def observe(self, record: dict[str, Any]) -> None:
        """One request's figures, as serve.rpc.log_request logs them."""
        rpc, model = record["rpc"], record.get("model", "")
        if record.get("audio_s"):
            self.audio.labels(rpc, model).inc(record["audio_s"])
        if "rtf" in record:
            self.rtf.labels(rpc).observe(record["rtf"])
        first = record.get("first_audio_s", record.get("first_response_s"))
        if first is not None:
            self.first.labels(rpc).observe(first)
        if record.get("chars"):
            self.chars.labels(model).inc(record["chars"])

    def interceptor(self) -> grpc.aio.ServerInterceptor:
        return _Interceptor(self)

    def serve_http(self, host: str, port: int, cert: str | None = None, key: str | None = None,
                   token: str | None = None) -> int:
        """Serve ``/metrics`` on ``host:port`` (0: a free port; HTTPS with a certificate; with a
        ``token``, only to ``Authorization: Bearer <token>``), a thread per scrape; returns the port."""
        app = make_wsgi_app(self.registry)
        self._http = serve_wsgi(_bearer_only(app, token) if token else app, host, port, cert, key, "metrics")
        return self._http.server_port

    def close(self) -> None:
        if self._http is not None:
            stop(self._http)
            self._http = None


def _bearer_only(app: Callable, token: str) -> Callable:
    """The WSGI ``app`` for requests that carry the server's bearer token; 401 for the rest."""
    matches = bearer_check(token)

    def guarded(environ: dict, start_response: Callable) -> Any:
        if matches(environ.get("HTTP_AUTHORIZATION", "")):
            return app(environ, start_response)
        start_response("401 Unauthorized", [("Content-Type", "text/plain"), ("WWW-Authenticate", 'Bearer realm="metrics"')])
        return [b"missing or wrong bearer token\n"]

    return guarded


class _Interceptor(grpc.aio.ServerInterceptor):
    """Wraps every handler so each RPC counts once started, once handled (with its code), its
    handling time and its messages, whatever way it ends: returned, aborted, failed or cancelled."""

    def __init__(self, metrics: ServerMetrics) -> None:
        self.metrics = metrics
        self.cache: dict[str, tuple] = {}  # method -> (handler, its measured form): wrapped once, not per call

    async def intercept_service(self, continuation, details):
        handler = await continuation(details)
        if handler is None:
            return None
        cached = self.cache.get(details.method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        service, _, method = details.method.lstrip("/").rpartition("/")
        labels = (handler_kind(handler), service, method)
        wrapped = _wrapped(handler, self.metrics, labels)
        self.cache[details.method] = (handler, wrapped)  # a refusal (BearerAuth) is a new handler each call
        return wrapped


def _status(context, err: BaseException | None) -> str:
    if isinstance(err, (asyncio.CancelledError, GeneratorExit)):  # the client went away
        return "CANCELLED"
    code = context.code()
    if code is None:
        return "UNKNOWN" if err is not None else "OK"
    if isinstance(code, grpc.StatusCode):
        return code.name
    return next((c.name for c in grpc.StatusCode if c.value[0] == code), "UNKNOWN")  # a bare number


class _CountedWrites:
    """The call's context, counting each message a handler sends with ``context.write`` rather than
    by yielding (grpc's health Watch)."""

    def __init__(self, context, sent) -> None:
        self._context, self._sent = context, sent

    async def write(self, message) -> None:
        await self._context.write(message)
        self._sent.inc()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


def _wrapped(handler, m: ServerMetrics, labels: tuple[str, str, str]):
    """The same handler, measured."""
    started, received, sent, handling = (c.labels(*labels) for c in (m.started, m.received, m.sent, m.handling))
    behavior = handler_function(handler)

    async def counted(requests: AsyncIterator) -> AsyncIterator:
        async for item in requests:
            received.inc()
            yield item

    def begin(request):
        started.inc()
        if handler.request_streaming:
            return counted(request)
        received.inc()
        return request

    @contextlib.asynccontextmanager
    async def measured(context):
        start, err = time.perf_counter(), None
        try:
            yield
        except BaseException as e:
            err = e
            raise
        finally:
            m.handled.labels(*labels, _status(context, err)).inc()
            handling.observe(time.perf_counter() - start)

    async def unary_response(request, context):
        async with measured(context):
            response = await behavior(begin(request), context)
            sent.inc()
            return response

    async def streamed_response(request, context):
        async with measured(context):
            responses = behavior(begin(request), _CountedWrites(context, sent))
            if not hasattr(responses, "__aiter__"):  # a handler that writes with context.write (health Watch)
                await responses
                return
            async for response in responses:
                yield response
                sent.inc()  # resumed once gRPC has sent it

    return reshaped(handler, streamed_response if handler.response_streaming else unary_response)
