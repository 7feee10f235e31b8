"""Shared RPC plumbing: error -> status mapping, handler decorators, stream slots, the inference
pool, request logs."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import time
from concurrent.futures import Executor
from typing import Any, Callable

import grpc

from codec.errors import CodecError

log = logging.getLogger("speech.server")


class ModelNotFound(CodecError):
    pass


class Overloaded(Exception):
    pass


class AlreadyExists(CodecError):
    """A name that is taken (a custom voice): ALREADY_EXISTS."""


class Raced(Exception):
    """Another server changed the same thing at the same time, again and again: ABORTED (retry)."""


class Unwritable(Exception):
    """What the server could not write (its disk full or read-only): INTERNAL, said in one line."""


class IdleTimeout(Exception):
    """A stream whose client went quiet for too long (DEADLINE_EXCEEDED): its slot is freed."""


# gRPC's four handler shapes by (request streaming, response streaming): the kind's name, the
# factory of a handler of that shape, and the handler attribute that holds its function
HANDLER_SHAPES = {
    (False, False): ("unary", grpc.unary_unary_rpc_method_handler, "unary_unary"),
    (True, False): ("client_stream", grpc.stream_unary_rpc_method_handler, "stream_unary"),
    (False, True): ("server_stream", grpc.unary_stream_rpc_method_handler, "unary_stream"),
    (True, True): ("bidi_stream", grpc.stream_stream_rpc_method_handler, "stream_stream"),
}


def handler_kind(handler: grpc.RpcMethodHandler) -> str:
    return HANDLER_SHAPES[(handler.request_streaming, handler.response_streaming)][0]


def handler_function(handler: grpc.RpcMethodHandler) -> Callable:
    return getattr(handler, HANDLER_SHAPES[(handler.request_streaming, handler.response_streaming)][2])


def reshaped(handler: grpc.RpcMethodHandler, fn: Callable) -> grpc.RpcMethodHandler:
    """A handler of ``handler``'s shape and (de)serializers that runs ``fn`` instead (interceptors)."""
    make = HANDLER_SHAPES[(handler.request_streaming, handler.response_streaming)][1]
    return make(fn, request_deserializer=handler.request_deserializer, response_serializer=handler.response_serializer)


def status_for(err: BaseException) -> grpc.StatusCode:
    if isinstance(err, ModelNotFound):
        return grpc.StatusCode.NOT_FOUND
    if isinstance(err, AlreadyExists):
        return grpc.StatusCode.ALREADY_EXISTS
    if isinstance(err, Overloaded):
        return grpc.StatusCode.RESOURCE_EXHAUSTED
    if isinstance(err, IdleTimeout):
        return grpc.StatusCode.DEADLINE_EXCEEDED
    if isinstance(err, Unwritable):
        return grpc.StatusCode.INTERNAL
    if isinstance(err, Raced):
        return grpc.StatusCode.ABORTED
    if isinstance(err, (CodecError, ValueError)):
        return grpc.StatusCode.INVALID_ARGUMENT
    return grpc.StatusCode.INTERNAL


class StreamSlots:
    """At most ``limit`` concurrent streams; the next one is refused, not queued."""

    def __init__(self, limit: int) -> None:
        self.limit, self.active = limit, 0

    @contextlib.contextmanager
    def hold(self):
        if self.active >= self.limit:
            raise Overloaded(f"server is at its limit of {self.limit} concurrent streams; retry later")
        self.active += 1
        try:
            yield
        finally:
            self.active -= 1


async def opening(requests, what: str, kind: str = "StreamingConfig"):
    """The ``config`` a request stream must open with."""
    first = await anext(requests, None)
    if first is None or not first.HasField("config"):
        raise CodecError(f"the first {what} message must carry a {kind}")
    return first.config


def submit(pool: Executor, fn: Callable, *args: Any, metrics=None) -> asyncio.Future:
    """``fn(*args)`` on the inference pool, awaitable; with ``metrics`` (serve.metrics.ServerMetrics)
    its wait for a free worker is recorded."""
    if metrics is not None:
        fn = metrics.queued(fn)
    return asyncio.get_running_loop().run_in_executor(pool, fn, *args)


def log_request(rpc: str, start: float, audio_s: float = 0.0, metrics=None, **extra: Any) -> None:
    """One JSON line per request: wall time, audio seconds, real-time factor, extras; the same
    figures go to ``metrics`` (a serve.metrics.ServerMetrics) when given."""
    wall = time.perf_counter() - start
    record = {"rpc": rpc, "wall_s": round(wall, 4), "audio_s": round(audio_s, 3)}
    if audio_s:
        record["rtf"] = round(wall / audio_s, 4)
    record.update({k: (round(v, 4) if isinstance(v, float) else v) for k, v in extra.items()})
    log.info(json.dumps(record))
    if metrics is not None:
        metrics.observe(record)


def unary(handler: Callable) -> Callable:
    """Map our errors to status codes for a unary handler."""

    async def wrapper(self, request, context):
        try:
            return await handler(self, request, context)
        except (CodecError, ValueError, Overloaded, IdleTimeout, Unwritable, Raced) as err:
            await context.abort(status_for(err), str(err))

    wrapper.__name__ = handler.__name__
    return wrapper


def streaming(handler: Callable) -> Callable:
    """Same for a response-streaming handler (an async generator)."""

    async def wrapper(self, request, context):
        try:
            async for item in handler(self, request, context):
                yield item
        except (CodecError, ValueError, Overloaded, IdleTimeout, Unwritable, Raced) as err:
            await context.abort(status_for(err), str(err))

    wrapper.__name__ = handler.__name__
    return wrapper


def bearer_check(token: str) -> Callable[[str | bytes], bool]:
    """Whether an ``authorization`` value is ``Bearer <token>``, compared in constant time: the
    one check behind gRPC's token (BearerAuth) and the metrics endpoint's."""
    expected = f"Bearer {token}".encode()

    def matches(given: str | bytes) -> bool:
        return hmac.compare_digest(given.encode() if isinstance(given, str) else given, expected)

    return matches
