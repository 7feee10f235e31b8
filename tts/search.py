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


def search(decoding: Decoding, listeners: list[Listener], every: int, beams: int,
           should_stop: Callable[[], bool] | None = None) -> list[list[list]]:
    """Run ``decoding`` to the end, pruning every ``every`` steps; its rows come in equal groups,
    one per listener (a batch's sentences, each ``best_of`` rows), and each group keeps its own
    ``beams`` best live rows. Returns each group's finished rows' frames (rows that ended before
    a check, then its last rows); a stopped search returns what had finished."""
    n = len(decoding.items) // len(listeners)
    groups = [range(g * n, (g + 1) * n) for g in range(len(listeners))]
    runs: list[list] = [[] for _ in decoding.items]
    finished: list[list[list]] = [[] for _ in listeners]
    while not decoding.done:
        new = decoding.advance()
        for run, frames in zip(runs, new):
            run.extend(frames)
        for listener, rows in zip(listeners, groups):
            listener.push(new[rows.start : rows.stop])
        if should_stop is not None and should_stop():
            return finished
        if decoding.step % every or decoding.done:
            continue
        index = list(range(len(runs)))
        for listener, rows, done in zip(listeners, groups, finished):
            kept = _prune(decoding, listener, rows, beams, runs, done)
            index[rows.start : rows.stop] = [rows.start + i for i in kept]
        decoding.reorder(index)
        runs = [list(runs[i]) for i in index]
    return [done + runs[rows.start : rows.stop] for done, rows in zip(finished, groups)]


def _prune(decoding: Decoding, listener: Listener, rows: range, beams: int, runs: list[list],
           done: list[list]) -> list[int]:
    """One group at a check: its ended rows join ``done``, and each of its rows goes on as one of
    its ``beams`` best live rows (indices within the group; unchanged once all have ended)."""
    local = range(len(rows))
    live = [i for i in local if not decoding.items[rows.start + i].done]
    if not live:
        return list(local)
    done.extend(runs[rows.start + i] for i in local if decoding.items[rows.start + i].done)
    ranked = [i for _, i in sorted(zip(listener.scores(live), live))][:beams]
    index = [ranked[k % len(ranked)] for k in local]
    listener.reorder(index)
    return index
