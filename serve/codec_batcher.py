"""Concurrent codec streams' step calls stacked into one ONNX Runtime call.

A codec stream (EncodeStream, DecodeStream, their WebSockets) runs one ``encoder_step`` or
``decoder_step`` call per chunk: for 80 ms chunks a few milliseconds of mostly fixed cost per
call. Stacked along the batch axis, with each stream's state as its own row, 16 streams' calls
cost about half of what they cost one by one on 2 CPU cores, and each row's answer is the one
its stream would get alone, bit for bit (tested: batching changes no byte of any stream).

No waiting window: a call that finds a worker free runs at once (a lone stream is not slowed);
calls that arrive while ``max_in_flight`` batches run wait for the next, and go together, up to
``max_rows`` rows, oldest first, those of one graph and one chunk shape (streams of other chunk
lengths or code depths cannot share a call). Runs on the event loop; the calls themselves go
to the server's inference pool.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Awaitable, Callable

import numpy as np

MAX_ROWS = 32

Answer = tuple[np.ndarray, list[np.ndarray]]


@dataclass(eq=False)
class _Call:
    which: str  # "encoder" or "decoder"
    x: np.ndarray
    state: list[np.ndarray]
    answer: asyncio.Future
    sent: float = field(default_factory=time.perf_counter)

    @property
    def key(self) -> tuple:
        return self.which, self.x.shape[1:]


class CodecStepBatcher:
    """``await step(which, x, state)`` stands in for ``codec.step(which, x, state)`` of an
    ``OnnxCodec``. ``run(fn)`` puts a call on the inference pool and awaits it; ``waited(s)`` is
    told each call's wait for its batch to start, ``batched(n)`` each batch's size."""

    def __init__(self, codec, run: Callable[[Callable[[], Answer]], Awaitable[Answer]],
                 max_rows: int = MAX_ROWS, max_in_flight: int = 1) -> None:
        if max_rows < 1 or max_in_flight < 1:
            raise ValueError(f"max_rows and max_in_flight must be >= 1, got {max_rows}, {max_in_flight}")
        self.codec, self.run = codec, run
        self.max_rows, self.max_in_flight = max_rows, max_in_flight
        self.waited: Callable[[float], None] | None = None
        self.batched: Callable[[int], None] | None = None
        self.sizes: Counter[int] = Counter()  # batches by how many streams they held
        self._waiting: list[_Call] = []
        self._in_flight = 0

    async def step(self, which: str, x: np.ndarray, state: list[np.ndarray]) -> Answer:
        call = _Call(which, x, state, asyncio.get_running_loop().create_future())
        self._waiting.append(call)
        self._launch()
        return await call.answer

    def _launch(self) -> None:
        self._waiting = [c for c in self._waiting if not c.answer.done()]  # cancelled streams
        while self._waiting and self._in_flight < self.max_in_flight:
            key = self._waiting[0].key
            batch = [c for c in self._waiting if c.key == key][: self.max_rows]
            self._waiting = [c for c in self._waiting if c not in batch]
            self._in_flight += 1
            asyncio.ensure_future(self._run(batch))

    async def _run(self, batch: list[_Call]) -> None:
        self.sizes[len(batch)] += 1
        if self.batched is not None:
            self.batched(len(batch))
        try:
            rows = [c.x.shape[0] for c in batch]
            x = batch[0].x if len(batch) == 1 else np.concatenate([c.x for c in batch])
            state = batch[0].state if len(batch) == 1 else [np.concatenate(s) for s in zip(*(c.state for c in batch))]
            out, new = await self.run(lambda: self._call(batch, x, state))
            start = 0
            for call, n in zip(batch, rows):
                if not call.answer.done():
                    call.answer.set_result((out[start : start + n], [s[start : start + n] for s in new]))
                start += n
        except Exception as err:  # every stream of the batch gets it
            for call in batch:
                if not call.answer.done():
                    call.answer.set_exception(err)
        finally:
            self._in_flight -= 1
            self._launch()

    def _call(self, batch: list[_Call], x: np.ndarray, state: list[np.ndarray]) -> Answer:
        """On the worker: the stacked call, each stream's wait for it told first."""
        if self.waited is not None:
            now = time.perf_counter()
            for call in batch:
                self.waited(now - call.sent)
        return self.codec.step(batch[0].which, x, state)


async def push(part, x: np.ndarray, batcher: CodecStepBatcher) -> np.ndarray:
    """``part.push(x)`` of an ONNX stream half (``serve.runtime.OnnxEncoderStream`` or
    ``OnnxDecoderStream``), its step call batched with other streams'."""
    return await _took(part, part.ready(x), batcher)


async def flush(encoder, batcher: CodecStepBatcher) -> np.ndarray:
    """``encoder.flush()``, batched likewise."""
    return await _took(encoder, encoder.ready_tail(), batcher)


async def _took(part, x: np.ndarray | None, batcher: CodecStepBatcher) -> np.ndarray:
    return part.took(None if x is None else await batcher.step(part.which, x, part.state))
