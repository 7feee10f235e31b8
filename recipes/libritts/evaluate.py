"""Stage 4: score codecs and classical baselines on held-out voices; write a markdown table.

    python recipes/libritts/evaluate.py --manifest data/mini/manifests/test.jsonl \
        --models models/hificodec models/distilcodec --baselines opus:6 codec2:3200 \
        --out exp/eval/codec.md

The test split of the mini corpus holds speakers (espeak variants) never used in training.
Metrics: PESQ-WB, STOI, SI-SDR, log-mel distance; bitrate; codebook use and perplexity.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from codec.audio import load  # noqa: E402
from codec.data import read_manifest  # noqa: E402
from codec.evaluate import build_systems, evaluate, markdown_table  # noqa: E402

SAMPLE_RATE = 24000


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--manifest", default="data/mini/manifests/test.jsonl")
    p.add_argument("--models", nargs="*", default=["hificodec", "distilcodec"], help="SPEC[@KBPS]")
    p.add_argument("--baselines", nargs="*", default=["opus:6", "codec2:3200"])
    p.add_argument("--limit", type=int, help="score the first N utterances only (codebook use still pools all)")
    p.add_argument("--out", type=Path, default=Path("exp/eval/codec.md"))
    args = p.parse_args(argv)

    everything = read_manifest(args.manifest)
    entries, rest = everything[: args.limit], everything[len(everything[: args.limit]) :]
    systems = build_systems(args.models, args.baselines)
    utterances = (load(e["path"], SAMPLE_RATE) for e in entries)
    results = evaluate(systems, utterances, SAMPLE_RATE, total=len(entries), usage_only=(load(e["path"], SAMPLE_RATE) for e in rest))
    seconds = sum(e["duration"] for e in entries)
    table = markdown_table(results)
    frames = max((r.usage_frames for r in results), default=0)
    header = (f"Scores: {len(entries)} utterances ({seconds / 60:.1f} min) from {args.manifest}; "
              f"codebook use: all {len(everything)} utterances ({frames} frames).\n\n")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(header + table)
    args.out.with_suffix(".json").write_text(json.dumps([r.as_dict() for r in results], indent=1))
    print(header + table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
