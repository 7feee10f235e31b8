"""``speech.v1.TextToSpeech`` on the ONNX engines: Synthesize, SynthesizeStream,
SynthesizeTextStream (text coming as it is written), voices.

Generation runs in the worker pool (with batched steps, in a thread of its own whose model
calls go through the model's ``serve.step_batcher.StepBatcher``) and hands audio chunks to the
RPC through a queue; the first chunk is small (``chunk_ms``, default 80 ms) and later chunks grow, so first audio
comes early without paying per-chunk overhead for the whole utterance. A cancelled stream
sets a flag the generation loop polls every step, so it stops at once and frees its slot.
Bundled prompt voices live in ``<tts model>/voices/NAME.wav`` + ``NAME.txt``; their codes are
computed once at start.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import AsyncIterator, Callable, Iterator

import numpy as np

from codec import audio as audio_io
from codec.errors import CodecError
from serve import wire
from serve.gen.speech.v1 import speech_pb2 as pb
from serve.gen.speech.v1 import speech_pb2_grpc as pb_grpc
from serve.rpc import AlreadyExists, IdleTimeout, ModelNotFound, Overloaded, log_request, opening, streaming, submit, unary
from serve.step_batcher import StepBatcher
from serve.tts_runtime import OnnxTts
from serve.voice_store import CustomVoice, VoiceStore, check_name
from tts.lru import Lru
from tts.mark_times import MarkTime, MarkTimer, mark_times, marked
from tts.pretrained import bundled_voices, find_tts_dir, load_tts
from tts.respell import load_dictionary, parse_dictionary, respell
from tts.sampling import SamplingConfig
from tts.synthesize import Continuation, Synthesizer, VoicePrompt, text_plan
from tts.consent import ConsentSettings, NoConsent, load_consent_check
from tts.ssml import Say, is_ssml, parse_ssml
from tts.text import InvalidText, normalize, split_long_text
from tts.text_spans import word_spans
from tts.text_stream import SentenceBuffer
from tts.time_stretch import MAX_FACTOR, MIN_FACTOR, check_reshape  # as speaking rates too: 0.5x to 2x
from tts.verify import load_verifier
from tts.word_times import TimedReading, WordTime, WordTimer, word_times

DEFAULT_LANGUAGE = "en-US"
MIN_GAIN_DB, MAX_GAIN_DB = -96.0, 16.0  # a request's volume_gain_db, Google's range
LATER_CHUNK_FRAMES = 25  # 0.5 s at 50 Hz once audio is flowing
UNSAID_CHARS = 20_000  # a text stream's text cut and waiting to be read (~20 min of speech); its client waits beyond
INTERRUPTED = object()  # a text stream's mark, in place of the text an interrupt dropped
FLUSHED = object()  # a text stream's mark after a turn's text (a flush)
ZERO_SHOT_VOICES = 32  # requests' own recordings kept as made voice prompts (``TtsRegistry.zero_shot``)


@dataclass
class TtsEntry:
    name: str
    synth: Synthesizer
    voices: dict[str, VoicePrompt]


class TtsRegistry:
    """TTS models loaded once at start (with their codec and prompt voices)."""

    def __init__(self, specs: list[str], codec_registry, backend: str = "auto", threads: int | None = None,
                 int8: bool = False, verifier: str | None = None, voice_seconds: float | None = None,
                 pace: bool = False, context: str = "voice", batch: int = 1, dictionary: str | None = None,
                 step_rows: int = 1, voice_dir: str | None = None, max_voices: int = 100,
                 consent: ConsentSettings | None = None) -> None:
        self.entries: dict[str, TtsEntry] = {}
        self.batchers: list[StepBatcher] = []  # one per ONNX model with step_rows > 1 (serve.step_batcher)
        self.dictionary = load_dictionary(dictionary) if dictionary else {}  # tts.respell, for every request
        respell("", self.dictionary)  # its pattern compiled once, before the first request
        # longer zero-shot prompts are cut to their first words (tts.voice_trim); the model's own
        # voices are read whole: it trained on those speakers, and they read better whole (README)
        self.voice_seconds = voice_seconds
        self.pace = pace  # zero-shot prompts are stretched to the model's training pace (tts.voice_pace)
        self.zero_shot_voices: Lru[VoicePrompt] = Lru(ZERO_SHOT_VOICES)  # requests' recordings, made
        self.verifier = load_verifier(verifier, backend, threads) if verifier and specs else None
        # voices made only with their speaker's consent (tts.consent), checked with the verifier
        self.consent = load_consent_check(consent, self.verifier, threads) if consent and specs else None
        for spec in specs:
            directory = find_tts_dir(spec)
            model, tokenizer = load_tts(spec, backend, threads, int8)
            if isinstance(model, OnnxTts) and step_rows > 1:
                model = StepBatcher(model, max_rows=step_rows)
                self.batchers.append(model)
            codec = codec_registry.engines.get(model.cfg.codec)
            synth = Synthesizer(model, tokenizer, codec=codec, codec_spec=model.cfg.codec, backend=backend,
                                verifier=self.verifier, context=context, batch=batch)
            name = directory.name if directory.name not in ("model", "") else model.cfg.name
            self.entries[name] = TtsEntry(name, synth, self._voices(directory, synth))
        self.default = next(iter(self.entries.values())) if self.entries else None
        # clients' own voices (CreateVoice), kept in voice_dir where there is one
        self.custom = VoiceStore(Path(voice_dir) if voice_dir else None, max_voices,
                                 lambda model, wav, transcript: self._made(self.entries[model], wav, transcript),
                                 {name: entry.synth.sample_rate for name, entry in self.entries.items()})

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

    def zero_shot(self, entry: TtsEntry, z: pb.ZeroShotData, transcript: str) -> VoicePrompt:
        """A request's own recording as a voice prompt (cut, paced, encoded), or the one made from
        the same recording and transcript by one of the last ``ZERO_SHOT_VOICES`` requests: a
        client that clones a voice sends its recording with every request (20-70 ms to make)."""
        key = (entry.name, hashlib.sha256(z.audio_prompt).digest(), z.encoding, z.sample_rate_hz, transcript)
        voice = self.zero_shot_voices.get(key)
        if voice is None:
            voice = self._made(entry, recording(entry, z), transcript)
            self.zero_shot_voices.put(key, voice)
        return voice

    def _made(self, entry: TtsEntry, wav: np.ndarray, transcript: str) -> VoicePrompt:
        """A recording not of the model's own voices as its prompt: cut (``voice_seconds``) and paced."""
        pace = entry.synth.model.cfg.chars_per_second if self.pace else None
        return entry.synth.voice_from_audio(wav, transcript, self.voice_seconds, pace=pace)

    def voice(self, entry: TtsEntry, name: str) -> VoicePrompt:
        """A named voice: one of the model's own, or a client's (``custom``)."""
        if name in entry.voices:
            return entry.voices[name]
        if (custom := self.custom.get(entry.name, name)) is not None:
            return custom.prompt
        have = [*entry.voices, *self.custom.names(entry.name)]
        raise ModelNotFound(f"voice {name!r} not found (have: {', '.join(have) or 'none'})")

    def create_voice(self, entry: TtsEntry, req: pb.CreateVoiceRequest) -> CustomVoice:
        """A client's voice made from its recording, kept, and said a word in (its first request
        starts as fast as the model's own voices do, ``warm``)."""
        check_name(req.name)
        if req.name in entry.voices:
            raise AlreadyExists(f"{req.name!r} is one of the model's own voices: choose another name")
        if not req.recording.audio_prompt:
            raise CodecError("a voice needs its recording (recording.audio_prompt) and what is said in it (transcript)")
        wav, consent = recording(entry, req.recording), None
        if self.consent is not None:
            said = recording(entry, req.consent) if req.consent.audio_prompt else None
            consent = (said, self.consent.check(said, wav, entry.synth.sample_rate))
        voice = self.custom.add(entry.name, req.name, wav, req.recording.transcript, req.description, req.replace,
                                consent)
        self._say_a_word(entry, voice.prompt)
        return voice

    def delete_voice(self, entry: TtsEntry, name: str) -> None:
        if name in entry.voices:
            raise CodecError(f"{name!r} is one of the model's own voices; only custom voices (CreateVoice) are deleted")
        self.custom.delete(entry.name, name)

    def usage(self, model: str, text: str, seconds: float) -> dict[str, int]:
        """OpenAI's usage figures for an answer: the text tokens the model read (respelled and
        normalized, SSML's markup left out) and the audio tokens (codec frames) of ``seconds``."""
        synth = self.get(model).synth
        said = [respell(piece.text, self.dictionary) for piece in text_plan(text) if isinstance(piece, Say)]
        # cut again: a respelling may grow a piece past what one normalization takes (tts.text.MAX_CHARS)
        read = sum(len(synth.tokenizer.encode(part)) for piece in said for part in split_long_text(piece))
        wrote = round(seconds * synth.model.cfg.codec_frame_rate)
        return {"input_tokens": read, "output_tokens": wrote, "total_tokens": read + wrote}

    def close(self) -> None:
        for batcher in self.batchers:
            batcher.close()

    def warm(self) -> None:
        """A word said before the first request, in each prompt voice too: the model's first calls
        and each voice's decoder stream (``Synthesizer._decoder``) are ready."""
        for entry in self.entries.values():
            for voice in (None, *entry.voices.values()):
                self._say_a_word(entry, voice)

    @staticmethod
    def _say_a_word(entry: TtsEntry, voice: VoicePrompt | None) -> None:
        for _ in entry.synth.stream("Ready.", voice, sampling=SamplingConfig(max_frames=2)):
            pass


