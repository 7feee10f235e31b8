"""The CTC recognizer as one ONNX graph, audio in, CTC log-probabilities out (``asr.onnx``),
so the torch-free server can verify best-of-N candidates (``tts.verify``).

The graph is written op by op from the trained weights, not traced: the log-mel front end as a
convolution with a windowed DFT basis (the same numbers as torchaudio's ``MelSpectrogram``:
reflect padding, Hann window, power 2, the same mel filters), and the BiGRU as ONNX ``GRU``
nodes, which run over any length. Tracing needed the TorchScript exporter, deprecated in torch
2.14 (the dynamo exporter unrolls the GRU for the example's length, and failed to decompose the
model with a dynamic length).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

from codec.modules.spectral import dft_basis
from serve.asr_runtime import ASR_ONNX

from .asr import CtcRecognizer

if TYPE_CHECKING:
    from .speaker import SpeakerEncoder

OPSET = 18  # ReduceMean with axes as an input


class GraphBuilder:
    """Nodes and initializers of one graph, each output named after its op and a counter."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.count = 0

    def const(self, value) -> str:
        self.count += 1
        name = f"c{self.count}"
        value = value.detach().float().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
        self.inits.append(numpy_helper.from_array(value, name))
        return name

    def op(self, kind: str, *inputs: str, out: str | None = None, **attrs) -> str:
        self.count += 1
        out = out or f"{kind.lower()}{self.count}"
        self.nodes.append(helper.make_node(kind, list(inputs), [out], **attrs))
        return out

    def ints(self, *values: int) -> str:
        return self.const(np.array(values, np.int64))

    def scalar(self, value: float) -> str:
        return self.const(np.float32(value))

    def normalized(self, x: str, eps: float, unbiased: bool) -> str:
        """(x - mean) / (std + eps) over axes 1, 2 (torch ``std``: unbiased, eps outside the
        root) or / sqrt(var + eps) (``GroupNorm``: biased, eps inside)."""
        axes = self.ints(1, 2)
        centered = self.op("Sub", x, self.op("ReduceMean", x, axes, keepdims=1))
        squares = self.op("Mul", centered, centered)
        if unbiased:  # n: the values of one item (its size over the batch)
            batch = self.op("Gather", self.op("Shape", x), self.const(np.int64(0)), axis=0)
            per_item = self.op("Div", self.op("Size", x), batch)
            n = self.op("Cast", per_item, to=TensorProto.FLOAT)
            var = self.op("Div", self.op("ReduceSum", squares, axes, keepdims=1), self.op("Sub", n, self.scalar(1)))
            return self.op("Div", centered, self.op("Add", self.op("Sqrt", var), self.scalar(eps)))
        var = self.op("ReduceMean", squares, axes, keepdims=1)
        return self.op("Div", centered, self.op("Sqrt", self.op("Add", var, self.scalar(eps))))


def log_mel(g: GraphBuilder, model: "CtcRecognizer | SpeakerEncoder", wav: str) -> str:
    """wav [B, samples] -> normalized log-mel [B, frames, n_mels], as ``tts.asr.LogMel`` (the
    recognizer's front end and the speaker encoder's)."""
    cfg, mel = model.cfg, model.features.mel
    cos, sin = dft_basis(cfg.n_fft)
    basis = (torch.cat([cos, -sin]) * mel.spectrogram.window.double()).float()[:, None]  # [2 * freqs, 1, n_fft]
    freqs, half = cfg.n_fft // 2 + 1, cfg.n_fft // 2
    x = g.op("Pad", g.op("Unsqueeze", wav, g.ints(1)), g.ints(0, 0, half, 0, 0, half), mode="reflect")
    spec = g.op("Conv", x, g.const(basis), strides=[cfg.hop])  # [B, 2 * freqs, frames]
    re = g.op("Slice", spec, g.ints(0), g.ints(freqs), g.ints(1))
    im = g.op("Slice", spec, g.ints(freqs), g.ints(2 * freqs), g.ints(1))
    power = g.op("Add", g.op("Mul", re, re), g.op("Mul", im, im))
    mels = g.op("MatMul", g.const(mel.mel_scale.fb.T.contiguous()), power)  # [B, n_mels, frames]
    x = g.op("Transpose", g.op("Log", g.op("Add", mels, g.scalar(1e-6))), perm=[0, 2, 1])
    return g.normalized(x, 1e-5, unbiased=True)


