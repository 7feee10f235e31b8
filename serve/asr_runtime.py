"""ONNX Runtime engine for the CTC recognizer (``asr.onnx``, ``tts.asr_onnx``): numpy +
onnxruntime only, so the torch-free server can verify best-of-N candidates (``tts.verify``)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import onnxruntime as ort

from codec.errors import CodecError
from serve.runtime import session_options

ASR_ONNX = "asr.onnx"


class OnnxRecognizer:
    def __init__(self, model_dir: str | os.PathLike, threads: int | None = None) -> None:
        self.model_dir = Path(model_dir)
        graph = self.model_dir / ASR_ONNX
        if not graph.is_file():
            raise CodecError(f"{self.model_dir}: no {ASR_ONNX} (run: python -m tts.asr export-onnx {self.model_dir})")
        meta = json.loads((self.model_dir / "config.json").read_text())
        self.sample_rate, self.n_fft = int(meta["config"]["sample_rate"]), int(meta["config"]["n_fft"])
        self.frame_rate = self.sample_rate / int(meta["config"]["hop"])
        options = session_options(threads)
        # one run per call, between codec and TTS runs: idle threads that spin on after it steal
        # the cores the next session needs (a voice prompt cut + encode: 56 -> 36 ms, 2 cores)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
        props = self.session.get_modelmeta().custom_metadata_map
        if props.get("weights_hash") != meta.get("weights_hash"):
            raise CodecError(f"{graph}: exported from other weights than {self.model_dir}/model.safetensors; re-export")
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
