"""Speech over plain HTTP, as OpenAI's ``POST /v1/audio/speech`` takes it (``--http-port``): curl,
a browser, or an OpenAI SDK pointed at this server's base URL get audio without gRPC; and the
codec (``/v1/audio/codes``, ``/v1/audio/decode``) and a text-stream WebSocket on the same port.

Each HTTP request becomes the gRPC call a client would make, sent over a private Unix socket
to this same server: the same checks, limits, bearer token, metrics and status codes (mapped to
HTTP statuses), nothing implemented twice. ``pcm``, ``wav``, ``mp3`` and ``opus`` (Ogg) stream
as the audio is made (a WAV header of unknown length first, as OpenAI's does; ``codec.audio.
StreamedFile`` for the encoded ones); ``flac`` comes whole, its header with the length and MD5.
With ``"stream_format": "sse"`` the same bytes come as server-sent events, OpenAI's
``speech.audio.delta`` (base64 audio) then ``speech.audio.done`` (usage), for pages reading them
with ``fetch``. Errors are OpenAI's JSON shape: ``{"error": {"message", "type", "code"}}``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import itertools
import json
import struct
from dataclasses import dataclass, field
from email import policy as email_policy
from email.parser import BytesParser
from http import HTTPStatus
from typing import Any, Callable, Iterator
from urllib.parse import parse_qs, urlsplit

import grpc
import numpy as np
from grpc_health.v1 import health_pb2, health_pb2_grpc

from codec import audio, container
from codec.errors import CodecError, InvalidAudio, InvalidCodesFile
from serve import websocket as ws_proto
from serve import wire
from serve.gen.speech.v1 import speech_pb2 as pb
from serve.gen.speech.v1 import speech_pb2_grpc as pb_grpc
from serve.http_server import IDLE_S, AnswerCut
from tts.time_stretch import MAX_FACTOR, MIN_FACTOR  # the speaking rates the server takes

# a request's JSON, with room for a voice recording in base64 (the server takes up to 30 s of it:
# 1.9 MB as 24 kHz 16-bit WAV); the text itself is limited by the synthesizer (tts.text.MAX_CHARS)
MAX_BODY = 4 << 20
CONTENT_TYPES = {"mp3": "audio/mpeg", "opus": "audio/ogg", "flac": "audio/flac", "wav": "audio/wav", "pcm": "audio/pcm"}
FILE_FORMATS = {"mp3": "MP3", "opus": "OGG", "flac": "FLAC"}  # encoded: libsndfile's names
WHOLE_FORMATS = {"flac"}  # made once the audio is all there
FIELDS = {"model", "input", "voice", "response_format", "speed", "stream_format", "instructions",  # OpenAI's
          "seed", "temperature", "sample_rate", "best_of", "word_times", "voice_audio", "voice_text",  # this server's own
          "volume_gain_db", "enable_time_pointing", "pitch"}
HTTP_STATUS = {
    grpc.StatusCode.INVALID_ARGUMENT: (400, "invalid_request_error"),
    grpc.StatusCode.FAILED_PRECONDITION: (400, "invalid_request_error"),
    grpc.StatusCode.OUT_OF_RANGE: (400, "invalid_request_error"),
    grpc.StatusCode.UNAUTHENTICATED: (401, "authentication_error"),
    grpc.StatusCode.PERMISSION_DENIED: (403, "permission_error"),
    grpc.StatusCode.NOT_FOUND: (404, "not_found_error"),
    grpc.StatusCode.ALREADY_EXISTS: (409, "conflict_error"),
    grpc.StatusCode.ABORTED: (409, "conflict_error"),  # raced by another server's change: retry
    grpc.StatusCode.RESOURCE_EXHAUSTED: (429, "rate_limit_error"),
    grpc.StatusCode.UNAVAILABLE: (503, "server_error"),
    grpc.StatusCode.DEADLINE_EXCEEDED: (504, "timeout_error"),
    grpc.StatusCode.UNIMPLEMENTED: (404, "not_found_error"),  # speech asked of a codec-only server
}
DECODED = {"wav": (pb.WAV, "audio/wav"), "flac": (pb.FLAC, "audio/flac"), "ogg": (pb.OGG, "audio/ogg"),
           "pcm": (pb.LINEAR_PCM, "audio/pcm"), "mulaw": (pb.MULAW, "audio/PCMU"), "alaw": (pb.ALAW, "audio/PCMA")}
CODES_TYPE = "application/octet-stream"  # a .codes file (codec.container), as codec-cli writes it
REASONS = {200: "OK", 201: "Created", 204: "No Content", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
           404: "Not Found", 405: "Method Not Allowed", 408: "Request Timeout", 409: "Conflict", 411: "Length Required",
           413: "Content Too Large", 415: "Unsupported Media Type", 426: "Upgrade Required", 429: "Too Many Requests",
           500: "Internal Server Error", 503: "Service Unavailable", 504: "Gateway Timeout"}
TEXT_STREAM = "/v1/audio/speech/stream-input"  # WebSockets: the text stream (serve.speech_socket),
CODES_STREAM, DECODE_STREAM = "/v1/audio/codes/stream", "/v1/audio/decode/stream"  # the codec's (serve.codec_socket)
SOCKETS = (TEXT_STREAM, CODES_STREAM, DECODE_STREAM)


class HttpError(Exception):
    """A request refused before (or instead of) the gRPC call, with its HTTP status."""

    def __init__(self, status: int, message: str, kind: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status, self.kind = status, kind


def check_token(token: str) -> None:
    """A token gRPC metadata can carry (it would refuse another with a traceback); whether it is
    the right one is the gRPC server's to say."""
    if not token.isascii() or not token.isprintable():
        raise HttpError(401, "missing or wrong bearer token", "authentication_error")


