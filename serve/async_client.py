"""``SpeechClient`` for asyncio programs (voice agents: Pipecat, LiveKit and the like run on an
event loop, where the blocking client would stall every other task while it waits).

    async with AsyncSpeechClient("127.0.0.1:50051") as client:
        async for chunk, rate in client.synthesize_text_stream(llm_tokens(), voice="speaker1028"):
            play(chunk, rate)

The same requests as ``serve.client.SpeechClient`` (``synthesis_request``), on a ``grpc.aio``
channel; audio comes back as float32 numpy arrays.
"""

from __future__ import annotations

from typing import Any, AsyncIterable, AsyncIterator, Callable, Iterable

import grpc
import numpy as np

from serve.client import (DEFAULT_SERVER, bearer, decode_request, encode_request, open_channel, synthesis_request,
                          voice_request)
from serve.gen.speech.v1 import speech_pb2 as pb
from serve.gen.speech.v1 import speech_pb2_grpc as pb_grpc
from serve.turns import Interrupts, Turn


class AsyncSpeechClient:
    """Text-to-speech and codec RPCs on one ``grpc.aio`` channel, reused."""

    def __init__(self, target: str = DEFAULT_SERVER, token: str | None = None, tls_ca: bytes | None = None,
                 timeout: float | None = 300.0) -> None:
        self.channel = open_channel(grpc.aio, target, tls_ca)
        self.codec = pb_grpc.CodecStub(self.channel)
        self.tts = pb_grpc.TextToSpeechStub(self.channel)
        self.metadata, self.timeout = bearer(token), timeout

    async def close(self) -> None:
        await self.channel.close()

    async def __aenter__(self) -> "AsyncSpeechClient":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    def _call(self, method, request):
        return method(request, timeout=self.timeout, metadata=self.metadata)

    async def voices(self) -> list[str]:
        return [v.name for v in (await self._call(self.tts.ListVoices, pb.ListVoicesRequest())).voices]

    async def create_voice(self, name: str, recording, transcript: str, **options) -> pb.Voice:
        """Keep a voice of one's own (``serve.client.voice_request``), said after as ``voice=name``."""
        return await self._call(self.tts.CreateVoice, voice_request(name, recording, transcript, **options))

    async def delete_voice(self, name: str, model: str = "") -> None:
        await self._call(self.tts.DeleteVoice, pb.DeleteVoiceRequest(name=name, model=model))

    async def synthesize(self, text: str, timepoints: list | None = None, **options) -> tuple[np.ndarray, int]:
        """Whole utterance (float32, rate); ``timepoints``: a list that each SSML mark's
        ``Timepoint`` is appended to. Options: see ``serve.client.synthesis_request``."""
        resp = await self._call(self.tts.Synthesize, synthesis_request(text, timepoints=timepoints is not None, **options))
        if timepoints is not None:
            timepoints.extend(resp.timepoints)
        return np.frombuffer(resp.audio, "<f4").copy(), resp.sample_rate_hz

    async def synthesize_stream(self, text: str, chunk_ms: int = 0, words: list | None = None,
                                timepoints: list | None = None, **options) -> AsyncIterator[tuple[np.ndarray, int]]:
        """Audio chunks (float32, rate) as the server generates them; the first one is small.
        ``words`` / ``timepoints``: lists that each ``WordTime`` / SSML mark's ``Timepoint`` is
        appended to as they come (words, and a mark inside text, need the server's --tts-verifier)."""
        request = synthesis_request(text, chunk_ms=chunk_ms, word_times=words is not None,
                                    timepoints=timepoints is not None, **options)
        async for resp in self._call(self.tts.SynthesizeStream, request):
            if words is not None:
                words.extend(resp.words)
            if timepoints is not None:
                timepoints.extend(resp.timepoints)
            yield np.frombuffer(resp.audio, "<f4").copy(), resp.sample_rate_hz

    async def synthesize_text_stream(self, texts: AsyncIterable[str | Turn] | Iterable[str | Turn],
                                     chunk_ms: int = 0, words: list | None = None,
                                     flushed: Callable[[], Any] | None = None,
                                     **options) -> AsyncIterator[tuple[np.ndarray, int]]:
        """Audio chunks of text sent as it comes (``texts``: a language model's tokens, async or
        not): each sentence is spoken once the next one begins, the rest when ``texts`` ends.
        ``words``: a list that each sentence's ``WordTime``s are appended to as they come.
        ``serve.turns.FLUSH`` / ``INTERRUPT`` among the texts end a turn / cut it short;
        ``flushed()`` is called once a flushed turn is all out (after its last chunk)."""
        interrupts = Interrupts()

        async def requests() -> AsyncIterator[pb.SynthesizeTextStreamRequest]:
            yield pb.SynthesizeTextStreamRequest(config=synthesis_request("", chunk_ms=chunk_ms,
                                                                          word_times=words is not None, **options))
            if isinstance(texts, AsyncIterable):
                async for text in texts:
                    yield interrupts.request(text)
            else:
                for text in texts:
                    yield interrupts.request(text)

        async for resp in self._call(self.tts.SynthesizeTextStream, requests()):
            if not interrupts.wanted(resp):
                continue
            if words is not None:
                words.extend(resp.words)
            yield np.frombuffer(resp.audio, "<f4").copy(), resp.sample_rate_hz
            if resp.flushed and flushed is not None:
                flushed()

    async def encode(self, wav: np.ndarray, sample_rate: int, model: str = "", bandwidth_kbps: float = 0.0) -> pb.Codes:
        return (await self._call(self.codec.Encode, encode_request(wav, sample_rate, model, bandwidth_kbps))).codes

    async def decode(self, codes: pb.Codes, sample_rate: int = 0) -> tuple[np.ndarray, int]:
        resp = await self._call(self.codec.Decode, decode_request(codes, sample_rate))
        return np.frombuffer(resp.audio.data, "<f4").copy(), resp.audio.sample_rate_hz
