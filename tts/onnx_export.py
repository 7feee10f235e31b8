"""Export the TTS decoder as one ONNX graph for prefill and decode (``tts-cli export-onnx``).

``tts.onnx``: ``input_ids`` [B, L] ([B, L, Q] rows for multi-codebook models), ``position_ids`` [B, L], ``attention_mask`` [B, P+L] (bool)
and ``past_key_i`` / ``past_value_i`` [B, n_kv, P, head_dim] per layer in -> ``logits``
[B, 1, V] of the last position (all generation reads) and ``present_key_i`` / ``present_value_i`` [B, n_kv, P+L, head_dim] out. Batch, L
and P are dynamic. The runtime starts from a one-slot dummy past that the mask hides (so P
is never 0). Optional ``tts.int8.onnx``: dynamic int8 quantization of the weights.
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path

import torch
from torch import Tensor, nn

from codec.atomic import atomic_write

from .model import TtsModel

OPSET = 18
GRAPH = "tts.onnx"
INT8_GRAPH = "tts.int8.onnx"


class TtsGraph(nn.Module):
    def __init__(self, model: TtsModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: Tensor, position_ids: Tensor, attention_mask: Tensor, *past: Tensor) -> tuple[Tensor, ...]:
        pairs = [(past[2 * i], past[2 * i + 1]) for i in range(len(past) // 2)]
        logits, present = self.model(input_ids, position_ids, pairs, attention_mask, last_only=True)
        return (logits, *[t for kv in present for t in kv])


def io_names(n_layers: int) -> tuple[list[str], list[str]]:
    past = [f"past_{kind}_{i}" for i in range(n_layers) for kind in ("key", "value")]
    present = [f"present_{kind}_{i}" for i in range(n_layers) for kind in ("key", "value")]
    return ["input_ids", "position_ids", "attention_mask", *past], ["logits", *present]


def export_tts(model: TtsModel, out_dir: str | Path, quantize_int8: bool = False) -> list[Path]:
    import onnx
    from torch.export import Dim

    model = model.eval()
    cfg, out_dir = model.cfg, Path(out_dir)
    b, length, past_len = Dim("batch", min=1, max=256), Dim("length", min=1, max=cfg.max_seq_len), Dim("past", min=1, max=cfg.max_seq_len)
    batch, n, p = 2, 5, 3
    rows = (cfg.n_codebooks,) if cfg.n_codebooks > 1 else ()
    ids = torch.randint(0, cfg.vocab_size, (batch, n, *rows))
    pos = torch.arange(p, p + n).expand(batch, n).contiguous()
    mask = torch.ones(batch, p + n, dtype=torch.bool)
    past = [torch.zeros(batch, cfg.n_kv_heads, p, cfg.head_dim) for _ in range(2 * cfg.n_layers)]
    names_in, names_out = io_names(cfg.n_layers)
    dynamic = {"input_ids": {0: b, 1: length}, "position_ids": {0: b, 1: length}, "attention_mask": {0: b, 1: Dim.AUTO},
               "past": tuple({0: b, 2: past_len} for _ in past)}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        logging.getLogger("torch.onnx").setLevel(logging.ERROR)
        program = torch.onnx.export(TtsGraph(model), (ids, pos, mask, *past), dynamo=True, opset_version=OPSET,
                                    input_names=names_in, output_names=names_out, dynamic_shapes=dynamic, optimize=True)
    proto = program.model_proto
    meta = {"model_name": cfg.name, "weights_hash": model.weights_hash(), "opset": str(OPSET), "config": json.dumps(cfg.to_dict())}
    for key, value in meta.items():
        proto.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(proto, full_check=True)
    path = out_dir / GRAPH
    atomic_write(path, lambda tmp: onnx.save_model(proto, tmp))
    paths = [path]
    if quantize_int8:
        paths.append(quantize(path, out_dir / INT8_GRAPH))
    return paths


def quantize(src: Path, dst: Path) -> Path:
    """Dynamic int8 weight quantization (MatMul/Gemm); activations stay float."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    def write(tmp: str) -> None:
        quantize_dynamic(str(src), tmp, weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul", "Gemm"])

    atomic_write(dst, write)
    return dst
