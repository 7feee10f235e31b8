"""When each word of synthesized speech is said: captions, lip-sync, highlighting the word being
read (what Azure's word-boundary events and Polly's speech marks give).

The synthesizer knows which sentence it is reading and where that sentence's audio begins
(``Synthesizer.stream(sentences=...)``); within that stretch of audio each word is found by
forced alignment with a CTC recognizer (the verifier's: ``tts.voice_trim.word_bounds``, the
same alignment that cuts voice prompts). Times are of the audio as played: speaking rate,
SSML pauses and all. A sentence whose audio cannot hold its text (the model stopped early) gets
its words spread evenly over its stretch, marked ``aligned: false``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Callable, Iterator

import numpy as np

from .text import InvalidText, normalize
from .voice_trim import word_bounds

MARGIN_S = 0.1  # each sentence's stretch widened by this much: the decoder's lag moves its edges a little


@dataclass(frozen=True)
class WordTime:
    word: str  # as read: normalized ("twelve" for "12")
    start: float  # seconds from the start of the audio
    end: float
    sentence: int
    aligned: bool = True
    text_offset: int | None = None  # where in the text as sent the word comes from (``tts.text_spans``)
    text_length: int | None = None

    def to_dict(self) -> dict:
        return {k: round(v, 3) if isinstance(v, float) else v for k, v in asdict(self).items() if v is not None}


def word_times(wav: np.ndarray, sample_rate: int, sentences: list[tuple[str | None, int]], recognizer,
               margin_s: float = MARGIN_S, wanted: Callable[[int], bool] | None = None,
               spans: list[list[tuple[int, int]]] | None = None) -> list[WordTime]:
    """Every word of ``sentences`` [(sentence, sample where its audio begins); (None, sample where
    a pause begins)] in ``wav`` (of the ``wanted`` sentences, with their ``spans``: ``WordTimer``)."""
    timer = WordTimer(sample_rate, recognizer, margin_s, wanted, spans)
    timer.push(np.asarray(wav, np.float32), sentences)
    return timer.finish()


class WordTimer:
    """``word_times`` as the audio is played, holding only the current sentence's audio: a
    sentence is aligned once what follows it has begun (the next sentence, and the margin after
    its start; or a pause) on exactly the stretch ``word_times`` gives it (the same words, the
    same times).

    The marks are (sentence as read, output sample where it begins), and (None, sample) where an
    SSML pause begins: a sentence's stretch ends there exactly, so its words are neither looked
    for in the pause nor in the speech after it, and are found as soon as the pause begins."""

    def __init__(self, sample_rate: int, recognizer, margin_s: float = MARGIN_S,
                 wanted: Callable[[int], bool] | None = None, spans: list[list[tuple[int, int]] | None] | None = None) -> None:
        """``wanted``: which sentences (numbered from 0) to find the words of (default: all); the
        others' audio is let go unheard (``tts.mark_times.marked``: only those holding marks).
        ``spans``: each sentence's words' (start, end) in the text as sent (``tts.text_spans``)."""
        self.sample_rate, self.recognizer, self.margin = sample_rate, recognizer, int(margin_s * sample_rate)
        self.wanted, self.spans = wanted, spans
        self.chunks: list[np.ndarray] = []
        self.start = self.total = 0  # output samples before the chunks held; played in all
        self.marks: list[tuple[str | None, int]] = []
        self.at = 0  # index in marks of the next sentence to align (or of a pause before it)
        self.aligned = 0  # sentences whose words are found
        self.found: list[WordTime] = []

    def push(self, chunk: np.ndarray, marks: list[tuple[str | None, int]]) -> None:
        """The next played audio and every mark so far (``Synthesizer.stream(sentences=)``)."""
        self.chunks.append(np.asarray(chunk, np.float32))
        self.total += len(chunk)
        self.marks = marks  # the synthesizer's list, only ever appended to
        while (end := self._end()) is not None and self.total >= end:
            self._align(end)

    def so_far(self) -> list[WordTime]:
        """The words of the sentences aligned so far, as ``finish`` will give them."""
        return _in_order(self.found)

    def finish(self) -> list[WordTime]:
        """Every word, once all audio is played."""
        while self._next() < len(self.marks):
            end = self._end()
            self._align(self.total if end is None else min(self.total, end))
        return _in_order(self.found)

    def _next(self) -> int:
        """The index of the next sentence to align, past the pauses before it."""
        while self.at < len(self.marks) and self.marks[self.at][0] is None:
            self.at += 1
        return self.at

    def _end(self) -> int | None:
        """Where the next sentence's stretch ends, once what follows it is known."""
        i = self._next() + 1
        if i >= len(self.marks):
            return None
        text, at = self.marks[i]
        return at if text is None else at + self.margin

    def _begin(self, i: int) -> int:
        """Where sentence ``marks[i]``'s stretch begins: the margin before it, unless a pause is."""
        after_pause = i > 0 and self.marks[i - 1][0] is None
        return self.marks[i][1] if after_pause else max(0, self.marks[i][1] - self.margin)

    def _align(self, end: int) -> None:
        """The next sentence's words, in its stretch up to output sample ``end``."""
        i = self._next()
        a = self._begin(i)
        wav = np.concatenate(self.chunks) if self.chunks else np.zeros(0, np.float32)
        if self.wanted is None or self.wanted(self.aligned):
            spans = self.spans[self.aligned] if self.spans and self.aligned < len(self.spans) else None
            self.found += _sentence(wav[a - self.start : end - self.start], self.sample_rate, self.marks[i][0],
                                    self.recognizer, a / self.sample_rate, self.aligned, spans)
        self.aligned, self.at = self.aligned + 1, i + 1
        keep = max(0, self.marks[i + 1][1] - self.margin) if i + 1 < len(self.marks) else a
        self.chunks, self.start = [wav[keep - self.start :]], keep  # from where the next stretch may start