def speech_request(body: dict[str, Any]) -> tuple[pb.SynthesizeSpeechRequest, str, bool]:
    """An OpenAI speech request (plus ``seed``, ``temperature``, ``sample_rate``, ``best_of``, and a
    voice to speak like: ``voice_audio`` + ``voice_text``) as the gRPC request it becomes, its
    response format, and whether it is answered as server-sent events. Unknown fields are refused,
    not ignored."""
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        raise HttpError(400, f"unknown field{'s' * (len(unknown) > 1)} {', '.join(unknown)} (this server reads "
                             f"{', '.join(sorted(FIELDS))})")
    if isinstance(body.get("voice"), dict):  # OpenAI's custom voice object: {"id": "NAME"}
        if set(body["voice"]) != {"id"} or not isinstance(body["voice"]["id"], str):
            raise HttpError(400, f'voice must be a name or {{"id": NAME}} (a custom voice), got {body["voice"]!r}')
        body = {**body, "voice": body["voice"]["id"]}
    text, fmt = body.get("input"), body.get("response_format", "mp3")
    if not isinstance(text, str):
        raise HttpError(400, "input must be the text to say (a string)")
    if fmt not in CONTENT_TYPES:
        raise HttpError(400, f"response_format must be one of {', '.join(CONTENT_TYPES)}, got {fmt!r}")
    if body.get("stream_format", "audio") not in ("audio", "sse"):
        raise HttpError(400, f"stream_format must be 'audio' or 'sse', got {body['stream_format']!r}")
    if body.get("instructions"):
        raise HttpError(400, "instructions are not supported: this model has no way to act on them")
    fields = {"model": str, "voice": str, "speed": (int, float), "seed": int, "temperature": (int, float),
              "sample_rate": int, "best_of": int, "voice_audio": str, "voice_text": str, "volume_gain_db": (int, float),
              "pitch": (int, float)}
    for name, kind in fields.items():
        if name in body and (not isinstance(body[name], kind) or isinstance(body[name], bool)):
            what = {str: "text", int: "an integer"}.get(kind, "a number")
            raise HttpError(400, f"{name} must be {what}, got {body[name]!r}")
    if not isinstance(body.get("word_times", False), bool):
        raise HttpError(400, f"word_times must be true or false, got {body['word_times']!r}")
    pointing = body.get("enable_time_pointing", [])
    if not isinstance(pointing, list) or not all(kind in pb.TimepointType.keys() for kind in pointing):
        raise HttpError(400, f'enable_time_pointing must be a list of {", ".join(pb.TimepointType.keys())}, got {pointing!r}')
    for name in ("word_times", "enable_time_pointing"):
        if body.get(name) and body.get("stream_format") != "sse":
            raise HttpError(400, f'{name} come as events: ask for them with "stream_format": "sse"')
    speed = body.get("speed", 1.0)
    if not MIN_FACTOR <= speed <= MAX_FACTOR:  # said here in the HTTP field's name, not the gRPC one's
        raise HttpError(400, f"speed must be {MIN_FACTOR:g} to {MAX_FACTOR:g} (1 = as the model speaks), got {speed:g}")
    request = pb.SynthesizeSpeechRequest(
        text=text, model=body.get("model", ""), voice_name=body.get("voice", ""), speaking_rate=speed,
        seed=body.get("seed", 0), temperature=body.get("temperature", 0.0), best_of=body.get("best_of", 0),
        sample_rate_hz=body.get("sample_rate", 0), word_times=body.get("word_times", False),
        volume_gain_db=body.get("volume_gain_db", 0.0), pitch=body.get("pitch", 0.0), encoding=pb.LINEAR_PCM if fmt in ("pcm", "wav") else pb.FLOAT32_PCM,
        enable_time_pointing=[pb.TimepointType.Value(kind) for kind in pointing])
    if "voice_audio" in body or "voice_text" in body:
        request.zero_shot_data.CopyFrom(_zero_shot(body))
    return request, fmt, body.get("stream_format") == "sse"


