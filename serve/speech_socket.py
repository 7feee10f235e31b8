"""Text to speech over a WebSocket (``/v1/audio/speech/stream-input`` on the HTTP port): a
browser's or voice agent's way into SynthesizeTextStream (browsers cannot speak gRPC streams),
as ElevenLabs' stream-input socket is. It is the gRPC call, made over the gateway's channel:
the server's checks, limits, idle clock and statuses apply unchanged.

The client sends text messages, JSON:
  1. the options, once: ``model``, ``voice``, ``response_format`` (``pcm``, 16-bit; ``mulaw``;
     ``alaw``), ``sample_rate``, ``speed``, ``seed``, ``temperature``; ``token`` (the bearer
     token, for browsers, which cannot set headers); ``text`` (the first text, if any);
  2. then the text as it comes: ``{"text": "...", "flush": false}``, any slice; ``flush`` reads
     the text so far now, sentence end or not (a turn is over), and is answered
     ``{"type": "flushed"}`` once that turn's audio (and words) are all sent;
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
from typing import Callable

from serve import websocket as ws_proto
from serve.gen.speech.v1 import speech_pb2 as pb
from serve.http_gateway import HttpError, counted, speech_request, word_dicts
from serve.socket_session import SocketSession, refuse_unknown
from serve.turns import Interrupts
from serve.wire import SAMPLE_BYTES

FORMATS = {"pcm": pb.LINEAR_PCM, "mulaw": pb.MULAW, "alaw": pb.ALAW}
OPTIONS = {"model", "voice", "response_format", "sample_rate", "speed", "seed", "temperature", "token", "text",
           "word_times", "voice_audio", "voice_text", "volume_gain_db", "pitch"}
LATER = {"text", "flush", "end", "interrupt"}


def stream_options(body: dict) -> tuple[pb.SynthesizeSpeechRequest, str, str]:
    """The first message as the stream's config, its format, and the bearer token it carries."""
    refuse_unknown(body, OPTIONS, "option", "the first message")
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


class TextStreamSocket(SocketSession):
    """One socket's text stream: messages in on the socket's thread, the gRPC call's answers
    relayed from a thread of their own."""

    first_binary = "send JSON text messages (this socket reads text, not binary)"

    def __init__(self, tts, ws: ws_proto.WebSocket, token: str, usage: Callable[[str, str, float], dict] | None) -> None:
        super().__init__(ws, token)
        self.tts, self.usage = tts, usage
        self.interrupts = Interrupts()
        self.requests: queue.Queue = queue.Queue()  # the call's messages after its config; None ends them
        self.said: list[str] = []
        self.ended = False

    def open(self, options: dict) -> None:
        request, self.fmt, token = stream_options(options)
        metadata = self.metadata(token)
        self.model = request.model
        self.said.append(request.text)
        self.call = self.tts.SynthesizeTextStream(self._messages(request), metadata=metadata)
        self.start_relay("text-stream-socket")

    def more(self, message: bytes | dict) -> None:
        if isinstance(message, bytes):
            raise HttpError(400, self.first_binary)
        refuse_unknown(message, LATER, "field", "after the options a message")
        text, flush, end, cut = (message.get("text", ""), message.get("flush", False), message.get("end", False),
                                 message.get("interrupt", False))
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

    def closing(self) -> None:
        self.requests.put(None)

    def _messages(self, config: pb.SynthesizeSpeechRequest):
        yield pb.SynthesizeTextStreamRequest(config=config)
        while (item := self.requests.get()) is not None:
            yield item

    def relay(self) -> None:
        samples, width, rate = 0, SAMPLE_BYTES[FORMATS[self.fmt]], None
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
                self.ws.send(json.dumps({"type": "words", "words": word_dicts(answer.words)}))
            if answer.flushed:
                self.ws.send(json.dumps({"type": "flushed"}))
        usage = counted(self.usage, self.model, "".join(self.said), samples / rate if rate else 0.0)
        self.ws.send(json.dumps({"type": "done", "usage": usage}))
        self.ws.close(ws_proto.NORMAL)
