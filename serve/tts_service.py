"""``speech.v1.TextToSpeech`` on the ONNX engines: Synthesize, SynthesizeStream, voices.

Generation runs in the worker pool and hands audio chunks to the RPC through a queue; the
first chunk is small (``chunk_ms``, default 80 ms) and later chunks grow, so first audio
comes early without paying per-chunk overhead for the whole utterance. A cancelled stream
sets a flag the generation loop polls every step, so it stops at once and frees its slot.
Bundled prompt voices live in ``<tts model>/voices/NAME.wav`` + ``NAME.txt``; their codes are
computed once at start.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from codec import audio as audio_io
from codec.errors import CodecError
from serve import wire
from serve.gen.speech.v1 import speech_pb2 as pb
from serve.gen.speech.v1 import speech_pb2_grpc as pb_grpc
from serve.rpc import ModelNotFound, Overloaded, log_request, streaming, submit, unary
from tts.pretrained import bundled_voices, find_tts_dir, load_tts
from tts.respell import load_dictionary, parse_dictionary, respell
from tts.sampling import SamplingConfig
from tts.synthesize import Synthesizer, VoicePrompt
from tts.ssml import is_ssml, parse_ssml
from tts.text import normalize
from tts.time_stretch import MAX_FACTOR, MIN_FACTOR  # as speaking rates too: 0.5x to 2x
from tts.verify import load_verifier
from tts.word_times import WordTime, WordTimer, word_times

DEFAULT_LANGUAGE = "en-US"
LATER_CHUNK_FRAMES = 25  # 0.5 s at 50 Hz once audio is flowing


@dataclass
class TtsEntry:
    name: str
    synth: Synthesizer
    voices: dict[str, VoicePrompt]


class TtsRegistry:
    """TTS models loaded once at start (with their codec and prompt voices)."""

    def __init__(self, specs: list[str], codec_registry, backend: str = "auto", threads: int | None = None,
                 int8: bool = False, verifier: str | None = None, voice_seconds: float | None = None,
                 pace: bool = False, context: str = "voice", batch: int = 1, dictionary: str | None = None) -> None:
        self.entries: dict[str, TtsEntry] = {}
        self.dictionary = load_dictionary(dictionary) if dictionary else {}  # tts.respell, for every request
        respell("", self.dictionary)  # its pattern compiled once, before the first request
        # longer zero-shot prompts are cut to their first words (tts.voice_trim); the model's own
        # voices are read whole: it trained on those speakers, and they read better whole (README)
        self.voice_seconds = voice_seconds
        self.pace = pace  # zero-shot prompts are stretched to the model's training pace (tts.voice_pace)
        self.verifier = load_verifier(verifier, backend, threads) if verifier and specs else None
        for spec in specs:
            directory = find_tts_dir(spec)
            model, tokenizer = load_tts(spec, backend, threads, int8)
            codec = codec_registry.engines.get(model.cfg.codec)
            synth = Synthesizer(model, tokenizer, codec=codec, codec_spec=model.cfg.codec, backend=backend,
                                verifier=self.verifier, context=context, batch=batch)
            name = directory.name if directory.name not in ("model", "") else model.cfg.name
            self.entries[name] = TtsEntry(name, synth, self._voices(directory, synth))
        self.default = next(iter(self.entries.values())) if self.entries else None

    @staticmethod
    def _voices(directory: Path, synth: Synthesizer) -> dict[str, VoicePrompt]:
        return {name: synth.voice_from_audio(audio_io.load(wav, synth.sample_rate), transcript)
                for name, (wav, transcript) in bundled_voices(directory).items()}

    def get(self, name: str) -> TtsEntry:
        if not self.entries:
            raise ModelNotFound("this server has no TTS model loaded (start it with --tts DIR)")
        if not name:
            return self.default
        if name not in self.entries:
            raise ModelNotFound(f"TTS model {name!r} is not loaded (have: {', '.join(self.entries)})")
        return self.entries[name]

    def warm(self) -> None:
        for entry in self.entries.values():
            for _ in entry.synth.stream("Ready.", sampling=SamplingConfig(max_frames=2)):
                pass


class TextToSpeechService(pb_grpc.TextToSpeechServicer):
    def __init__(self, registry: TtsRegistry, cfg, pool, slots, metrics) -> None:
        self.registry, self.cfg, self.pool, self.slots, self.metrics = registry, cfg, pool, slots, metrics

    def _prepare(self, req: pb.SynthesizeSpeechRequest) -> tuple[TtsEntry, str, VoicePrompt | None, SamplingConfig]:
        entry = self.registry.get(req.model)
        if req.language_code and not req.language_code.lower().startswith("en"):
            raise CodecError(f"language_code {req.language_code!r} is not supported (English only)")
        if not (req.speaking_rate == 0.0 or MIN_FACTOR <= req.speaking_rate <= MAX_FACTOR):
            raise CodecError(f"speaking_rate must be {MIN_FACTOR:g} to {MAX_FACTOR:g} (1 = as the model speaks; 0 = 1), "
                             f"got {req.speaking_rate:g}")
        # pronunciations apply to the text and to the voice prompt's transcript: the prompt's audio says
        # its words the way the dictionary spells them, and the model reads both as one sequence
        said = ({**self.registry.dictionary, **parse_dictionary(req.custom_dictionary, "custom_dictionary")}
                if req.custom_dictionary else self.registry.dictionary)
        text = respell(req.text, said)
        # empty, junk-only and over-long text, or bad SSML, is refused in one line before anything plays
        if is_ssml(text):
            parse_ssml(text)
        else:
            text = normalize(text)
        voice = None
        if req.HasField("zero_shot_data") and req.zero_shot_data.audio_prompt:
            z = req.zero_shot_data
            wav = wire.audio_from_proto(pb.Audio(data=z.audio_prompt, encoding=z.encoding, sample_rate_hz=z.sample_rate_hz),
                                        entry.synth.sample_rate, max_seconds=30.0)
            pace = entry.synth.model.cfg.chars_per_second if self.registry.pace else None
            voice = entry.synth.voice_from_audio(wav, respell(z.transcript, said), self.registry.voice_seconds, pace=pace)
        elif req.voice_name:
            if req.voice_name not in entry.voices:
                raise ModelNotFound(f"voice {req.voice_name!r} not found (have: {', '.join(entry.voices) or 'none'})")
            voice = entry.voices[req.voice_name]
            voice = replace(voice, transcript=respell(voice.transcript, said)) if said else voice
        best_of = max(1, req.best_of)
        if best_of > 1 and entry.synth.verifier is None:
            raise CodecError("best_of > 1 needs a verifier: start the server with --tts-verifier (e.g. asr_verifier)")
        if best_of > self.cfg.max_best_of:
            raise Overloaded(f"best_of {best_of} is over this server's limit of {self.cfg.max_best_of} (--max-best-of)")
        if req.word_times and entry.synth.verifier is None:
            raise CodecError("word_times needs a recognizer to find the words: start the server with --tts-verifier "
                             "(e.g. asr_verifier)")
        sampling = SamplingConfig(temperature=req.temperature or 0.8, top_k=req.top_k or 50, top_p=req.top_p or 0.95,
                                  seed=req.seed, cfg_scale=req.cfg_scale or None, best_of=best_of,
                                  search_seconds=self.cfg.tts_search_seconds if best_of > 1 else 0.0)
        return entry, text, voice, sampling

    def _encode_out(self, wav: np.ndarray, entry: TtsEntry, req: pb.SynthesizeSpeechRequest) -> pb.SynthesizeSpeechResponse:
        out = wire.audio_to_proto(wav, entry.synth.sample_rate, req.encoding, req.sample_rate_hz)
        return pb.SynthesizeSpeechResponse(audio=out.data, encoding=out.encoding, sample_rate_hz=out.sample_rate_hz)

    @unary
    async def Synthesize(self, req, context):
        start = time.perf_counter()
        entry, text, voice, sampling = self._prepare(req)
        if req.word_times:
            wav, words = await submit(self.pool, _with_word_times, entry.synth, text, voice, sampling,
                                      req.speaking_rate or 1.0, metrics=self.metrics)
        else:
            wav, words = await submit(self.pool, entry.synth.synthesize, text, voice, sampling, req.speaking_rate or 1.0,
                                      metrics=self.metrics), []
        log_request("Synthesize", start, len(wav) / entry.synth.sample_rate, self.metrics, model=entry.name,
                    chars=len(text))
        out = self._encode_out(wav, entry, req)
        out.words.extend(words)
        return out

    @streaming
    async def SynthesizeStream(self, req, context):
        with self.slots.hold():
            start, first = time.perf_counter(), None
            entry, text, voice, sampling = self._prepare(req)
            rate = req.sample_rate_hz or entry.synth.sample_rate
            wire.check_rate(rate)
            encoding = wire.stream_encoding(req.encoding)
            first_frames = max(1, round((req.chunk_ms or 80) / 1000 * entry.synth.model.cfg.codec_frame_rate))
            queue, stop, seconds, marks = asyncio.Queue(), threading.Event(), 0.0, []
            timer = WordTimer(entry.synth.sample_rate, entry.synth.verifier.recognizer) if req.word_times else None
            loop = asyncio.get_running_loop()
            resample = audio_io.StreamResampler(entry.synth.sample_rate, rate)

            def produce() -> None:
                try:
                    for chunk in entry.synth.stream(text, voice, sampling, LATER_CHUNK_FRAMES, first_frames, stop.is_set,
                                                    req.speaking_rate or 1.0, sentences=marks if req.word_times else None):
                        loop.call_soon_threadsafe(queue.put_nowait, chunk)
                        if timer is not None:  # each sentence's words found once it is played
                            timer.push(chunk, marks)
                    if timer is not None and not stop.is_set():  # the words once all audio is out
                        loop.call_soon_threadsafe(queue.put_nowait, [_word_proto(w) for w in timer.finish()])
                except Exception as err:  # handed to the RPC, which maps it to a status
                    loop.call_soon_threadsafe(queue.put_nowait, err)
                loop.call_soon_threadsafe(queue.put_nowait, None)

            worker = submit(self.pool, produce, metrics=self.metrics)
            try:
                words: list = []
                while (item := await queue.get()) is not None:
                    if isinstance(item, Exception):
                        raise item
                    if isinstance(item, list):  # the word times, after the last audio: sent with the tail
                        words = item
                        continue
                    seconds += len(item) / entry.synth.sample_rate
                    first = first or time.perf_counter() - start
                    yield pb.SynthesizeSpeechResponse(audio=wire.float_to_bytes(resample(item), encoding),
                                                      encoding=encoding, sample_rate_hz=rate)
                tail = resample(np.zeros(0, np.float32), last=True)
                if tail.size or words:
                    yield pb.SynthesizeSpeechResponse(audio=wire.float_to_bytes(tail, encoding),
                                                      encoding=encoding, sample_rate_hz=rate,
                                                      words=words)
            finally:
                stop.set()  # cancelled or failed: the generation loop stops at its next step
                await asyncio.shield(worker)
            log_request("SynthesizeStream", start, seconds, self.metrics, model=entry.name, chars=len(text),
                        first_audio_s=first or 0.0)

    async def ListVoices(self, req, context):
        voices = [pb.Voice(name=v, language_code=DEFAULT_LANGUAGE, description=f"{e.name}: prompt voice")
                  for e in self.registry.entries.values() for v in e.voices]
        return pb.ListVoicesResponse(voices=voices)

    async def ListModels(self, req, context):
        return pb.ListModelsResponse(models=list(self.registry.entries))


def _with_word_times(synth, text: str, voice, sampling: SamplingConfig, speaking_rate: float) -> tuple[np.ndarray, list]:
    """A whole utterance and when each of its words is said (one inference job)."""
    marks: list = []
    chunks = list(synth.stream(text, voice, sampling, 1 << 30, speaking_rate=speaking_rate, sentences=marks))
    wav = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    return wav, [_word_proto(w) for w in word_times(wav, synth.sample_rate, marks, synth.verifier.recognizer)]


def _word_proto(w: WordTime) -> pb.WordTime:
    return pb.WordTime(word=w.word, start_s=w.start, end_s=w.end, sentence=w.sentence, aligned=w.aligned)
