"""The speaker encoder as one ONNX graph, audio in, unit-length embedding out (``speaker.onnx``),
so the torch-free server can tell whether two recordings are one voice (a voice's consent,
``tts.consent``).

Written op by op from the trained weights, as the recognizer's graph is (``tts.asr_onnx``: the
same log-mel front end): each convolution with torch's "same" padding, ReLU, and batch norm
folded into a scale and shift; then mean and (unbiased) standard deviation over time, the
projection, and division by the norm (``F.normalize``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper

from serve.speaker_runtime import SPEAKER_ONNX

from .asr_onnx import OPSET, GraphBuilder, log_mel, write_graph
from .speaker import SpeakerEncoder


def build_graph(encoder: SpeakerEncoder) -> onnx.ModelProto:
    """``SpeakerEncoder.embedding`` as ONNX: wav [B, samples] -> embedding [B, embed_dim]."""
    g = GraphBuilder()
    x = g.op("Transpose", log_mel(g, encoder, "wav"), perm=[0, 2, 1])  # [B, n_mels, frames]
    layers = list(encoder.frames)
    for conv, norm in zip(layers[0::3], layers[2::3]):  # Conv1d, ReLU, BatchNorm1d
        total = conv.dilation[0] * (conv.kernel_size[0] - 1)  # "same": the odd one on the right
        x = g.op("Conv", x, g.const(conv.weight), g.const(conv.bias), dilations=list(conv.dilation),
                 pads=[total // 2, total - total // 2])
        scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
        shift = norm.bias - norm.running_mean * scale
        x = g.op("Add", g.op("Mul", g.op("Relu", x), g.const(scale[:, None])), g.const(shift[:, None]))
    mean = g.op("ReduceMean", x, g.ints(2), keepdims=0)
    centered = g.op("Sub", x, g.op("Unsqueeze", mean, g.ints(2)))
    frames = g.op("Cast", g.op("Gather", g.op("Shape", x), g.const(np.int64(2)), axis=0), to=TensorProto.FLOAT)
    var = g.op("Div", g.op("ReduceSum", g.op("Mul", centered, centered), g.ints(2), keepdims=0),
               g.op("Sub", frames, g.scalar(1.0)))
    stats = g.op("Concat", mean, g.op("Sqrt", var), axis=1)
    y = g.op("Add", g.op("MatMul", stats, g.const(encoder.embed.weight.T)), g.const(encoder.embed.bias))
    norm = g.op("Max", g.op("ReduceL2", y, g.ints(1), keepdims=1), g.scalar(1e-12))
    g.op("Div", y, norm, out="embedding")
    graph = helper.make_graph(g.nodes, "speaker_encoder",
                              [helper.make_tensor_value_info("wav", TensorProto.FLOAT, ["batch", "samples"])],
                              [helper.make_tensor_value_info("embedding", TensorProto.FLOAT,
                                                             ["batch", encoder.cfg.embed_dim])], g.inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])


def export_speaker(encoder: SpeakerEncoder, directory: str | Path) -> Path:
    """Write ``directory/speaker.onnx``: wav [B, samples] (at least n_fft) -> embedding [B, embed_dim]."""
    with torch.no_grad():
        proto = build_graph(encoder.eval())
    return write_graph(proto, encoder, Path(directory) / SPEAKER_ONNX)
