"""Export a codec to ONNX: offline encoder/decoder and streaming step graphs.

Graphs written next to the weights (``codec-cli export-onnx MODEL_DIR``):

* ``encoder.onnx``: ``audio`` [B, T] (T a multiple of hop, padded as ``Codec.encode`` pads)
  -> ``codes`` [B, Q, F] int64.
* ``decoder.onnx``: ``codes`` [B, Q', F] (any Q' <= Q the quantizer accepts) -> ``audio``
  [B, F * hop] before the decoder delay is dropped (the runtime trims it).
* ``encoder_step.onnx`` / ``decoder_step.onnx``: one chunk plus ``state_i`` tensors in,
  the chunk's output plus ``new_state_i`` out; state shapes are in the metadata.

Dequantization is a gather over ``code_tables`` so one decoder graph serves every bitrate.
Metadata (``metadata_props``): model name, weights hash, opset, config JSON, state shapes.
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path

import torch
from torch import Tensor, nn

from .model import Codec
from .modules.streaming import flatten_state, unflatten_state
from .quantize.base import dequantize

OPSET = 18
GRAPHS = ("encoder", "decoder", "encoder_step", "decoder_step")


class _Dequantizer(nn.Module):
    def __init__(self, codec: Codec) -> None:
        super().__init__()
        self.register_buffer("tables", codec.quantizer.code_tables())

    def forward(self, codes: Tensor) -> Tensor:
        return dequantize(self.tables, codes)


class EncoderGraph(nn.Module):
    def __init__(self, codec: Codec) -> None:
        super().__init__()
        self.codec = codec

    def forward(self, audio: Tensor) -> Tensor:
        return self.codec.quantizer.encode(self.codec.encoder(audio[:, None]))


class DecoderGraph(nn.Module):
    def __init__(self, codec: Codec) -> None:
        super().__init__()
        self.codec, self.dequantize = codec, _Dequantizer(codec)

    def forward(self, codes: Tensor) -> Tensor:
        return self.codec.decoder(self.dequantize(codes))[:, 0]


class EncoderStepGraph(nn.Module):
    def __init__(self, codec: Codec) -> None:
        super().__init__()
        self.codec = codec
        self.template = codec.encoder.initial_state(1)

    def forward(self, audio: Tensor, *state: Tensor) -> tuple[Tensor, ...]:
        latent, new = self.codec.encoder.step(audio[:, None], unflatten_state(self.template, list(state)))
        return (self.codec.quantizer.encode(latent), *flatten_state(new))


class DecoderStepGraph(nn.Module):
    def __init__(self, codec: Codec) -> None:
        super().__init__()
        self.codec, self.dequantize = codec, _Dequantizer(codec)
        self.template = codec.decoder.initial_state(1)

    def forward(self, codes: Tensor, *state: Tensor) -> tuple[Tensor, ...]:
        wav, new = self.codec.decoder.step(self.dequantize(codes), unflatten_state(self.template, list(state)))
        return (wav[:, 0], *flatten_state(new))


def state_shapes(codec: Codec) -> dict[str, list[list[int]]]:
    """Per-stream state tensor shapes [C, L] (batch dim excluded) for both step graphs."""
    return {
        name: [list(t.shape[1:]) for t in flatten_state(module.initial_state(1))]
        for name, module in (("encoder", codec.encoder), ("decoder", codec.decoder))
    }


def _export(module: nn.Module, args: tuple, names_in: list[str], names_out: list[str],
            dynamic: dict, path: Path, metadata: dict[str, str]) -> None:
    import onnx

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.getLogger("torch.onnx").setLevel(logging.ERROR)
        program = torch.onnx.export(
            module, args, dynamo=True, opset_version=OPSET, input_names=names_in, output_names=names_out,
            dynamic_shapes=dynamic, verbose=False, optimize=True,
        )
    model = program.model_proto
    for key, value in metadata.items():
        model.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(model, full_check=True)
    from .atomic import atomic_write

    atomic_write(path, lambda tmp: onnx.save_model(model, tmp))


def export_codec(codec: Codec, out_dir: str | Path, batch: int = 2, frames: int = 6) -> list[Path]:
    """Write the four graphs into ``out_dir``; returns their paths."""
    from torch.export import Dim

    codec = codec.eval()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    shapes = state_shapes(codec)
    meta = {
        "model_name": codec.cfg.name, "weights_hash": codec.weights_hash(),
        "codes_hash": codec.codes_hash(), "opset": str(OPSET),
        "config": json.dumps(codec.cfg.to_dict()), "state_shapes": json.dumps(shapes),
        "codebook_sizes": json.dumps(codec.codebook_sizes), "delay_samples": str(codec.cfg.delay_samples),
        "pretrained": str(bool(codec.pretrained)),
    }
    b, f = Dim("batch", min=1, max=1024), Dim("frames", min=1, max=1 << 20)
    # One code stream (single codebook) is a static dim; several may arrive as any prefix.
    q = Dim("codebooks", min=1, max=codec.n_codebooks) if codec.n_codebooks > 1 else None
    hop, n_q = codec.hop, codec.n_codebooks
    audio = 0.1 * torch.randn(batch, frames * hop)
    codes = torch.randint(0, min(codec.codebook_sizes), (batch, n_q, frames))
    enc_state = [torch.zeros(batch, *s) for s in shapes["encoder"]]
    dec_state = [torch.zeros(batch, *s) for s in shapes["decoder"]]
    n_enc, n_dec = len(enc_state), len(dec_state)
    state_dyn = lambda n: tuple({0: b} for _ in range(n))  # noqa: E731
    paths = [out_dir / f"{g}.onnx" for g in GRAPHS]
    with torch.no_grad():
        _export(EncoderGraph(codec), (audio,), ["audio"], ["codes"], {"audio": {0: b, 1: f * hop}}, paths[0], meta)
        _export(DecoderGraph(codec), (codes,), ["codes"], ["audio"], {"codes": {0: b, 2: f} | ({1: q} if q else {})}, paths[1], meta)
        _export(
            EncoderStepGraph(codec), (audio, *enc_state), ["audio", *[f"state_{i}" for i in range(n_enc)]],
            ["codes", *[f"new_state_{i}" for i in range(n_enc)]],
            {"audio": {0: b, 1: f * hop}, "state": state_dyn(n_enc)}, paths[2], meta,
        )
        _export(
            DecoderStepGraph(codec), (codes, *dec_state), ["codes", *[f"state_{i}" for i in range(n_dec)]],
            ["audio", *[f"new_state_{i}" for i in range(n_dec)]],
            {"codes": {0: b, 2: f} | ({1: q} if q else {}), "state": state_dyn(n_dec)}, paths[3], meta,
        )
    return paths
