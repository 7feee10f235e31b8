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

    def empty_past(self, rows: int) -> list[np.ndarray]:
        """A cache of one dummy slot per layer (K and V), hidden by the mask: the graph's past needs a length."""
        shape = (rows, self.cfg.n_kv_heads, 1, self.cfg.head_dim)
        return [np.zeros(shape, np.float32) for _ in range(2 * self.cfg.n_layers)]

    def run(self, ids: np.ndarray, positions: np.ndarray, mask: np.ndarray,
            past: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
        """One call of the graph: (last position's logits [B, V], the cache with ``ids`` added).
        ``mask`` covers the cache and ``ids`` ([B, len(past) + L])."""
        feeds = {"input_ids": ids.astype(np.int64), "position_ids": positions.astype(np.int64), "attention_mask": mask}
        feeds.update({f"past_{kind}_{i // 2}": t for i, (kind, t) in enumerate(zip(("key", "value") * self.cfg.n_layers, past))})
        logits, *present = self.session.run(None, feeds)
        return logits[:, -1], present


class OnnxStepper:
    """Holds one generation's K/V cache; starts from a one-slot dummy past hidden by the mask."""

    def __init__(self, tts: OnnxTts) -> None:
        self.tts = tts
        self.past: list[np.ndarray] | None = None

    def step(self, ids: np.ndarray, positions: np.ndarray, key_mask: np.ndarray) -> np.ndarray:
        if self.past is None:
            self.past = self.tts.empty_past(ids.shape[0])
        mask = np.concatenate([np.zeros((ids.shape[0], 1), bool), key_mask], axis=1)  # the dummy slot
        logits, self.past = self._run(ids, positions, mask)
        return logits

    def _run(self, ids: np.ndarray, positions: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        return self.tts.run(ids, positions, mask, self.past)

    def reorder(self, rows: np.ndarray) -> None:
        """Row i of the cache becomes a copy of row ``rows[i]`` (``tts.decoding.Decoding.reorder``)."""
        if self.past is not None:
            self.past = [t[rows] for t in self.past]
