"""ONNX Runtime engine for the CTC recognizer (``asr.onnx``, ``tts.asr_onnx``): numpy +
onnxruntime only, so the torch-free server can verify best-of-N candidates (``tts.verify``)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from serve.runtime import judge_session

ASR_ONNX = "asr.onnx"


class OnnxRecognizer:
    def __init__(self, model_dir: str | os.PathLike, threads: int | None = None) -> None:
        self.model_dir = Path(model_dir)
        self.session, meta = judge_session(self.model_dir, ASR_ONNX, "tts.asr", threads)
        self.sample_rate, self.n_fft = int(meta["config"]["sample_rate"]), int(meta["config"]["n_fft"])
        self.frame_rate = self.sample_rate / int(meta["config"]["hop"])
        self.batched = self.session.get_inputs()[0].shape[0] != 1

    def log_probs(self, wav: np.ndarray) -> np.ndarray:
        """Mono float32 audio at ``sample_rate`` -> CTC log-probabilities [frames, classes]."""
        return self.log_probs_batch(np.asarray(wav, np.float32)[None])[0]

    def log_probs_batch(self, wavs: np.ndarray) -> np.ndarray:
        """Clips of one length [B, samples] -> [B, frames, classes] in one run (a graph exported
        for one clip at a time, before 2026-12-06, runs each row on its own)."""
        wavs = np.asarray(wavs, np.float32)
        wavs = np.pad(wavs, ((0, 0), (0, max(0, self.n_fft - wavs.shape[1]))))
        if self.batched:
            return self.session.run(None, {"wav": wavs})[0]
        return np.stack([self.session.run(None, {"wav": wav[None]})[0][0] for wav in wavs])
