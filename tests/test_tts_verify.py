"""Best-of-N synthesis: the CTC likelihood equals torch's, the verifier scores real speech by
the text it says (missing and extra speech both cost) on torch and on its ONNX graph, and the
synthesizer keeps the candidate it scores best."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
import torch.nn.functional as F

from codec import audio
from tests.conftest import SENTENCE
from tts.generate import SamplingConfig
from tts.synthesize import Synthesizer
from tts.asr import CtcRecognizer
from tts.ctc import ctc_nll
from tts.verify import CtcVerifier, load_verifier

from tiny_tts import tiny_synthesizer

ROOT = Path(__file__).resolve().parents[1]
SR = 24000


def test_ctc_likelihood_equals_torch():
    rng = np.random.default_rng(0)
    for frames, target in [(30, [3, 7, 7, 1, 9]), (50, list(rng.integers(1, 28, 20))), (4, [5, 5, 2]), (1, [4])]:
        log_probs = torch.randn(frames, 28, generator=torch.Generator().manual_seed(frames)).log_softmax(-1)
        ours = ctc_nll(log_probs.double().numpy(), target)
        theirs = F.ctc_loss(log_probs[:, None], torch.tensor([target]), torch.tensor([frames]),
                            torch.tensor([len(target)]), reduction="sum")
        assert ours == pytest.approx(theirs.item(), rel=1e-5)
    assert ctc_nll(np.log(np.full((3, 28), 1 / 28)), [5, 5, 2]) == np.inf  # a repeat needs a blank between: 4 frames
    assert ctc_nll(np.log(np.full((3, 28), 1 / 28)), []) == pytest.approx(3 * np.log(28))


@pytest.fixture(scope="module")
def verifier(asr_dir) -> CtcVerifier:
    return load_verifier(str(asr_dir), backend="torch")


def test_the_onnx_graph_scores_as_torch_does(asr_dir, verifier, speech):
    onnx_verifier = load_verifier(str(asr_dir))  # auto: asr.onnx is there, no torch needed
    assert type(onnx_verifier.recognizer).__name__ == "OnnxRecognizer"
    wav = audio.load(speech, SR)
    for clip in (wav, wav[:20000], wav[:300]):
        np.testing.assert_allclose(onnx_verifier.recognizer.log_probs(clip), verifier.recognizer.log_probs(clip), atol=2e-3)
    assert onnx_verifier.score(wav, SR, SENTENCE) == pytest.approx(verifier.score(wav, SR, SENTENCE), rel=1e-3)
    score, heard = verifier.hear(wav, SR, SENTENCE)  # one run: the score and the recognizer's own transcript
    assert score == verifier.score(wav, SR, SENTENCE) and heard == verifier.recognizer.transcribe(wav, SR) != ""
    assert onnx_verifier.hear(wav, SR, SENTENCE)[1] == heard  # the torch-free recognizer transcribes too
    clips = np.stack([wav[:20000], wav[5000:25000], 0.3 * wav[:20000]])  # a batch: each row as it is alone
    for recognizer in (verifier.recognizer, onnx_verifier.recognizer):
        np.testing.assert_allclose(recognizer.log_probs_batch(clips), np.stack([recognizer.log_probs(c) for c in clips]),
                                   atol=1e-4)
    np.testing.assert_allclose(onnx_verifier.recognizer.log_probs_batch(clips), verifier.recognizer.log_probs_batch(clips),
                               atol=2e-3)
    mixed = [wav[:20000], wav[:300], wav[5000:25000]]  # on track: rows of one length heard together
    assert onnx_verifier.on_track(mixed, SR, SENTENCE) == pytest.approx(
        [onnx_verifier.on_track([clip], SR, SENTENCE)[0] for clip in mixed], rel=1e-4)
    single = asr_dir.parent / "single"  # a graph exported for one clip at a time (before batches) still serves
    shutil.copytree(asr_dir, single)
    graph = onnx.load(single / "asr.onnx")
    graph.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 1
    onnx.save(graph, single / "asr.onnx")
    old = load_verifier(str(single)).recognizer
    assert not old.batched and onnx_verifier.recognizer.batched
    np.testing.assert_allclose(old.log_probs_batch(clips), onnx_verifier.recognizer.log_probs_batch(clips), atol=1e-4)
    stale = asr_dir.parent / "stale"
    shutil.copytree(asr_dir, stale)
    other = CtcRecognizer.from_pretrained(stale)
    with torch.no_grad():
        other.out.bias.add_(1.0)
    other.save_pretrained(stale)  # new weights, old graph
    with pytest.raises(Exception, match="re-export"):
        load_verifier(str(stale))
    with pytest.raises(Exception, match="no recognizer"):
        load_verifier(str(asr_dir.parent / "nothing"))


def test_the_text_that_was_said_scores_best(verifier, speech):
    wav = audio.load(speech, SR)
    said = verifier.score(wav, SR, SENTENCE)
    assert said < verifier.score(wav, SR, "A quiet bridge crossed the valley at noon.")
    assert said < verifier.score(wav[: len(wav) // 2], SR, SENTENCE)  # words missing
    assert said < verifier.score(np.concatenate([wav, wav]), SR, SENTENCE)  # said again (a re-read prompt tail)
    assert verifier.score(wav[:100], SR, SENTENCE) == np.inf  # too short to hold the text
    assert verifier.score(wav, SR, "!!") == 0.0  # nothing to say
    best, scores = verifier.best([wav[: len(wav) // 2], wav, np.concatenate([wav, wav])], SR, SENTENCE)
    assert best == 1 and scores[1] == said


@pytest.fixture(scope="module")
def synth(verifier) -> Synthesizer:
    return tiny_synthesizer(["The old mill stood by the river.", "A quiet bridge."], verifier=verifier)


def test_best_of_keeps_the_candidate_the_verifier_hears_best(synth, verifier):
    text = "The old mill. A quiet bridge."
    sampling = SamplingConfig(seed=5, max_frames=80, best_of=4, search_seconds=0)  # plain best of N
    spoken = synth.speak(text, sampling=sampling)
    assert [s.text for s in spoken] == ["The old mill.", "A quiet bridge."]
    for s in spoken:
        assert len(s.scores) == 4 and len(set(s.scores)) > 1  # the candidates differ
        assert verifier.score(synth.render([s]), synth.sample_rate, s.text) == pytest.approx(min(s.scores))
    offline = synth.render(spoken)
    assert np.array_equal(offline, synth.synthesize(text, sampling=sampling))  # seeded: reproducible
    # both sentences' 4 candidates as 8 rows of one batch: each sentence keeps its best of its own 4
    together = tiny_synthesizer(["The old mill stood by the river.", "A quiet bridge."], verifier=verifier, batch=2)
    batched = together.speak(text, sampling=sampling)
    assert [s.text for s in batched] == ["The old mill.", "A quiet bridge."]
    for s in batched:
        assert len(s.scores) == 4 and verifier.score(together.render([s]), SR, s.text) == pytest.approx(min(s.scores))
    assert [s.frames for s in batched] == [s.frames for s in spoken]  # each sentence's draws as alone
    assert np.array_equal(together.render(batched), together.synthesize(text, sampling=sampling))
    streamed = np.concatenate(list(synth.stream(text, sampling=sampling, chunk_frames=7)))
    assert streamed.shape == offline.shape and np.abs(streamed - offline).max() < 1e-5
    assert synth.speak(text, sampling=SamplingConfig(seed=5, max_frames=80))[0].scores == []  # best_of 1: one run


@pytest.mark.parametrize("context", ["voice", "previous"])
def test_candidates_are_the_runs_best_of_chooses_among(synth, verifier, context):
    """``Synthesizer.candidates`` draws exactly what best-of draws, unchosen: the verifier's
    scores of its renders are best-of's scores, and its lowest is the run best-of kept (and,
    where sentences continue each other, the one the next sentence goes on from)."""
    synth = Synthesizer(synth.model, synth.tokenizer, codec=synth.codec, verifier=verifier, context=context)
    text = "The old mill. A quiet bridge."
    sampling = SamplingConfig(seed=3, max_frames=60, best_of=3, search_seconds=0)
    spoken = synth.speak(text, sampling=sampling)
    found = synth.candidates(text, sampling=sampling)
    assert [sentence for sentence, _, _ in found] == [s.text for s in spoken] == ["The old mill.", "A quiet bridge."]
    for s, (sentence, runs, wavs) in zip(spoken, found):
        scores = [verifier.score(w, synth.sample_rate, sentence) for w in wavs]
        assert scores == pytest.approx(s.scores) and len(runs) == 3
        assert runs[int(np.argmin(scores))] == s.frames


def test_the_best_of_study_replays_each_rule(tmp_path):
    """The study's report picks, among the first N candidates, the one each rule scores lowest."""
    import json
    import subprocess
    import sys

    judge = "ctc + lexicon"
    cands = [{"frames": 40, "verifier": 0.5, "verifier heard": "a cat", judge: "a cat sat"},
             {"frames": 20, "verifier": 0.9, "verifier heard": "the cat sat", judge: "the dog"},
             {"frames": 25, "verifier": 0.7, "verifier heard": "the dog", judge: "the cat sat"},
             {"frames": 60, "verifier": 0.8, "verifier heard": "cat", judge: "the cat sat"}]
    study = {"tts": "t", "manifest": "m", "verifier": "v", "judges": [judge], "frame_rate": 50.0,
             "chars_per_second": 25.0, "items": [{"n": 0, "text": "The cat sat.", "sentence": "The cat sat.",
                                                    "candidates": cands}]}
    path = tmp_path / "study.json"
    path.write_text(json.dumps(study))
    out = subprocess.run([sys.executable, str(ROOT / "recipes/libritts/best_of_study.py"), "report", str(path)],
                         capture_output=True, text=True, check=True).stdout
    rows = {line.split(" | ")[0].strip("| "): line.split(" | ")[1:] for line in out.splitlines() if line.startswith("| ")}
    def cells(rule: str) -> list[str]:  # N = 1, 2, 4
        return [c.strip(" |") for c in rows[rule]]

    assert cells("verifier (as shipped)") == ["33.3%"] * 3  # candidate 0 ("a cat sat": 1 error in 3) stays lowest
    assert cells("verifier's transcript, then score") == ["33.3%", "66.7%", "66.7%"]  # 1 heard every word
    assert cells("length nearest the text's") == ["33.3%", "66.7%", "0.0%"]  # 24 frames expected: 20, then 25
    assert cells(f"oracle: {judge}") == ["33.3%", "33.3%", "0.0%"]  # 2 and 3 are right; 2 scores lower
    assert cells("(mean over all 4)") == ["25.0%"] * 3  # 1 + 2 + 0 + 0 errors in 4 x 3 words


