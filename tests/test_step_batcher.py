"""serve.step_batcher: concurrent generations' steps as one ONNX Runtime call, each generation
saying what it says alone."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from codec.errors import CodecError
from serve.step_batcher import StepBatcher
from serve.tts_runtime import OnnxTts
from tts.decoding import decode_loop
from tts.generate import SamplingConfig, build_prompt
from tts.model import TtsModel


@pytest.fixture(scope="module")
def exported(exported_tts) -> tuple[TtsModel, OnnxTts]:
    model, directory = exported_tts(codec="distilcodec-tiny")
    return model, OnnxTts(directory, threads=1)


def requests(model: TtsModel) -> list[tuple[list, int, SamplingConfig]]:
    """Four generations that differ in prompt length (one with a voice prompt), length and seed."""
    q = model.cfg.n_codebooks
    voice = [[1 + i % 7] * q if q > 1 else 1 + i % 7 for i in range(9)]
    prompts = [build_prompt(model, [5, 6, 7]), build_prompt(model, [9, 10, 11, 12, 13, 14, 15], [4], prompt_codes=voice),
               build_prompt(model, list(range(20, 40))), build_prompt(model, [8, 8])]
    return [(p, frames, SamplingConfig(seed=seed, cfg_scale=2.0))
            for seed, (p, frames) in enumerate(zip(prompts, [60, 45, 70, 30]))]


def forced(stepper, prompt: list, tokens: np.ndarray) -> list[np.ndarray]:
    """Each step's logits with ``tokens`` fed (teacher forcing: the same inputs however the steps batch)."""
    ids = np.array([prompt, prompt], np.int64)  # two rows, as guidance runs
    n = ids.shape[1]
    logits = [stepper.step(ids, np.tile(np.arange(n), (2, 1)), np.ones((2, n), bool))]
    for i, token in enumerate(tokens):
        logits.append(stepper.step(np.full((2, 1, *ids.shape[2:]), token), np.full((2, 1), n + i),
                                   np.ones((2, n + i + 1), bool)))
    return logits


def together(batcher: StepBatcher, run, jobs: list) -> list:
    """``run(stepper, *job)`` for each job in its own thread, as the server runs generations."""
    out: list = [None] * len(jobs)

    def one(i: int) -> None:
        out[i] = run(batcher.stepper(), *jobs[i])

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def forced_jobs(model: TtsModel) -> list[tuple[list, np.ndarray]]:
    rng = np.random.default_rng(0)
    lo, hi = model.cfg.codebook_offset(0), model.cfg.codebook_offset(1)
    return [(prompt, rng.integers(lo, hi, frames)) for prompt, frames, _ in requests(model)]


@pytest.mark.parametrize("max_rows, most", [(32, 4), (4, 2)])  # 2 rows a request
def test_batched_steps_compute_what_each_computes_alone(exported, max_rows, most):
    """Stacked with other generations (caches of other lengths, left-padded), a generation's
    logits are its own call's (within float rounding: sums grouped differently)."""
    model, tts = exported
    jobs = forced_jobs(model)
    alone = [forced(tts.stepper(), *job) for job in jobs]
    batcher = StepBatcher(tts, max_rows=max_rows, window_s=1.0)  # long: every live generation joins each round
    try:
        batched = together(batcher, forced, jobs)
    finally:
        batcher.close()
    for ours, theirs in zip(batched, alone):
        assert len(ours) == len(theirs)
        np.testing.assert_allclose(np.array(ours), np.array(theirs), rtol=0, atol=1e-4)
    assert max(batcher.sizes) == most  # four requests' steps ran as one call (or as many as max_rows holds)
    if most == 4:  # rounds of the same requests took the round before's output as their cache
        assert batcher.reused > 10


def generate(stepper, prompt: list, frames: int, sampling: SamplingConfig) -> list:
    out = []
    for chunk in decode_loop(stepper, stepper.tts.cfg, [prompt], [frames], sampling, chunk_frames=8, min_frames=[frames]):
        out += chunk[0]
    return out


