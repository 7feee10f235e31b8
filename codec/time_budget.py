"""Fit a training run's length to wall-clock time: a GPU lease, a queue's job limit.

A ``max_steps`` guessed from the first steps wastes the time or overruns it: the first steps
run slow (allocator warm-up, kernel autotuning, caches); on an H200 the TTS ran 0.39-0.43
s/step over steps 10-50 and 0.2 s/step after, so a count fitted there trained half the lease.
``TimeBudget`` measures the rate over steps ``probe`` (after the run's first step), sets the
cosine schedule's ``max_steps`` once from it (DDP ranks agree on the smallest) and stops the
run, checkpointed, if the deadline comes first anyway.
"""

from __future__ import annotations

import time
from typing import Callable

import torch
import torch.distributed as dist

from .typed_config import ConfigError

CHECK_EVERY = 10  # steps between deadline checks (a collective under DDP)


def _agree(value: int, op: dist.ReduceOp) -> int:
    """One value for every DDP rank (``op`` over them); the value itself outside DDP."""
    if not dist.is_initialized():
        return value
    backend_cuda = dist.get_backend() == "nccl"
    t = torch.tensor([value], dtype=torch.int64, device="cuda" if backend_cuda else "cpu")
    dist.all_reduce(t, op)
    return int(t.item())


class TimeBudget:
    def __init__(self, seconds: float, probe: tuple[int, int] = (50, 200), reserve: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """``reserve``: seconds kept free at the end for the last checkpoint (default 3% + 10 s)."""
        if not seconds > 0:
            raise ConfigError(f"--time-budget must be > 0 seconds, got {seconds}")
        if not 0 <= probe[0] < probe[1]:
            raise ConfigError(f"time budget probe must be two increasing step counts, got {probe}")
        self.seconds, self.probe, self.clock = seconds, probe, clock
        self.reserve = 0.03 * seconds + 10 if reserve is None else reserve
        self.fitted: int | None = None
        self._start: tuple[int, float] | None = None
        self._mark: tuple[int, float] | None = None

    def start(self, step: int) -> None:
        self._start = (step, self.clock())
        self._mark = self._start if self.probe[0] == 0 else None

    @property
    def deadline(self) -> float:
        assert self._start is not None, "TimeBudget.start() first"
        return self._start[1] + self.seconds - self.reserve

    def after_step(self, step: int, cfg) -> bool:
        """Call after each step: sets ``cfg.max_steps`` once the rate is measured; True when the
        run must stop now (the deadline has come, on any rank)."""
        done = step - self._start[0]
        if done == self.probe[0]:
            self._mark = (step, self.clock())
        elif done == self.probe[1] and self._mark is not None:
            now = self.clock()
            per_step = (now - self._mark[1]) / (step - self._mark[0])
            fits = step + max(1, int((self.deadline - now) / max(per_step, 1e-9)))
            cfg.max_steps = self.fitted = _agree(fits, dist.ReduceOp.MIN)
        if done % CHECK_EVERY:
            return False
        return bool(_agree(int(self.clock() >= self.deadline), dist.ReduceOp.MAX))

    def describe(self) -> str:
        return f"max_steps fitted to the {self.seconds:g} s time budget: {self.fitted}"
