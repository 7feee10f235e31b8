"""Codec speed: encode / decode / streaming-decode real-time factor per preset and thread count.

    python benchmarks/codec_speed.py [--seconds 10] [--presets hificodec distilcodec ...]

RTF = compute seconds / audio seconds (lower is faster).  Ratios in the same run:
``x2thr`` = RTF at 1 thread / RTF at 2 threads; ``vs_seanet`` = the waveform (SEANet,
EnCodec-style) preset's RTF / this preset's RTF at the same thread count.
"""

from __future__ import annotations

import argparse

import torch
from timing import best_time

from codec.config import load_preset
from codec.model import Codec

BASELINE = "encodec"


def measure(preset: str, seconds: float, threads: int, repeats: int, chunk_ms: float) -> dict[str, float]:
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    codec = Codec(load_preset(preset)).eval()
    wav = torch.randn(1, int(seconds * codec.sample_rate)) * 0.1
    codes = codec.encode(wav)
    chunk = max(1, round(chunk_ms / 1000 * codec.cfg.frame_rate))

    def stream_decode() -> None:
        dec = codec.stream(1).decoder
        for i in range(0, codes.shape[-1], chunk):
            dec.push(codes[..., i : i + chunk])

    with torch.inference_mode():
        return {
            "encode": best_time(lambda: codec.encode(wav), repeats) / seconds,
            "decode": best_time(lambda: codec.decode(codes), repeats) / seconds,
            "stream_decode": best_time(stream_decode, repeats) / seconds,
            "latency_ms": 1000 * codec.cfg.latency_samples / codec.sample_rate,
            "kbps": codec.cfg.bitrate / 1000,
        }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--presets", nargs="+", default=["hificodec", "languagecodec", "distilcodec", BASELINE])
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--chunk-ms", type=float, default=80.0, help="streaming decode chunk")
    args = p.parse_args()
    presets = list(dict.fromkeys(args.presets + [BASELINE]))
    results = {(n, t): measure(n, args.seconds, t, args.repeats, args.chunk_ms) for n in presets for t in (1, 2)}
    print(f"| preset | kbit/s | latency ms | threads | encode RTF | decode RTF | stream-decode RTF ({args.chunk_ms:g} ms) | x2thr (enc/dec) | vs_seanet (enc/dec) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (name, threads), r in results.items():
        one, base = results[(name, 1)], results[(BASELINE, threads)]
        print(
            f"| {name} | {r['kbps']:.2f} | {r['latency_ms']:.1f} | {threads} | {r['encode']:.4f} | {r['decode']:.4f} | "
            f"{r['stream_decode']:.4f} | {one['encode'] / r['encode']:.2f}/{one['decode'] / r['decode']:.2f} | "
            f"{base['encode'] / r['encode']:.2f}/{base['decode'] / r['decode']:.2f} |"
        )


if __name__ == "__main__":
    main()
