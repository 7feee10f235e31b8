"""Concurrent generations' decode steps run as one ONNX Runtime call (continuous batching).

A TTS request's decode step is a one-token call for two rows (its text and guidance's textless
row) that reads every weight of the model: stacked with other requests' steps the weights are
read once, and 4 requests' steps cost about 2x one request's on 2 CPU cores, not 4x (README
"TTS service load, concurrent requests batched"). Each generation loop (``tts.decoding``) stays in its own thread, as
before; its stepper hands each step to the model's ``StepBatcher`` and waits for its rows.

A round: once a call is waiting, the batcher waits up to ``window_s`` for the generations it
answered last round (they are sampling their next token; a lone stream never waits), then runs
the waiting one-token steps together (up to ``max_rows`` rows, oldest first) and then the
waiting prompts (prefills: many tokens) together, their ids left-padded with masked tokens to
the longest, so new requests delay the others by one call. Caches differ in length: each is
left-padded with masked slots to the longest, and each stepper keeps its own rows of the
result, padding cut off; a round of the same requests as the last takes the last output as its
cache as it is, with no copy. A row's logits in a batch equal
its own call's within ~1e-5 (the attention's sums are grouped differently), not bit for bit.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from codec.errors import CodecError
from serve.tts_runtime import OnnxStepper, OnnxTts

WINDOW_S = 0.02  # a generation comes back ~0.2 ms after its answer, but 5-20 ms when it decodes a chunk of audio
MAX_ROWS = 32


@dataclass(eq=False)
class _Call:
    """One stepper's step, waiting for its batch."""

    ids: np.ndarray
    positions: np.ndarray
    mask: np.ndarray
    past: list[np.ndarray] | None
    stepper: "BatchedStepper | None"
    sent: float = field(default_factory=time.perf_counter)
    done: bool = False
    logits: np.ndarray | None = None
    present: list[np.ndarray] | None = None
    error: BaseException | None = None

    @property
    def rows(self) -> int:
        return self.ids.shape[0]

    @property
    def one_token(self) -> bool:
        return self.ids.shape[1] == 1

    @property
    def first(self) -> bool:
        """A generation's first call (its prompt): the cache is the dummy slot alone."""
        return self.past[0].shape[2] == 1


