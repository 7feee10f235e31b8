"""ONNX Runtime engine for the speaker encoder (``speaker.onnx``, ``tts.speaker_onnx``): numpy +
onnxruntime only, so the torch-free server can compare voices (a voice's consent,
``tts.consent``)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from codec.audio import resample
from serve.runtime import judge_session

SPEAKER_ONNX = "speaker.onnx"


class OnnxSpeakerEncoder:
    def __init__(self, model_dir: str | os.PathLike, threads: int | None = None) -> None:
        self.model_dir = Path(model_dir)
        self.session, meta = judge_session(self.model_dir, SPEAKER_ONNX, "tts.speaker", threads)
        self.sample_rate, self.n_fft = int(meta["config"]["sample_rate"]), int(meta["config"]["n_fft"])

    def embedding(self, wav: np.ndarray, sample_rate: int) -> np.ndarray:
        """Mono float audio -> its unit-length speaker embedding (as ``SpeakerEncoder.embedding``)."""
        wav = resample(np.asarray(wav, np.float32), sample_rate, self.sample_rate).astype(np.float32)
        wav = np.pad(wav, (0, max(0, self.n_fft - len(wav))))
        return self.session.run(None, {"wav": wav[None]})[0][0]

    def similarity(self, a: np.ndarray, b: np.ndarray, sample_rate: int) -> float:
        """Cosine of two recordings' embeddings: 1 = the same voice as far as this encoder hears."""
        return float(self.embedding(a, sample_rate) @ self.embedding(b, sample_rate))