class TimedReading:
    """A text read piece by piece (a ``tts.synthesize.Continuation``: a text stream), each
    sentence's words found by ``timer`` (a ``WordTimer``; None: no words) and handed out with
    the audio that follows, once the next sentence has played past the margin; each word with
    its place in the text as sent, where ``say`` is given that text."""

    def __init__(self, going_on, timer: WordTimer | None) -> None:
        self.going_on, self.timer = going_on, timer
        self.marks: list[tuple[str, int]] = []  # (sentence as read, output sample where it begins)
        self.played = self.sent = 0  # output samples so far; words handed out
        self.cursor = 0  # where in the text as sent the next piece's words are looked for
        if timer is not None:
            timer.spans = []  # each piece's sentences' word spans, added as it is said

    @property
    def said(self) -> list:
        return self.going_on.said

    def say(self, piece: str, written: str | None = None) -> Iterator[tuple[np.ndarray, list[WordTime]]]:
        """Each audio chunk of ``piece`` with the words found since the chunk before. ``written``:
        the whole text as sent so far, which ``piece`` (respelled, normalized) was cut from after
        the pieces before it: its words' places are found there."""
        if self.timer is not None:
            self.timer.spans += self._spans(piece, written)
        for chunk in self.going_on.say(piece):
            if self.timer is None:
                yield chunk, []
                continue
            self.marks.extend((spoken.text, self.played) for spoken in self.going_on.said[len(self.marks):])
            self.played += len(chunk)
            self.timer.push(chunk, self.marks)
            yield chunk, self._new(self.timer.so_far())

    def finish(self) -> list[WordTime]:
        """The words not yet handed out, once the text is all said."""
        return self._new(self.timer.finish()) if self.timer is not None else []

    def _spans(self, piece: str, written: str | None) -> list:
        """The piece's sentences' word spans in ``written``, from where the last piece's ended."""
        from .synthesize import Synthesizer
        from .text_spans import word_spans

        sentences = Synthesizer.sentences(piece)
        if written is None:
            return [None] * len(sentences)
        found = [[(a + self.cursor, b + self.cursor) for a, b in spans]
                 for spans in word_spans(written[self.cursor :], sentences)]
        self.cursor = max([b for spans in found for _, b in spans], default=self.cursor)
        return found

    def _new(self, found: list[WordTime]) -> list[WordTime]:
        words, self.sent = found[self.sent:], len(found)
        return words


def _in_order(words: list[WordTime]) -> list[WordTime]:
    """Neighbouring sentences' stretches overlap by the margins: no word may start before the
    one before it ends."""
    out: list[WordTime] = []
    for w in words:
        start = max(w.start, out[-1].end) if out else w.start
        out.append(replace(w, start=start, end=max(w.end, start)))
    return out


def _sentence(wav: np.ndarray, sample_rate: int, text: str, recognizer, offset: float, k: int,
              spans: list[tuple[int, int]] | None = None) -> list[WordTime]:
    """Sentence ``k``'s words in its stretch of audio (``offset`` s into the output), each with
    its span of the text as sent where ``spans`` gives them."""
    try:
        tokens, owner, bounds = word_bounds(wav, sample_rate, text, recognizer)
    except InvalidText:  # audio too short to hold the words
        tokens = normalize(text).split()
        edges = offset + np.linspace(0.0, len(wav) / sample_rate, len(tokens) + 1)
        found = [(i, WordTime(t, float(edges[i]), float(edges[i + 1]), k, False)) for i, t in enumerate(tokens)]
    else:
        owner, frame = np.asarray(owner), 1.0 / recognizer.frame_rate  # bounds: each word's first and last frame
        last = offset + len(wav) / sample_rate
        found = [(i, WordTime(token, offset + float(bounds[owner == i, 0].min()),
                              min(last, offset + float(bounds[owner == i, 1].max()) + frame), k))
                 for i, token in enumerate(tokens) if (owner == i).any()]
    if spans is None or len(spans) != len(tokens):
        return [w for _, w in found]
    return [replace(w, text_offset=spans[i][0], text_length=spans[i][1] - spans[i][0]) for i, w in found]


def write_json(path, words: list[WordTime], marks: list = ()) -> None:
    """One JSON object per word, a word a line (``tts-cli`` and ``speech-client --word-times``);
    SSML marks (``tts.mark_times.MarkTime``: {"mark", "time"}) among them in time order, as
    Polly's speech marks mix words and marks."""
    import json

    from codec.atomic import atomic_write_text

    timed = sorted([(m.time, 0, m.to_dict()) for m in marks] + [(w.start, 1, w.to_dict()) for w in words],
                   key=lambda item: item[:2])  # a mark before the word it stands before
    atomic_write_text(path, "[\n" + ",\n".join(json.dumps(item[2]) for item in timed) + "\n]\n")
