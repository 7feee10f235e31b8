"""``codec-cli``: encode audio to .codes, decode back, inspect, round-trip, evaluate.

Every user error becomes one line on stderr and a non-zero exit; outputs are written
atomically, so a failure never leaves a half-written or clobbered file.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

from .errors import CodecError, run_cli
from .identity import codes_mismatch


def _codec_api():
    """Deferred imports, so ``codec-cli --help`` and ``info`` start fast (and ONNX needs no torch)."""
    from . import audio, container

    return audio, container


def _load_model(spec: str | None, backend: str = "auto", threads: int | None = None, quiet: bool = False):
    from serve.engine import load_codec_engine

    engine = load_codec_engine(spec, backend, threads)
    if not engine.pretrained and not quiet:
        print(f"warning: model {engine.name!r} has no trained weights: using a randomly initialized preset", file=sys.stderr)
    return engine


AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif")  # what a folder given as input is searched for


def _sources(inputs: list[Path], suffixes: tuple[str, ...]) -> list[tuple[Path, Path]]:
    """Each input as (file, its path under the output folder): a file as its name, a folder as
    every file with one of ``suffixes`` below it (recursively, sorted), keeping its subfolders."""
    found = []
    for path in inputs:
        if not path.is_dir():
            found.append((path, Path(path.name)))
            continue
        files = sorted(f for f in path.rglob("*") if f.is_file() and f.suffix.lower() in suffixes)
        if not files:
            raise CodecError(f"{path}: a folder with no {'/'.join(suffixes)} files in it")
        found += [(f, f.relative_to(path)) for f in files]
    return found


def _outputs(sources: list[tuple[Path, Path]], output: Path | None, out_dir: Path | None, suffix: str) -> list[Path]:
    """Where each source's result goes: ``-o`` (one source), under ``--out-dir`` (a folder's
    files in its subfolders), else beside the source. Two sources with one output are refused:
    the second would overwrite the first."""
    if output is not None:
        if len(sources) != 1:
            raise CodecError(f"-o names one file but {len(sources)} inputs were given; use --out-dir")
        return [output]
    outs = [(out_dir / rel.parent if out_dir is not None else src.parent) / (src.stem + suffix) for src, rel in sources]
    seen: dict[Path, Path] = {}
    for (src, _), out in zip(sources, outs):
        if (key := out.resolve()) in seen:
            raise CodecError(f"{seen[key]} and {src} would both be written to {out}")
        seen[key] = src
    for out in outs:
        out.parent.mkdir(parents=True, exist_ok=True)
    return outs


def _jobs(args: argparse.Namespace, suffixes: tuple[str, ...], out_suffix: str) -> list[tuple[Path, Path]]:
    """(input file, output file) for every file the command's inputs name."""
    sources = _sources(args.inputs, suffixes)
    return list(zip([src for src, _ in sources], _outputs(sources, args.output, args.out_dir, out_suffix)))


def _progress(items: list, desc: str):
    from tqdm import tqdm

    return tqdm(items, desc=desc, unit="file", disable=len(items) < 2, file=sys.stderr)


def decode_file(src: Path, dst: Path, args: argparse.Namespace, cache: dict) -> None:
    """Decode one .codes file with the model it names (or ``--model``), checking identity."""
    _, container = _codec_api()
    from . import files

    header, codes = container.read(src)
    spec = args.model or header.model
    if spec not in cache:
        cache[spec] = _load_model(spec, args.backend, args.threads)
    codec = cache[spec]
    if why := codes_mismatch(codec, header.codes_hash, header.weights_hash):
        raise CodecError(f"{src}: encoded with model {header.model!r}, {why}")
    files.decode_codes(codec, codes, header.n_samples, dst, args.block_seconds)


def cmd_encode(args: argparse.Namespace) -> None:
    from .files import encode_file

    codec = _load_model(args.model, args.backend, args.threads)
    n_q = codec.n_q_for_bandwidth(args.bandwidth)
    for src, dst in _progress(_jobs(args, AUDIO_SUFFIXES, ".codes"), "encode"):
        bps = encode_file(codec, src, dst, n_q, args.block_seconds)
        if not args.quiet:
            print(f"{src} -> {dst} ({bps / 1000:.2f} kbit/s incl. header)", file=sys.stderr)


def cmd_decode(args: argparse.Namespace) -> None:
    cache: dict = {}
    for src, dst in _progress(_jobs(args, (".codes",), ".wav"), "decode"):
        decode_file(src, dst, args, cache)
        if not args.quiet:
            print(f"{src} -> {dst}", file=sys.stderr)


