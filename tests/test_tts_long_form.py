"""Text of any length (tts.text.split_long_text, Synthesizer.stream(long_form=True)): paragraphs
read in turn through one decoder stream, sounding as one request of the same sentences would."""

from __future__ import annotations

import re

import numpy as np
import pytest

from tts.sampling import SamplingConfig
from tts.synthesize import Synthesizer
from tts.text import MAX_CHARS, InvalidText, split_long_text

from tiny_tts import tiny_synthesizer


def words(text: str) -> list[str]:
    return text.split()


def test_paragraphs_are_pieces_and_long_ones_are_cut_where_a_sentence_ends():
    text = "One. Two!\n\nThree\nfour.\n \n* * *\n\nFive six seven. (Eight nine?) Ten eleven twelve thirteen."
    assert split_long_text(text, 20) == ["One. Two!", "Three four.", "Five six seven.", "(Eight nine?)",
                                         "Ten eleven twelve", "thirteen."]
    assert split_long_text("abcdefghijklmnopqrstuvwxyz more", 10) == ["abcdefghij", "klmnopqrst", "uvwxyz", "more"]
    assert split_long_text("  \n\n--- * ---\n") == []
    assert split_long_text("Mr. Smith came. Then Dr. Jones left.", 25) == [
        "Mr. Smith came.", "Then Dr. Jones left."]  # an abbreviation ends no sentence
    assert split_long_text("Ask Mr. Smith to come", 15) == ["Ask Mr. Smith", "to come"]  # nor a piece: the last space
    rng = np.random.default_rng(0)
    vocab = ["the", "old", "mill", "stood", "by", "river", "Mr.", "Smith", "1914", "and"]
    book = "\n\n".join(" ".join(" ".join(rng.choice(vocab, rng.integers(3, 15))) + rng.choice([".", "!", "?"])
                                for _ in range(rng.integers(1, 60))) for _ in range(40))
    pieces = split_long_text(book)
    assert len(pieces) > 40 and max(map(len, pieces)) <= MAX_CHARS  # some paragraphs were over the limit
    assert words(" ".join(pieces)) == words(book)  # nothing lost, nothing added
    cut = [p for p in pieces if not re.search(r"[.!?]$", p)]
    assert not cut  # every long paragraph here had a sentence end to cut after


@pytest.fixture(scope="module")
def synth():
    return tiny_synthesizer(["hello there", "a quiet bridge"])


@pytest.mark.parametrize("context", ["voice", "previous"])
def test_paragraphs_sound_as_one_request_of_the_same_sentences(synth, context):
    """Each sentence keeps its draws (seed + its number in the text) and the decoder runs on
    across paragraphs, so splitting changes nothing but what fits in memory."""
    reader = Synthesizer(synth.model, synth.tokenizer, codec=synth.codec, context=context)
    sampling = SamplingConfig(seed=4, max_frames=12)
    one = np.concatenate(list(reader.stream("Hello there. A quiet bridge. Hello, bridge.", sampling=sampling)))
    paragraphs = "Hello there.\n\nA quiet\nbridge. Hello, bridge.\n\n* * *\n"
    np.testing.assert_array_equal(np.concatenate(list(reader.stream(paragraphs, sampling=sampling, long_form=True))), one)
    alone = np.concatenate(list(reader.stream("A quiet bridge. Hello, bridge.", sampling=sampling)))
    assert not np.array_equal(one[-len(alone):], alone)  # read alone, the later sentences would differ


def test_text_over_a_request_is_read_only_in_long_form(synth):
    text = " ".join(["Hello there.", "A quiet bridge."] * 80)  # 2239 characters, one paragraph
    sampling = SamplingConfig(seed=0, max_frames=2)
    with pytest.raises(InvalidText, match=f"at most {MAX_CHARS}"):
        next(synth.stream(text, sampling=sampling))
    wav = np.concatenate(list(synth.stream(text, sampling=sampling, long_form=True)))
    assert len(wav) >= 160 * synth.codec.hop  # every sentence said: at least one frame each
    with pytest.raises(InvalidText, match="nothing to say"):
        next(synth.stream("* * *\n\n---", long_form=True))
