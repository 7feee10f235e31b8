"""Sentences generated together (Synthesizer(batch=N)): the rows of one decode batch, the first
streaming as it comes, the same speech as one at a time where no draw is involved."""

from __future__ import annotations

import numpy as np
import pytest

from tts.sampling import SamplingConfig

from tiny_tts import tiny_synthesizer

TEXTS = ["The old mill stood by the river.", "A quiet bridge.", "She carried the basket home at noon."]
TEXT = "The old mill stood by the river. A quiet bridge! She carried the basket home at noon. A bridge. The mill?"


@pytest.fixture(scope="module")
def one_at_a_time():
    return tiny_synthesizer(TEXTS)


@pytest.fixture(scope="module")
def together():
    return tiny_synthesizer(TEXTS, batch=3)


def test_greedy_sentences_in_a_batch_are_the_sentences_one_at_a_time(one_at_a_time, together):
    """Left-padded rows with their masks compute what each row alone computes: 5 sentences in
    batches of 3 and 2 speak the same frames as 5 single runs."""
    sampling = SamplingConfig(greedy=True, repetition_penalty=1.0, max_frames=25)
    alone, batched = one_at_a_time.speak(TEXT, sampling=sampling), together.speak(TEXT, sampling=sampling)
    assert len(batched) == 5 and all(s.frames for s in batched)
    assert [s.frames for s in batched] == [s.frames for s in alone]
    np.testing.assert_allclose(together.synthesize(TEXT, sampling=sampling), one_at_a_time.synthesize(TEXT, sampling=sampling),
                               atol=1e-5)


def test_sampled_sentences_draw_from_their_own_seeds_at_any_batch_size(one_at_a_time, together):
    """Each sentence of a batch draws from its own seed (seed + its number), as it does alone:
    the same text and seed say the same at batch 1 and 3 (with best_of: test_tts_verify)."""
    for sampling in (SamplingConfig(seed=3, max_frames=25), SamplingConfig(seed=8, max_frames=25, temperature=1.2)):
        alone, batched = one_at_a_time.speak(TEXT, sampling=sampling), together.speak(TEXT, sampling=sampling)
        assert [s.frames for s in batched] == [s.frames for s in alone]
        assert len({tuple(s.frames) for s in alone}) == 5  # and the sentences differ
    from tts.sampling import RowGroups

    with pytest.raises(ValueError, match="groups hold 4"):
        RowGroups([1, 2], [2, 2]).random((3, 1))


def test_sampled_batches_are_seeded_and_stream_as_they_render(together):
    sampling = SamplingConfig(seed=3, max_frames=25)
    spoken = together.speak(TEXT, sampling=sampling)
    assert [s.frames for s in together.speak(TEXT, sampling=sampling)] == [s.frames for s in spoken]
    streamed = np.concatenate(list(together.stream(TEXT, sampling=sampling, chunk_frames=4)))
    np.testing.assert_allclose(streamed, together.render(spoken), atol=1e-5)  # the decoder in chunks vs at once
    np.testing.assert_array_equal(together.synthesize(TEXT, sampling=sampling), together.render(spoken))


def test_the_first_sentence_streams_before_its_batch_is_done(together):
    """A request stopped after its first chunk stops the whole batch: nothing else is said."""
    chunks: list = []
    for chunk in together.stream(TEXT, sampling=SamplingConfig(seed=3, max_frames=25), chunk_frames=4,
                                 should_stop=lambda: bool(chunks)):
        chunks.append(chunk)
    assert len(chunks) == 1 and len(chunks[0]) == 4 * together.codec.hop - together.codec.cfg.delay_samples


def test_batch_settings_are_checked(one_at_a_time):
    for batch, context, needle in ((0, "voice", "batch must be 1 to 64"), (65, "voice", "batch must be 1 to 64"),
                                   (2, "previous", "needs context 'voice'")):
        with pytest.raises(ValueError, match=needle):
            type(one_at_a_time)(one_at_a_time.model, one_at_a_time.tokenizer, codec=one_at_a_time.codec,
                                context=context, batch=batch)