def cmd_info(args: argparse.Namespace) -> None:
    from . import container

    for src, _ in _sources(args.inputs, (".codes",)):
        header, codes = container.read(src)
        seconds = header.n_samples / header.sample_rate
        size = src.stat().st_size
        print(
            f"{src}: model={header.model} weights={header.weights_hash} codes={header.codes_hash or '-'} sample_rate={header.sample_rate} "
            f"frame_rate={header.frame_rate:g} codebooks={len(header.codebook_sizes)}x{header.codebook_sizes} "
            f"frames={header.n_frames} samples={header.n_samples} duration={seconds:.2f}s "
            f"size={size}B bitrate={size * 8 / max(seconds, 1e-9) / 1000:.2f}kbit/s"
        )


def cmd_roundtrip(args: argparse.Namespace) -> None:
    from .files import roundtrip_file

    codec = _load_model(args.model, args.backend, args.threads)
    n_q = codec.n_q_for_bandwidth(args.bandwidth)
    for src, dst in _progress(_jobs(args, AUDIO_SUFFIXES, ".roundtrip.wav"), "roundtrip"):
        start = time.perf_counter()
        seconds = roundtrip_file(codec, src, dst, n_q, args.block_seconds)
        rtf = (time.perf_counter() - start) / seconds
        kbps = codec.cfg.kbps(n_q)
        print(f"{src} -> {dst} ({kbps:.2f} kbit/s, real-time factor {rtf:.3f})", file=sys.stderr)


def cmd_export_onnx(args: argparse.Namespace) -> None:
    """Write encoder/decoder (+ streaming step) graphs next to each model's weights."""
    from .onnx_export import export_codec
    from .pretrained import load_codec, resolve_model_dir

    for spec in args.inputs:
        directory = resolve_model_dir(str(spec))
        if directory is None:
            raise CodecError(f"{spec}: not a model directory (needs config.json and model.safetensors)")
        paths = export_codec(load_codec(str(directory)), directory)
        print(f"{directory}: wrote {', '.join(p.name for p in paths)}", file=sys.stderr)


def cmd_eval(args: argparse.Namespace) -> None:
    """Score models and baselines on the given files (each is its own reference)."""
    audio, _ = _codec_api()
    from .evaluate import build_systems, evaluate, markdown_table

    systems = build_systems(args.model or ["hificodec", "distilcodec"], args.baseline)
    rate = 24000
    wavs = [audio.load(p, rate) for p, _ in _sources(args.inputs, AUDIO_SUFFIXES)]  # read all first: a bad file fails fast
    table = markdown_table(evaluate(systems, wavs, rate, progress=len(wavs) > 1))
    if args.output:
        from .atomic import atomic_write_text

        atomic_write_text(args.output, table)
    print(table, end="")


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="codec-cli", description="Streaming neural speech codec")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, func: Callable, help_: str, model: bool = True, outputs: bool = True) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_)
        p.add_argument("inputs", nargs="+", type=Path, help="files, or folders (searched for audio, or .codes to decode)")
        if outputs:
            p.add_argument("-o", "--output", type=Path, help="output file (one input only)")
            p.add_argument("--out-dir", type=Path, help="folder for outputs (default: beside each input; a folder given "
                                                          "as input keeps its subfolders there)")
            p.add_argument("-q", "--quiet", action="store_true")
        if model:
            p.add_argument("--model", help="model directory, bundled model name, or preset")
            p.add_argument("--backend", choices=("auto", "onnx", "torch"), default="auto",
                           help="auto: ONNX Runtime where the model has exported graphs, else torch")
            p.add_argument("--threads", type=int, help="intra-op threads (default: the library's choice)")
        if model and outputs:
            p.add_argument("--block-seconds", type=_positive, metavar="S",
                           help="seconds of audio held in memory at once; any length of file works (default: 30)")
        p.set_defaults(func=func)
        return p

    for name, func, help_ in (("encode", cmd_encode, "audio -> .codes"), ("roundtrip", cmd_roundtrip, "audio -> codes -> audio")):
        add(name, func, help_).add_argument("--bandwidth", type=float, help="target kbit/s (fewer codebooks)")
    add("decode", cmd_decode, ".codes -> wav (model named in the file unless --model)")
    add("info", cmd_info, "describe .codes files", model=False, outputs=False)
    add("export-onnx", cmd_export_onnx, "write ONNX graphs into model directories", model=False, outputs=False)
    ev = add("eval", cmd_eval, "PESQ-WB/STOI/SI-SDR/log-mel of models vs Opus/Codec2", model=False, outputs=False)
    ev.add_argument("--model", action="append", help="SPEC[@KBPS]; repeat for several (default: bundled)")
    ev.add_argument("--baseline", action="append", default=None, help="opus:KBPS or codec2:MODE; repeat")
    ev.add_argument("--no-baselines", dest="baseline", action="store_const", const=[])
    ev.add_argument("-o", "--output", type=Path, help="write the markdown table here too")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "eval" and args.baseline is None:
        args.baseline = ["opus:6", "codec2:3200"]
    return run_cli("codec-cli", lambda: args.func(args))


if __name__ == "__main__":
    sys.exit(main())
