"""Text to speech over a WebSocket (``/v1/audio/speech/stream-input`` on the HTTP port): a
browser's or voice agent's way into SynthesizeTextStream (browsers cannot speak gRPC streams),
as ElevenLabs' stream-input socket is. It is the gRPC call, made over the gateway's channel:
the server's checks, limits, idle clock and statuses apply unchanged.

The client sends text messages, JSON:
  1. the options, once: ``model``, ``voice``, ``response_format`` (``pcm``, 16-bit; ``mulaw``;
     ``alaw``), ``sample_rate``, ``speed``, ``seed``, ``temperature``; ``token`` (the bearer
     token, for browsers, which cannot set headers); ``text`` (the first text, if any);
  2. then the text as it comes: ``{"text": "...", "flush": false}``, any slice; ``flush`` reads
     the text so far now, sentence end or not;
  3. ``{"end": true}`` once the text is all sent.
A voice agent whose listener starts talking sends ``{"interrupt": true}`` (with the next text, if
any): what is being said stops, the text not yet read is dropped, and the server answers
``{"type": "interrupted"}``; no audio of the old text comes after it, and the text that follows
is read as a new socket would read it (word times from 0 again). An answer may end with
``flush`` rather than ``end`` so that it can still be cut short; ``end`` closes the socket once
all is said.
The server answers ``{"type": "start", "sample_rate", "format"}``, then the audio as binary
messages as each sentence is read (with ``word_times``, each sentence's words follow as
``{"type": "words", "words": [{word, start_s, end_s, sentence}]}`` once found), then ``{"type": "done", "usage"}`` and closes (1000); or
``{"type": "error", "error": {message, type, code}}`` (OpenAI's error body) and closes (1008 for
a refused request, 1011 for a server failure).
"""

from __future__ import annotations

import json
import queue
import threading
from typing import Callable

import grpc

from codec.errors import CodecError
from serve import websocket as ws_proto
from serve.barge_in import Interrupts
from serve.gen.speech.v1 import speech_pb2 as pb
from serve.http_gateway import HttpError, check_token, error_body, rpc_failure, speech_request
from serve.wire import SAMPLE_BYTES

PATH = "/v1/audio/speech/stream-input"
FORMATS = {"pcm": pb.LINEAR_PCM, "mulaw": pb.MULAW, "alaw": pb.ALAW}
OPTIONS = {"model", "voice", "response_format", "sample_rate", "speed", "seed", "temperature", "token", "text",
           "word_times"}
LATER = {"text", "flush", "end", "interrupt"}
FIRST_MESSAGE_S = 10.0  # the options must come this soon after the socket opens


def stream_options(body: dict) -> tuple[pb.SynthesizeSpeechRequest, str, str]:
    """The first message as the stream's config, its format, and the bearer token it carries."""
    unknown = sorted(set(body) - OPTIONS)
    if unknown:
        raise HttpError(400, f"unknown option{'s' * (len(unknown) > 1)} {', '.join(unknown)} (the first message "
                             f"reads {', '.join(sorted(OPTIONS))})")
    body = dict(body)
    fmt, text, token = body.pop("response_format", "pcm"), body.pop("text", ""), body.pop("token", "")
    word_times = body.pop("word_times", False)
    if fmt not in FORMATS:
        raise HttpError(400, f"response_format must be one of {', '.join(FORMATS)} (raw audio), got {fmt!r}")
    if not isinstance(text, str) or not isinstance(token, str) or not isinstance(word_times, bool):
        raise HttpError(400, "text and token must be strings, word_times true or false")
    request = speech_request({**body, "input": text, "response_format": "pcm"})[0]
    request.encoding, request.word_times = FORMATS[fmt], word_times
    return request, fmt, token