class TextToSpeechService(pb_grpc.TextToSpeechServicer):
    def __init__(self, registry: TtsRegistry, cfg, pool, slots, metrics, generating=None) -> None:
        self.registry, self.cfg, self.pool, self.slots, self.metrics = registry, cfg, pool, slots, metrics
        self.generating = generating or pool  # where generation loops run (their own threads when steps are batched)

    async def _prepare(self, req: pb.SynthesizeSpeechRequest) -> tuple[TtsEntry, str, VoicePrompt | None, SamplingConfig,
                                                                      dict[str, VoicePrompt]]:
        """A request's model, its text as read (respelled and checked), voice, sampling and the
        voices its SSML names (``<voice name>``)."""
        entry, said, voice, sampling = await self._options(req)
        text = respell(req.text, said)
        # empty, junk-only and over-long text, or bad SSML, is refused in one line before anything plays
        voices = {}
        if is_ssml(text):
            plan = parse_ssml(text)
            for name in dict.fromkeys(item.voice for item in plan if isinstance(item, Say) and item.voice):
                voices[name] = await self._named_voice(entry, name, said)
            if _marks_wanted(req) and entry.synth.verifier is None and any(isinstance(i, Say) and i.marks for i in plan):
                raise CodecError("a <mark> inside text is timed by finding its words: start the server with "
                                 "--tts-verifier (e.g. asr_verifier)")
        else:
            text = normalize(text)
        return entry, text, voice, sampling, voices

    async def _options(self, req: pb.SynthesizeSpeechRequest) -> tuple[TtsEntry, dict, VoicePrompt | None, SamplingConfig]:
        """Everything of a request but its text: model, pronunciations, voice, sampling (checked)."""
        entry = self.registry.get(req.model)
        if req.language_code and not req.language_code.lower().startswith("en"):
            raise CodecError(f"language_code {req.language_code!r} is not supported (English only)")
        if not (req.speaking_rate == 0.0 or MIN_FACTOR <= req.speaking_rate <= MAX_FACTOR):
            raise CodecError(f"speaking_rate must be {MIN_FACTOR:g} to {MAX_FACTOR:g} (1 = as the model speaks; 0 = 1), "
                             f"got {req.speaking_rate:g}")
        check_reshape(req.speaking_rate or 1.0, req.pitch)  # the pitch, and the two together
        if not MIN_GAIN_DB <= req.volume_gain_db <= MAX_GAIN_DB:
            raise CodecError(f"volume_gain_db must be {MIN_GAIN_DB:g} to {MAX_GAIN_DB:g} (0 = as the model speaks), "
                             f"got {req.volume_gain_db:g}")
        # pronunciations apply to the text and to the voice prompt's transcript: the prompt's audio says
        # its words the way the dictionary spells them, and the model reads both as one sequence
        said = ({**self.registry.dictionary, **parse_dictionary(req.custom_dictionary, "custom_dictionary")}
                if req.custom_dictionary else self.registry.dictionary)
        voice = await self._voice(entry, req, said)
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
        return entry, said, voice, sampling

    async def _voice(self, entry: TtsEntry, req: pb.SynthesizeSpeechRequest, said: dict) -> VoicePrompt | None:
        """The request's voice: one of the model's own at once; a recording sent with the request or
        a client's voice on the inference pool, as making its prompt (and reading it from
        --voice-dir) takes 20-450 ms that would hold up every other stream on the event loop."""
        if req.HasField("zero_shot_data") and req.zero_shot_data.audio_prompt:
            if self.registry.consent is not None:
                raise NoConsent("this server makes a voice only with its speaker's consent: make it with CreateVoice "
                                "(its consent recording) and ask for it by name")
            return await submit(self.pool, self.registry.zero_shot, entry, req.zero_shot_data,
                                respell(req.zero_shot_data.transcript, said), metrics=self.metrics)
        return await self._named_voice(entry, req.voice_name, said) if req.voice_name else None

    async def _named_voice(self, entry: TtsEntry, name: str, said: dict) -> VoicePrompt:
        voice = entry.voices.get(name) or await submit(self.pool, self.registry.voice, entry, name, metrics=self.metrics)
        return replace(voice, transcript=respell(voice.transcript, said)) if said else voice

    def _encode_out(self, wav: np.ndarray, entry: TtsEntry, req: pb.SynthesizeSpeechRequest) -> pb.SynthesizeSpeechResponse:
        out = wire.audio_to_proto(louder(wav, req.volume_gain_db), entry.synth.sample_rate, req.encoding, req.sample_rate_hz)
        return pb.SynthesizeSpeechResponse(audio=out.data, encoding=out.encoding, sample_rate_hz=out.sample_rate_hz)

    @unary
    async def Synthesize(self, req, context):
        start = time.perf_counter()
        entry, text, voice, sampling, voices = await self._prepare(req)
        if _marks_wanted(req):
            wav, words, timepoints = await submit(self.generating, _with_word_times, entry.synth, text, voice, sampling,
                                                  req.speaking_rate or 1.0, voices, _spans(req, text), req.pitch,
                                                  metrics=self.metrics)
        else:
            wav, words, timepoints = await submit(self.generating, entry.synth.synthesize, text, voice, sampling,
                                                  req.speaking_rate or 1.0, voices, req.pitch, metrics=self.metrics), [], []
        log_request("Synthesize", start, len(wav) / entry.synth.sample_rate, self.metrics, model=entry.name,
                    chars=len(text))
        out = self._encode_out(wav, entry, req)
        out.words.extend(words)
        out.timepoints.extend(timepoints)
        return out

    @streaming
    async def SynthesizeStream(self, req, context):
        with self.slots.hold():
            start, first = time.perf_counter(), None
            entry, text, voice, sampling, voices = await self._prepare(req)
            out = _AudioOut(entry, req)
            stop, seconds, sentences, marks = threading.Event(), 0.0, [], []
            timer = _word_timer(entry.synth, req, text, marks)
            marked = MarkTimer(entry.synth.sample_rate, marks) if _marks_wanted(req) else None

            def produce() -> Iterator[tuple[np.ndarray | None, list[WordTime], list[MarkTime]]]:
                """Each chunk with the words and marks found since the chunk before it: a sentence's
                words once the next has played past the margin (or a pause has begun), found after
                the chunk went out (not before it); a mark once its time is known."""
                new, sent, played, due, found = [], 0, 0, [], []
                for chunk in entry.synth.stream(text, voice, sampling, LATER_CHUNK_FRAMES, out.first_frames, stop.is_set,
                                                req.speaking_rate or 1.0, sentences=sentences if timer else None,
                                                marks=marks, voices=voices, pitch=req.pitch):
                    yield chunk, new if req.word_times else [], due
                    played += len(chunk)
                    if timer is not None:
                        timer.push(chunk, sentences)
                        found = timer.so_far()
                        new, sent = found[sent:], len(found)
                    due = marked.due(played, found) if marked is not None else []
                if marked is not None and not stop.is_set():  # the rest once all audio is out
                    found = timer.finish() if timer is not None else []
                    yield None, new + found[sent:] if req.word_times else [], due + marked.due(played, found, finished=True)

            last: tuple = ([], [])
            async with contextlib.aclosing(self._pooled(produce, stop)) as made:
                async for chunk, words, due in made:
                    if chunk is None:  # the last words: sent with the tail
                        last = ([_word_proto(w) for w in words], [_timepoint(m) for m in due])
                        continue
                    seconds += len(chunk) / entry.synth.sample_rate
                    first = first or time.perf_counter() - start
                    yield out.chunk(chunk, words=[_word_proto(w) for w in words], timepoints=[_timepoint(m) for m in due])
            if (tail := out.tail(*last)) is not None:
                yield tail
            log_request("SynthesizeStream", start, seconds, self.metrics, model=entry.name, chars=len(text),
                        first_audio_s=first or 0.0)

    @streaming
    async def SynthesizeTextStream(self, requests, context):
        with self.slots.hold():
            start, first, seconds, chars = time.perf_counter(), None, 0.0, 0
            req = await opening(requests, "SynthesizeTextStream", "config (a SynthesizeSpeechRequest)")
            entry, said, voice, sampling = await self._options(req)
            text = _TextReader(requests, self.cfg.text_stream_idle_seconds)
            now = self._reading(entry, req, voice, sampling, text.cut)
            warm = now.continuation.decoder.fork()  # each reading after an interrupt starts from here
            reader = asyncio.create_task(text.run(req.text))
            try:
                while (piece := await text.take()) is not None:
                    if isinstance(piece, Exception):
                        raise piece
                    if piece is INTERRUPTED:  # what follows is read as a new stream would read it
                        yield pb.SynthesizeSpeechResponse(interrupted=True, encoding=now.out.encoding,
                                                          sample_rate_hz=now.out.rate)
                        now = self._reading(entry, req, voice, sampling, text.cut, warm.fork())
                        continue
                    if piece is FLUSHED:  # the turn is all said: its last samples and words, the mark
                        yield await self._turn_over(now, entry, req)
                        continue
                    piece = normalize_piece(respell(piece, said))
                    chars, text.speaking = chars + len(piece), True
                    written = text.written
                    async with contextlib.aclosing(self._pooled(lambda: now.going_on.say(piece, written), now.cut)) as made:  # noqa: B023
                        async for chunk, words in made:
                            if now.cut.is_set():
                                break  # interrupted: the rest of this piece is not wanted
                            seconds += len(chunk) / entry.synth.sample_rate
                            if seconds > self.cfg.max_audio_seconds:
                                raise CodecError(f"stream exceeds {self.cfg.max_audio_seconds:g} s of audio")
                            first = first or time.perf_counter() - start
                            yield now.out.chunk(chunk, words=[_word_proto(w) for w in words])
                    text.speaking = False
            finally:
                reader.cancel()
            if not chars:
                raise InvalidText("the stream's text has nothing to say (no letters or numbers)")
            words = await submit(self.pool, now.going_on.finish, metrics=self.metrics)
            if (tail := now.out.tail([_word_proto(w) for w in words])) is not None:
                yield tail
            log_request("SynthesizeTextStream", start, seconds, self.metrics, model=entry.name, chars=chars,
                        first_audio_s=first or 0.0)

    async def _turn_over(self, now: _Reading, entry: TtsEntry, req: pb.SynthesizeSpeechRequest) -> pb.SynthesizeSpeechResponse:
        """The ``flushed`` mark, with what the turn still held back: the words of its last
        sentences and the resampler's last samples (the next turn gets a fresh resampler, and a
        first chunk as small as the stream's first)."""
        words = await submit(self.pool, now.going_on.finish, metrics=self.metrics)
        mark = now.out.tail([_word_proto(w) for w in words]) or pb.SynthesizeSpeechResponse(
            encoding=now.out.encoding, sample_rate_hz=now.out.rate)
        mark.flushed = True
        now.out = _AudioOut(entry, req)
        now.continuation.first_chunk_frames = now.out.first_frames
        return mark

    @staticmethod
    def _reading(entry: TtsEntry, req: pb.SynthesizeSpeechRequest, voice: VoicePrompt | None, sampling: SamplingConfig,
                 cut: threading.Event, decoder=None) -> _Reading:
        """A text stream's reading: the whole stream's, or what follows an interrupt (which sets ``cut``)."""
        out = _AudioOut(entry, req)
        going_on = entry.synth.continuation(voice, sampling, LATER_CHUNK_FRAMES, out.first_frames, cut.is_set,
                                            req.speaking_rate or 1.0, decoder=decoder, pitch=req.pitch)
        timer = WordTimer(entry.synth.sample_rate, entry.synth.verifier.recognizer) if req.word_times else None
        return _Reading(out, TimedReading(going_on, timer), going_on, cut)

    async def _pooled(self, produce: Callable[[], Iterator], stop: threading.Event) -> AsyncIterator:
        """What ``produce()`` yields, made on the inference pool and handed over as it comes. A
        consumer that leaves (cancelled, failed) sets ``stop``, which the generation loop polls
        every step: it stops at once and frees its worker."""
        queue, loop = asyncio.Queue(), asyncio.get_running_loop()

        def run() -> None:
            try:
                for item in produce():
                    loop.call_soon_threadsafe(queue.put_nowait, item)
            except Exception as err:  # handed to the RPC, which maps it to a status
                loop.call_soon_threadsafe(queue.put_nowait, err)
            loop.call_soon_threadsafe(queue.put_nowait, None)

        worker = submit(self.generating, run, metrics=self.metrics)
        try:
            while (item := await queue.get()) is not None:
                if isinstance(item, Exception):
                    raise item
                yield item
        except BaseException:
            stop.set()
            raise
        finally:
            await asyncio.shield(worker)

    async def ListVoices(self, req, context):
        # custom voices' descriptions are files (--voice-dir): read off the event loop
        return await asyncio.get_running_loop().run_in_executor(None, self._voices)

    def _voices(self) -> pb.ListVoicesResponse:
        voices = []
        for entry in self.registry.entries.values():
            voices += [pb.Voice(name=v, language_code=DEFAULT_LANGUAGE, description=f"{entry.name}: prompt voice",
                                model=entry.name) for v in entry.voices]
            voices += [pb.Voice(name=name, language_code=DEFAULT_LANGUAGE, description=about, model=entry.name, custom=True)
                       for name, about in self.registry.custom.descriptions(entry.name).items()]
        consent = self.registry.consent
        return pb.ListVoicesResponse(voices=voices, consent_statement=consent.settings.statement if consent else "")

    @unary
    async def CreateVoice(self, req, context):
        start, entry = time.perf_counter(), self.registry.get(req.model)
        voice = await submit(self.generating, self.registry.create_voice, entry, req, metrics=self.metrics)
        log_request("CreateVoice", start, metrics=self.metrics, model=entry.name)
        return pb.Voice(name=voice.name, language_code=DEFAULT_LANGUAGE, description=voice.description,
                        model=voice.model, custom=True)

    @unary
    async def DeleteVoice(self, req, context):
        entry = self.registry.get(req.model)
        await submit(self.pool, self.registry.delete_voice, entry, req.name, metrics=self.metrics)
        return pb.DeleteVoiceResponse()

    async def ListModels(self, req, context):
        return pb.ListModelsResponse(models=list(self.registry.entries))


