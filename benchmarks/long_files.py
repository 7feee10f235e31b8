"""Peak memory and wall time of ``codec-cli encode`` / ``decode`` on long recordings: the whole
file in one offline call (the CLI before codec.files) against blocks through the stream.

    python benchmarks/long_files.py [--model hificodec] [--minutes 1 10 30] [--block-seconds 30]

Each measurement is a fresh process (peak RSS from wait4, so one run cannot inherit another's
memory); "offline" runs the engine's offline encode/decode on the whole file as the CLI did,
"blocks" is the real ``codec-cli`` of this tree. Both write the same files (checked).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
SR = 24000

OFFLINE = """
import sys
import numpy as np
from codec import audio, container
from serve.engine import load_codec_engine
step, model, src, dst = sys.argv[1:]
codec = load_codec_engine(model)
if step == "encode":
    wav = audio.load(src, codec.sample_rate)
    codes = codec.encode(wav[None])[0]
    header = container.CodesHeader(
        model=codec.name, weights_hash=codec.weights_hash(), codes_hash=codec.codes_hash(), sample_rate=codec.sample_rate,
        frame_rate=codec.cfg.frame_rate, hop=codec.hop, codebook_sizes=codec.codebook_sizes[: codes.shape[0]],
        n_frames=int(codes.shape[1]), n_samples=int(wav.shape[0]),
    )
    container.write(dst, header, codes)
else:
    header, codes = container.read(src)
    audio.save(dst, codec.decode(codes.astype(np.int64)[None], n_samples=header.n_samples)[0], codec.sample_rate)
"""


def write_recording(path: Path, minutes: float, seed: int = 0) -> None:
    """Speech-like audio (gliding harmonics, syllable envelope, noise), written a minute at a time."""
    rng = np.random.default_rng(seed)
    with sf.SoundFile(path, "w", SR, 1, subtype="PCM_16") as out:
        for start in range(0, int(minutes * 60 * SR), 60 * SR):
            t = (start + np.arange(min(60 * SR, int(minutes * 60 * SR) - start))) / SR
            pitch = 110 + 30 * np.sin(0.7 * t)
            voiced = sum(np.sin(2 * np.pi * k * np.cumsum(pitch) / SR) / k for k in range(1, 10))
            out.write(0.15 * voiced * (0.55 + 0.45 * np.sin(2 * np.pi * 3.1 * t)) + 0.01 * rng.standard_normal(t.size))


def measure(argv: list[str]) -> tuple[float, float]:
    """(peak RSS in MB, wall seconds) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"{' '.join(argv[:4])} failed: {proc.stderr.read().decode()[-400:]}")
    return usage.ru_maxrss / 1024, wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="hificodec")
    ap.add_argument("--minutes", type=float, nargs="+", default=[1, 10, 30])
    ap.add_argument("--block-seconds", default="30")
    args = ap.parse_args()
    cli = [sys.executable, "-m", "codec.cli"]
    print(f"model {args.model}, codec-cli with --block-seconds {args.block_seconds} vs one offline call, {os.cpu_count()} CPUs\n")
    print("| minutes | step | offline peak MB | blocks peak MB | memory ratio | offline s | blocks s | time ratio | same output |")
    print("|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for minutes in args.minutes:
            wav = tmp / "long.wav"
            write_recording(wav, minutes)
            runs = {
                "encode": ([sys.executable, "-c", OFFLINE, "encode", args.model, str(wav), str(tmp / "a.codes")],
                           [*cli, "encode", "-q", "--model", args.model, "--block-seconds", args.block_seconds, str(wav), "-o", str(tmp / "b.codes")]),
                "decode": ([sys.executable, "-c", OFFLINE, "decode", args.model, str(tmp / "a.codes"), str(tmp / "a.wav")],
                           [*cli, "decode", "-q", "--block-seconds", args.block_seconds, str(tmp / "b.codes"), "-o", str(tmp / "b.wav")]),
            }
            for step, (offline, blocks) in runs.items():
                (mem_a, t_a), (mem_b, t_b) = measure(offline), measure(blocks)
                same = same_output(tmp, step)
                print(f"| {minutes:g} | {step} | {mem_a:.0f} | {mem_b:.0f} | {mem_a / mem_b:.2f}x | {t_a:.1f} | {t_b:.1f} "
                      f"| {t_a / t_b:.2f}x | {same} |", flush=True)
    floor = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nthis script's own peak RSS, a floor under every figure above: {floor:.0f} MB")


def same_output(tmp: Path, step: str) -> str:
    """Compared a minute at a time: a child's peak RSS on Linux starts from this process's
    (its exec records the forking process's high-water mark), so this one must stay small."""
    if step == "encode":
        return "bit for bit" if (tmp / "a.codes").read_bytes() == (tmp / "b.codes").read_bytes() else "NO"
    if sf.info(tmp / "a.wav").frames != sf.info(tmp / "b.wav").frames:
        return "NO (length)"
    blocks = (sf.blocks(tmp / f"{x}.wav", 60 * SR, dtype="int16") for x in "ab")
    return f"max {max(int(np.abs(a.astype(np.int32) - b).max()) for a, b in zip(*blocks))} LSB"


if __name__ == "__main__":
    main()
