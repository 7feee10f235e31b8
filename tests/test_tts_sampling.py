"""tts.sampling.sample_next against the definition written out over the whole vocabulary."""

from __future__ import annotations

import numpy as np
import pytest

from tts.sampling import SamplingConfig, sample_next


def reference(logits: np.ndarray, history: np.ndarray, cfg: SamplingConfig, u: np.ndarray) -> np.ndarray:
    """Penalty, temperature, top-k and top-p masks over all V entries, then the draw ``u``."""
    logits = logits.astype(np.float64, copy=True)
    rows = np.arange(len(logits))[:, None]
    seen = logits[rows, history]
    logits[rows, history] = np.where(seen > 0, seen / cfg.repetition_penalty, seen * cfg.repetition_penalty)
    logits /= cfg.temperature
    if cfg.top_k:
        logits[logits < np.sort(logits, -1)[:, -cfg.top_k][:, None]] = -np.inf
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    order = np.argsort(-probs, -1, kind="stable")
    ranked = np.take_along_axis(probs, order, -1)
    probs = np.zeros_like(probs)
    np.put_along_axis(probs, order, ranked * (np.cumsum(ranked, -1) - ranked <= cfg.top_p), -1)
    probs /= probs.sum(-1, keepdims=True)
    return (np.cumsum(probs, -1) < u).sum(-1)


class Draws:
    """Stands in for the generator: hands out the draws it was given."""

    def __init__(self, u: np.ndarray) -> None:
        self.u = u

    def random(self, shape: tuple[int, ...]) -> np.ndarray:
        return self.u.reshape(shape)


@pytest.mark.parametrize("top_k, top_p, temperature", [(50, 0.95, 0.8), (0, 0.9, 1.0), (5, 1.0, 1.3), (300, 0.5, 0.7)])
def test_samples_as_the_whole_vocabulary_definition(top_k, top_p, temperature):
    rng = np.random.default_rng(0)
    cfg = SamplingConfig(temperature=temperature, top_k=top_k, top_p=top_p, repetition_penalty=1.1)
    for _ in range(60):
        logits = (rng.normal(size=(4, 2000)) * rng.uniform(0.5, 6)).astype(np.float32)
        logits[:, rng.integers(0, 2000, 300)] = -np.inf  # tokens another head owns
        logits[1, :1990] = -np.inf  # a row with fewer tokens left than top_k
        history, u = rng.integers(0, 2000, (4, 64)), rng.random((4, 1))
        got = sample_next(logits, history, cfg, Draws(u))
        assert np.array_equal(got, reference(logits, history, cfg, u))
        assert np.isfinite(logits[np.arange(4), got]).all()


def test_draws_follow_the_kept_probabilities():
    """Over many draws each kept token comes about as often as its probability; cut ones never."""
    logits = np.log(np.array([[0.5, 0.3, 0.15, 0.05]]))
    cfg = SamplingConfig(temperature=1.0, top_k=3, top_p=0.75, repetition_penalty=1.0)
    rng = np.random.default_rng(1)
    counts = np.bincount([int(sample_next(logits, np.zeros((1, 0), np.int64), cfg, rng)[0]) for _ in range(4000)],
                         minlength=4)
    # top_k 3 drops 0.05; top_p 0.75 keeps 0.5 and 0.3 (0.5 alone does not reach it): 5/8 and 3/8
    assert counts[2] == counts[3] == 0
    assert counts[0] / 4000 == pytest.approx(0.625, abs=0.03)