class _AudioOut:
    """A stream's audio as its request asked for it: resampled as it goes, in its raw layout,
    its first chunk ``chunk_ms`` long (default 80 ms: ``first_frames`` codec frames)."""

    def __init__(self, entry: TtsEntry, req: pb.SynthesizeSpeechRequest) -> None:
        self.first_frames = max(1, round((req.chunk_ms or 80) / 1000 * entry.synth.model.cfg.codec_frame_rate))
        self.rate = req.sample_rate_hz or entry.synth.sample_rate
        wire.check_rate(self.rate)
        self.encoding = wire.stream_encoding(req.encoding)
        self.resample = audio_io.StreamResampler(entry.synth.sample_rate, self.rate)
        self.gain_db = req.volume_gain_db

    def chunk(self, wav: np.ndarray, last: bool = False, words: list | None = None,
              timepoints: list | None = None) -> pb.SynthesizeSpeechResponse:
        wav = self.resample(louder(wav, self.gain_db), last=last)
        return pb.SynthesizeSpeechResponse(audio=wire.float_to_bytes(wav, self.encoding),
                                           encoding=self.encoding, sample_rate_hz=self.rate, words=words or [],
                                           timepoints=timepoints or [])

    def tail(self, words: list | None = None, timepoints: list | None = None) -> pb.SynthesizeSpeechResponse | None:
        """The resampler's last samples (and the word times and marks), if there are any."""
        message = self.chunk(np.zeros(0, np.float32), last=True, words=words, timepoints=timepoints)
        return message if message.audio or words or timepoints else None


