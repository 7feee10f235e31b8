"""ONNX Runtime engine for the codec: numpy in, numpy out, no torch.

``OnnxCodec(model_dir)`` loads the graphs written by ``codec-cli export-onnx`` and mirrors
the torch ``Codec`` API: ``encode``, ``decode``, ``stream()`` with per-stream state, and the
same bitrate and code checks (both come from the torch-free ``CodecConfig``).
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from codec.config import CodecConfig
from codec.errors import CodecError, ModelMismatch

GRAPHS = ("encoder", "decoder", "encoder_step", "decoder_step")


def session_options(threads: int | None = None) -> ort.SessionOptions:
    """Intra-op threads as asked (default: ORT's choice); one inter-op thread (graphs are chains)."""
    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    return opts


def judge_session(model_dir: Path, graph: str, module: str, threads: int | None = None
                  ) -> tuple[ort.InferenceSession, dict]:
    """(session, config.json) of a recipe judge's graph (the recognizer's, the speaker
    encoder's): each runs now and then between codec and TTS runs, so its idle threads do not
    spin on (they stole the cores the next session needed: a voice prompt cut + encode 56 -> 36 ms
    on 2 cores); a graph exported from other weights than the folder's is refused."""
    path = model_dir / graph
    if not path.is_file():
        raise CodecError(f"{model_dir}: no {graph} (run: python -m {module} export-onnx {model_dir})")
    meta = json.loads((model_dir / "config.json").read_text())
    options = session_options(threads)
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    if session.get_modelmeta().custom_metadata_map.get("weights_hash") != meta.get("weights_hash"):
        raise CodecError(f"{path}: exported from other weights than {model_dir}/model.safetensors; re-export")
    return session, meta


def onnx_files_present(model_dir: str | os.PathLike) -> bool:
    return all((Path(model_dir) / f"{g}.onnx").is_file() for g in GRAPHS)


@dataclass
class _Meta:
    name: str
    weights_hash: str
    cfg: CodecConfig
    state_shapes: dict[str, list[list[int]]]
    pretrained: bool
    codes_hash: str


def _read_meta(session: ort.InferenceSession, path: Path) -> _Meta:
    props = session.get_modelmeta().custom_metadata_map
    try:
        return _Meta(props["model_name"], props["weights_hash"], CodecConfig.from_dict(json.loads(props["config"])),
                     json.loads(props["state_shapes"]), props.get("pretrained", "True") == "True",
                     props.get("codes_hash", ""))  # graphs exported before codes_hash existed: ""
    except (KeyError, ValueError, TypeError) as e:
        raise CodecError(f"{path}: not a codec graph exported by codec-cli export-onnx ({e})") from None


class CodecSurface:
    """What every codec engine derives from its config alone (shared by both backends)."""

    cfg: CodecConfig
    _weights_hash: str
    _codes_hash: str

    @property
    def sample_rate(self) -> int:
        return self.cfg.sample_rate

    @property
    def hop(self) -> int:
        return self.cfg.hop

    @property
    def n_codebooks(self) -> int:
        return self.cfg.quantizer.n_codebooks

    @property
    def codebook_sizes(self) -> list[int]:
        return self.cfg.codebook_sizes

    def weights_hash(self) -> str:
        return self._weights_hash

    def codes_hash(self) -> str:
        return self._codes_hash

    def n_frames(self, n_samples: int) -> int:
        return self.cfg.n_frames(n_samples)

    def n_q_for_bandwidth(self, kbps: float | None) -> int:
        return self.cfg.n_q_for_bandwidth(kbps)

    def check_codes(self, codes: np.ndarray) -> None:
        lo, hi = (int(codes.min()), int(codes.max())) if codes.size else (0, 0)
        problem = self.cfg.codes_problem(codes.shape, lo, hi)
        if problem:
            raise ModelMismatch(problem)


class OnnxCodec(CodecSurface):
    """A codec served by ONNX Runtime sessions (one per graph, loaded once)."""

    def __init__(self, model_dir: str | os.PathLike, threads: int | None = None,
                 providers: list[str] | None = None) -> None:
        self.model_dir = Path(model_dir)
        if not onnx_files_present(self.model_dir):
            raise CodecError(f"{self.model_dir}: no ONNX graphs (run: codec-cli export-onnx {self.model_dir})")
        opts = session_options(threads)
        providers = providers or ["CPUExecutionProvider"]
        self.sessions = {
            g: ort.InferenceSession(str(self.model_dir / f"{g}.onnx"), opts, providers=providers) for g in GRAPHS
        }
        metas = [_read_meta(s, self.model_dir / f"{g}.onnx") for g, s in self.sessions.items()]
        if len({m.weights_hash for m in metas}) != 1:
            raise CodecError(f"{self.model_dir}: ONNX graphs come from different weights; re-export them")
        meta = metas[0]
        self.name, self._weights_hash, self.cfg, self.state_shapes = meta.name, meta.weights_hash, meta.cfg, meta.state_shapes
        self.pretrained, self._codes_hash = meta.pretrained, meta.codes_hash

    # -- offline ------------------------------------------------------------------------
    def encode(self, wav: np.ndarray, n_q: int | None = None) -> np.ndarray:
        """wav [B, T] float32 -> codes [B, Q, F] int64 (identical to the torch codec)."""
        wav = _as_batch(wav)
        padded = np.zeros((wav.shape[0], self.n_frames(wav.shape[1]) * self.hop), np.float32)
        padded[:, : wav.shape[1]] = wav
        (codes,) = self.sessions["encoder"].run(None, {"audio": padded})
        return codes[:, : n_q or self.n_codebooks]

    def decode(self, codes: np.ndarray, n_samples: int | None = None) -> np.ndarray:
        """codes [B, Q', F] -> wav [B, F * hop - delay], cut to ``n_samples`` if given."""
        codes = np.ascontiguousarray(codes, dtype=np.int64)
        self.check_codes(codes)
        (wav,) = self.sessions["decoder"].run(None, {"codes": codes})
        wav = wav[:, self.cfg.delay_samples :]
        return wav if n_samples is None else wav[:, :n_samples]

    def stream(self, batch: int = 1, n_q: int | None = None) -> "OnnxCodecStream":
        return OnnxCodecStream(self, batch, n_q)

    # -- step graphs ------------------------------------------------------------------------
    def initial_state(self, which: str, batch: int) -> list[np.ndarray]:
        return [np.zeros((batch, *shape), np.float32) for shape in self.state_shapes[which]]

    def step(self, which: str, x: np.ndarray, state: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
        """Run ``encoder_step`` or ``decoder_step`` on one chunk; returns (output, new state)."""
        session = self.sessions[f"{which}_step"]
        feeds = {session.get_inputs()[0].name: x}
        feeds.update({f"state_{i}": s for i, s in enumerate(state)})
        out, *new_state = session.run(None, feeds)
        return out, new_state


def _as_batch(wav: np.ndarray) -> np.ndarray:
    wav = np.asarray(wav, dtype=np.float32)
    if wav.ndim == 1:
        wav = wav[None]
    if wav.ndim != 2:
        raise ValueError(f"expected wav [B, T] or [T], got shape {wav.shape}")
    return np.ascontiguousarray(wav)


class OnnxEncoderStream:
    """Audio chunks [B, n] -> codes of every whole frame; equals offline ``encode``.

    A push is two halves around one ``encoder_step`` call, so a server can stack several
    streams' calls into one (``serve.codec_batcher``): ``ready`` (the audio of the whole frames,
    the rest kept; None when there are none) and ``took`` (the call's answer: the new state
    kept, the codes returned)."""

    which = "encoder"

    def __init__(self, codec: OnnxCodec, batch: int, n_q: int | None = None) -> None:
        self.codec, self.n_q = codec, n_q or codec.n_codebooks
        self.state = codec.initial_state("encoder", batch)
        self.pending = np.zeros((batch, 0), np.float32)
        self.n_samples = 0

    def push(self, wav: np.ndarray) -> np.ndarray:
        return self._run(self.ready(wav))

    def flush(self) -> np.ndarray:
        """Pad the tail exactly as offline ``encode`` does; the stream ends."""
        return self._run(self.ready_tail())

    def ready(self, wav: np.ndarray) -> np.ndarray | None:
        wav = _as_batch(wav)
        if wav.shape[0] != self.pending.shape[0]:
            raise ValueError(f"expected wav [{self.pending.shape[0]}, n], got {wav.shape}")
        self.n_samples += wav.shape[1]
        buf = np.concatenate([self.pending, wav], axis=1)
        whole = buf.shape[1] // self.codec.hop * self.codec.hop
        self.pending = buf[:, whole:]
        return np.ascontiguousarray(buf[:, :whole]) if whole else None

    def ready_tail(self) -> np.ndarray | None:
        """The rest, padded with zeros to whole frames as offline ``encode`` pads."""
        total = self.codec.n_frames(self.n_samples) * self.codec.hop
        done = self.n_samples - self.pending.shape[1]
        tail = np.zeros((self.pending.shape[0], total - done), np.float32)
        tail[:, : self.pending.shape[1]] = self.pending
        self.pending = self.pending[:, :0]
        return tail if tail.shape[1] else None

    def took(self, answer: tuple[np.ndarray, list[np.ndarray]] | None) -> np.ndarray:
        if answer is None:
            return np.zeros((self.pending.shape[0], self.n_q, 0), np.int64)
        codes, self.state = answer
        return codes[:, : self.n_q]

    def _run(self, wav: np.ndarray | None) -> np.ndarray:
        return self.took(None if wav is None else self.codec.step("encoder", wav, self.state))


class OnnxDecoderStream:
    """Codes [B, Q, f] -> audio chunks; the concatenation equals offline ``decode``. Pushes in
    two halves as ``OnnxEncoderStream``'s: ``ready`` (the codes checked) and ``took``."""

    which = "decoder"

    def __init__(self, codec: OnnxCodec, batch: int) -> None:
        self.codec, self.batch = codec, batch
        self.state = codec.initial_state("decoder", batch)
        self.to_skip = codec.cfg.delay_samples

    def push(self, codes: np.ndarray) -> np.ndarray:
        codes = self.ready(codes)
        return self.took(None if codes is None else self.codec.step("decoder", codes, self.state))

    def ready(self, codes: np.ndarray) -> np.ndarray | None:
        codes = np.ascontiguousarray(codes, dtype=np.int64)
        self.codec.check_codes(codes)
        return codes if codes.shape[2] else None

    def took(self, answer: tuple[np.ndarray, list[np.ndarray]] | None) -> np.ndarray:
        if answer is None:
            return np.zeros((self.batch, 0), np.float32)
        wav, self.state = answer
        skip = min(self.to_skip, wav.shape[1])
        self.to_skip -= skip
        return wav[:, skip:]

    def fork(self) -> "OnnxDecoderStream":
        """An independent stream that goes on from here (ONNX Runtime returns new state arrays,
        so the two share them until either pushes)."""
        return copy.copy(self)


class OnnxCodecStream:
    def __init__(self, codec: OnnxCodec, batch: int = 1, n_q: int | None = None) -> None:
        self.encoder = OnnxEncoderStream(codec, batch, n_q)
        self.decoder = OnnxDecoderStream(codec, batch)
