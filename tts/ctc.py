"""CTC in numpy: the recognizer's character labels and the likelihood of a text given its
frame log-probabilities. Torch-free, so the ONNX serving path scores candidates the same way
the torch path does (one implementation, ``tts.verify``)."""

from __future__ import annotations

import numpy as np

from .wer import words

ALPHABET = " 'abcdefghijklmnopqrstuvwxyz"  # index + 1; 0 is the CTC blank


def encode_text(text: str) -> list[int]:
    return [ALPHABET.index(c) + 1 for c in " ".join(words(text))]


def greedy_text(best: list[int]) -> str:
    """Collapse repeats, drop blanks."""
    out, prev = [], 0
    for k in best:
        if k != prev and k:
            out.append(ALPHABET[k - 1])
        prev = k
    return " ".join("".join(out).split())


def _lattice(target: list[int], blank: int) -> tuple[np.ndarray, np.ndarray]:
    """CTC states (blank, label, blank, ..., blank) and where a state may be reached from two
    back (a label that differs from the previous one: a repeat needs the blank between)."""
    states = np.full(2 * len(target) + 1, blank, dtype=np.int64)
    states[1::2] = target
    skip = np.zeros(len(states), dtype=bool)
    skip[3::2] = states[3::2] != states[1:-2:2]
    return states, skip


def _forward(log_probs: np.ndarray, target: list[int], blank: int) -> np.ndarray:
    """log alpha of every lattice state after the last frame (the CTC forward algorithm)."""
    states, skip = _lattice(target, blank)
    alpha = np.full(len(states), -np.inf)
    alpha[:2] = log_probs[0, states[:2]]
    for frame in log_probs[1:]:
        stay, step, jump = alpha, np.r_[-np.inf, alpha[:-1]], np.r_[-np.inf, -np.inf, alpha[:-2]]
        alpha = np.logaddexp(np.logaddexp(stay, step), np.where(skip, jump, -np.inf)) + frame[states]
    return alpha


def ctc_nll(log_probs: np.ndarray, target: list[int], blank: int = 0) -> float:
    """-log p(target | frames) summed over every CTC path (the forward algorithm in log space);
    ``log_probs`` [F, classes]. ``inf`` where F frames cannot hold the target."""
    if not target:
        return float(-log_probs[:, blank].sum())
    alpha = _forward(log_probs, target, blank)
    return float(-np.logaddexp(alpha[-1], alpha[-2]))


def ctc_prefix_nll(log_probs: np.ndarray, target: list[int], blank: int = 0) -> float:
    """-log of the probability that the frames say *some beginning* of ``target`` (summed over
    where they stop in it): how well speech cut off mid-sentence is on track."""
    if not target:
        return float(-log_probs[:, blank].sum())
    return float(-np.logaddexp.reduce(_forward(log_probs, target, blank)))


def ctc_align(log_probs: np.ndarray, target: list[int], blank: int = 0) -> list[tuple[int, int]]:
    """The most likely CTC path (Viterbi, same lattice as ``ctc_nll``) as each label's
    (first, last) frame; ``log_probs`` [F, classes]. Raises ValueError where F frames cannot
    hold the target."""
    if not target:
        return []
    states, skip = _lattice(target, blank)
    score = np.full(len(states), -np.inf)
    score[:2] = log_probs[0, states[:2]]
    back = np.zeros((len(log_probs), len(states)), dtype=np.int8)  # how many states back each came from
    for t, frame in enumerate(log_probs[1:], 1):
        moves = np.stack([score, np.r_[-np.inf, score[:-1]], np.where(skip, np.r_[-np.inf, -np.inf, score[:-2]], -np.inf)])
        back[t] = moves.argmax(0)
        score = moves.max(0) + frame[states]
    state = len(states) - 1 if score[-1] >= score[-2] else len(states) - 2
    if not np.isfinite(score[state]):
        raise ValueError(f"{len(log_probs)} frames cannot hold {len(target)} labels")
    path = np.empty(len(log_probs), dtype=np.int64)
    for t in range(len(log_probs) - 1, -1, -1):
        path[t] = state
        state -= int(back[t, state])
    spans = []
    for i in range(len(target)):
        frames = np.flatnonzero(path == 2 * i + 1)
        spans.append((int(frames[0]), int(frames[-1])))
    return spans