@dataclass
class _Reading:
    """What a text stream's audio is made by until the next interrupt: its output (resampler,
    format), its continuation (decoder, sentences said, word times), and the flag that stops it."""

    out: _AudioOut
    going_on: TimedReading
    continuation: Continuation  # what ``going_on`` reads with
    cut: threading.Event


class _TextReader:
    """A SynthesizeTextStream's text, cut into pieces as sentences complete (``tts.text_stream``),
    for ``take``; then None (the client half-closed) or the error that ends the stream. Among
    those: ``idle_seconds`` with no message and nothing being said (``speaking``, which the RPC
    sets and clears), so a client gone quiet frees its stream slot.

    Messages are read as they come, whatever is still to be said, so an ``interrupt`` acts at
    once: it sets ``cut`` (the reading in progress stops), drops the text not yet read (and the
    FLUSHED marks of its turns), and puts INTERRUPTED in its place. A flush puts FLUSHED after
    its turn's text. A client that writes more than UNSAID_CHARS ahead of the speech
    waits (gRPC flow control), its interrupt with it."""

    def __init__(self, requests: AsyncIterator[pb.SynthesizeTextStreamRequest], idle_seconds: float) -> None:
        self.requests, self.idle_seconds = requests, idle_seconds
        self.pieces: asyncio.Queue = asyncio.Queue()  # bounded by ``unsaid``
        self.unsaid = 0  # characters in ``pieces``
        self.cut = threading.Event()  # set by an interrupt; the next reading gets a new one
        self.written = ""  # the text sent since the stream began or the last interrupt (word spans are in it)
        self._room = asyncio.Event()
        self._speaking, self._quiet_since = False, time.monotonic()

    @property
    def speaking(self) -> bool:
        return self._speaking

    @speaking.setter
    def speaking(self, now: bool) -> None:
        self._speaking, self._quiet_since = now, time.monotonic()  # the idle clock starts when the speech stops

    async def take(self) -> str | object | Exception | None:
        """The next piece, INTERRUPTED or FLUSHED, the error that ends the stream, or None at its end."""
        piece = await self.pieces.get()
        if isinstance(piece, str):
            self.unsaid -= len(piece)
            self._room.set()
        return piece

    async def run(self, text: str) -> None:
        buffer = SentenceBuffer()
        try:
            self.written = text
            await self._put(buffer.push(text))
            while (message := await self._next()) is not None:
                if message.HasField("config"):
                    raise CodecError("the config may only come first")
                if message.interrupt:
                    buffer, self.written = SentenceBuffer(), ""
                    self._interrupt()
                self.written += message.text
                await self._put(buffer.push(message.text) + (buffer.finish() if message.flush else []))
                if message.flush:
                    self.pieces.put_nowait(FLUSHED)
            await self._put(buffer.finish())
            self.pieces.put_nowait(None)
        except Exception as err:  # handed to the RPC, which maps it to a status
            self.pieces.put_nowait(err)

    async def _put(self, pieces: list[str]) -> None:
        for piece in pieces:
            self.pieces.put_nowait(piece)
            self.unsaid += len(piece)
        while self.unsaid > UNSAID_CHARS:
            self._room.clear()
            await self._room.wait()

    def _interrupt(self) -> None:
        self.cut.set()
        self.cut = threading.Event()
        waiting = [self.pieces.get_nowait() for _ in range(self.pieces.qsize())]
        for item in [item for item in waiting if item is INTERRUPTED] + [INTERRUPTED]:  # each interrupt is answered
            self.pieces.put_nowait(item)
        self.unsaid = 0

    async def _next(self) -> pb.SynthesizeTextStreamRequest | None:
        """The client's next message (None once it half-closes). The read is never cancelled for
        the clock (that could lose a message): the clock is only looked at."""
        read = asyncio.ensure_future(anext(self.requests, None))
        try:
            while not read.done():
                if self._speaking or self.pieces.qsize():
                    self._quiet_since = time.monotonic()
                left = self._quiet_since + self.idle_seconds - time.monotonic()
                if left <= 0:
                    raise IdleTimeout(f"no text came for {self.idle_seconds:g} s (--text-stream-idle): the stream "
                                      "is closed")
                await asyncio.wait({read}, timeout=min(left, 0.5))
            self._quiet_since = time.monotonic()
            return read.result()
        finally:
            read.cancel()  # nothing once it is done; a stream that ends stops reading


