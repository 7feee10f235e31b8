"""Bring a trained model directory back from a GPU lease whose return path caps file sizes.

A lease returns at most a few files of 16 MiB each, and a codec's or a TTS's weights are larger.
``pack`` writes a model directory as its small files unchanged plus its weights cut into parts
of at most ``--part-mib`` MiB and a ``parts.json`` naming each part with the whole file's size
and SHA-256; ``unpack`` joins them on this side and refuses a set that is incomplete or changed
in transit, so a broken transfer can never be mistaken for a model. (A TTS travels as it is
published, float16: ``publish_tts.py --weights-only`` first, half the parts.)

    python recipes/lease/transfer.py pack exp/tts_lease/model $OUT
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


def pack(model_dir: Path, out: Path, part_mib: float = 15.0) -> list[Path]:
    """``model_dir``'s small files plus its weights in parts of <= ``part_mib`` MiB, into ``out``."""
    weights = model_dir / WEIGHTS_FILE
    if not weights.is_file():
        raise CodecError(f"{model_dir}: no {WEIGHTS_FILE} to pack")
    if part_mib <= 0:
        raise CodecError(f"--part-mib must be > 0, got {part_mib:g}")
    out.mkdir(parents=True, exist_ok=True)
    written = [Path(shutil.copyfile(p, out / p.name)) for p in sorted(model_dir.iterdir())
               if p.is_file() and p.name != WEIGHTS_FILE]
    size, step, names, digest = weights.stat().st_size, int(part_mib * MiB), [], hashlib.sha256()
    with open(weights, "rb") as f:
        for k in range(max(1, -(-size // step))):
            names.append(f"{WEIGHTS_FILE}.part-{k:03d}")
            part = f.read(step)
            digest.update(part)  # hashed as it is cut: the weights are read once
            (out / names[-1]).write_bytes(part)
            written.append(out / names[-1])
    record = {"file": WEIGHTS_FILE, "size": size, "sha256": digest.hexdigest(), "parts": names}
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
        size, digest = 0, hashlib.sha256()
        with open(tmp, "wb") as f:
            for name in record["parts"]:
                part = (parts_dir / name).read_bytes()
                size += len(part)
                digest.update(part)  # hashed as it is joined: nothing is read twice
                f.write(part)
        if size != record["size"] or digest.hexdigest() != record["sha256"]:
            raise CodecError(f"{parts_dir}: the joined {record['file']} is not the file that was packed "
                             f"({size} bytes, {record['size']} expected, or its SHA-256 differs)")

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
    b = sub.add_parser("unpack", help="parts.json + parts (+ small files) -> a model directory")
    b.add_argument("parts_dir", type=Path)
    b.add_argument("dst", type=Path)
    args = p.parse_args(argv)

    def go() -> int:
        if args.command == "pack":
            paths = pack(args.model_dir, args.out, args.part_mib)
            print(f"packed {args.model_dir} into {len(paths)} files under {args.out}", file=sys.stderr)
        else:
            print(f"unpacked {unpack(args.parts_dir, args.dst)}", file=sys.stderr)
        return 0

    return run_cli("transfer.py", go)


if __name__ == "__main__":
    sys.exit(main())