def test_sampled_generations_batched_say_what_they_say_alone(exported_tts):
    """Delay-pattern steps ([B, 1, Q] ids) stack too. Sampled tokens equal: a near-tie a rounding
    difference flips is rare (README), and these requests have none."""
    model, directory = exported_tts(n_codebooks=3, codebook_size=64)
    tts = OnnxTts(directory, threads=1)
    jobs = requests(model)
    alone = [generate(tts.stepper(), *job) for job in jobs]
    batcher = StepBatcher(tts, window_s=1.0)
    try:
        assert together(batcher, generate, jobs) == alone and max(batcher.sizes) == 4
    finally:
        batcher.close()
    assert [len(a) for a in alone] == [60, 45, 70, 30] and all(len(frame) == 3 for frame in alone[0])


def one_token(stepper, fed: int) -> np.ndarray:
    """A decode step after ``fed`` tokens (two rows)."""
    return stepper.step(np.full((2, 1), 3), np.full((2, 1), fed), np.ones((2, fed + 1), bool))


def prompt(stepper) -> np.ndarray:
    return stepper.step(np.array([[4, 5, 6], [4, 5, 6]]), np.tile(np.arange(3), (2, 1)), np.ones((2, 3), bool))


def in_thread(fn) -> threading.Thread:
    thread = threading.Thread(target=fn, daemon=True)
    thread.start()
    return thread


def test_a_finished_generation_is_not_waited_for(exported):
    """The batcher waits for the generations it answered last round; one whose stepper is gone
    (its generation ended) must not hold the others for the whole window."""
    _, tts = exported
    batcher = StepBatcher(tts, window_s=120.0)
    try:
        a, others = batcher.stepper(), [batcher.stepper()]
        prompt(a)
        started = in_thread(lambda: prompt(others[0]))  # waits for a's next step: both run in one round
        while not batcher._waiting:  # queued before a's step
            time.sleep(0.001)
        one_token(a, 3)
        started.join(timeout=60)
        assert not started.is_alive()
        others.clear()  # the other generation is over: only a goes on
        going_on = in_thread(lambda: one_token(a, 4))
        going_on.join(timeout=60)
        assert not going_on.is_alive()  # it did not wait 120 s for the other
    finally:
        batcher.close()


def test_prompts_that_wait_together_run_as_one_call(exported):
    """New generations' prompts of other lengths, queued while a round waits, run as one call
    (ids left-padded with masked tokens) and go on as they would alone."""
    model, tts = exported
    jobs = [(prompt, tokens[:3]) for prompt, tokens in forced_jobs(model)[:3]]
    alone = [forced(tts.stepper(), *job) for job in jobs]
    batcher = StepBatcher(tts, window_s=60.0)
    out: list = [None] * len(jobs)
    try:
        a = batcher.stepper()
        prompt(a)  # answered: the next round waits for a's next step
        threads = [in_thread(lambda i=i: out.__setitem__(i, forced(batcher.stepper(), *jobs[i]))) for i in range(3)]
        while len(batcher._waiting) < 3:
            time.sleep(0.001)
        one_token(a, 3)  # the round: a's step, then the three prompts
        a = None  # a's generation is over
        for thread in threads:
            thread.join(timeout=60)
    finally:
        batcher.close()
    assert batcher.prompt_sizes[3] == 1 and [len(o) for o in out] == [4, 4, 4]
    for ours, theirs in zip(out, alone):
        np.testing.assert_allclose(np.array(ours), np.array(theirs), rtol=0, atol=1e-4)


def test_a_failed_call_fails_its_callers_and_the_batcher_goes_on(exported):
    _, tts = exported
    batcher = StepBatcher(tts)
    try:
        broken = batcher.stepper()
        with pytest.raises(Exception, match="ONNXRuntimeError"):
            broken.step(np.array([[4, 5, 6]] * 2), np.arange(5)[None].repeat(2, 0), np.ones((2, 3), bool))
        fresh, alone = batcher.stepper(), tts.stepper()
        np.testing.assert_array_equal(prompt(fresh), prompt(alone))  # a call alone is the plain call
        np.testing.assert_array_equal(one_token(fresh, 3), one_token(alone, 3))
    finally:
        batcher.close()
    with pytest.raises(CodecError, match="shut down"):
        one_token(fresh, 4)