def normalize_piece(text: str) -> str:
    """A piece of streamed text, checked as a request's text is (SSML has no place in a text stream)."""
    if is_ssml(text):
        raise InvalidText("SynthesizeTextStream reads plain text; send SSML to Synthesize or SynthesizeStream")
    return normalize(text)


def _with_word_times(synth, text: str, voice, sampling: SamplingConfig, speaking_rate: float, voices: dict,
                     spans: list | None, pitch: float) -> tuple[np.ndarray, list[pb.WordTime], list[pb.Timepoint]]:
    """A whole utterance and when its marks are reached; with ``spans`` (each sentence's words'
    places in the text as sent), when each of its words is said too (else only the words of
    sentences holding marks are found, and not sent). One inference job."""
    all_words = spans is not None
    sentences: list = []
    marks: list = []
    chunks = list(synth.stream(text, voice, sampling, 1 << 30, speaking_rate=speaking_rate, sentences=sentences,
                               marks=marks, voices=voices, pitch=pitch))
    wav = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    words = [] if synth.verifier is None else word_times(wav, synth.sample_rate, sentences, synth.verifier.recognizer,
                                                          wanted=None if all_words else marked(marks), spans=spans)
    return (wav, [_word_proto(w) for w in words] if all_words else [],
            [_timepoint(m) for m in mark_times(synth.sample_rate, marks, len(wav), words)])