def _zero_shot(body: dict) -> pb.ZeroShotData:
    """``voice_audio`` (an audio file, base64) and ``voice_text`` (what it says): a voice to speak
    like, as gRPC's ``zero_shot_data`` (Riva's) carries it."""
    if "voice_audio" not in body or "voice_text" not in body:
        raise HttpError(400, "a voice to speak like needs voice_audio (an audio file, base64) and voice_text "
                             "(what it says); send both")
    if body.get("voice"):
        raise HttpError(400, f"voice {body['voice']!r} and voice_audio both say whose voice: send one")
    return pb.ZeroShotData(audio_prompt=_base64_audio(body["voice_audio"], "voice_audio"), transcript=body["voice_text"])


def _base64_audio(text: str, field: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error:
        raise HttpError(400, f"{field} must be an audio file (WAV, FLAC, Ogg, MP3) in base64") from None


def voice_request(body: dict[str, Any]) -> pb.CreateVoiceRequest:
    """``POST /v1/audio/voices``: a voice's ``name``, its recording (``audio``: a file, base64 in
    JSON, its bytes in a form) and what is said in it (``text``); ``description``, ``model`` and
    ``replace`` if wanted; ``consent`` (a file too) where the server asks for it."""
    if "audio_sample" in body and "audio" not in body:  # OpenAI's name for the recording
        body = {**{k: v for k, v in body.items() if k != "audio_sample"}, "audio": body["audio_sample"]}
    unknown = sorted(set(body) - set(VOICE_FIELDS))
    if unknown:
        raise HttpError(400, f"unknown field{'s' * (len(unknown) > 1)} {', '.join(unknown)} (a voice has "
                             f"{', '.join(VOICE_FIELDS)})")
    missing = [name for name in ("name", "audio", "text") if name not in body]
    if missing:
        raise HttpError(400, f"a voice needs {', '.join(missing)}: its name, its recording (an audio file; base64 in "
                             "JSON) and what is said in it")
    for name, kind in VOICE_FIELDS.items():
        if name in body and not isinstance(body[name], (kind, bytes) if name in AUDIO_FIELDS else kind):
            raise HttpError(400, f"{name} must be {'true or false' if kind is bool else 'text'}, got {body[name]!r}")
    files = {name: body[name] if isinstance(body[name], bytes) else _base64_audio(body[name], name)
             for name in AUDIO_FIELDS if name in body}
    recording = pb.ZeroShotData(audio_prompt=files["audio"], transcript=body["text"])
    return pb.CreateVoiceRequest(name=body["name"], recording=recording, consent=pb.ZeroShotData(
        audio_prompt=files.get("consent", b"")), model=body.get("model", ""), description=body.get("description", ""),
        replace=body.get("replace", False))


def voice_json(voice: pb.Voice) -> dict:
    """A voice as OpenAI's voice object (``id``: what a speech request's ``voice`` names), and ours."""
    return {"object": "audio.voice", "id": voice.name, "name": voice.name, "model": voice.model,
            "description": voice.description, "custom": voice.custom}


def wav_header(sample_rate: int) -> bytes:
    """A 16-bit mono WAV header whose sizes say 'unknown' (0xFFFFFFFF): the audio follows as it is
    made. libsndfile, Python's wave module, ffmpeg and browsers read such a stream to its end."""
    fmt = struct.pack("<IHHIIHH", 16, 1, 1, sample_rate, 2 * sample_rate, 2, 16)
    return b"RIFF" + struct.pack("<I", 0xFFFFFFFF) + b"WAVE" + b"fmt " + fmt + b"data" + struct.pack("<I", 0xFFFFFFFF)


VOICE = "/v1/audio/voices/{name}"  # a custom voice, to delete
ENDPOINTS = {"/v1/audio/speech": "POST", "/v1/models": "GET", "/v1/audio/voices": "GET, POST", VOICE: "DELETE",
             "/healthz": "GET", "/v1/audio/codes": "POST", "/v1/audio/decode": "POST", **{path: "GET" for path in SOCKETS}}
VOICE_FIELDS = {"name": str, "audio": str, "text": str, "description": str, "model": str, "replace": bool,
                "consent": str}  # consent: the speaker saying the server's consent statement (an audio file)
AUDIO_FIELDS = ("audio", "consent")  # files: base64 in JSON, bytes in a form


def endpoint(path: str) -> str:
    """The endpoint a path is (a voice's path is ``VOICE``), as ENDPOINTS names it."""
    prefix = VOICE.removesuffix("{name}")
    return VOICE if path.startswith(prefix) and len(path) > len(prefix) else path


class Gateway:
    """The WSGI app: routes to the gRPC services at ``target``. ``origins``: web pages (their
    origins, or "*") whose scripts may call it from a browser (CORS); none by default. Besides
    speech, the codec: ``POST /v1/audio/codes`` (an audio file in, a ``.codes`` file out, as
    ``codec-cli encode`` writes it) and ``POST /v1/audio/decode`` (the reverse)."""

    def __init__(self, target: str, origins: list[str] | tuple[str, ...] = (), metrics=None,
                 usage: Callable[[str, str, float], dict] | None = None, max_message_mb: int = 64) -> None:
        limit = max_message_mb << 20  # the server's own limit: a long text's whole audio is one message
        self.channel = grpc.insecure_channel(target, options=[("grpc.max_receive_message_length", limit),
                                                              ("grpc.max_send_message_length", limit)])
        self.max_upload = limit  # an audio file or .codes file sent to the codec
        self.tts, self.codec = pb_grpc.TextToSpeechStub(self.channel), pb_grpc.CodecStub(self.channel)
        self.health = health_pb2_grpc.HealthStub(self.channel)
        self.origins, self.metrics = set(origins), metrics  # metrics: a serve.metrics.ServerMetrics, or None
        # usage(model, text, audio seconds): an answer's token counts (serve.tts_service.TtsRegistry.usage)
        self.usage = usage

    def close(self) -> None:
        self.channel.close()

    def __call__(self, environ: dict, start_response: Callable) -> Iterator[bytes]:
        method = environ["REQUEST_METHOD"]  # HEAD is answered as GET (serve.http_server sends no body)
        route = ("GET" if method == "HEAD" else method, environ.get("PATH_INFO", ""))
        token = environ.get("HTTP_AUTHORIZATION", "")
        metadata = [("authorization", token)] if token else []
        start_response = self._counted(route[1], self._cors(environ.get("HTTP_ORIGIN", ""), start_response))
        try:
            if route[0] == "OPTIONS" and endpoint(route[1]) in ENDPOINTS:  # a browser asking before a cross-origin call
                return self._preflight(environ.get("HTTP_ORIGIN", ""), start_response)
            check_token(token)
            if route == ("POST", "/v1/audio/speech"):
                return self._speech(_json_body(environ), metadata, start_response)
            if route == ("POST", "/v1/audio/codes"):
                return self._encode(environ, metadata, start_response)
            if route == ("POST", "/v1/audio/decode"):
                return self._decode(environ, metadata, start_response)
            if route == ("GET", "/v1/models"):
                models = self.tts.ListModels(pb.ListModelsRequest(), metadata=metadata).models
                return _json(start_response, 200, {"object": "list", "data": [
                    {"id": name, "object": "model", "owned_by": "speechcodec"} for name in models]})
            if route == ("GET", "/v1/audio/voices"):  # names (as before), and each voice as an object
                listed = self.tts.ListVoices(pb.ListVoicesRequest(), metadata=metadata)
                consent = {"consent_statement": listed.consent_statement} if listed.consent_statement else {}
                return _json(start_response, 200, {"voices": [v.name for v in listed.voices],
                                                   "data": [voice_json(v) for v in listed.voices], **consent})
            if route == ("POST", "/v1/audio/voices"):  # JSON, or a form with the recording as a file
                form = _content_type(environ) == "multipart/form-data"
                if not form and _content_type(environ) not in ("application/json", ""):
                    raise HttpError(415, "send the voice as JSON or as a multipart form (curl -F), got "
                                         f"{_content_type(environ)!r}")
                body = _form_body(environ, self.max_upload, ("replace",)) if form else _json_body(environ)
                made = self.tts.CreateVoice(voice_request(body), metadata=metadata)
                return _json(start_response, 201, voice_json(made))
            if route[0] == "DELETE" and endpoint(route[1]) == VOICE:
                name = route[1].removeprefix(VOICE.removesuffix("{name}"))  # wsgiref unquoted it
                model = _query(environ, {"model": str}).get("model", "")
                self.tts.DeleteVoice(pb.DeleteVoiceRequest(name=name, model=model), metadata=metadata)
                return _json(start_response, 200, {"object": "audio.voice.deleted", "id": name, "deleted": True})
            if route == ("GET", "/healthz"):
                status = self.health.Check(health_pb2.HealthCheckRequest(service="")).status  # the whole server
                serving = status == health_pb2.HealthCheckResponse.SERVING
                return _json(start_response, 200 if serving else 503,
                             {"status": health_pb2.HealthCheckResponse.ServingStatus.Name(status)})
            if route[1] in SOCKETS:
                raise HttpError(426, f"{route[1]} is a WebSocket (send Upgrade: websocket)")
            if endpoint(route[1]) in ENDPOINTS:
                raise HttpError(405, f"{route[1]} takes {ENDPOINTS[endpoint(route[1])]}, not {route[0]}")
            raise HttpError(404, f"no such endpoint {route[1]!r} (this server has {', '.join(ENDPOINTS)})", "not_found_error")
        except HttpError as err:
            return _error(start_response, err.status, str(err), err.kind)
        except grpc.RpcError as err:
            return _rpc_error(start_response, err)

    def websocket(self, handler) -> None:
        """A WebSocket upgrade (``serve.http_server`` hands its connection over): the text stream's
        or the codec's, once the path, the page's origin (browsers send one) and the handshake are right."""
        from serve.codec_socket import CodecStreamSocket
        from serve.speech_socket import TextStreamSocket

        path, origin = urlsplit(handler.path).path, handler.headers.get("Origin", "")
        token = handler.headers.get("Authorization", "")
        try:
            if path not in SOCKETS:
                raise HttpError(404, f"no WebSocket at {path!r} (this server has {', '.join(SOCKETS)})", "not_found_error")
            if origin and not self._allowed(origin):
                raise HttpError(403, f"origin {origin!r} may not open this socket from a browser (--http-cors)",
                                "permission_error")
            check_token(token)
            if problem := ws_proto.handshake_problem(handler.command, handler.headers):
                raise HttpError(*problem)
        except HttpError as err:
            self._count(path, err.status)
            ws_proto.refuse(handler, err.status, reason(err.status), error_body(str(err), err.kind))
            return
        self._count(path, 101)
        ws = ws_proto.accept(handler)
        session = (TextStreamSocket(self.tts, ws, token, self.usage) if path == TEXT_STREAM
                   else CodecStreamSocket(self.codec, ws, token, encode=path == CODES_STREAM))
        session.run()

    def _count(self, path: str, status: int | str) -> None:
        """One answer in the metrics, by path (unknown paths as one, "other") and status."""
        if self.metrics is not None:
            self.metrics.http.labels(endpoint(path) if endpoint(path) in ENDPOINTS else "other", str(status)).inc()

    def _counted(self, path: str, start_response: Callable) -> Callable:
        """``start_response`` that counts the answer's status."""
        if self.metrics is None:
            return start_response

        def counting(status: str, *rest) -> Callable:
            self._count(path, status.split()[0])
            return start_response(status, *rest)
        return counting

    def _allowed(self, origin: str) -> bool:
        return bool(origin) and ("*" in self.origins or origin in self.origins)

    def _cors(self, origin: str, start_response: Callable) -> Callable:
        """``start_response`` that lets an allowed page's script read the answer."""
        if not self._allowed(origin):
            return start_response

        def with_cors(status: str, headers: list, *rest) -> Callable:
            return start_response(status, [*headers, ("Access-Control-Allow-Origin", origin), ("Vary", "Origin"),
                                           ("Access-Control-Expose-Headers", "X-Bitrate-Kbps, X-Sample-Rate")], *rest)
        return with_cors

    def _preflight(self, origin: str, start_response: Callable) -> Iterator[bytes]:
        if not self._allowed(origin):
            raise HttpError(403, f"origin {origin or '(none)'!r} may not call this server from a browser (--http-cors)",
                            "permission_error")
        start_response("204 No Content", [("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS"),
                                          ("Access-Control-Allow-Headers", "Authorization, Content-Type"),
                                          ("Access-Control-Max-Age", "600")])
        return iter([])

    def _speech(self, body: dict, metadata: list, start_response: Callable) -> Iterator[bytes]:
        request, fmt, sse = speech_request(body)
        made = _Made()
        if fmt in WHOLE_FORMATS:
            answer = self.tts.Synthesize(request, metadata=metadata)
            made.words.extend(answer.words)
            made.timepoints.extend(answer.timepoints)
            wav = np.frombuffer(answer.audio, "<f4")
            data = _in_container(lambda: audio.to_file_bytes(wav, answer.sample_rate_hz, FILE_FORMATS[fmt]))
            chunks = (part for part in (data,))  # a generator, closed as a stream's is
            first, made.samples = pb.SynthesizeSpeechResponse(sample_rate_hz=answer.sample_rate_hz), len(wav)
        else:
            call = self.tts.SynthesizeStream(request, metadata=metadata)
            try:
                first = next(call)  # a refused request fails here, before the status line: an HTTP error, not a cut stream
            except StopIteration:
                first = pb.SynthesizeSpeechResponse(sample_rate_hz=request.sample_rate_hz)
            encoder = None
            if fmt in FILE_FORMATS:
                try:
                    encoder = _in_container(lambda: audio.StreamedFile(first.sample_rate_hz, FILE_FORMATS[fmt]))
                except HttpError:
                    call.cancel()
                    raise
            chunks = _audio_chunks(call, first, fmt, made, encoder)
        if sse:
            start_response("200 OK", [("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache")])
            return self._events(chunks, made, request, first.sample_rate_hz)
        headers = [("Content-Length", str(len(data)))] if fmt in WHOLE_FORMATS else []
        start_response("200 OK", [("Content-Type", CONTENT_TYPES[fmt]), *headers])
        return _cut_short(chunks)

    def _encode(self, environ: dict, metadata: list, start_response: Callable) -> Iterator[bytes]:
        """An audio file (any container the server reads; ``audio/pcm``: 16-bit, with
        ``sample_rate``) as a ``.codes`` file, at the codec's full rate or ``bandwidth_kbps``."""
        query = _query(environ, {"model": str, "bandwidth_kbps": float, "sample_rate": int})
        kind = _content_type(environ)
        if not kind.startswith("audio/"):
            raise HttpError(415, f"send an audio file (Content-Type: audio/wav, audio/flac, audio/ogg, ... or audio/pcm "
                                 f"with ?sample_rate=), got {kind!r}")
        if kind == "audio/pcm" and not query.get("sample_rate"):
            raise HttpError(400, "audio/pcm (16-bit samples) needs ?sample_rate=")
        sent = pb.Audio(data=_body(environ, self.max_upload), sample_rate_hz=query.get("sample_rate", 0),
                        encoding=pb.LINEAR_PCM if kind == "audio/pcm" else pb.ENCODING_UNSPECIFIED)
        answer = self.codec.Encode(pb.EncodeRequest(audio=sent, model=query.get("model", ""),
                                                    bandwidth_kbps=query.get("bandwidth_kbps", 0.0)), metadata=metadata)
        info = self.codec.GetModelInfo(pb.GetModelInfoRequest(model=answer.codes.model), metadata=metadata)
        data = container.dumps(*wire.codes_file(answer.codes, info))
        start_response("200 OK", [("Content-Type", CODES_TYPE), ("Content-Length", str(len(data))),
                                  ("X-Bitrate-Kbps", f"{answer.bitrate_kbps:g}")])
        return iter([data])

    def _decode(self, environ: dict, metadata: list, start_response: Callable) -> Iterator[bytes]:
        """A ``.codes`` file as audio: ``format`` wav (default), flac, ogg, pcm, mulaw or alaw, at
        ``sample_rate`` (default: the codec's)."""
        query = _query(environ, {"format": str, "sample_rate": int})
        fmt = query.get("format", "wav")
        if fmt not in DECODED:
            raise HttpError(400, f"format must be one of {', '.join(DECODED)}, got {fmt!r}")
        if _content_type(environ) not in (CODES_TYPE, ""):
            raise HttpError(415, f"send a .codes file (Content-Type: {CODES_TYPE}), got {_content_type(environ)!r}")
        try:
            codes = wire.codes_from_file(*container.loads(_body(environ, self.max_upload), "the body"))
        except InvalidCodesFile as err:
            raise HttpError(400, str(err)) from None
        encoding, kind = DECODED[fmt]
        answer = self.codec.Decode(pb.DecodeRequest(codes=codes, encoding=encoding,
                                                    sample_rate_hz=query.get("sample_rate", 0)), metadata=metadata)
        data = answer.audio.data
        start_response("200 OK", [("Content-Type", kind), ("Content-Length", str(len(data))),
                                  ("X-Sample-Rate", str(answer.audio.sample_rate_hz))])
        return iter([data])

    def _events(self, chunks: Iterator[bytes], made: "_Made", request: pb.SynthesizeSpeechRequest,
                rate: int) -> Iterator[bytes]:
        """The audio as OpenAI's server-sent events, each sentence's words (``made.words``, filled
        as the chunks come) as a ``speech.words`` event after the audio they came with, SSML marks
        likewise as ``speech.marks``; a failure after the first event is an ``error`` event."""
        told = marked = 0
        with contextlib.closing(chunks):
            try:
                for chunk in chunks:
                    if chunk:
                        yield _event({"type": "speech.audio.delta", "audio": base64.b64encode(chunk).decode()})
                    if len(made.words) > told:
                        yield _event({"type": "speech.words", "words": word_dicts(made.words[told:])})
                        told = len(made.words)
                    if len(made.timepoints) > marked:
                        marks = [{"mark": m.mark_name, "time_s": round(m.time_s, 3)} for m in made.timepoints[marked:]]
                        yield _event({"type": "speech.marks", "marks": marks})
                        marked = len(made.timepoints)
            except grpc.RpcError as err:
                yield _event({"type": "error", **rpc_failure(err)[1]})
                return
        seconds = made.samples / rate
        yield _event({"type": "speech.audio.done", "usage": counted(self.usage, request.model, request.text, seconds)})


@dataclass
class _Made:
    """What an answer's audio has held so far: its word times, SSML marks' times and samples
    (for the usage)."""

    words: list = field(default_factory=list)
    timepoints: list = field(default_factory=list)
    samples: int = 0


def _in_container(make: Callable[[], Any]) -> Any:
    """``make()``, a rate the container cannot carry (Opus at 22050 Hz) answered with an HTTP 400."""
    try:
        return make()
    except InvalidAudio as err:
        raise HttpError(400, str(err)) from None


def _audio_chunks(call, first: pb.SynthesizeSpeechResponse, fmt: str, made: _Made,
                  encoder: "audio.StreamedFile | None" = None) -> Iterator[bytes]:
    """The stream's audio as it comes (a WAV header first for ``wav``; through ``encoder`` for
    an encoded file), its word times and length onto ``made``; closing it, or a client that
    leaves, cancels the synthesis."""
    try:
        if fmt == "wav":
            yield wav_header(first.sample_rate_hz)
        for answer in itertools.chain([first], call):
            made.words.extend(answer.words)
            made.timepoints.extend(answer.timepoints)
            if encoder is None:  # 16-bit samples
                made.samples += len(answer.audio) // 2
                yield answer.audio
            else:
                wav = np.frombuffer(answer.audio, "<f4")
                made.samples += len(wav)
                yield encoder.push(wav)
        if encoder is not None:
            yield encoder.close()
    finally:
        call.cancel()
        if encoder is not None:
            encoder.close()  # a client that left: the encoder's file is let go


def word_dicts(words) -> list[dict]:
    """``WordTime`` messages as JSON (the SSE ``speech.words`` events, the socket's ``words`` messages)."""
    return [{"word": w.word, "start_s": round(w.start_s, 3), "end_s": round(w.end_s, 3), "sentence": w.sentence,
             **({"text_offset": w.text_offset, "text_length": w.text_length} if w.text_length else {})} for w in words]


def _cut_short(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Raw audio: a failure once the status line is out leaves the answer incomplete (its chunked
    body never ends; an HTTP/1.0 client's connection just closes)."""
    with contextlib.closing(chunks):
        try:
            yield from chunks
        except grpc.RpcError as err:
            raise AnswerCut(rpc_failure(err)[1]["error"]["message"]) from None


def _event(payload: dict) -> bytes:
    return f"data: {json.dumps(payload)}\n\n".encode()


def _content_type(environ: dict) -> str:
    return environ.get("CONTENT_TYPE", "").split(";")[0].strip().lower()


def _body(environ: dict, limit: int) -> bytes:
    """The request's body, refused from its headers when it has no length or too much of one."""
    if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        raise HttpError(411, "send the body with a Content-Length (a chunked body is not read)")
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise HttpError(400, "Content-Length must be a number") from None
    if length > limit:
        raise HttpError(413, f"the body is {length} bytes; at most {limit} per request")
    try:
        data = environ["wsgi.input"].read(length)
    except OSError:  # a timeout: the client stopped sending
        raise HttpError(408, f"the body stopped coming (Content-Length {length}; nothing for {IDLE_S:g} s)") from None
    if len(data) < length:
        raise HttpError(400, f"the body ended after {len(data)} of its {length} bytes (Content-Length)")
    return data


def _form_body(environ: dict, limit: int, booleans: tuple[str, ...] = ()) -> dict[str, Any]:
    """A ``multipart/form-data`` body (``curl -F``): its fields as text, its files as bytes; the
    ``booleans`` as JSON's (``true``/``false``: a form has no other way to say them)."""
    head = f"Content-Type: {environ.get('CONTENT_TYPE', '')}\r\n\r\n".encode("latin-1", "replace")
    form = BytesParser(policy=email_policy.HTTP).parsebytes(head + _body(environ, limit))
    if not form.is_multipart() or form.defects:
        raise HttpError(400, "the body is not a multipart form (send it as curl -F does)")
    fields: dict[str, Any] = {}
    for part in form.iter_parts():
        name, data = part.get_param("name", header="content-disposition"), part.get_payload(decode=True) or b""
        if not name or name in fields:
            raise HttpError(400, f"each form field needs a name, once; got {name!r}" + (" twice" if name else ""))
        if part.get_filename() is not None:
            fields[name] = data
            continue
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise HttpError(400, f"form field {name} is not UTF-8 text") from None
        fields[name] = {"true": True, "false": False}.get(text, text) if name in booleans else text
    return fields


def _json_body(environ: dict) -> dict:
    kind = _content_type(environ)
    if kind not in ("application/json", ""):
        raise HttpError(415, f"the body must be JSON (Content-Type: application/json), got {kind!r}")
    try:
        body = json.loads(_body(environ, MAX_BODY) or b"null")
    except (ValueError, UnicodeDecodeError) as err:
        raise HttpError(400, f"the body is not JSON: {err}") from None
    if not isinstance(body, dict):
        raise HttpError(400, 'the body must be a JSON object, e.g. {"model": "tts", "input": "Hello.", "voice": ""}')
    return body


def _query(environ: dict, kinds: dict[str, type]) -> dict[str, Any]:
    """The query string's parameters, each once, as its type; unknown names are refused."""
    query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    unknown = sorted(set(query) - set(kinds))
    if unknown:
        raise HttpError(400, f"unknown parameter{'s' * (len(unknown) > 1)} {', '.join(unknown)} (this endpoint reads "
                             f"{', '.join(kinds)})")
    out = {}
    for name, values in query.items():
        try:
            out[name] = kinds[name](values[-1])
        except ValueError:
            raise HttpError(400, f"{name} must be {'an integer' if kinds[name] is int else 'a number'}, "
                                 f"got {values[-1]!r}") from None
    return out


def reason(status: int) -> str:
    """A status's reason phrase (RFC 9110's names; any other code the standard library's)."""
    return REASONS.get(status) or HTTPStatus(status).phrase


def _json(start_response: Callable, status: int, payload: dict) -> Iterator[bytes]:
    data = json.dumps(payload).encode()
    start_response(f"{status} {reason(status)}", [("Content-Type", "application/json"),
                                                     ("Content-Length", str(len(data)))])
    return iter([data])


def counted(usage: Callable[[str, str, float], dict] | None, model: str, text: str, seconds: float) -> dict:
    """An answer's usage (token counts), or {} where there is none to count (no counter, no audio,
    text the model cannot read): the answer still ends as it should."""
    try:
        return usage(model, text, seconds) if usage and seconds else {}
    except CodecError:
        return {}


def error_body(message: str, kind: str, code: str | None = None) -> dict:
    return {"error": {"message": message, "type": kind, "code": code}}


def rpc_failure(err: grpc.RpcError) -> tuple[int, dict]:
    """A failed gRPC call as the HTTP status and OpenAI error body it becomes."""
    status, kind = HTTP_STATUS.get(err.code(), (500, "server_error"))
    message = err.details() or err.code().name
    if err.code() == grpc.StatusCode.UNIMPLEMENTED:
        message = "this server has no TTS model loaded (start it with --tts DIR)"
    return status, error_body(message, kind, err.code().name)


def _error(start_response: Callable, status: int, message: str, kind: str) -> Iterator[bytes]:
    return _json(start_response, status, error_body(message, kind))


def _rpc_error(start_response: Callable, err: grpc.RpcError) -> Iterator[bytes]:
    return _json(start_response, *rpc_failure(err))
