"""ONNX Runtime engine for the TTS decoder: numpy + onnxruntime only, no torch.

``OnnxTts(model_dir)`` loads ``tts.onnx`` (or ``tts.int8.onnx``), reads the model config
from ``config.json`` and hands out steppers for ``tts.decoding.decode_loop``, so generation,
sampling and streaming are the very code the torch path runs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import onnxruntime as ort

from codec.errors import CodecError
from serve.runtime import session_options
from tts.config import TtsConfig

GRAPH, INT8_GRAPH = "tts.onnx", "tts.int8.onnx"


class OnnxTts:
    def __init__(self, model_dir: str | os.PathLike, threads: int | None = None, int8: bool = False) -> None:
        self.model_dir = Path(model_dir)
        self.graph = graph = self.model_dir / (INT8_GRAPH if int8 else GRAPH)
        if not graph.is_file():
            raise CodecError(f"{self.model_dir}: no {graph.name} (run: tts-cli export-onnx {self.model_dir}"
                             + (" --quantize int8)" if int8 else ")"))
        meta = json.loads((self.model_dir / "config.json").read_text())
        self.cfg = TtsConfig.from_dict(meta["config"])
        self.weights_hash = meta.get("weights_hash", "")
        self.session = ort.InferenceSession(str(graph), session_options(threads), providers=["CPUExecutionProvider"])
        props = self.session.get_modelmeta().custom_metadata_map
        if props.get("weights_hash", self.weights_hash) != self.weights_hash:
            raise CodecError(f"{graph}: exported from other weights than {self.model_dir}/model.safetensors; re-export")

    def stepper(self) -> "OnnxStepper":
        return OnnxStepper(self)


class OnnxStepper:
    """Holds one generation's K/V cache; starts from a one-slot dummy past hidden by the mask."""

    def __init__(self, tts: OnnxTts) -> None:
        self.tts = tts
        self.past: list[np.ndarray] | None = None

    def step(self, ids: np.ndarray, positions: np.ndarray, key_mask: np.ndarray) -> np.ndarray:
        cfg = self.tts.cfg
        if self.past is None:
            shape = (ids.shape[0], cfg.n_kv_heads, 1, cfg.head_dim)
            self.past = [np.zeros(shape, np.float32) for _ in range(2 * cfg.n_layers)]
        mask = np.concatenate([np.zeros((ids.shape[0], 1), bool), key_mask], axis=1)  # the dummy slot
        feeds = {"input_ids": ids.astype(np.int64), "position_ids": positions.astype(np.int64), "attention_mask": mask}
        feeds.update({f"past_{kind}_{i // 2}": t for i, (kind, t) in enumerate(zip(("key", "value") * cfg.n_layers, self.past))})
        logits, *self.past = self.tts.session.run(None, feeds)
        return logits[:, -1]

    def reorder(self, rows: np.ndarray) -> None:
        """Row i of the cache becomes a copy of row ``rows[i]`` (``tts.decoding.Decoding.reorder``)."""
        if self.past is not None:
            self.past = [t[rows] for t in self.past]