def _marks_wanted(req: pb.SynthesizeSpeechRequest) -> bool:
    """Whether the request asks when its SSML marks are reached: with its words, or alone
    (Google's enable_time_pointing)."""
    return req.word_times or pb.SSML_MARK in req.enable_time_pointing


def _word_timer(synth, req: pb.SynthesizeSpeechRequest, text: str, marks: list) -> WordTimer | None:
    """What finds a stream's words: all of them (word_times), or those of the sentences holding
    marks (timepoints alone; none without a verifier: then no mark is inside text)."""
    if req.word_times:
        return WordTimer(synth.sample_rate, synth.verifier.recognizer, spans=_spans(req, text))
    if _marks_wanted(req) and synth.verifier is not None:
        return WordTimer(synth.sample_rate, synth.verifier.recognizer, wanted=marked(marks))
    return None


def recording(entry: TtsEntry, z: pb.ZeroShotData) -> np.ndarray:
    """A voice recording sent by a client, at the model's rate (at most 30 s)."""
    return wire.audio_from_proto(pb.Audio(data=z.audio_prompt, encoding=z.encoding, sample_rate_hz=z.sample_rate_hz),
                                 entry.synth.sample_rate, max_seconds=30.0)


def louder(wav: np.ndarray, gain_db: float) -> np.ndarray:
    """``wav`` ``gain_db`` louder (a request's volume_gain_db), clipped at full scale."""
    return wav if not gain_db else np.clip(wav * np.float32(10 ** (gain_db / 20)), -1.0, 1.0)


def _word_proto(w: WordTime) -> pb.WordTime:
    return pb.WordTime(word=w.word, start_s=w.start, end_s=w.end, sentence=w.sentence, aligned=w.aligned,
                       text_offset=w.text_offset or 0, text_length=w.text_length or 0)


def _spans(req: pb.SynthesizeSpeechRequest, text: str) -> list[list[tuple[int, int]]] | None:
    """Where each word read of ``text`` (the request's text respelled) is in the text as sent:
    with the words only."""
    return word_spans(req.text, Synthesizer.sentences(text), is_ssml(req.text)) if req.word_times else None


def _timepoint(m: MarkTime) -> pb.Timepoint:
    return pb.Timepoint(mark_name=m.name, time_s=m.time)
