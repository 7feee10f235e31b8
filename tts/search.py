"""Verifier-guided search within a sentence (Llasa's inference-time scaling with a process
verifier, as beam search).

Best of N draws N whole renditions and keeps one: a sentence is only right if one rendition
gets *every* stretch of it right. Here the N rows are checked every ``every`` frames while
they speak: a recognizer scores how well each row's audio so far says a beginning of the text
(``tts.ctc.ctc_prefix_nll``), the ``beams`` best go on and the other rows are replaced by
copies of them (K/V cache, ids, decoder stream), which then draw their own continuations.
A row that ends is a finished candidate; the caller chooses among them with the full score.
"""

from __future__ import annotations

from typing import Callable, Protocol

from .decoding import Decoding


class Listener(Protocol):
    """Each row's audio so far, as the verifier hears it."""

    def push(self, frames: list[list]) -> None: ...  # each row's new frames

    def scores(self, rows: list[int]) -> list[float]: ...  # lower: more on track

    def reorder(self, index: list[int]) -> None: ...  # row i goes on as row index[i]


def search(decoding: Decoding, listener: Listener, every: int, beams: int,
           should_stop: Callable[[], bool] | None = None) -> list[list]:
    """Run ``decoding`` to the end, pruning to the ``beams`` best live rows every ``every``
    steps; returns every finished row's frames (rows that ended before a check, then the last
    rows). A stopped search returns what had finished."""
    runs: list[list] = [[] for _ in decoding.items]
    finished: list[list] = []
    while not decoding.done:
        new = decoding.advance()
        for run, frames in zip(runs, new):
            run.extend(frames)
        listener.push(new)
        if should_stop is not None and should_stop():
            return finished
        if decoding.step % every or decoding.done:
            continue
        live = [i for i, item in enumerate(decoding.items) if not item.done]
        finished.extend(runs[i] for i, item in enumerate(decoding.items) if item.done)
        ranked = [i for _, i in sorted(zip(listener.scores(live), live))][:beams]
        index = [ranked[k % len(ranked)] for k in range(len(runs))]
        decoding.reorder(index)
        listener.reorder(index)
        runs = [list(runs[i]) for i in index]
    return finished + runs
