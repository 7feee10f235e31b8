"""The codec's streams over WebSockets, for browsers (which cannot open gRPC streams): a page
turns its microphone into codes as it speaks, or plays codes as they come. Each socket is one
gRPC call (EncodeStream, DecodeStream) over the gateway's channel (``serve.socket_session``).

``/v1/audio/codes/stream`` (encode): the options first, JSON: ``model``, ``format`` of the
audio sent (``pcm``, 16-bit; ``float32``; ``mulaw``; ``alaw``), ``sample_rate`` (default: the
model's), ``channels``, ``bandwidth_kbps``, ``token``. Then the audio as binary messages, any
length, and ``{"end": true}``. The server answers ``{"type": "start", "model", "sample_rate",
"frame_rate", "codebooks", "codebook_sizes", "dtype", "weights_hash", "codes_hash"}``, the codes
as binary messages as frames complete, then ``{"type": "done", "frames"}`` and closes (1000).

``/v1/audio/decode/stream`` (decode): the options first: ``model``, ``format`` of the audio
answered (as above), ``sample_rate`` (default: the model's), ``codes_hash`` / ``weights_hash``
(optional identity checks), ``codebooks`` (default: all; codes encoded at a lower
``bandwidth_kbps`` have fewer), ``token``. Then codes as binary messages and ``{"end": true}``. The
server answers ``{"type": "start", "model", "sample_rate", "format", "codebooks", "dtype"}``,
the audio as binary messages, then ``{"type": "done", "samples"}`` and closes.

Codes on the wire are frame-major little-endian unsigned integers (``dtype``: ``uint16`` when
every codebook has at most 65536 entries, else ``uint32``): frame after frame, each frame's
``codebooks`` codes in order, so messages simply append (in a page: ``new Uint16Array(data)``).
"""

from __future__ import annotations

import json
import queue

import numpy as np

from serve import websocket as ws_proto
from serve import wire
from serve.gen.speech.v1 import speech_pb2 as pb
from serve.http_gateway import HttpError
from serve.socket_session import SocketSession, refuse_unknown
from serve.wire import SAMPLE_BYTES

FORMATS = {"pcm": pb.LINEAR_PCM, "float32": pb.FLOAT32_PCM, "mulaw": pb.MULAW, "alaw": pb.ALAW}
ENCODE_OPTIONS = {"model", "format", "sample_rate", "channels", "bandwidth_kbps", "token"}
DECODE_OPTIONS = {"model", "format", "sample_rate", "codebooks", "codes_hash", "weights_hash", "token"}
KINDS = {"model": str, "format": str, "sample_rate": int, "channels": int, "bandwidth_kbps": (int, float), "token": str,
         "codebooks": int, "codes_hash": str, "weights_hash": str}


def code_dtype(codebook_sizes) -> np.dtype:
    return np.dtype("<u2") if max(codebook_sizes, default=1) <= 1 << 16 else np.dtype("<u4")


def _options(body: dict, allowed: set[str]) -> dict:
    """The first message, checked: known fields of the right kinds, a known format."""
    refuse_unknown(body, allowed, "option", "the first message")
    for name, value in body.items():
        if isinstance(value, bool) or not isinstance(value, KINDS[name]):
            raise HttpError(400, f"{name} must be {'a string' if KINDS[name] is str else 'a number'}, got {value!r}")
    if body.get("format", "pcm") not in FORMATS:
        raise HttpError(400, f"format must be one of {', '.join(FORMATS)} (raw audio), got {body['format']!r}")
    return body