def test_candidates_render_from_one_warm_stream_as_each_would_alone(synth):
    """Best-of decodes the voice prompt once and each candidate from a fork of that stream: each
    must sound exactly as it will play, after the prompt or from a cold start."""
    from tts.synthesize import VoicePrompt

    rng = np.random.default_rng(0)
    size = synth.model.cfg.codebook_size
    runs = [rng.integers(0, size, n).tolist() for n in (9, 1, 23, 0, 16)]
    for voice in (None, VoicePrompt(rng.integers(0, size, 12).tolist(), "A quiet bridge.")):
        batched = synth._render_candidates(runs, voice)
        for run, wav in zip(runs, batched):
            alone = synth._decoder(voice).push(synth._codes(run))[0] if run else np.zeros(0, np.float32)
            assert wav.shape == alone.shape and np.allclose(wav, alone, rtol=0, atol=1e-5)
    assert synth._render_candidates([[], []], None)[1].size == 0


def test_best_of_needs_a_verifier_and_a_sane_count(synth):
    plain = Synthesizer(synth.model, synth.tokenizer, codec=synth.codec)
    with pytest.raises(ValueError, match="needs a verifier"):
        plain.synthesize("Hello.", sampling=SamplingConfig(best_of=2))
    for n in (0, 17):
        with pytest.raises(ValueError, match="best_of"):
            SamplingConfig(best_of=n)
    with pytest.raises(ValueError, match="greedy candidates are all the same"):
        SamplingConfig(best_of=2, greedy=True)
