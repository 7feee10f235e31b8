"""Text arriving a little at a time (tts.text_stream, Synthesizer.continuation): cut into pieces
once their sentences are known, and read piece after piece as one request of the whole text."""

from __future__ import annotations

import random

import numpy as np
import pytest

from tts.sampling import SamplingConfig
from tts.synthesize import Synthesizer
from tts.text import MAX_CHARS, InvalidText, normalize, split_sentences
from tts.text_stream import MAX_PENDING, SentenceBuffer

from tiny_tts import tiny_synthesizer

TEXTS = [
    "He met Dr. Smith at 10 p.m. Then they left. It cost $5.50, i.e. cheap! Was it? Yes.",
    "The U.S. economy grew 2.5% in 2020. Mr. and Mrs. Jones live on Main St. Then he left. \"Really?\" she asked.",
    "World War I. Then peace came at 5 a.m. Monday. Call 555-1234 now... ok. Chapter IV. The end",
    "The FBI met NASA. I AM SO ANGRY. CIA. NO WAY! GO AWAY, THE CEO IS HERE. Stop IT now.",  # capitals, shouting
    # a chat model's Markdown (tts.markdown)
    "## Steps\nFirst, **mix** the flour. Then:\n- Bake it *well*.\n- Wait -- a while.\n1. See [the docs](https://x.io/a). Done :)",
    "| Name | Age. |\n|---|---|\n| Ann. | 5 |\n| Bo | 7. |\n\nThat is all. See [1]. Bye.",
    # code blocks are not read, however they are cut
    "Try this:\n```python\nx = 1. Y = 2.\n- print(x)\n```\nIt prints one. Then:\n~~~\nMore. Code.\n~~~\nDone. Bye now. See you.",
]


def pieces_of(text: str, seed: int) -> list[str]:
    """``text`` pushed in random slices of 1-8 characters (a model's tokens), then finished."""
    rng, buffer, pieces, i = random.Random(seed), SentenceBuffer(), [], 0
    while i < len(text):
        n = rng.randint(1, 8)
        pieces += buffer.push(text[i:i + n])
        i += n
    return pieces + buffer.finish()


@pytest.mark.parametrize("text", TEXTS)
def test_pieces_say_the_sentences_of_the_whole_text_however_it_arrives(text):
    whole = split_sentences(normalize(text))
    for seed in range(100):
        pieces = pieces_of(text, seed)
        assert [s for p in pieces for s in split_sentences(normalize(p))] == whole, (seed, pieces)
    assert len(pieces_of(text, 0)) >= 4  # read as it comes, not all at the end


def test_a_piece_waits_for_the_text_after_it():
    buffer = SentenceBuffer()
    assert buffer.push("He met Dr.") == [] and buffer.push(" Smith. Th") == ["He met Dr. Smith."]
    assert buffer.push("en at 10 p.m.") == [] and buffer.push(" Go") == ["Then at 10 p.m."]
    assert buffer.finish() == ["Go"] and buffer.finish() == []
    assert SentenceBuffer().finish() == [] and (junk := SentenceBuffer()).push("* * * ") == [] and junk.finish() == []
    run_on = SentenceBuffer()
    run_on.push("word " * (MAX_CHARS // 5))
    with pytest.raises(InvalidText, match=f"came without a sentence end; at most {MAX_CHARS}"):
        run_on.push("more")


def test_a_long_code_block_is_not_held():
    """An answer's code block, longer than a piece may be, streams through: it is not read, and
    what follows it is."""
    buffer, pieces = SentenceBuffer(), []
    for part in ["Here:\n``", "`py\n", *["y = compute(x) + 1  # a line of code. More.\n"] * 100, "``", "`\nThat is it. ", "Bye."]:
        pieces += buffer.push(part)
    assert [normalize(p) for p in pieces + buffer.finish()] == ["Here: That is it.", "Bye."]


def test_a_big_slice_is_cut_into_many_pieces_and_a_flood_is_refused():
    sentences = [f"Sentence {n} is about {n + 2} birds." for n in range(300)]  # 9100 characters at once
    pieces = SentenceBuffer().push(" ".join(sentences))
    assert len(pieces) >= 5 and max(map(len, pieces)) <= MAX_CHARS
    said = [s for p in pieces for s in split_sentences(normalize(p))]
    assert said == [normalize(s) for s in sentences[: len(said)]] and len(said) == 299  # the last waits for more
    with pytest.raises(InvalidText, match=f"send text as it comes \\(at most {MAX_PENDING} at a time\\)"):
        SentenceBuffer().push("Hi. " * (MAX_PENDING // 4 + 1))


@pytest.fixture(scope="module")
def synth():
    return tiny_synthesizer(["hello there", "a quiet bridge"])


@pytest.mark.parametrize("context", ["voice", "previous"])
def test_read_as_it_arrives_it_sounds_as_one_request(synth, context):
    reader = Synthesizer(synth.model, synth.tokenizer, codec=synth.codec, context=context)
    sampling = SamplingConfig(seed=4, max_frames=12)
    text = "Hello there. A quiet bridge. Hello, bridge. A bridge."
    one = np.concatenate(list(reader.stream(text, sampling=sampling)))
    going_on = reader.continuation(sampling=sampling)
    pieces = pieces_of(text, 1)
    assert len(pieces) == 4
    np.testing.assert_array_equal(np.concatenate([w for p in pieces for w in going_on.say(p)]), one)
    assert [s.text for s in going_on.said] == split_sentences(text)
