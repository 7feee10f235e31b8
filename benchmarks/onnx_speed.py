"""Torch eager vs ONNX Runtime for the codec: encode, decode and streaming decode RTF.

    python benchmarks/onnx_speed.py [--models hificodec distilcodec] [--seconds 10]

Models are bundled names, directories or presets (presets are exported to a temp folder).
RTF = compute seconds / audio seconds (lower is faster); ``ort_speedup`` = torch RTF / ORT
RTF at the same thread count, measured in the same run on the same audio.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from timing import best_time

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from codec.onnx_export import export_codec  # noqa: E402
from codec.pretrained import load_codec, resolve_model_dir  # noqa: E402
from serve.engine import TorchCodecEngine  # noqa: E402
from serve.runtime import OnnxCodec, onnx_files_present  # noqa: E402


def rtfs(engine, wav: np.ndarray, seconds: float, repeats: int, chunk_frames: int) -> dict[str, float]:
    codes = engine.encode(wav)

    def stream_decode() -> None:
        dec = engine.stream(1).decoder
        for i in range(0, codes.shape[-1], chunk_frames):
            dec.push(codes[..., i : i + chunk_frames])

    return {
        "encode": best_time(lambda: engine.encode(wav), repeats) / seconds,
        "decode": best_time(lambda: engine.decode(codes), repeats) / seconds,
        "stream": best_time(stream_decode, repeats) / seconds,
    }


def onnx_dir(spec: str, tmp: Path) -> Path:
    directory = resolve_model_dir(spec)
    if directory is not None and onnx_files_present(directory):
        return directory
    out = tmp / spec
    export_codec(load_codec(spec), out)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["hificodec", "distilcodec"])
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--chunk-ms", type=float, default=80.0)
    args = p.parse_args()
    rng = np.random.default_rng(0)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for spec in args.models:
            codec = load_codec(spec)
            wav = (0.1 * rng.standard_normal((1, int(args.seconds * codec.sample_rate)))).astype(np.float32)
            chunk = max(1, round(args.chunk_ms / 1000 * codec.cfg.frame_rate))
            directory = onnx_dir(spec, Path(tmp))
            for threads in (1, 2):
                torch.set_num_threads(threads)
                with torch.inference_mode():
                    t = rtfs(TorchCodecEngine(codec), wav, args.seconds, args.repeats, chunk)
                o = rtfs(OnnxCodec(directory, threads=threads), wav, args.seconds, args.repeats, chunk)
                rows.append((codec.cfg.name, threads, t, o))
    print(f"| model | threads | backend | encode RTF | decode RTF | stream-decode RTF ({args.chunk_ms:g} ms) |")
    print("|---|---|---|---|---|---|")
    for name, threads, t, o in rows:
        print(f"| {name} | {threads} | torch | {t['encode']:.4f} | {t['decode']:.4f} | {t['stream']:.4f} |")
        print(f"| {name} | {threads} | onnxruntime | {o['encode']:.4f} | {o['decode']:.4f} | {o['stream']:.4f} |")
        print(f"| {name} | {threads} | ort_speedup | {t['encode'] / o['encode']:.2f}x | {t['decode'] / o['decode']:.2f}x | {t['stream'] / o['stream']:.2f}x |")


if __name__ == "__main__":
    main()
