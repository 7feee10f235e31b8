"""Best-of-N synthesis: rank candidate renditions of a sentence by how well a recognizer hears
its text (Llasa's inference-time scaling with a verifier).

Sampling makes every rendition of a sentence different, and a small TTS misreads some of them
(a skipped word, a voice prompt's last words said again). Generating N in one batch and keeping
the one a CTC recognizer finds most likely to say the text trades compute for intelligibility.
The score is a forced alignment, -log p(text | audio) per character: it needs no decoding or
lexicon, and it punishes missing words and extra speech alike.

Use a recognizer other than the one that judges WER (the recipe's seed-1 recognizer,
``exp/asr_teacher``, bundled as ``models/asr_verifier``; ``models/asr`` is the judge), or the
evaluation measures the verifier's taste instead of intelligibility. Torch-free: the
recognizer is the torch ``CtcRecognizer`` or its ONNX graph (``serve.asr_runtime``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .ctc import ctc_nll, ctc_prefix_nll, encode_text, greedy_text

DEFAULT_VERIFIER = "asr_verifier"


class CtcVerifier:
    """Scores audio against the text it should say; lower is better (nats per character).
    ``recognizer``: anything with ``sample_rate`` and ``log_probs(wav) -> [frames, classes]``."""

    def __init__(self, recognizer) -> None:
        self.recognizer = recognizer

    def score(self, wav: np.ndarray, sample_rate: int, text: str) -> float:
        """-log p(text | wav) / characters; ``inf`` where the audio is too short to hold the text."""
        return self.hear(wav, sample_rate, text, transcribe=False)[0]

    def hear(self, wav: np.ndarray, sample_rate: int, text: str, transcribe: bool = True) -> tuple[float, str]:
        """``score`` and what the recognizer hears (greedy, no lexicon), from one run of it."""
        target = encode_text(text)
        if not target and not transcribe:
            return 0.0, ""
        log_probs = self._log_probs(np.asarray(wav)[None], sample_rate)[0]
        heard = greedy_text(log_probs.argmax(-1).tolist()) if transcribe else ""
        return (ctc_nll(log_probs, target) / len(target) if target else 0.0), heard

    def on_track(self, wavs: list[np.ndarray], sample_rate: int, text: str) -> list[float]:
        """-log p(the audio says a beginning of ``text``) of each rendition: ranks renditions cut
        off at the same length (``tts.search``); lower is better. Renditions of one length are
        heard in one recognizer run (a search's live rows all are; 8 rows of 1-6 s: 1.6-1.9x faster)."""
        target, scores = encode_text(text), [0.0] * len(wavs)
        by_length: dict[int, list[int]] = {}
        for i, wav in enumerate(wavs):
            by_length.setdefault(len(wav), []).append(i)
        for rows in by_length.values():
            for i, log_probs in zip(rows, self._log_probs(np.stack([wavs[i] for i in rows]), sample_rate)):
                scores[i] = ctc_prefix_nll(log_probs, target)
        return scores

    def _log_probs(self, wavs: np.ndarray, sample_rate: int) -> np.ndarray:
        """Clips of one length [B, samples] -> the recognizer's [B, frames, classes]."""
        from codec.audio import resample

        rate = self.recognizer.sample_rate
        return self.recognizer.log_probs_batch(np.stack([resample(wav, sample_rate, rate) for wav in wavs]))

    def best(self, wavs: list[np.ndarray], sample_rate: int, text: str) -> tuple[int, list[float]]:
        """Index of the candidate most likely to say ``text`` (the first among equals) and every score."""
        scores = [self.score(w, sample_rate, text) for w in wavs]
        return int(np.argmin(scores)), scores

    def trim(self, wav: np.ndarray, sample_rate: int, transcript: str, max_seconds: float, keep: str = "start"):
        """A voice prompt cut to ``max_seconds`` at a word boundary (``tts.voice_trim``)."""
        from .voice_trim import trim_voice

        return trim_voice(wav, sample_rate, transcript, self.recognizer, max_seconds, keep)


def load_verifier(spec: str | None = None, backend: str = "auto", threads: int | None = None) -> CtcVerifier:
    """A recognizer directory or a bundled model's name (default ``models/asr_verifier``): its
    ONNX graph (``asr.onnx``, no torch) where exported, unless ``backend='torch'``."""
    from codec.errors import CodecError
    from codec.pretrained import resolve_model_dir

    spec = spec or DEFAULT_VERIFIER
    directory = resolve_model_dir(spec)
    if directory is None:
        raise CodecError(f"{spec}: no recognizer there to verify with (train one: python -m tts.asr train ... --seed 1)")
    from serve.asr_runtime import ASR_ONNX, OnnxRecognizer

    if backend == "onnx" or (backend == "auto" and (Path(directory) / ASR_ONNX).is_file()):
        return CtcVerifier(OnnxRecognizer(directory, threads))
    from .asr import CtcRecognizer

    return CtcVerifier(CtcRecognizer.from_pretrained(directory))