class StepBatcher:
    """Stands in for an ``OnnxTts`` (``cfg``, ``weights_hash``, ``stepper()``): its steppers'
    steps run together. No thread of its own: a caller that finds no round under way leads
    rounds until its own call is answered, then hands over to a caller still waiting (a lone
    stream runs its own calls, with no thread to thread hop a step). ``waited(seconds)`` is told
    each call's wait for its batch; ``batched(requests)`` each one-token batch's size.
    ``close()`` refuses calls from then on."""

    def __init__(self, tts: OnnxTts, max_rows: int = MAX_ROWS, window_s: float = WINDOW_S) -> None:
        self.tts, self.cfg, self.weights_hash = tts, tts.cfg, tts.weights_hash
        self.max_rows, self.window_s = max_rows, window_s
        self.waited: Callable[[float], None] | None = None
        self.batched: Callable[[int], None] | None = None
        self.sizes: Counter[int] = Counter()  # one-token batches by how many steppers they held
        self.prompt_sizes: Counter[int] = Counter()  # prompt batches likewise
        self.reused = 0  # batches whose cache was the batch before's output, not a copy
        self._lock = threading.Condition()
        self._waiting: list[_Call] = []
        self._answered: set[int] = set()  # steppers (ids) answered last round, not back yet
        self._closed = self._leading = False
        # the last one-token batch's output, and each of its steppers' first cache view with its row:
        # a round of the same steppers takes that output as its cache as it is (``_stacked``)
        self._last: list[np.ndarray] = []
        self._last_rows: list[tuple[np.ndarray, int]] = []

    def stepper(self) -> "BatchedStepper":
        stepper = BatchedStepper(self)
        weakref.finalize(stepper, self._gone, id(stepper))  # a finished generation is not waited for
        return stepper

    def _gone(self, key: int) -> None:
        with self._lock:
            self._answered.discard(key)
            self._lock.notify_all()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._lock.notify_all()

    def call(self, call: _Call) -> None:
        """Queue ``call`` and wait until its batch has run (its error raised here), leading
        rounds meanwhile if no other caller does."""
        with self._lock:
            if self._closed:
                raise CodecError("the TTS model is shut down")
            self._waiting.append(call)
            self._answered.discard(id(call.stepper))
            self._lock.notify_all()
            while self._leading and not call.done:
                self._lock.wait()
            lead = not call.done
            self._leading = self._leading or lead
        if lead:
            try:
                while not call.done and (round_ := self._next_round()):
                    for calls in round_:
                        self._run(calls)
            finally:
                with self._lock:
                    self._leading = False
                    self._lock.notify_all()  # a caller still waiting leads next
        if call.error is not None:
            raise call.error

    def _next_round(self) -> list[list[_Call]]:
        """The calls to run next (the one-token steps together, then the waiting prompts together);
        none once closed (every waiting call is then refused)."""
        with self._lock:
            if self._closed:
                for call in self._waiting:
                    call.error, call.done = CodecError("the TTS model is shut down"), True
                self._waiting = []
                self._lock.notify_all()
                return []
            deadline = time.monotonic() + self.window_s
            while self._answered and self._steps_rows() < self.max_rows and (left := deadline - time.monotonic()) > 0:
                self._lock.wait(left)
            self._answered.clear()  # who did not come back in time is not waited for next round
            steps = self._take([c for c in self._waiting if c.one_token])
            # prompts: generations' first calls together (their ids left-padded); any other alone
            prompts = self._take([c for c in self._waiting if not c.one_token], lambda c, head: c.first and head.first)
            self._waiting = [c for c in self._waiting if c not in steps and c not in prompts]
        return [calls for calls in (steps, prompts) if calls]

    def _take(self, calls: list[_Call], fits: Callable[[_Call, _Call], bool] = lambda c, head: True) -> list[_Call]:
        """The oldest of ``calls`` that go in one call: up to ``max_rows`` rows (the first always),
        each one that ``fits(call, first)``."""
        taken, rows = [], 0
        for call in calls:
            if taken and (rows + call.rows > self.max_rows or not fits(call, taken[0])):
                break
            taken.append(call)
            rows += call.rows
        return taken

    def _steps_rows(self) -> int:
        return sum(c.rows for c in self._waiting if c.one_token)

    def _run(self, calls: list[_Call]) -> None:
        now = time.perf_counter()
        if self.waited is not None:
            for call in calls:
                self.waited(now - call.sent)
        if calls[0].one_token:
            self.sizes[len(calls)] += 1
            if self.batched is not None:
                self.batched(len(calls))
        else:
            self.prompt_sizes[len(calls)] += 1
        try:
            logits, present = self.tts.run(*self._stacked(calls))
            rows, start = [], 0
            for call in calls:
                cut = present[0].shape[2] - call.past[0].shape[2] - call.ids.shape[1]  # its padding
                call.logits = logits[start : start + call.rows]
                call.present = [t[start : start + call.rows, :, cut:] for t in present]
                rows.append((call.present[0], start))
                start += call.rows
            if calls[0].one_token:
                self._last, self._last_rows = present, rows
        except Exception as err:  # every caller of the batch gets it
            self._last, self._last_rows = [], []
            for call in calls:
                call.error = err
        with self._lock:
            for call in calls:
                self._answered.add(id(call.stepper))
                call.stepper = call.past = None  # nothing here keeps a finished generation alive
                call.done = True
            self._lock.notify_all()


    def _stacked(self, calls: list[_Call]) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[np.ndarray]]:
        """``stack(calls)``; when they are the last batch's steppers, each with the cache that batch
        gave it, that batch's output is their stacked cache already (same rows, same padding): no
        copy (16 rows of 300 positions are 39 MB to copy each step). ``calls`` take its row order."""
        if len(calls) > 1 and len(calls) == len(self._last_rows):
            row = {id(view): start for view, start in self._last_rows}  # the views are alive: ids are theirs
            if all(id(c.past[0]) in row for c in calls):
                calls.sort(key=lambda c: row[id(c.past[0])])
                self.reused += 1
                return stack(calls, self._last)
        return stack(calls)


def stack(calls: list[_Call], past: list[np.ndarray] | None = None
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[np.ndarray]]:
    """Calls -> one call's (ids, positions, mask, past): caches left-padded with masked slots,
    and prompts of other lengths (first calls: the cache a dummy slot) with masked tokens, so a
    row's cache comes back as its own past and ids with masked slots before them (``past``: the
    calls' caches stacked so already, in their order)."""
    if len(calls) == 1:
        c = calls[0]
        return c.ids, c.positions, c.mask, c.past
    width = past[0].shape[2] if past is not None else max(c.past[0].shape[2] for c in calls)
    length, rows = max(c.ids.shape[1] for c in calls), sum(c.rows for c in calls)
    ids = np.zeros((rows, length, *calls[0].ids.shape[2:]), np.int64)
    positions = np.zeros((rows, length), np.int64)
    mask = np.zeros((rows, width + length), bool)
    stacked = past or [np.zeros((rows, *t.shape[1:2], width, t.shape[3]), t.dtype) for t in calls[0].past]
    start = 0
    for c in calls:
        end, own, short = start + c.rows, c.past[0].shape[2], length - c.ids.shape[1]
        if short and not c.first:
            raise ValueError("only first calls take padded ids: their padding is cut off with the dummy slot")
        ids[start:end, short:], positions[start:end, short:] = c.ids, c.positions
        mask[start:end, width - own : width], mask[start:end, width + short :] = c.mask[:, :own], c.mask[:, own:]
        if past is None:
            for out, t in zip(stacked, c.past):
                out[start:end, :, width - own :] = t
        start = end
    return ids, positions, mask, stacked


class BatchedStepper(OnnxStepper):
    """A generation's stepper whose calls go through the batcher (its cache is its own)."""

    def __init__(self, batcher: StepBatcher) -> None:
        super().__init__(batcher.tts)
        self.batcher = batcher

    def _run(self, ids: np.ndarray, positions: np.ndarray, mask: np.ndarray,
             past: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
        call = _Call(ids.astype(np.int64), positions.astype(np.int64), mask, past, self)
        self.batcher.call(call)
        return call.logits, call.present
