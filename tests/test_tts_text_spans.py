"""Where each word as read comes from in the text as sent (tts.text_spans): read-along
highlighting, Azure's text offsets."""

from __future__ import annotations

import random

from tts.synthesize import Synthesizer
from tts.text import normalize
from tts.text_spans import STRETCH, word_spans, written_words


def spans_of(text: str, read: str | None = None) -> list[tuple[str, str]]:
    """(word as read, the written text it comes from) for ``text`` (as ``read`` after respelling)."""
    sentences = Synthesizer.sentences(read or text)
    found = word_spans(text, sentences, markup=text.lstrip().startswith("<speak"))
    return [(w, text[a:b]) for s, spans in zip(sentences, found) for w, (a, b) in zip(s.split(), spans)]


def test_each_word_read_points_at_what_was_written():
    """Words read as written point at themselves (punctuation around them left out); the words a
    number, a date or an abbreviation is read as all point at it; a respelled word at the word."""
    text = 'It costs $5.50 today. "Dr. Smith" met Nguyen on Jan. 5, 2020!'
    assert spans_of(text, text.replace("Nguyen", "win")) == [
        ("It", "It"), ("costs", "costs"), ("five", "$5.50"), ("dollars", "$5.50"), ("and", "$5.50"),
        ("fifty", "$5.50"), ("cents", "$5.50"), ("today.", "today"), ('"doctor', "Dr"), ('Smith"', "Smith"),
        ("met", "met"), ("win", "Nguyen"), ("on", "on"), ("january", "Jan. 5, 2020"), ("fifth,", "Jan. 5, 2020"),
        ("twenty", "Jan. 5, 2020"), ("twenty!", "Jan. 5, 2020")]


def test_ssml_spans_are_offsets_into_the_document():
    """Markup is not text: words fall between the tags, and what a tag reads instead (an alias,
    phonemes, say-as) points at the words it stands for."""
    doc = ('<speak>Hello <break time="1s"/><sub alias="World Wide Web">WWW</sub> is <say-as interpret-as="characters">'
           'big</say-as>, <phoneme alphabet="ipa" ph="nˈuːjɛn">Nguyen</phoneme>.</speak>')
    assert spans_of(doc) == [("Hello", "Hello"), ("World", "WWW"), ("Wide", "WWW"), ("Web", "WWW"), ("is", "is"),
                             ("b", "big"), ("i", "big"), ("g,", "big"), ("nooyen.", "Nguyen")]
    assert written_words("<speak>a <b>c</b></speak>", markup=True) == [(7, 8), (12, 13)]


def test_a_long_text_is_aligned_a_stretch_at_a_time_without_losing_its_place():
    """Many more words than a stretch, with numbers (read as several words) anywhere: every
    word read points at the word it was read from."""
    rng = random.Random(0)
    written = [str(rng.randint(2, 999)) if rng.random() < 0.15 else rng.choice(["the", "mill", "river", "stood"])
               for _ in range(STRETCH * 4)]
    lines = [" ".join(written[i : i + 40]) + "." for i in range(0, len(written), 40)]
    text = "\n".join(lines)
    sentences = [normalize(line) for line in lines]
    found = [span for spans in word_spans(text, sentences) for span in spans]
    owners = [w for w in written for _ in normalize(w).split()]  # the written word each read word comes from
    assert len(found) == len(owners) > STRETCH * 4
    assert [text[a:b] for a, b in found] == owners
