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
from tts.decoding import first_alike
from tts.lru import Lru
from tts.sequence import text_span

GRAPH, INT8_GRAPH = "tts.onnx", "tts.int8.onnx"
KEPT_ROWS = 32  # textless prompt rows' prefills kept (``OnnxTts.kept_rows``), ~1 MB each for a 3 s voice


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
        # textless prompt rows' prefills (their last logits, their cache), for the next request
        # that sends the same row (``OnnxStepper._prefill``)
        self.kept_rows: Lru[tuple[np.ndarray, list[np.ndarray]]] = Lru(KEPT_ROWS)
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
    """Holds one generation's K/V cache; starts from a one-slot dummy past hidden by the mask.

    The prompt's rows are prefilled at their own lengths, not padded to the longest: guidance's
    textless rows (``tts.sequence.without_text``: the markers and the voice prompt's codes) are
    much shorter than the rows with text, and are the same for every request in a voice, so the
    model keeps their prefill (``OnnxTts.kept_rows``) and a later request takes it as it is."""

    def __init__(self, tts: OnnxTts) -> None:
        self.tts = tts
        self.past: list[np.ndarray] | None = None

    def step(self, ids: np.ndarray, positions: np.ndarray, key_mask: np.ndarray) -> np.ndarray:
        if self.past is None:
            return self._prefill(ids, positions, key_mask)
        mask = np.concatenate([np.zeros((ids.shape[0], 1), bool), key_mask], axis=1)  # the dummy slot
        logits, self.past = self._run(ids, positions, mask, self.past)
        return logits

    def _prefill(self, ids: np.ndarray, positions: np.ndarray, key_mask: np.ndarray) -> np.ndarray:
        """The first call: rows with text together, textless ones together or kept, each group at
        its own longest, and a row the same as one before it (best-of's candidates: one prompt,
        B times) taken from that one, not run again; the caches then left-padded with masked
        slots to the prompt's width."""
        rows, width = ids.shape[0], ids.shape[1]
        keys = [self._textless_key(ids[r][key_mask[r]]) for r in range(rows)]
        done = {r: hit for r, key in enumerate(keys) if key is not None and (hit := self.tts.kept_rows.get(key)) is not None}
        first = first_alike(ids, positions, key_mask)  # row -> the first row equal to it
        for group in ([r for r in range(rows) if r not in done and keys[r] is None and first[r] == r],
                      [r for r in range(rows) if r not in done and keys[r] is not None and first[r] == r]):
            if not group:
                continue
            cut = width - int(key_mask[group].sum(1).max())  # the group's common padding
            mask = np.concatenate([np.zeros((len(group), 1), bool), key_mask[group, cut:]], axis=1)
            logits, present = self._run(ids[group, cut:], positions[group, cut:], mask, self.tts.empty_past(len(group)))
            for i, r in enumerate(group):
                done[r] = (logits[i : i + 1], [t[i : i + 1] for t in present])
                if keys[r] is not None:
                    self.tts.kept_rows.put(keys[r], done[r])
        for r in range(rows):
            done.setdefault(r, done[first[r]])
        self.past = [np.concatenate([_left_padded(done[r][1][k], 1 + width) for r in range(rows)])
                     for k in range(len(done[0][1]))]
        return np.concatenate([done[r][0] for r in range(rows)])

    def _textless_key(self, row: np.ndarray) -> bytes | None:
        """The row's ids as a key when it holds no text (guidance's textless row), else None."""
        try:
            opened, closed = text_span(self.tts.cfg, row)
        except ValueError:  # not a prompt's layout: nothing to know it by
            return None
        return row.tobytes() if closed == opened + 1 else None

    def _run(self, ids: np.ndarray, positions: np.ndarray, mask: np.ndarray,
             past: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
        return self.tts.run(ids, positions, mask, past)

    def reorder(self, rows: np.ndarray) -> None:
        """Row i of the cache becomes a copy of row ``rows[i]`` (``tts.decoding.Decoding.reorder``)."""
        if self.past is not None:
            self.past = [t[rows] for t in self.past]


def _left_padded(cache: np.ndarray, length: int) -> np.ndarray:
    """A cache [B, H, n, D] with zero slots before it to ``length`` (the mask hides them)."""
    short = length - cache.shape[2]
    return cache if short == 0 else np.concatenate([np.zeros((*cache.shape[:2], short, cache.shape[3]), cache.dtype), cache], 2)
