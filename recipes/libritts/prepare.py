"""Scan a LibriTTS tree into JSONL manifests ``train.jsonl``, ``dev.jsonl`` and ``test.jsonl``.

Input: ``<root>/<subset>/<speaker>/<chapter>/<utt>.wav`` with ``<utt>.normalized.txt`` beside it.
Subsets map to splits by name prefix (train-clean-100 -> train, dev-clean -> dev, test-clean ->
test); other folders are ignored. Each line holds id, path (absolute), text, speaker, duration
(seconds) and sample_rate. Only headers are read; unreadable or untranscribed files are skipped
and reported.

    python recipes/libritts/prepare.py data/mini data/mini/manifests
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from codec.errors import run_cli  # noqa: E402

SPLITS = ("train", "dev", "test")
REPORT_FIRST = 5


def split_of(subset: str, subsets_map: dict[str, str] | None = None) -> str | None:
    """The split a subset folder belongs to, or None to ignore it."""
    if subsets_map is not None:
        return subsets_map.get(subset)
    return next((s for s in SPLITS if subset.startswith(s)), None)


def scan_utterance(wav: Path) -> tuple[dict | None, str]:
    """One manifest row for ``wav``, or (None, reason) when it cannot be used."""
    txt = wav.with_name(wav.name[: -len(".wav")] + ".normalized.txt")
    if not txt.is_file():
        return None, "no .normalized.txt transcript"
    try:
        info = sf.info(str(wav))
    except (sf.SoundFileError, RuntimeError, OSError, ValueError) as e:
        return None, f"unreadable ({' '.join(str(e).split())[:80]})"
    if info.frames <= 0 or info.samplerate <= 0:
        return None, "no audio frames"
    text = " ".join(txt.read_text(encoding="utf-8").split())
    if not text:
        return None, "empty transcript"
    row = dict(id=wav.name[: -len(".wav")], path=str(wav.resolve()), text=text,
               speaker=wav.parent.parent.name, duration=round(info.frames / info.samplerate, 4),
               sample_rate=int(info.samplerate))
    return row, ""


def write_jsonl(path: Path, rows: list[dict]) -> None:
    """Write rows atomically (temp file in the same folder, then rename)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def prepare(root: str | os.PathLike, out_dir: str | os.PathLike,
            subsets_map: dict[str, str] | None = None) -> dict:
    """Write the three manifests; return counts, hours, manifest paths and skipped files.

    ``subsets_map`` maps subset folder names to splits (e.g. {"train-other-500": "train"});
    when None, the name prefix decides. Returns ``{"manifests": {split: path}, "counts":
    {split: n}, "hours": {split: h}, "skipped": [(path, reason), ...]}``.
    """
    root, out_dir = Path(root), Path(out_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such corpus folder")
    rows: dict[str, list[dict]] = {s: [] for s in SPLITS}
    skipped: list[tuple[str, str]] = []
    for subset in sorted(p for p in root.iterdir() if p.is_dir()):
        split = split_of(subset.name, subsets_map)
        if split not in rows:
            continue
        for wav in sorted(subset.glob("*/*/*.wav")):
            row, reason = scan_utterance(wav)
            if row is None:
                skipped.append((str(wav), reason))
            else:
                rows[split].append(row)
    out_dir.mkdir(parents=True, exist_ok=True)
    manifests = {}
    for split, items in rows.items():
        manifests[split] = str(out_dir / f"{split}.jsonl")
        write_jsonl(Path(manifests[split]), items)
    return dict(manifests=manifests, counts={s: len(r) for s, r in rows.items()},
                hours={s: sum(r["duration"] for r in rs) / 3600 for s, rs in rows.items()},
                skipped=skipped)


def report(result: dict) -> None:
    """Print per-split counts and hours, and the first few skipped files."""
    for split in SPLITS:
        print(f"{split:>5}: {result['counts'][split]:6d} utterances, {result['hours'][split]:7.3f} h "
              f"-> {result['manifests'][split]}")
    skipped = result["skipped"]
    if skipped:
        print(f"skipped {len(skipped)} file(s):", file=sys.stderr)
        for path, reason in skipped[:REPORT_FIRST]:
            print(f"  {path}: {reason}", file=sys.stderr)
        if len(skipped) > REPORT_FIRST:
            print(f"  ... and {len(skipped) - REPORT_FIRST} more", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="LibriTTS tree -> train/dev/test JSONL manifests")
    p.add_argument("root", help="corpus root holding subset folders (train-clean-100, dev-clean, ...)")
    p.add_argument("out_dir", help="where to write train.jsonl, dev.jsonl, test.jsonl")
    p.add_argument("--subset", action="append", default=None, metavar="NAME=SPLIT",
                   help="explicit subset -> split mapping (repeatable); default: by name prefix")
    args = p.parse_args(argv)
    subsets_map = dict(s.split("=", 1) for s in args.subset) if args.subset else None
    result = prepare(args.root, args.out_dir, subsets_map)
    report(result)
    return 0 if sum(result["counts"].values()) else 1


if __name__ == "__main__":
    sys.exit(run_cli("prepare.py", main))
