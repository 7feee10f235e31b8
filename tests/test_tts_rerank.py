"""Best-of-N synthesis (tts.rerank): the running score is the text-speech PMI of each draw,
and the synthesizer keeps the draw that scores best."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from codec.pretrained import load_codec
from serve.engine import TorchCodecEngine
from tts.config import load_preset
from tts.decoding import decode_loop, head_logits
from tts.generate import SamplingConfig, TorchStepper
from tts.sampling import min_frames_for
from tts.model import TtsModel
from tts.rerank import TextReliance, log_softmax
from tts.sequence import build_prompt, without_text
from tts.synthesize import Synthesizer
from tts.text import TextTokenizer, normalize, train_tokenizer

TEXTS = ["The old mill stood by the river.", "A quiet bridge crossed the valley.", "Three birds sang."]


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    model = TtsModel(load_preset("tiny", codec="distilcodec-tiny")).eval()
    return model, TextTokenizer(train_tokenizer(TEXTS, vocab_size=300))


def _teacher_forced_pmi(model: TtsModel, prompt: list[int], taken: list[int]) -> float:
    """sum log p(id | text, past) - log p(id | past) over ``taken``, by one full forward each."""
    def logprobs(seq: np.ndarray) -> np.ndarray:
        ids = torch.tensor(np.concatenate([seq, taken])[None])
        logits, _ = model(ids, torch.arange(ids.shape[1])[None], None, torch.ones_like(ids, dtype=torch.bool))
        heads = head_logits(logits[0, len(seq) - 1 : -1].float().numpy(), model.cfg, 0)
        return log_softmax(heads)[np.arange(len(taken)), taken]

    with torch.inference_mode():
        return float((logprobs(np.asarray(prompt)) - logprobs(without_text(model.cfg, prompt))).sum())


@pytest.mark.parametrize("scale", [1.0, 2.0])
def test_reliance_is_each_draws_text_pmi(tiny, scale):
    model, tokenizer = tiny
    cfg = model.cfg
    prompt = build_prompt(model, tokenizer.encode("A quiet bridge."), None, None)
    n, budget = 3, 9
    reliance, frames = TextReliance(n), [[] for _ in range(n)]
    for chunk in decode_loop(TorchStepper(model), cfg, [prompt] * n, [budget] * n, SamplingConfig(seed=5, cfg_scale=scale),
                             1 << 30, reliance=reliance):
        for draw, new in zip(frames, chunk):
            draw.extend(new)
    assert len({tuple(f) for f in frames}) > 1  # different draws
    for i, draw in enumerate(frames):  # every draw ends in </speech>, sampled or forced at the budget
        taken = [cfg.speech_offset + c for c in draw] + [cfg.special("</speech>")]
        assert reliance.total[i] == pytest.approx(_teacher_forced_pmi(model, prompt, taken), abs=1e-3)


def test_best_of_picks_the_highest_score_per_group():
    r = TextReliance(6)
    r.update(np.log(np.array([[0.5, 0.5]] * 6)), np.log(np.array([[0.9, 0.1]] * 6)), np.array([1, 0, 1, 0, 0, 1]),
             np.array([True, True, True, True, True, False]))
    assert r.total[0] == pytest.approx(np.log(5)) and r.total[5] == 0.0
    assert r.best(3) == [0, 5]  # item 5 did not step: its 0 beats items 3 and 4 (log(5/9) each)


def test_synthesizer_keeps_the_best_draw(tiny):
    model, tokenizer = tiny
    synth = Synthesizer(model, tokenizer, codec=TorchCodecEngine(load_codec("distilcodec-tiny")))
    sampling = SamplingConfig(seed=2, max_frames=30, candidates=4)
    best = synth.synthesize("Three birds.", sampling=sampling)
    sentence = normalize("Three birds.")  # what the synthesizer feeds the model
    prompt = build_prompt(model, tokenizer.encode(sentence), None, None)
    floor = min_frames_for(len(sentence), model.cfg.codec_frame_rate, sampling)
    reliance, frames = TextReliance(4), [[] for _ in range(4)]
    for chunk in decode_loop(model.stepper(), model.cfg, [prompt] * 4, [30] * 4, sampling, 1 << 30,
                             min_frames=[floor] * 4, reliance=reliance):
        for draw, new in zip(frames, chunk):
            draw.extend(new)
    audio = [synth.codec.decode(np.asarray(f)[None, None], None)[0] for f in frames]
    chosen = [i for i, a in enumerate(audio) if a.shape == best.shape and np.allclose(a, best, atol=1e-5)]
    assert chosen and int(np.argmax(reliance.total)) in chosen
    assert len({tuple(f) for f in frames}) > 1
    with pytest.raises(ValueError, match="candidates"):
        SamplingConfig(greedy=True, candidates=2)
    with pytest.raises(ValueError, match="candidates"):
        SamplingConfig(candidates=0)