class TextStreamSocket:
    """One socket's text stream: messages in on the socket's thread, the gRPC call's answers
    relayed from a thread of their own."""

    def __init__(self, tts, ws: ws_proto.WebSocket, token: str, usage: Callable[[str, str, float], dict] | None) -> None:
        self.tts, self.ws, self.token, self.usage = tts, ws, token, usage
        self.call = None
        self.interrupts = Interrupts()
        self.requests: queue.Queue = queue.Queue()  # the call's messages after its config; None ends them
        self.said: list[str] = []
        self.ended = False

    def run(self) -> None:
        timer = threading.Timer(FIRST_MESSAGE_S, self._no_options)
        timer.daemon = True
        timer.start()
        try:
            self.ws.run(self._on_message)
        finally:
            timer.cancel()
            if self.call is not None:
                self.call.cancel()  # the client left: its synthesis stops
            self.requests.put(None)

    def _on_message(self, message: bytes | str) -> None:
        try:
            if isinstance(message, bytes):
                raise HttpError(400, "send JSON text messages (this socket reads text, not binary)")
            try:
                body = json.loads(message)
            except ValueError as err:
                raise HttpError(400, f"a message is not JSON: {err}") from None
            if not isinstance(body, dict):
                raise HttpError(400, 'a message must be a JSON object, e.g. {"text": "Hello. "}')
            if self.call is None:
                self._open(body)
            else:
                self._more(body)
        except HttpError as err:
            self._fail(err.status, error_body(str(err), err.kind))

    def _open(self, body: dict) -> None:
        request, fmt, token = stream_options(body)
        token = f"Bearer {token}" if token else self.token
        check_token(token)
        self.model, self.fmt = request.model, fmt
        self.said.append(request.text)
        self.call = self.tts.SynthesizeTextStream(self._messages(request), metadata=[("authorization", token)] if token
                                                  else [])
        threading.Thread(target=self._relay, name="text-stream-socket", daemon=True).start()

    def _more(self, body: dict) -> None:
        unknown = sorted(set(body) - LATER)
        if unknown:
            raise HttpError(400, f"unknown field{'s' * (len(unknown) > 1)} {', '.join(unknown)} (after the options a "
                                 "message reads text, flush, end, interrupt)")
        text, flush, end, cut = (body.get("text", ""), body.get("flush", False), body.get("end", False),
                                 body.get("interrupt", False))
        if not isinstance(text, str) or not all(isinstance(flag, bool) for flag in (flush, end, cut)):
            raise HttpError(400, "text must be a string, flush, end and interrupt true or false")
        if self.ended:
            raise HttpError(400, "the text has ended ({\"end\": true} came before; an answer that may be interrupted "
                                 "ends with flush)")
        if text or flush or cut:
            self.said.append(text)
            self.requests.put(self.interrupts.ask(pb.SynthesizeTextStreamRequest(text=text, flush=flush, interrupt=cut)))
        if end:
            self.ended = True
            self.requests.put(None)

    def _messages(self, config: pb.SynthesizeSpeechRequest):
        yield pb.SynthesizeTextStreamRequest(config=config)
        while (item := self.requests.get()) is not None:
            yield item

    def _relay(self) -> None:
        samples, width = 0, SAMPLE_BYTES[FORMATS[self.fmt]]
        try:
            rate = None
            for answer in self.call:
                if rate is None:
                    rate = answer.sample_rate_hz
                    self.ws.send(json.dumps({"type": "start", "sample_rate": rate, "format": self.fmt}))
                if not self.interrupts.wanted(answer):  # made before an interrupt, or its mark
                    if answer.interrupted:
                        self.ws.send(json.dumps({"type": "interrupted"}))
                    continue
                samples += len(answer.audio) // width
                if answer.audio:
                    self.ws.send(answer.audio)
                if answer.words:
                    self.ws.send(json.dumps({"type": "words", "words": [
                        {"word": w.word, "start_s": round(w.start_s, 3), "end_s": round(w.end_s, 3),
                         "sentence": w.sentence} for w in answer.words]}))
            self.ws.send(json.dumps({"type": "done", "usage": self._usage(samples / rate if rate else 0.0)}))
            self.ws.close(ws_proto.NORMAL)
        except grpc.RpcError as err:
            if not self.ws.done.is_set():
                self._fail(*rpc_failure(err))
        except ConnectionError:
            self.call.cancel()  # the client left

    def _usage(self, seconds: float) -> dict:
        """The done message's usage; {} where it cannot be counted (the socket still ends as it should)."""
        try:
            return self.usage(self.model, "".join(self.said), seconds) if self.usage and seconds else {}
        except CodecError:
            return {}

    def _no_options(self) -> None:
        if self.call is None and not self.ws.done.is_set():
            self._fail(400, error_body(f"send the options first (no message came in {FIRST_MESSAGE_S:g} s)",
                                       "invalid_request_error"))

    def _fail(self, status: int, body: dict) -> None:
        try:
            self.ws.send(json.dumps({"type": "error", **body}))
            self.ws.close(ws_proto.POLICY if status < 500 else ws_proto.SERVER_ERROR, body["error"]["message"])
        except ConnectionError:
            pass
