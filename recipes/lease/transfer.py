"""Bring a trained model directory back from a GPU lease whose return path caps file sizes.

A lease returns at most a few files of 16 MiB each, and a codec's or a TTS's weights are larger.
``pack`` writes a model directory as its small files unchanged plus its weights cut into parts
of at most ``--part-mib`` MiB and a ``parts.json`` naming each part with the whole file's size
and SHA-256; ``unpack`` joins them on this side and refuses a set that is incomplete or changed
in transit, so a broken transfer can never be mistaken for a model. ``--float16`` stores
float32 weights as float16 first (as the bundled TTS is published: half the parts).

    python recipes/lease/transfer.py pack exp/tts_lease/model $OUT --float16
    python recipes/lease/transfer.py unpack /work/.device/.../files exp/tts_from_lease
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from codec.atomic import atomic_write  # noqa: E402
from codec.config import WEIGHTS_FILE  # noqa: E402
from codec.errors import CodecError, run_cli  # noqa: E402

PARTS_FILE = "parts.json"
MiB = 1 << 20


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(MiB), b""):
            digest.update(block)
    return digest.hexdigest()


def _half_weights(src: Path, dst: Path) -> None:
    """``src``'s tensors with every float32 one stored as float16; metadata kept."""
    import torch
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(src), "pt") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    tensors = {k: v.half() if v.dtype == torch.float32 else v for k, v in tensors.items()}
    save_file(tensors, str(dst), metadata=meta)


def pack(model_dir: Path, out: Path, part_mib: float = 15.0, float16: bool = False) -> list[Path]:
    """``model_dir``'s small files plus its weights in parts of <= ``part_mib`` MiB, into ``out``."""
    weights = model_dir / WEIGHTS_FILE
    if not weights.is_file():
        raise CodecError(f"{model_dir}: no {WEIGHTS_FILE} to pack")
    if part_mib <= 0:
        raise CodecError(f"--part-mib must be > 0, got {part_mib:g}")
    out.mkdir(parents=True, exist_ok=True)
    written = [Path(shutil.copyfile(p, out / p.name)) for p in sorted(model_dir.iterdir())
               if p.is_file() and p.name != WEIGHTS_FILE]
    if float16:
        half = out / (WEIGHTS_FILE + ".half")
        _half_weights(weights, half)
        weights = half
    size, step, names = weights.stat().st_size, int(part_mib * MiB), []
    with open(weights, "rb") as f:
        for k in range(max(1, -(-size // step))):
            names.append(f"{WEIGHTS_FILE}.part-{k:03d}")
            (out / names[-1]).write_bytes(f.read(step))
            written.append(out / names[-1])
    record = {"file": WEIGHTS_FILE, "size": size, "sha256": _sha256(weights), "parts": names}
    if float16:
        weights.unlink()
    (out / PARTS_FILE).write_text(json.dumps(record, indent=2) + "\n")
    return written + [out / PARTS_FILE]


def unpack(parts_dir: Path, dst: Path) -> Path:
    """Join ``pack``'s parts into the model directory ``dst``; an error if any part is missing or changed."""
    index = parts_dir / PARTS_FILE
    if not index.is_file():
        raise CodecError(f"{parts_dir}: no {PARTS_FILE} (not written by 'transfer.py pack'?)")
    record = json.loads(index.read_text())
    missing = [n for n in record["parts"] if not (parts_dir / n).is_file()]
    if missing:
        raise CodecError(f"{parts_dir}: {len(missing)} of {len(record['parts'])} parts missing ({missing[0]} first)")
    dst.mkdir(parents=True, exist_ok=True)

    def join(tmp: str) -> None:
        tmp = Path(tmp)
        with open(tmp, "wb") as f:
            for name in record["parts"]:
                f.write((parts_dir / name).read_bytes())
        if tmp.stat().st_size != record["size"] or _sha256(tmp) != record["sha256"]:
            raise CodecError(f"{parts_dir}: the joined {record['file']} is not the file that was packed "
                             f"({tmp.stat().st_size} bytes, {record['size']} expected, or its SHA-256 differs)")

    atomic_write(dst / record["file"], join)
    skip = {PARTS_FILE, *record["parts"]}
    for p in sorted(parts_dir.iterdir()):
        if p.is_file() and p.name not in skip and not p.name.endswith(".log"):
            shutil.copyfile(p, dst / p.name)
    return dst


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    a = sub.add_parser("pack", help="a model directory -> small files + weight parts + parts.json")
    a.add_argument("model_dir", type=Path)
    a.add_argument("out", type=Path)
    a.add_argument("--part-mib", type=float, default=15.0, help="largest part, MiB (a lease returns 16 MiB per file)")
    a.add_argument("--float16", action="store_true", help="store float32 weights as float16 first")
    b = sub.add_parser("unpack", help="parts.json + parts (+ small files) -> a model directory")
    b.add_argument("parts_dir", type=Path)
    b.add_argument("dst", type=Path)
    args = p.parse_args(argv)

    def go() -> int:
        if args.command == "pack":
            paths = pack(args.model_dir, args.out, args.part_mib, args.float16)
            print(f"packed {args.model_dir} into {len(paths)} files under {args.out}", file=sys.stderr)
        else:
            print(f"unpacked {unpack(args.parts_dir, args.dst)}", file=sys.stderr)
        return 0

    return run_cli("transfer.py", go)


if __name__ == "__main__":
    sys.exit(main())
