"""Text -> speech: normalization, sentence splitting, generation, streaming codec decode.

One codec decoder stream runs across all sentences of a request, so long text has no seam
at sentence boundaries, and a voice prompt's codes are pushed through it first so the voice
continues smoothly. Streaming yields audio every ``chunk_frames`` generated frames; the
concatenated chunks equal the offline result for the same seed.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, replace
from typing import Callable, Iterable, Iterator, Mapping, NamedTuple

import numpy as np

from codec.identity import speaks_codes

from .decoding import Decoding, decode_loop
from .lru import Lru
from .sampling import RowGroups, SamplingConfig, max_frames_for, min_frames_for
from .search import search
from .sequence import build_prompt, codes_to_frames, frames_to_codes
from .ssml import BLEEP_HZ, Mark, Pause, Say, is_ssml, parse_ssml
from .text import InvalidText, TextTokenizer, normalize, split_long_text, split_sentences
from .time_stretch import Reshaper, check_reshape


@dataclass
class VoicePrompt:
    """A reference recording as codec frames (``tts.sequence``) plus what is said in it."""

    codes: list
    transcript: str
    stretch: float = 1.0  # how many times as long as recorded the audio was played (``tts.voice_pace``)


@dataclass
class Spoken:
    """One sentence as generated: the prompt the model read (token ids; ``prompt_text`` of them
    belong to the voice prompt's transcript) and the frames it spoke; with ``best_of`` > 1 the
    verifier's score of every candidate (``frames`` are the lowest's)."""

    text: str
    prompt: list
    prompt_text: int
    frames: list
    scores: list = field(default_factory=list)


class Reading(NamedTuple):
    """How one sentence is read: its ``Spoken`` (no frames yet), the voice prompt it continues
    (``context``: the request's voice or the sentence before, ``Synthesizer.context``), its frame
    budget, the frames before ``</speech>`` may come, its draws."""

    spoken: Spoken
    context: VoicePrompt | None
    limit: int
    floor: int
    sampling: SamplingConfig


CONTEXTS = ("voice", "previous")  # what a request's later sentences are prompted with
MAX_BATCH = 64  # sentences generated together (``Synthesizer.batch``)
DEFAULT_CHARS_PER_SECOND = 15.0  # English read aloud, for a model that did not record its pace
WARMED_VOICES = 64  # decoder streams kept warmed by a voice prompt (``Synthesizer._decoder``), ~43 KB each


def text_plan(text: str) -> list[Say | Pause | Mark]:
    """Text as the pieces read in turn: an SSML document's plan, or plain text's paragraphs
    (long form, ``tts.text.split_long_text``)."""
    if is_ssml(text):
        return parse_ssml(text)
    plan = [Say(piece) for piece in split_long_text(text)]
    if not plan:
        raise InvalidText("text has nothing to say (no letters or numbers)")
    return plan


def nth_sentence(sampling: SamplingConfig, n: int) -> SamplingConfig:
    """The sampling of a request's n-th sentence: a seeded request draws each sentence from a seed
    of its own (seed + n), so no two sentences, nor two SSML pieces, repeat the same draws."""
    return sampling if sampling.seed is None or n == 0 else replace(sampling, seed=sampling.seed + n)


def check_batch(batch: int, context: str, name: str = "batch") -> None:
    """Sentences generated together must not depend on each other (``name``: the option's, for the message)."""
    if not 1 <= batch <= MAX_BATCH:
        raise ValueError(f"{name} must be 1 to {MAX_BATCH} sentences, got {batch}")
    if batch > 1 and context == "previous":
        raise ValueError(f"{name} > 1 needs context 'voice': with 'previous' each sentence waits for the one before")


class Synthesizer:
    """``model``: a torch ``TtsModel`` or an ONNX Runtime ``OnnxTts`` (anything with ``cfg`` and
    ``stepper()``); ``codec``: a codec engine (default: the one the model was trained on);
    ``verifier``: what picks the best of ``SamplingConfig.best_of`` candidates (``tts.verify``);
    ``context``: what the second and later sentences of a request are prompted with: the voice
    prompt again (``voice``), or the previous sentence's text and generated codes (``previous``:
    the model goes on from where it was instead of starting over; where that would leave the
    sentence too few of the model's positions, the voice again). Measured a wash (README).
    ``batch``: sentences generated together, as the rows of one batch (``context='voice'``)."""

    def __init__(self, model, tokenizer: TextTokenizer, codec=None, codec_spec: str | None = None,
                 backend: str = "auto", verifier=None, context: str = "voice", batch: int = 1) -> None:
        from serve.engine import load_codec_engine

        if context not in CONTEXTS:
            raise ValueError(f"context must be one of {', '.join(CONTEXTS)}, got {context!r}")
        check_batch(batch, context)
        self.model, self.tokenizer, self.verifier, self.context, self.batch = model, tokenizer, verifier, context, batch
        self._warmed: Lru = Lru(WARMED_VOICES)  # voice codes -> the decoder stream they warmed
        self.codec = codec or load_codec_engine(codec_spec or model.cfg.codec, backend)
        cfg = model.cfg
        if self.codec.n_codebooks != cfg.n_codebooks or set(self.codec.codebook_sizes) != {cfg.codebook_size}:
            raise ValueError(f"codec {self.codec.name} ({self.codec.n_codebooks} x {self.codec.codebook_sizes[0]}) does not "
                             f"match the TTS vocabulary ({cfg.n_codebooks} x {cfg.codebook_size})")
        if cfg.codec_hash and not speaks_codes(self.codec, cfg.codec_hash):
            codes = self.codec.codes_hash() or "unknown (graphs exported before codes_hash: re-export them)"
            raise ValueError(f"codec {self.codec.name} has codes {codes}, but the TTS model "
                             f"was trained on {cfg.codec} codes {cfg.codec_hash}: its codes would decode to noise")

    @property
    def sample_rate(self) -> int:
        return self.codec.sample_rate

    def voice_from_audio(self, wav: np.ndarray, transcript: str, max_seconds: float | None = None,
                         keep: str = "start", pace: float | None = None) -> VoicePrompt:
        """Encode reference audio (float32 mono at the codec rate) into a voice prompt; with
        ``max_seconds``, a longer recording keeps only its first words that fit (``keep='end'``:
        its last; ``tts.voice_trim``, the verifier's recognizer finds them), which new voices
        read far better. ``pace``: stretch what is kept, pitch unchanged, to that many characters
        per second (the model's ``cfg.chars_per_second``, ``tts.voice_pace``), so the model
        knows where in its transcript the recording ends."""
        if not transcript.strip():
            raise InvalidText("a voice prompt needs the transcript of its audio")
        if max_seconds is not None and len(wav) > max_seconds * self.sample_rate:
            if self.verifier is None:
                raise ValueError("trimming a voice prompt needs a recognizer to find its words (a verifier, e.g. models/asr_verifier)")
            kept = self.verifier.trim(wav, self.sample_rate, transcript, max_seconds, keep)
            wav, transcript = kept.wav, kept.transcript
        stretch = 1.0
        if pace:
            from .voice_pace import match_pace

            wav, stretch = match_pace(wav, self.sample_rate, transcript, pace)
        return VoicePrompt(codes_to_frames(self.codec.encode(wav[None])[0]), transcript, stretch)

    def stream(self, text: str, voice: VoicePrompt | None = None, sampling: SamplingConfig | None = None,
               chunk_frames: int = 10, first_chunk_frames: int | None = None,
               should_stop: Callable[[], bool] | None = None, speaking_rate: float = 1.0,
               long_form: bool = False, sentences: list[tuple[str, int]] | None = None,
               marks: list | None = None, voices: Mapping[str, VoicePrompt | None] | None = None,
               pitch: float = 0.0) -> Iterator[np.ndarray]:
        """Audio chunks (float32) as codes are generated, sentence after sentence.

        The first chunk of the request may be smaller (``first_chunk_frames``) for a quick start.
        With ``sampling.best_of`` > 1 a sentence's chunks come once its candidate is chosen.
        ``speaking_rate`` plays the speech that many times as fast, pitch kept, and ``pitch`` that
        many semitones higher (``tts.time_stretch.Reshaper``).
        Text starting with ``<speak>`` is SSML (``tts.ssml``): its pieces are read in turn, each
        at its own rate and volume, with its pauses as silence, through one decoder stream (a
        change of prosody mid-sentence has no seam). ``long_form``: plain text of any length (a
        chapter; ``tts.text.split_long_text``) is read paragraph by paragraph the same way, with
        a progress bar, and sounds as one request of the same sentences would. ``sentences``:
        a list to which (sentence as read, sample of the output where its audio begins) is
        appended as each sentence starts, and (None, sample) where a pause after speech begins
        (``tts.word_times`` finds each sentence's words between them). ``marks``: a
        list to which SSML's marks (``tts.mark_times.MarkAt``) are appended before the audio
        after them is made. ``voices``: the prompts of the voices SSML's ``<voice name>`` names
        (a piece in another voice starts a decoder stream warmed by it and does not go on from
        the sentence before it)."""
        said: list[Spoken] = []
        pauses: list[int] = []
        if is_ssml(text) or long_form:
            plan = text_plan(text)  # paragraphs get a progress bar
            chunks = self._stream_plan(plan, voice, sampling, chunk_frames, first_chunk_frames, should_stop,
                                       speaking_rate, not is_ssml(text) and len(plan) > 1, said,
                                       [] if marks is None else marks, voices or {}, pauses, pitch)
        else:
            chunks = self._stream_text(text, voice, sampling, chunk_frames, first_chunk_frames, should_stop,
                                       speaking_rate, said=said, pitch=pitch)
        played = counted = 0
        for chunk in chunks:
            if sentences is not None:  # a sentence joins ``said`` just before its first chunk
                sentences.extend((spoken.text, played) for spoken in said[counted:])
                sentences.extend((None, at) for at in pauses)
                counted, pauses[:] = len(said), []
            yield chunk
            played += len(chunk)

    @staticmethod
    def sentences(text: str, long_form: bool = False) -> list[str]:
        """``text``'s sentences as ``stream`` reads them (normalized), in order: what the
        ``sentences`` it reports hold, known before any audio (``tts.text_spans``)."""
        if not (is_ssml(text) or long_form):
            return split_sentences(normalize(text))
        return [s for item in text_plan(text) if isinstance(item, Say) for s in split_sentences(normalize(item.text))]

    def _stream_plan(self, plan: list[Say | Pause | Mark], voice: VoicePrompt | None, sampling: SamplingConfig | None,
                     chunk_frames: int, first_chunk_frames: int | None, should_stop: Callable[[], bool] | None,
                     speaking_rate: float, progress: bool, said: list[Spoken], marks: list,
                     voices: Mapping[str, VoicePrompt | None], pauses: list[int], pitch: float = 0.0) -> Iterator[np.ndarray]:
        """Pieces read in turn as one ``Continuation`` (``said`` collects their sentences, ``marks``
        the marks, ``pauses`` the output sample where each pause after speech begins), each in its
        voice (``voices``; the request's ``voice`` where it names none)."""
        from tqdm import tqdm

        from .mark_times import MarkAt, marks_in_text

        for item in plan:  # a bad rate or pitch or an unknown voice is refused before anything plays
            if isinstance(item, Say):
                check_reshape(item.rate * speaking_rate, item.pitch + pitch)
                if item.voice is not None and item.voice not in voices:
                    raise InvalidText(f"SSML <voice name={item.voice!r}>: no voice of that name")
        going_on = self.continuation(voice, sampling, chunk_frames, first_chunk_frames, should_stop, speaking_rate, said,
                                     pitch=pitch)
        played = 0
        for item in tqdm(plan, desc="paragraphs", unit="", disable=not progress, file=sys.stderr):
            if should_stop is not None and should_stop():
                return
            if isinstance(item, Mark):
                marks.append(MarkAt(item.name, played))
                continue
            if isinstance(item, Pause):
                if said:
                    pauses.append(played)
                chunks: Iterable[np.ndarray] = [going_on.pause(item.seconds, item.bleep)]
            else:
                marks.extend(marks_in_text(item, len(said)))
                going_on.speak_as(voice if item.voice is None else voices[item.voice])
                chunks = going_on.say(item.text, item.rate, item.volume_db, item.pitch)
            for chunk in chunks:
                played += len(chunk)
                yield chunk

    def continuation(self, voice: VoicePrompt | None = None, sampling: SamplingConfig | None = None,
                     chunk_frames: int = 10, first_chunk_frames: int | None = None,
                     should_stop: Callable[[], bool] | None = None, speaking_rate: float = 1.0,
                     said: list[Spoken] | None = None, decoder=None, pitch: float = 0.0) -> Continuation:
        """One request read a piece at a time, the pieces given as they come (``Continuation``).
        ``decoder``: the codec decoder stream to go on from (default: a fresh one warmed by the
        voice; a fork of one saves warming it again)."""
        check_reshape(speaking_rate, pitch)
        return Continuation(self, voice, sampling or SamplingConfig(), chunk_frames, first_chunk_frames, should_stop,
                            speaking_rate, [] if said is None else said, decoder, pitch)

    def _stream_text(self, text: str, voice: VoicePrompt | None, sampling: SamplingConfig | None, chunk_frames: int,
                     first_chunk_frames: int | None, should_stop: Callable[[], bool] | None,
                     speaking_rate: float, decoder=None, said: list[Spoken] | None = None,
                     go_on: bool = True, pitch: float = 0.0) -> Iterator[np.ndarray]:
        """``said``: the request's sentences so far (SSML pieces before this one), which this
        piece's sentences are appended to and its first may continue (``context``; not when
        ``go_on`` is False: the sentence before was in another voice)."""
        stretcher = self._stretcher(speaking_rate, pitch)
        decoder = self._decoder(voice) if decoder is None else decoder
        said = [] if said is None else said
        for spoken, frames in self._generate(text, voice, sampling, chunk_frames, first_chunk_frames, should_stop,
                                             said[-1] if said and go_on else None):
            if not said or said[-1] is not spoken:
                said.append(spoken)
            wav = decoder.push(self._codes(frames))[0]
            if stretcher is None:
                yield wav
            elif (wav := stretcher.push(wav)).size:
                yield wav
        if stretcher is not None and (tail := stretcher.flush()).size:
            yield tail

    def speak(self, text: str, voice: VoicePrompt | None = None, sampling: SamplingConfig | None = None) -> list[Spoken]:
        """Codes only: each sentence's prompt and generated frames (``render`` turns them into audio)."""
        if is_ssml(text):
            raise InvalidText("speak() reads plain text; SSML is read by stream() and synthesize()")
        spoken: list[Spoken] = []
        for sentence, _ in self._generate(text, voice, sampling, 1 << 30):
            if not spoken or spoken[-1] is not sentence:
                spoken.append(sentence)
        return spoken

    def render(self, spoken: list[Spoken], voice: VoicePrompt | None = None, speaking_rate: float = 1.0,
               pitch: float = 0.0) -> np.ndarray:
        """The audio of ``speak``'s sentences through one decoder stream, as ``stream`` plays them."""
        decoder = self._decoder(voice)
        chunks = [decoder.push(self._codes(s.frames))[0] for s in spoken if s.frames]
        wav = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
        stretcher = self._stretcher(speaking_rate, pitch)
        return wav if stretcher is None else np.concatenate([stretcher.push(wav), stretcher.flush()])

    def synthesize(self, text: str, voice: VoicePrompt | None = None, sampling: SamplingConfig | None = None,
                   speaking_rate: float = 1.0, voices: Mapping[str, VoicePrompt | None] | None = None,
                   pitch: float = 0.0) -> np.ndarray:
        if is_ssml(text):
            chunks = list(self.stream(text, voice, sampling, chunk_frames=1 << 30, speaking_rate=speaking_rate,
                                      voices=voices, pitch=pitch))
            return np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
        return self.render(self.speak(text, voice, sampling), voice, speaking_rate, pitch)

    def _stretcher(self, speaking_rate: float, pitch: float = 0.0) -> Reshaper | None:
        """Nothing at rate 1 and pitch 0; else the speech played 1/rate times as long (WSOLA:
        Google/Riva's ``speaking_rate``) and ``pitch`` semitones higher (Google's ``pitch``)."""
        check_reshape(speaking_rate, pitch)
        return None if speaking_rate == 1.0 and pitch == 0.0 else Reshaper(speaking_rate, pitch, self.sample_rate)

    def _sentences(self, text: str, voice: VoicePrompt | None, sampling: SamplingConfig,
                   previous: Spoken | None = None) -> Iterator[Reading]:
        """Each sentence of ``text`` as the model reads it (``previous``: the sentence said before
        ``text``, if any). Lazy: a sentence's prompt is built once the previous sentence's frames
        are final (``context`` may continue from them). Each text is tokenized once."""
        rate, encode = self.model.cfg.codec_frame_rate, self.tokenizer.encode
        voice_ids = encode(voice.transcript) if voice else None
        previous_ids = encode(previous.text) if previous and self.context == "previous" else None
        for i, sentence in enumerate(split_sentences(normalize(text))):
            ids = encode(sentence)
            context, prompt_ids = self._context(voice, voice_ids, previous, previous_ids, len(ids), len(sentence))
            spoken = Spoken(sentence, build_prompt(self.model, ids, prompt_ids, context.codes if context else None),
                            len(prompt_ids or []), [])
            yield Reading(spoken, context, max_frames_for(len(sentence), rate, sampling),
                          min_frames_for(len(sentence), rate, sampling), nth_sentence(sampling, i))
            previous, previous_ids = spoken, ids

    def _context(self, voice: VoicePrompt | None, voice_ids: list[int] | None, previous: Spoken | None,
                 previous_ids: list[int] | None, n_ids: int, n_chars: int) -> tuple[VoicePrompt | None, list[int] | None]:
        """The voice prompt a sentence continues and its transcript's ids: the previous sentence
        (``context='previous'``) where it leaves room in the model's positions for this one at its
        trained pace, else the voice."""
        if self.context == "voice" or previous is None or not previous.frames:
            return voice, voice_ids
        cfg = self.model.cfg
        expected = cfg.codec_frame_rate * n_chars / (cfg.chars_per_second or DEFAULT_CHARS_PER_SECOND)
        length = len(previous_ids) + len(previous.frames) + n_ids + 4  # 4 markers
        if length + expected > cfg.max_seq_len:
            return voice, voice_ids
        return VoicePrompt(previous.frames, previous.text), previous_ids

    def _generate(self, text: str, voice: VoicePrompt | None, sampling: SamplingConfig | None, chunk_frames: int,
                  first_chunk_frames: int | None = None,
                  should_stop: Callable[[], bool] | None = None,
                  previous: Spoken | None = None) -> Iterator[tuple[Spoken, list]]:
        """(sentence so far, its new frames) every ``chunk_frames`` generated frames, sentence after sentence."""
        sampling = sampling or SamplingConfig()
        if sampling.best_of > 1 and self.verifier is None:
            raise ValueError(f"best_of {sampling.best_of} needs a verifier to choose (e.g. tts-cli --verifier models/asr_verifier)")
        readings = self._sentences(text, voice, sampling, previous)
        batch = 1 if sampling.search_every() else self.batch  # a search runs a sentence's candidates alone
        for i, group in enumerate(_groups(readings, batch)):
            if should_stop is not None and should_stop():
                return
            first = first_chunk_frames if i == 0 else None
            if len(group) > 1:
                yield from self._generate_together(group, chunk_frames, first, should_stop)
                continue
            spoken, context, limit, floor, seeded = group[0]
            if sampling.best_of > 1:  # the whole sentence is chosen before any of it plays
                spoken.frames, spoken.scores = self._best_of(spoken, context, limit, floor, seeded, should_stop)
                yield from _in_chunks(spoken, chunk_frames)
                continue
            for chunk in decode_loop(self.model.stepper(), self.model.cfg, [spoken.prompt], [limit], seeded,
                                     chunk_frames, first, should_stop, [floor]):
                if chunk[0]:
                    spoken.frames.extend(chunk[0])
                    yield spoken, chunk[0]

    def _generate_together(self, group: list[Reading], chunk_frames: int, first_chunk_frames: int | None,
                           should_stop: Callable[[], bool] | None) -> Iterator[tuple[Spoken, list]]:
        """Several sentences (each ``best_of`` times) as rows of one batch, each drawn from its
        own seed as it would be alone: a step of several rows costs little more than a step of
        one, so text of many sentences is read faster (1.44x at 4 on 2 CPUs, README). The first
        sentence streams as it is generated; the others follow once the batch is done (with
        ``best_of``: each once chosen)."""
        n, seeded = group[0].sampling.best_of, group[0].sampling
        draws = RowGroups([r.sampling.seed for r in group], [n] * len(group))
        runs: list[list] = [[] for _ in range(n * len(group))]
        lead = group[0].spoken
        for chunk in decode_loop(self.model.stepper(), self.model.cfg, [r.spoken.prompt for r in group for _ in range(n)],
                                 [r.limit for r in group for _ in range(n)], seeded, chunk_frames, first_chunk_frames,
                                 should_stop, [r.floor for r in group for _ in range(n)], draws):
            for run, frames in zip(runs, chunk):
                run.extend(frames)
            if n == 1 and chunk[0]:
                lead.frames.extend(chunk[0])
                yield lead, chunk[0]
        if should_stop is not None and should_stop():
            return
        for k, reading in enumerate(group):
            if n > 1:
                reading.spoken.frames, reading.spoken.scores = self._choose(runs[k * n : (k + 1) * n], reading.spoken.text,
                                                                            reading.context)
            elif k > 0:
                reading.spoken.frames = runs[k]
            if n > 1 or k > 0:
                yield from _in_chunks(reading.spoken, chunk_frames)

    def candidates(self, text: str, voice: VoicePrompt | None = None,
                   sampling: SamplingConfig | None = None) -> list[tuple[str, list[list], list[np.ndarray]]]:
        """Every sentence's ``sampling.best_of`` renditions before any is chosen: (sentence, each
        run's frames, each run's audio after what precedes it), drawn as ``speak`` draws them
        with plain best of N (``search_seconds=0``; a search has no fixed set of renditions).
        Where a later sentence continues the previous one (``context``), it goes on from the
        verifier's choice (with no verifier: the first run).
        For studying how to choose (``recipes/libritts/best_of_study.py``); needs no verifier."""
        found = []
        for spoken, context, limit, floor, seeded in self._sentences(text, voice, sampling or SamplingConfig()):
            runs = self._runs(spoken.prompt, limit, floor, seeded, None)
            wavs = self._render_candidates(runs, context)
            spoken.frames = runs[self.verifier.best(wavs, self.sample_rate, spoken.text)[0] if self.verifier else 0]
            found.append((spoken.text, runs, wavs))
        return found

    def _runs(self, prompt: list, limit: int, floor: int, sampling: SamplingConfig,
              should_stop: Callable[[], bool] | None, heard: "_Heard | None" = None) -> list[list]:
        """``sampling.best_of`` renditions of one prompt in one batch: each one's frames; with
        ``heard`` (the verifier listening), those of a search every ``sampling.search_every()`` s."""
        n = sampling.best_of
        if heard is not None:
            every = max(1, round(sampling.search_every() * self.model.cfg.codec_frame_rate))
            decoding = Decoding(self.model.stepper(), self.model.cfg, [prompt] * n, [limit] * n, sampling, [floor] * n)
            return search(decoding, heard, every, sampling.beams(), should_stop)
        runs: list[list] = [[] for _ in range(n)]
        for chunk in decode_loop(self.model.stepper(), self.model.cfg, [prompt] * n, [limit] * n, sampling,
                                 1 << 30, None, should_stop, [floor] * n):
            for run, frames in zip(runs, chunk):
                run.extend(frames)
        return runs

    def _best_of(self, spoken: Spoken, voice: VoicePrompt | None, limit: int, floor: int,
                 sampling: SamplingConfig, should_stop: Callable[[], bool] | None) -> tuple[list, list[float]]:
        """``sampling.best_of`` renditions of one sentence in one batch -> the frames of the one
        the verifier scores best, all scores (``voice``: the prompt the sentence continues)."""
        heard = _Heard(self, voice, spoken.text, sampling.best_of) if sampling.search_every() else None
        runs = self._runs(spoken.prompt, limit, floor, sampling, should_stop, heard)
        if should_stop is not None and should_stop():  # cancelled: nobody will hear the choice
            return [], []
        return self._choose(runs, spoken.text, voice)

    def _choose(self, runs: list[list], text: str, voice: VoicePrompt | None) -> tuple[list, list[float]]:
        """Each candidate rendered after the voice prompt (as it will play) and scored: the best's frames, all scores."""
        best, scores = self.verifier.best(self._render_candidates(runs, voice), self.sample_rate, text)
        return runs[best], scores

    def _render_candidates(self, runs: list[list], voice: VoicePrompt | None) -> list[np.ndarray]:
        """Each run's audio after the voice prompt, as it will play: the prompt is decoded once,
        and each run goes on from a fork of that stream."""
        warm = self._decoder(voice)
        return [warm.fork().push(self._codes(run))[0] if run else np.zeros(0, np.float32) for run in runs]

    def _decoder(self, voice: VoicePrompt | None):
        """A codec decoder stream warmed by the voice prompt's codes (their audio dropped) so that
        the voice continues smoothly: a fork of the stream the same codes warmed before, if it
        is among the last ``WARMED_VOICES`` (decoding a 3 s prompt is ~30 ms of a voiced first
        chunk; a step never changes a state in place, so forks share it)."""
        if not (voice and voice.codes):
            return self.codec.stream(1).decoder
        codes = self._codes(voice.codes)
        warm = self._warmed.get(codes.tobytes())
        if warm is None:
            warm = self.codec.stream(1).decoder
            warm.push(codes)
            self._warmed.put(codes.tobytes(), warm)
        return warm.fork()

    def _codes(self, frames: list) -> np.ndarray:
        return frames_to_codes(frames, self.model.cfg.n_codebooks)[None]


class Continuation:
    """A request read piece by piece (SSML pieces, a chapter's paragraphs, text still arriving from
    a language model): one decoder stream through all of them (no seam), the sentences numbered
    across them (each draws from its own seed, ``nth_sentence``), each piece going on from the
    sentence said before it (``Synthesizer.context``). Read piece after piece, a text sounds as
    one request of it does. ``said`` holds the sentences said so far."""

    def __init__(self, synth: Synthesizer, voice: VoicePrompt | None, sampling: SamplingConfig, chunk_frames: int,
                 first_chunk_frames: int | None, should_stop: Callable[[], bool] | None, speaking_rate: float,
                 said: list[Spoken], decoder=None, pitch: float = 0.0) -> None:
        self.synth, self.voice, self.sampling, self.speaking_rate = synth, voice, sampling, speaking_rate
        self.pitch = pitch
        self.chunk_frames, self.first_chunk_frames, self.should_stop = chunk_frames, first_chunk_frames, should_stop
        self.decoder = synth._decoder(voice) if decoder is None else decoder
        self.said, self.sentences, self.new_voice = said, 0, False

    def speak_as(self, voice: VoicePrompt | None) -> None:
        """The pieces after this one in ``voice``: a decoder stream warmed by it, and the next
        sentence starts from the voice, not from the sentence before (another speaker's)."""
        if voice is not self.voice and voice != self.voice:  # an equal copy is the same voice
            self.voice, self.decoder, self.new_voice = voice, self.synth._decoder(voice), True

    def say(self, text: str, rate: float = 1.0, volume_db: float = 0.0, pitch: float = 0.0) -> Iterator[np.ndarray]:
        """The audio of one piece of plain text (at ``rate`` times the request's speaking rate,
        ``pitch`` semitones above its pitch)."""
        gain = np.float32(10 ** (volume_db / 20))
        for wav in self.synth._stream_text(text, self.voice, nth_sentence(self.sampling, self.sentences),
                                           self.chunk_frames, self.first_chunk_frames, self.should_stop,
                                           rate * self.speaking_rate, self.decoder, self.said, not self.new_voice,
                                           self.pitch + pitch):
            yield wav if gain == 1 else np.clip(wav * gain, -1.0, 1.0)
        self.new_voice = False
        self.first_chunk_frames = None  # only the first chunk is small (a text stream sets it again for a new turn)
        self.sentences += len(split_sentences(normalize(text)))  # the next piece's draws go on from here

    def pause(self, seconds: float, bleep: bool = False) -> np.ndarray:
        """Silence, or a bleep (a tone at -12 dBFS, faded in and out over 5 ms)."""
        n, rate = round(seconds * self.synth.sample_rate), self.synth.sample_rate
        if not bleep:
            return np.zeros(n, np.float32)
        fade = np.minimum(1.0, np.minimum(np.arange(n), np.arange(n)[::-1]) / (0.005 * rate))
        return (0.25 * fade * np.sin(2 * np.pi * BLEEP_HZ * np.arange(n) / rate)).astype(np.float32)


class _Heard:
    """The verifier listening to a search's rows (``tts.search.Listener``): each row's audio so
    far, from a decoder stream of its own forked from the voice prompt's (as it will play).
    New frames wait until the rows are scored: one push of many frames costs about what one
    of a single frame does."""

    def __init__(self, synth: Synthesizer, voice: VoicePrompt | None, text: str, rows: int) -> None:
        self.synth, self.text = synth, text
        warm = synth._decoder(voice)
        self.decoders = [warm.fork() for _ in range(rows)]
        self.audio: list[list[np.ndarray]] = [[] for _ in range(rows)]
        self.waiting: list[list] = [[] for _ in range(rows)]

    def push(self, frames: list[list]) -> None:
        for waiting, new in zip(self.waiting, frames):
            waiting.extend(new)

    def scores(self, rows: list[int]) -> list[float]:
        for i in rows:
            if self.waiting[i]:
                self.audio[i].append(self.decoders[i].push(self.synth._codes(self.waiting[i]))[0])
                self.waiting[i] = []
        audio = [np.concatenate(self.audio[i]) if self.audio[i] else np.zeros(0, np.float32) for i in rows]
        return self.synth.verifier.on_track(audio, self.synth.sample_rate, self.text)

    def reorder(self, index: list[int]) -> None:
        self.decoders = [self.decoders[i].fork() for i in index]
        self.audio = [list(self.audio[i]) for i in index]
        self.waiting = [list(self.waiting[i]) for i in index]


def _groups(readings: Iterator[Reading], size: int) -> Iterator[list[Reading]]:
    """``size`` sentences at a time (lazily: with ``context='previous'`` a sentence's prompt
    exists only once the one before it is spoken, and then ``size`` is 1)."""
    group: list[Reading] = []
    for reading in readings:
        group.append(reading)
        if len(group) == size:
            yield group
            group = []
    if group:
        yield group


def _in_chunks(spoken: Spoken, chunk_frames: int) -> Iterator[tuple[Spoken, list]]:
    for a in range(0, len(spoken.frames), chunk_frames):
        yield spoken, spoken.frames[a : a + chunk_frames]
