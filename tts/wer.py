"""Intelligibility measured by ASR: offline pocketsphinx transcription and word error rate.

Pocketsphinx (PyPI, ships an en-us model) is weak but free and offline; what matters is the
comparison on the same sentences: ground-truth audio vs codec resynthesis vs TTS output.
"""

from __future__ import annotations

import re

import numpy as np

from codec.audio import resample

ASR_RATE = 16000


def words(text: str) -> list[str]:
    """Lowercase words, punctuation dropped (apostrophes kept): what WER compares."""
    return re.sub(r"[^a-z' ]+", " ", text.lower()).split()


def edit_distance(ref: list[str], hyp: list[str]) -> int:
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1]


def word_error_rate(refs: list[str], hyps: list[str]) -> float:
    """Corpus WER: total word edits / total reference words."""
    errors = sum(edit_distance(words(r), words(h)) for r, h in zip(refs, hyps))
    return errors / max(1, sum(len(words(r)) for r in refs))


class Transcriber:
    """pocketsphinx en-us decoder; ``transcribe(wav, sample_rate)`` -> text."""

    def __init__(self) -> None:
        from pocketsphinx import Decoder

        self.decoder = Decoder(loglevel="FATAL")

    def transcribe(self, wav: np.ndarray, sample_rate: int) -> str:
        pcm = np.clip(resample(wav, sample_rate, ASR_RATE) * 32767, -32768, 32767).astype("<i2").tobytes()
        self.decoder.start_utt()
        self.decoder.process_raw(pcm, full_utt=True)
        self.decoder.end_utt()
        hyp = self.decoder.hyp()
        return hyp.hypstr if hyp else ""
