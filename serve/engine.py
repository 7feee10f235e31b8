"""Pick a codec backend behind one numpy API: ONNX Runtime (default where graphs exist) or torch.

Both engines expose ``cfg``, ``name``, ``sample_rate``, ``hop``, ``n_codebooks``,
``codebook_sizes``, ``pretrained``, ``weights_hash()``, ``codes_hash()``, ``n_frames``, ``n_q_for_bandwidth``,
``check_codes``, ``encode(wav[B,T]) -> codes[B,Q,F]``, ``decode(codes, n_samples)`` and
``stream(batch, n_q)``; the CLI and the server never touch torch tensors directly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from codec.errors import CodecError
from codec.pretrained import DEFAULT_CODEC, resolve_model_dir
from serve.runtime import CodecSurface, OnnxCodec, onnx_files_present

BACKENDS = ("auto", "onnx", "torch")


class TorchCodecEngine(CodecSurface):
    """numpy facade over ``codec.model.Codec`` (the training-side implementation)."""

    def __init__(self, codec) -> None:
        import torch

        self._torch, self.codec = torch, codec.eval()
        self.cfg, self.name, self.pretrained = codec.cfg, codec.cfg.name, codec.pretrained
        self._weights_hash, self._codes_hash = codec.weights_hash(), codec.codes_hash()

    def encode(self, wav: np.ndarray, n_q: int | None = None) -> np.ndarray:
        x = self._torch.from_numpy(np.ascontiguousarray(np.atleast_2d(wav), dtype=np.float32))
        return self.codec.encode(x, n_q).numpy()

    def decode(self, codes: np.ndarray, n_samples: int | None = None) -> np.ndarray:
        c = self._torch.from_numpy(np.ascontiguousarray(codes, dtype=np.int64))
        return self.codec.decode(c, n_samples=n_samples).numpy()

    def stream(self, batch: int = 1, n_q: int | None = None):
        return _TorchStream(self, batch, n_q)


class _TorchStream:
    """Adapts ``codec.stream`` to numpy chunks."""

    def __init__(self, engine: TorchCodecEngine, batch: int, n_q: int | None) -> None:
        inner, torch = engine.codec.stream(batch, n_q), engine._torch
        self.encoder = _NumpyPush(inner.encoder, torch, np.float32, flush=True)
        self.decoder = _NumpyPush(inner.decoder, torch, np.int64)


class _NumpyPush:
    def __init__(self, inner, torch, dtype, flush: bool = False) -> None:
        self.inner, self.torch, self.dtype = inner, torch, dtype
        if flush:
            self.flush = lambda: inner.flush().numpy()

    def push(self, x: np.ndarray) -> np.ndarray:
        return self.inner.push(self.torch.from_numpy(np.ascontiguousarray(x, dtype=self.dtype))).numpy()

    def fork(self) -> "_NumpyPush":
        return _NumpyPush(self.inner.fork(), self.torch, self.dtype)


def load_codec_engine(spec: str | None = None, backend: str = "auto", threads: int | None = None):
    """A model directory, bundled name or preset -> engine. ``auto``: ONNX when exported."""
    if backend not in BACKENDS:
        raise CodecError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    spec = spec or DEFAULT_CODEC
    directory = resolve_model_dir(spec)
    has_onnx = directory is not None and onnx_files_present(directory)
    if backend == "onnx" or (backend == "auto" and has_onnx):
        if not has_onnx:
            where = directory or Path(spec)
            raise CodecError(f"{spec}: no ONNX graphs in {where} (run: codec-cli export-onnx {where})")
        return OnnxCodec(directory, threads=threads)
    if threads:
        import torch

        torch.set_num_threads(threads)
    from codec.pretrained import load_codec

    return TorchCodecEngine(load_codec(spec))
