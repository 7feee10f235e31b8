"""Stage 4: score codecs and classical baselines on held-out voices; write a markdown table.

    python recipes/libritts/evaluate.py --manifest data/mini/manifests/test.jsonl \
        --models models/hificodec models/distilcodec --baselines opus:6 codec2:3200 \
        --out exp/eval/codec.md

The test split of the mini corpus holds speakers (espeak variants) never used in training.
Metrics: PESQ-WB, STOI, SI-SDR, log-mel distance; bitrate; codebook use and perplexity; with
``--asr`` the word error rate of every round trip under the recipe's CTC recognizer (words
snapped to the training vocabulary, as in the TTS evaluation), next to the ground truth's;
with ``--speaker`` how much of the voice survives (the recipe's speaker encoder: cosine of the
round trip's embedding with the input's).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from codec.errors import run_cli  # noqa: E402
from codec.audio import load  # noqa: E402
from codec.data import read_manifest  # noqa: E402
from codec.evaluate import build_systems, evaluate, markdown_table  # noqa: E402

SAMPLE_RATE = 24000


def recognizer(asr_dir: str, train_manifest: str):
    """wav -> text with the CTC recognizer, words snapped to the training vocabulary."""
    from tts.asr import CtcRecognizer, Lexicon, SnappedRecognizer

    snapped = SnappedRecognizer(CtcRecognizer.from_pretrained(asr_dir), Lexicon([r["text"] for r in read_manifest(train_manifest)]))
    return lambda wav: snapped.transcribe(wav, SAMPLE_RATE)


def word_error_rates(results, entries: list[dict], listen, asr_dir: str) -> str:
    """Fill each system's WER; return the sentence naming the recognizer and the ground truth's WER."""
    from tts.wer import word_error_rate

    refs = [e["text"] for e in entries]
    for r in results:
        r.wer = word_error_rate(refs, r.heard)
    truth = word_error_rate(refs, [listen(load(e["path"], SAMPLE_RATE)) for e in entries])
    return (f"WER: recognizer {asr_dir} (words snapped to the training vocabulary; it learned full-band 24 kHz "
            f"speech only, so band-limited systems such as Opus 6k and Codec2 lose words to it for that reason too); "
            f"ground truth {100 * truth:.1f}%.")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--manifest", default="data/mini/manifests/test.jsonl")
    p.add_argument("--models", nargs="*", default=["hificodec", "distilcodec"], help="SPEC[@KBPS]")
    p.add_argument("--baselines", nargs="*", default=["opus:6", "codec2:3200"])
    p.add_argument("--limit", type=int, help="score the first N utterances only (codebook use still pools all)")
    p.add_argument("--asr", help="CTC recognizer directory (python -m tts.asr train): adds a WER column")
    p.add_argument("--speaker", help="speaker encoder directory (python -m tts.speaker train): adds a speaker "
                                     "similarity column (cosine of round trip and input embeddings)")
    p.add_argument("--train-manifest", default="data/mini/manifests/train.jsonl", help="the recognizer's lexicon")
    p.add_argument("--out", type=Path, default=Path("exp/eval/codec.md"))
    args = p.parse_args(argv)

    everything = read_manifest(args.manifest)
    entries, rest = everything[: args.limit], everything[len(everything[: args.limit]) :]
    systems = build_systems(args.models, args.baselines)
    utterances = (load(e["path"], SAMPLE_RATE) for e in entries)
    listen = recognizer(args.asr, args.train_manifest) if args.asr else None
    compare = None
    if args.speaker:
        from tts.speaker import SpeakerEncoder

        encoder = SpeakerEncoder.from_pretrained(args.speaker)
        compare = lambda a, b: encoder.similarity(a, b, SAMPLE_RATE)  # noqa: E731
    results = evaluate(systems, utterances, SAMPLE_RATE, total=len(entries),
                       usage_only=(load(e["path"], SAMPLE_RATE) for e in rest), listen=listen, compare=compare)
    seconds = sum(e["duration"] for e in entries)
    frames = max((r.usage_frames for r in results), default=0)
    header = (f"Scores: {len(entries)} utterances ({seconds / 60:.1f} min) from {args.manifest}; "
              f"codebook use: all {len(everything)} utterances ({frames} frames).")
    if listen is not None:
        header += " " + word_error_rates(results, entries, listen, args.asr)
    table = markdown_table(results)
    header += "\n\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(header + table)
    args.out.with_suffix(".json").write_text(json.dumps([r.as_dict() for r in results], indent=1))
    print(header + table)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli("evaluate.py", main))
