"""When each SSML ``<mark>`` is reached in a request's audio: Google's timepoints, Polly's SSML
speech marks (a player turning a slide, a reader highlighting a passage).

A mark between things said or pauses (``tts.ssml.Mark``) falls where the audio before it
ends: an output sample, exact. A mark inside a piece of text (``Say.marks``) stands before a
word of one of its sentences; it is reached when that word begins (after a piece's last word:
when that word ends), as the word times give it (``tts.word_times``: forced alignment by the
verifier).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .ssml import Say
from .text import InvalidText, normalize, split_sentences
from .word_times import WordTime


@dataclass(frozen=True)
class MarkAt:
    """Where a mark is: at output ``sample``, or (``sample`` None) before word ``word`` of the
    request's sentence ``sentence`` (``word`` = the sentence's length: after its last word)."""

    name: str
    sample: int | None = None
    sentence: int = 0
    word: int = 0


@dataclass(frozen=True)
class MarkTime:
    name: str
    time: float  # seconds from the start of the audio

    def to_dict(self) -> dict:
        return {"mark": self.name, "time": round(self.time, 3)}


def marks_in_text(say: Say, first_sentence: int) -> list[MarkAt]:
    """``say``'s marks as places among the words it is read as: its sentences are the request's
    from ``first_sentence`` on, split as ``Synthesizer`` splits them (normalized). The text before
    a mark, normalized alone, says how many words come before it."""
    if not say.marks:
        return []
    counts = [len(sentence.split()) for sentence in split_sentences(normalize(say.text))]
    out = []
    for offset, name in say.marks:
        before = _words(say.text[:offset])
        k = 0
        while k < len(counts) - 1 and before >= counts[k]:  # at a sentence's end: before the next one's first word
            before -= counts[k]
            k += 1
        out.append(MarkAt(name, None, first_sentence + k, min(before, counts[k])))
    return out


def marked(marks: list[MarkAt]) -> Callable[[int], bool]:
    """Whether the words of the request's sentence ``k`` must be found to time its marks
    (``WordTimer(wanted=)``): it holds a mark inside its text, or the next one does (where a
    sentence's last word ends bounds where the next one's first may start: the marks come out
    as with all words found). ``marks`` is the synthesizer's list, read when asked (a sentence's
    marks are there before its audio is made)."""
    return lambda k: any(m.sample is None and m.sentence in (k, k + 1) for m in marks)


def _words(text: str) -> int:
    try:
        return len(normalize(text).split())
    except InvalidText:  # nothing to read before the mark
        return 0


class MarkTimer:
    """Marks' times as a request's audio is played and its words are found, in the order the
    marks come: a mark is due once the audio has passed it (between things said) or its
    sentence's words are found (inside text)."""

    def __init__(self, sample_rate: int, marks: list[MarkAt]) -> None:
        self.sample_rate, self.marks = sample_rate, marks  # the synthesizer's list, only ever appended to
        self.told = 0

    def due(self, played: int, words: list[WordTime], finished: bool = False) -> list[MarkTime]:
        """The marks not yet told whose times are known, after ``played`` samples of audio and with
        ``words`` (all found so far); ``finished``: the audio is all out, every mark is due (a
        sentence without words found puts its marks at the end)."""
        out = []
        while self.told < len(self.marks):
            time = self._time(self.marks[self.told], played, words, finished)
            if time is None:
                break
            out.append(MarkTime(self.marks[self.told].name, time))
            self.told += 1
        return out

    def _time(self, mark: MarkAt, played: int, words: list[WordTime], finished: bool) -> float | None:
        if mark.sample is not None:
            return mark.sample / self.sample_rate if mark.sample <= played or finished else None
        said = [w for w in words if w.sentence == mark.sentence]
        if said:
            return said[mark.word].start if mark.word < len(said) else said[-1].end
        return played / self.sample_rate if finished else None


def mark_times(sample_rate: int, marks: list[MarkAt], played: int, words: list[WordTime]) -> list[MarkTime]:
    """Every mark's time, once the audio (``played`` samples) and its words are all there."""
    return MarkTimer(sample_rate, marks).due(played, words, finished=True)