class CodecStreamSocket(SocketSession):
    """One socket's EncodeStream (``encode``) or DecodeStream: binary messages in, as they come,
    onto the call; its answers relayed out."""

    def __init__(self, codec, ws: ws_proto.WebSocket, token: str, encode: bool) -> None:
        super().__init__(ws, token)
        self.codec, self.encode = codec, encode
        self.requests: queue.Queue = queue.Queue()  # the call's messages after its config; None ends them
        self.ended = False

    def open(self, options: dict) -> None:
        options = _options(options, ENCODE_OPTIONS if self.encode else DECODE_OPTIONS)
        metadata = self.metadata(options.get("token", ""))
        self.format = options.get("format", "pcm")
        self.info = self.codec.GetModelInfo(pb.GetModelInfoRequest(model=options.get("model", "")), metadata=metadata)
        self.dtype = code_dtype(self.info.codebook_sizes)
        config = pb.StreamingConfig(model=self.info.name, encoding=FORMATS[self.format],
                                    sample_rate_hz=options.get("sample_rate", 0))
        if self.encode:
            config.channels, config.bandwidth_kbps = options.get("channels", 0), options.get("bandwidth_kbps", 0.0)
            self.call = self.codec.EncodeStream(self._messages(pb.EncodeStreamRequest(config=config)), metadata=metadata)
        else:
            config.codes_hash, config.weights_hash = options.get("codes_hash", ""), options.get("weights_hash", "")
            self.codebooks = options.get("codebooks", len(self.info.codebook_sizes))
            if not 1 <= self.codebooks <= len(self.info.codebook_sizes):
                raise HttpError(400, f"codebooks must be 1 to {len(self.info.codebook_sizes)} (codes encoded at a lower "
                                     f"bandwidth_kbps have fewer), got {self.codebooks}")
            self.call = self.codec.DecodeStream(self._messages(pb.DecodeStreamRequest(config=config)), metadata=metadata)
        self.start_relay("codec-stream-socket")

    def more(self, message: bytes | dict) -> None:
        if self.ended:
            raise HttpError(400, 'the stream has ended ({"end": true} came before)')
        if isinstance(message, dict):
            refuse_unknown(message, {"end"}, "field", "after the options a JSON message")
            if message.get("end") is not True:
                raise HttpError(400, 'a JSON message after the options is {"end": true}; the data goes as binary messages')
            self.ended = True
            self.requests.put(None)
        elif self.encode:
            self.requests.put(pb.EncodeStreamRequest(audio_content=message))
        else:
            self.requests.put(pb.DecodeStreamRequest(codes=self._codes(message)))

    def _codes(self, data: bytes) -> pb.Codes:
        """A binary message's codes (frame-major) as the call's ``Codes`` [Q, F]."""
        frame = self.codebooks * self.dtype.itemsize
        if len(data) % frame:
            raise HttpError(400, f"{len(data)} bytes is not a whole number of frames ({self.codebooks} codes of "
                                 f"{self.dtype.itemsize} bytes each)")
        return wire.codes_to_proto(np.frombuffer(data, self.dtype).reshape(-1, self.codebooks).T, self.info.name, "")

    def closing(self) -> None:
        self.requests.put(None)

    def _messages(self, config):
        yield config
        while (item := self.requests.get()) is not None:
            yield item

    def relay(self) -> None:
        count = 0
        for i, answer in enumerate(self.call):
            if i == 0:
                self.ws.send(json.dumps(self._start(answer)))
            if self.encode and answer.codes.num_frames:
                self.ws.send(np.ascontiguousarray(wire.codes_from_proto(answer.codes)[0].T, self.dtype).tobytes())
                count += answer.codes.num_frames
            elif not self.encode and answer.audio.data:
                self.ws.send(answer.audio.data)
                count += len(answer.audio.data) // SAMPLE_BYTES[FORMATS[self.format]]
        self.ws.send(json.dumps({"type": "done", "frames" if self.encode else "samples": count}))
        self.ws.close(ws_proto.NORMAL)

    def _start(self, first) -> dict:
        info = self.info
        if not self.encode:
            return {"type": "start", "model": info.name, "sample_rate": first.audio.sample_rate_hz, "format": self.format,
                    "codebooks": self.codebooks, "dtype": self.dtype.name}
        q = first.codes.num_codebooks  # fewer than the model's at a lower bandwidth_kbps
        return {"type": "start", "model": info.name, "sample_rate": info.sample_rate_hz, "frame_rate": info.frame_rate_hz,
                "codebooks": q, "codebook_sizes": list(info.codebook_sizes)[:q], "dtype": self.dtype.name,
                "weights_hash": info.weights_hash, "codes_hash": info.codes_hash}
