"""Search within a sentence (``tts.search``): the prefix score is CTC's over every beginning of
the text, a reordered batch row goes on exactly as the row it copies, the search keeps the rows
its listener ranks best, and the synthesizer chooses among what the search finished."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from codec import audio
from tests.conftest import SENTENCE
from tts.config import load_preset
from tts.ctc import ctc_nll, ctc_prefix_nll
from tts.decoding import Decoding
from tts.generate import SamplingConfig, TorchStepper, build_prompt
from tts.model import TtsModel
from tts.search import search
from tts.verify import load_verifier

from tiny_tts import tiny_synthesizer

SR = 24000


def test_prefix_score_sums_ctc_over_every_beginning_of_the_text():
    rng = np.random.default_rng(0)
    for frames, target in [(30, [3, 7, 7, 1, 9]), (12, list(rng.integers(1, 28, 20))), (1, [4]), (6, [5, 5, 2])]:
        log_probs = torch.randn(frames, 28, generator=torch.Generator().manual_seed(frames)).log_softmax(-1).double().numpy()
        every = [-ctc_nll(log_probs, target[:k]) for k in range(len(target) + 1)]  # inf where frames cannot hold it
        assert ctc_prefix_nll(log_probs, target) == pytest.approx(-np.logaddexp.reduce(every), rel=1e-9)
    assert ctc_prefix_nll(np.log(np.full((3, 28), 1 / 28)), []) == pytest.approx(3 * np.log(28))


@pytest.fixture(scope="module")
def verifier(asr_dir):
    return load_verifier(str(asr_dir), backend="torch")


def test_speech_cut_off_is_on_track_for_its_own_text(verifier, speech):
    """The first half of a recording says a beginning of its sentence: on track for it, not for
    another sentence, while as a whole rendition it is missing words."""
    wav = audio.load(speech, SR)
    half = wav[: len(wav) // 2]
    own, second_half = verifier.on_track([half, wav[len(wav) // 2 : 2 * (len(wav) // 2)]], SR, SENTENCE)
    assert own < verifier.on_track([half], SR, "A quiet bridge crossed the valley at noon.")[0] - 5
    assert own < second_half - 5  # its second half starts mid-text
    assert verifier.score(half, SR, SENTENCE) * len(SENTENCE) > own + 5  # the whole text: words missing


def _model(cfg_scale: float = 1.0) -> TtsModel:
    torch.manual_seed(0)
    cfg = load_preset("tiny", codec="distilcodec-tiny")
    cfg.cfg_scale = cfg_scale
    return TtsModel(cfg).eval()


def run(stepper, model, prompts, limits, sampling, at=None, index=None) -> tuple[list[list], list[np.ndarray]]:
    """Each row's frames and the logits of every step, row i going on as row ``index[i]`` from step ``at``."""
    decoding = Decoding(stepper, model.cfg, prompts, limits, sampling)
    runs: list[list] = [[] for _ in prompts]
    logits = []
    while not decoding.done:
        if decoding.step == at:
            decoding.reorder(index)
            runs = [list(runs[i]) for i in index]
        logits.append(decoding.logits)
        for frames, new in zip(runs, decoding.advance()):
            frames.extend(new)
    return runs, logits


@pytest.mark.parametrize("cfg_scale", [1.0, 2.0])
@pytest.mark.parametrize("use_cache", [True, False])
def test_a_reordered_row_goes_on_as_the_row_it_copies(cfg_scale, use_cache):
    """Greedy, so a row's future depends only on its past: after ``reorder([1, 1, 0])`` rows 0
    and 1 speak what row 1 speaks, row 2 what row 0 does, from the same logits (cache, ids,
    limits and all; with guidance the text-less rows move along)."""
    model = _model(cfg_scale)
    prompts = [build_prompt(model, [5, 6, 7]), build_prompt(model, [9, 10, 11, 12, 13], [4], prompt_codes=[1, 2]),
               build_prompt(model, [8, 8])]
    greedy, index = SamplingConfig(greedy=True), [1, 1, 0]
    plain, plain_logits = run(TorchStepper(model, use_cache), model, prompts, [40, 30, 50], greedy)
    moved, moved_logits = run(TorchStepper(model, use_cache), model, prompts, [40, 30, 50], greedy, at=6, index=index)
    assert plain[0] != plain[1] and moved == [plain[i] for i in index]
    for step in range(6, 30):
        np.testing.assert_allclose(moved_logits[step], plain_logits[step][index], rtol=0, atol=1e-5)
    assert np.abs(plain_logits[20][0] - plain_logits[20][1]).max() > 1e-3  # the rows' logits do differ


