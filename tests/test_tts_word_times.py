"""Word times (tts.word_times, Synthesizer.stream(sentences=...)): each word found in real speech
where it is said, sentences found where the synthesizer played them."""

from __future__ import annotations

import numpy as np
import pytest

from codec import audio
from tests.conftest import SENTENCE
from tts.sampling import SamplingConfig
from tts.text import normalize
from tts.verify import load_verifier
from tts.word_times import WordTime, WordTimer, _in_order, word_times

from tiny_tts import tiny_synthesizer

SR = 24000


@pytest.fixture(scope="module")
def recognizer(asr_dir):
    return load_verifier(str(asr_dir), backend="onnx").recognizer


def test_words_are_found_where_they_are_said(speech, recognizer):
    """espeak-ng's sentence, a second of silence, the sentence again: read as one text, the
    first copy's words end before the silence and the second's begin after it."""
    said = audio.load(speech, SR)
    wav = np.concatenate([said, np.zeros(SR, np.float32), said])
    voiced = np.flatnonzero(np.abs(said) > 0.01)[[0, -1]] / SR  # espeak-ng pads its speech with silence
    gap = (voiced[1], len(said) / SR + 1.0 + voiced[0])  # from the first copy's last sound to the second's first
    words = word_times(wav, SR, [(f"{SENTENCE} {SENTENCE}", 0)], recognizer)
    assert [w.word for w in words] == normalize(f"{SENTENCE} {SENTENCE}").split()
    assert all(w.aligned and w.start < w.end for w in words)
    assert all(a.end <= b.start + 1e-9 for a, b in zip(words, words[1:]))  # in order, never overlapping
    first, second = words[:9], words[9:]
    assert first[-1].end <= gap[0] + 0.08 and second[0].start >= gap[1] - 0.08, (first[-1], second[0])
    assert abs(first[0].start - voiced[0]) < 0.08 and abs(second[-1].end - (len(said) / SR + 1.0 + voiced[1])) < 0.08
    # as two sentences marked where each begins: the same words, numbered by sentence
    marked = word_times(wav, SR, [(SENTENCE, 0), (SENTENCE, len(said) + SR // 2)], recognizer)
    assert [w.sentence for w in marked] == [0] * 9 + [1] * 9
    assert [w.word for w in marked] == [w.word for w in words]
    assert all(abs(a.start - b.start) < 0.05 and abs(a.end - b.end) < 0.05 for a, b in zip(marked, words))


def test_words_found_as_the_audio_plays_are_those_found_at_the_end(speech, recognizer):
    """WordTimer, fed the audio in chunks and each mark once its sentence has begun (as the
    synthesizer gives them), finds exactly what word_times finds in the whole, holding no more
    than a sentence's stretch (and a chunk) at a time."""
    said = audio.load(speech, SR)
    pause = np.zeros(SR // 3, np.float32)
    wav = np.concatenate([said, pause, said[: len(said) // 2], pause, said])
    marks = [(SENTENCE, 0), ("The quick brown fox.", len(said) + len(pause) // 2),
             (SENTENCE, len(said) + len(pause) + len(said) // 2 + len(pause) // 2)]
    whole = word_times(wav, SR, marks, recognizer)
    for size in (7000, 999, len(wav)):
        timer, held = WordTimer(SR, recognizer), 0
        for a in range(0, len(wav), size):
            timer.push(wav[a : a + size], [m for m in marks if m[1] < a + size])
            held = max(held, sum(len(c) for c in timer.chunks))
        assert timer.finish() == whole
        wanted = WordTimer(SR, recognizer, wanted=lambda k: k == 1)  # only a marked sentence's words
        wanted.push(wav[:size], [m for m in marks if m[1] < size])
        wanted.push(wav[size:], marks)
        assert wanted.finish() == [w for w in whole if w.sentence == 1]
        if size < len(wav):
            assert held <= len(said) + len(pause) + size + SR // 5, (size, held)
            assert timer.aligned == 3


def test_a_sentence_before_a_pause_ends_where_the_pause_begins(speech, recognizer):
    """A pause's start (None, sample) bounds the sentence before it: its words are found in its
    own audio only (not in the pause, nor in the next sentence's start: a voice after a break),
    and as soon as the pause begins, not once the next sentence has played past the margin."""
    said = audio.load(speech, SR)
    other = np.ascontiguousarray(said[::-1])  # speech-like, no words of the sentence
    gap = SR // 20
    wav = np.concatenate([said, np.zeros(gap, np.float32), other])
    marks = [(SENTENCE, 0), (None, len(said)), (SENTENCE, len(said) + gap)]
    whole = word_times(wav, SR, marks, recognizer)
    first = [w for w in whole if w.sentence == 0]
    assert len(first) == 9 and first[-1].end <= len(said) / SR + 1e-9
    timer = WordTimer(SR, recognizer)
    timer.push(said, marks[:1])
    assert timer.so_far() == []
    timer.push(np.zeros(gap, np.float32), marks[:2])
    assert timer.so_far() == first  # found once the pause began
    timer.push(other, marks)
    assert timer.finish() == whole


def test_audio_too_short_for_its_words_spreads_them(recognizer):
    words = word_times(np.zeros(SR // 10, np.float32), SR, [("One two three four five six.", 0)], recognizer, margin_s=0)
    assert [w.word for w in words] == ["One", "two", "three", "four", "five", "six."]
    assert not any(w.aligned for w in words)
    assert words[0].start == 0 and words[-1].end == pytest.approx(0.1)
    assert words[2].to_dict() == {"word": "three", "start": 0.033, "end": 0.05, "sentence": 0, "aligned": False}


def test_words_of_overlapping_stretches_stay_in_order():
    """Each sentence is aligned in its stretch widened by the margins, so the next one's first
    word may be found inside the one before's last: it starts where that one ends."""
    found = [WordTime("a", 0.0, 0.5, 0), WordTime("b.", 0.6, 1.2, 0), WordTime("c", 1.1, 1.15, 1), WordTime("d.", 1.3, 1.6, 1)]
    assert [(w.start, w.end) for w in _in_order(found)] == [(0.0, 0.5), (0.6, 1.2), (1.2, 1.2), (1.3, 1.6)]


def test_the_synthesizer_marks_where_each_sentence_begins():
    """Marks are output samples: 0 for the first sentence, then where the one before ends (an
    SSML pause in between moves them by its length); sentences generated together are marked
    where one at a time would be."""
    text = "Hello there. A quiet bridge. Hello, bridge."
    sampling = SamplingConfig(greedy=True, repetition_penalty=1.0, max_frames=20)
    marks = {}
    for batch in (1, 3):
        synth = tiny_synthesizer(["hello there", "a quiet bridge"], batch=batch)
        marks[batch] = []
        wav = np.concatenate(list(synth.stream(text, sampling=sampling, chunk_frames=4, sentences=marks[batch])))
        assert [m[0] for m in marks[batch]] == ["Hello there.", "A quiet bridge.", "Hello, bridge."]
        assert marks[batch][0][1] == 0 and marks[batch][0][1] < marks[batch][1][1] < marks[batch][2][1] < len(wav)
    assert marks[1] == marks[3]
    paused: list = []
    doc = '<speak>Hello there.<break time="500ms"/>A quiet bridge. Hello, bridge.</speak>'
    list(synth.stream(doc, sampling=sampling, chunk_frames=4, sentences=paused))
    assert paused == [("Hello there.", 0), (None, marks[1][1][1]), ("A quiet bridge.", marks[1][1][1] + SR // 2),
                      ("Hello, bridge.", marks[1][2][1] + SR // 2)]
