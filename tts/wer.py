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


def bigram_arpa(sentences: list[str], discount: float = 0.5) -> str:
    """An ARPA bigram LM (absolute discounting, backoff to unigrams) over ``sentences``.

    The stock en-us LM knows nothing of a corpus' domain; a domain LM built from the
    *training* transcripts makes the ASR usable while still scoring held-out sentences."""
    from collections import Counter
    from math import log10

    uni, bi = Counter(), Counter()
    for sentence in sentences:
        toks = ["<s>", *words(sentence), "</s>"]
        uni.update(toks)
        bi.update(zip(toks, toks[1:]))
    total = sum(uni.values())
    followers = Counter(a for a, _ in bi)
    lines = ["\\data\\", f"ngram 1={len(uni)}", f"ngram 2={len(bi)}", "", "\\1-grams:"]
    for w, c in sorted(uni.items()):
        backoff = discount * followers[w] / uni[w] if followers[w] else 1.0
        lines.append(f"{log10(c / total):.4f} {w} {log10(backoff):.4f}")
    lines += ["", "\\2-grams:"]
    for (a, b), c in sorted(bi.items()):
        lines.append(f"{log10((c - discount) / uni[a]):.4f} {a} {b}")
    return "\n".join(lines + ["", "\\end\\", ""])


class Transcriber:
    """pocketsphinx en-us decoder, optionally with a domain LM; ``transcribe(wav, rate)`` -> text."""

    def __init__(self, lm_sentences: list[str] | None = None) -> None:
        import tempfile

        from pocketsphinx import Decoder

        kwargs = {}
        if lm_sentences:
            self._lm = tempfile.NamedTemporaryFile("w", suffix=".arpa", delete=False)
            self._lm.write(bigram_arpa(lm_sentences))
            self._lm.close()
            kwargs["lm"] = self._lm.name
        self.decoder = Decoder(loglevel="FATAL", **kwargs)

    def transcribe(self, wav: np.ndarray, sample_rate: int) -> str:
        pcm = np.clip(resample(wav, sample_rate, ASR_RATE) * 32767, -32768, 32767).astype("<i2").tobytes()
        self.decoder.start_utt()
        self.decoder.process_raw(pcm, full_utt=True)
        self.decoder.end_utt()
        hyp = self.decoder.hyp()
        return hyp.hypstr if hyp else ""