class FewerEven:
    """A listener that ranks rows by how few even codes they spoke: a preference this test can check."""

    def __init__(self, rows: int) -> None:
        self.frames: list[list] = [[] for _ in range(rows)]
        self.checks: list[tuple[list[int], list[int], list[list]]] = []

    def push(self, frames: list[list]) -> None:
        for mine, new in zip(self.frames, frames):
            mine.extend(new)

    def scores(self, rows: list[int]) -> list[int]:
        scores = [sum(c % 2 == 0 for c in self.frames[i]) for i in rows]
        self.checks.append((rows, scores, [list(f) for f in self.frames]))
        return scores

    def reorder(self, index: list[int]) -> None:
        self.frames = [list(self.frames[i]) for i in index]


def test_search_goes_on_from_the_best_rows_only():
    model = _model()
    prompt, n = build_prompt(model, [5, 6, 7]), 6
    sampling = SamplingConfig(seed=4, temperature=1.0, top_k=0, top_p=1.0)
    listener = FewerEven(n)
    decoding = Decoding(TorchStepper(model), model.cfg, [prompt] * n, [60] * n, sampling)
    found = search(decoding, listener, every=5, beams=2)
    assert len(listener.checks) >= 5 and len(found) >= n
    for (rows, scores, frames), (_, _, after) in zip(listener.checks, listener.checks[1:]):
        kept = [frames[i] for _, i in sorted(zip(scores, rows))[:2]]
        assert all(any(f[: len(k)] == k for k in kept) for f in after)  # every row descends from the best two
    rows, scores, frames = listener.checks[-1]
    best = frames[rows[int(np.argmin(scores))]]
    assert sum(run[: len(best)] == best for run in found[-n:]) == n // 2  # the last rows: half copy the best
    plain = Decoding(TorchStepper(model), model.cfg, [prompt] * n, [60] * n, sampling)
    unsearched = search(plain, FewerEven(n), every=10**6, beams=n)
    assert len(unsearched) == n
    even = lambda runs: np.mean([sum(c % 2 == 0 for c in r) / max(1, len(r)) for r in runs])
    assert even(found[-n:]) < even(unsearched) - 0.1  # the search moved the rows where its listener wanted them
    again = search(Decoding(TorchStepper(model), model.cfg, [prompt] * n, [60] * n, sampling), FewerEven(n), 5, 2)
    assert again == found  # seeded: reproducible


@pytest.fixture(scope="module")
def synth(verifier):
    return tiny_synthesizer(["The old mill stood by the river.", "A quiet bridge."], verifier=verifier)


def test_synthesizer_chooses_among_what_the_search_finished(synth, verifier):
    text = "The old mill. A quiet bridge."
    sampling = SamplingConfig(seed=5, max_frames=80, best_of=4, search_seconds=0.2)
    spoken = synth.speak(text, sampling=sampling)
    plain = synth.speak(text, sampling=SamplingConfig(seed=5, max_frames=80, best_of=4, search_seconds=0))
    assert [s.frames for s in synth.speak(text, sampling=SamplingConfig(seed=5, max_frames=80, best_of=4))] == \
        [s.frames for s in synth.speak(text, sampling=replace(sampling, search_seconds=0.5))]  # searched by default
    for s, p in zip(spoken, plain):
        assert len(s.scores) >= 4 and s.frames != p.frames
        assert verifier.score(synth.render([s]), SR, s.text) == pytest.approx(min(s.scores))
    assert np.array_equal(synth.render(spoken), synth.synthesize(text, sampling=sampling))  # reproducible
    streamed = np.concatenate(list(synth.stream(text, sampling=sampling, chunk_frames=7)))
    assert np.abs(streamed - synth.render(spoken)).max() < 1e-5
    together = tiny_synthesizer(["The old mill stood by the river.", "A quiet bridge."], verifier=verifier, batch=2)
    assert [s.frames for s in together.speak(text, sampling=sampling)] == [s.frames for s in spoken]  # one at a time
    stops = iter([False] * 30 + [True] * 1000)
    assert list(synth.stream(text, sampling=sampling, should_stop=lambda: next(stops))) == []


def test_search_settings_are_checked():
    with pytest.raises(ValueError, match="needs best_of > 1"):
        SamplingConfig(search_seconds=1.0)
    for bad in (dict(best_of=4, search_seconds=-1.0), dict(best_of=4, search_seconds=1.0, search_beams=5)):
        with pytest.raises(ValueError, match="search_beams <= best_of"):
            SamplingConfig(**bad)
    assert SamplingConfig(best_of=8, search_seconds=1.0).beams() == 2
    assert SamplingConfig(best_of=4).search_every() == 0.5 and SamplingConfig().search_every() == 0.0
    assert SamplingConfig(best_of=4, search_seconds=0).search_every() == 0.0  # plain best of N
    assert SamplingConfig(best_of=3, search_seconds=1.0, search_beams=1).beams() == 1
