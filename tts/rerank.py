"""Best-of-N synthesis scored by the TTS itself: how much the text explains the codes.

Sampling sometimes skips or slurs a word; a second draw of the same sentence usually does
not. Tortoise-TTS draws many candidates and keeps the one a contrastive text-speech model
(CLVP) likes best. Here the judge is the model's own text-free path, the one classifier-free
guidance runs anyway: a candidate's score is the sum over its steps of
``log p(code | text, past) - log p(code | past)``, the pointwise mutual information between
the text and the whole code sequence. Speech that says the text scores high; a skipped word,
babble, or an early ``</speech>`` is something the text does not predict and scores low. No
recognizer is involved, so the word error rates measured by ``evaluate_tts`` stay an outside
judgement.
"""

from __future__ import annotations

import numpy as np


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax of [B, V] logits where ruled-out entries are -inf."""
    logits = logits.astype(np.float64)
    top = logits.max(-1, keepdims=True)
    return logits - top - np.log(np.exp(logits - top).sum(-1, keepdims=True))


class TextReliance:
    """Running text-speech PMI of ``n`` items (the state ``decode_loop`` updates per step)."""

    def __init__(self, n: int) -> None:
        self.total = np.zeros(n)

    def update(self, cond: np.ndarray, plain: np.ndarray, chosen: np.ndarray, live: np.ndarray) -> None:
        """``cond``/``plain``: the step's logits [n, V] with and without the text (head 0, same
        mask); ``chosen`` [n]: the ids taken; ``live`` [n]: items that took a step. Ids outside
        the head (a multi-codebook item's empty slots after its end) add nothing."""
        rows = np.arange(len(chosen))
        with np.errstate(invalid="ignore"):
            gain = log_softmax(cond)[rows, chosen] - log_softmax(plain)[rows, chosen]
        self.total += np.where(live & np.isfinite(gain), gain, 0.0)

    def best(self, group: int) -> list[int]:
        """Index of the best item in each consecutive run of ``group`` candidates."""
        return [g * group + int(np.argmax(self.total[g * group : (g + 1) * group])) for g in range(len(self.total) // group)]