def _gru_weights(rnn: torch.nn.GRU, layer: int) -> list[torch.Tensor]:
    """W, R, B of ONNX's bidirectional GRU from torch's layer (gates r, z, n -> z, r, h)."""
    hidden = rnn.hidden_size

    def gates(t: torch.Tensor) -> torch.Tensor:
        r, z, n = t.split(hidden)
        return torch.cat([z, r, n])

    per_direction = [[gates(getattr(rnn, f"{name}_l{layer}{suffix}")) for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
                     for suffix in ("", "_reverse")]
    return [torch.stack([d[0] for d in per_direction]), torch.stack([d[1] for d in per_direction]),
            torch.stack([torch.cat([d[2], d[3]]) for d in per_direction])]


def build_graph(recognizer: CtcRecognizer) -> onnx.ModelProto:
    """The recognizer's ``log_probs_batch`` as ONNX: wav [B, samples] -> log_probs [B, frames, classes]."""
    g = GraphBuilder()
    x = log_mel(g, recognizer, "wav")
    x = g.op("Add", g.op("MatMul", x, g.const(recognizer.inp.weight.T)), g.const(recognizer.inp.bias))
    x = g.op("Transpose", x, perm=[0, 2, 1])  # [B, dim, frames]
    for conv, _, norm in recognizer.convs:  # x + GroupNorm(GELU(Conv(x)))
        y = g.op("Conv", x, g.const(conv.weight), g.const(conv.bias), pads=[conv.padding[0]] * 2)
        erf = g.op("Erf", g.op("Div", y, g.scalar(np.sqrt(2.0))))
        y = g.op("Mul", g.op("Mul", y, g.scalar(0.5)), g.op("Add", erf, g.scalar(1.0)))
        y = g.normalized(y, norm.eps, unbiased=False)
        x = g.op("Add", x, g.op("Add", g.op("Mul", y, g.const(norm.weight[:, None])), g.const(norm.bias[:, None])))
    x = g.op("Transpose", x, perm=[2, 0, 1])  # [frames, B, dim]: ONNX GRU's layout
    rnn = recognizer.rnn
    for layer in range(rnn.num_layers):
        y = g.op("GRU", x, *(g.const(t) for t in _gru_weights(rnn, layer)), hidden_size=rnn.hidden_size,
                 direction="bidirectional", linear_before_reset=1)  # torch's reset gate placement
        y = g.op("Transpose", y, perm=[0, 2, 1, 3])  # [frames, B, 2, hidden]
        x = g.op("Reshape", y, g.ints(0, 0, 2 * rnn.hidden_size))  # forward then backward, as torch
    x = g.op("Transpose", x, perm=[1, 0, 2])
    x = g.op("Add", g.op("MatMul", x, g.const(recognizer.out.weight.T)), g.const(recognizer.out.bias))
    g.op("LogSoftmax", x, out="log_probs", axis=-1)
    classes = recognizer.out.out_features
    graph = helper.make_graph(g.nodes, "ctc_recognizer",
                              [helper.make_tensor_value_info("wav", TensorProto.FLOAT, ["batch", "samples"])],
                              [helper.make_tensor_value_info("log_probs", TensorProto.FLOAT, ["batch", "frames", classes])],
                              g.inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])


def export_asr(recognizer: CtcRecognizer, directory: str | Path) -> Path:
    """Write ``directory/asr.onnx``: wav [B, samples] (at least n_fft) -> log_probs [B, frames, classes]."""
    with torch.no_grad():
        proto = build_graph(recognizer.eval())
    return write_graph(proto, recognizer, Path(directory) / ASR_ONNX)


def write_graph(proto: onnx.ModelProto, model: torch.nn.Module, path: Path) -> Path:
    """Check and write a graph, atomically; its metadata carries the weights hash, so a stale
    graph is refused at load."""
    from codec.atomic import atomic_write
    from codec.checkpoint import state_hash

    proto.metadata_props.add(key="weights_hash", value=state_hash(model))
    onnx.checker.check_model(proto, full_check=True)
    atomic_write(path, lambda tmp: onnx.save_model(proto, tmp))
    return path
