"""How far choosing among N renditions can take the TTS, and by which rule (stage 11's companion).

    python recipes/libritts/best_of_study.py draw --tts models/tts --candidates 16 \
        --manifest data/mini16k/manifests/dev.jsonl --train-manifest data/mini16k/manifests/train.jsonl \
        --asr models/asr exp/asr_judge2 --verifier models/asr_verifier --out exp/eval/best_of_dev.json
    python recipes/libritts/best_of_study.py report exp/eval/best_of_dev.json

``draw`` renders every candidate of each held-out sentence (voice-prompted as stage 11 does,
same seeds) and records, per candidate, the verifier's score and what each judge hears.
``report`` then replays best-of-N for N = 1, 2, 4, ... under several choosing rules, each
judged by every recognizer: the verifier as shipped, the verifier's own transcript, the
length closest to the text's expected duration, and the *other* judge's transcript (an
oracle no server has, but one that is not the judge scoring it: what a verifier as good as
a second judge would give). The judge choosing for itself is the ceiling of best-of-N.
``--shard i/n`` splits ``draw`` over processes (merge their files with ``report a.json b.json``).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from codec.audio import load  # noqa: E402
from codec.data import read_manifest  # noqa: E402
from codec.errors import run_cli  # noqa: E402
from tts.wer import edit_distance, words  # noqa: E402
from evaluate_tts import prompt_pairs, recognizers  # noqa: E402  (this script's folder is on the path)


def draw(args: argparse.Namespace) -> dict:
    from tqdm import tqdm

    from tts.generate import SamplingConfig
    from tts.pretrained import load_tts
    from tts.synthesize import Synthesizer
    from tts.verify import load_verifier

    model, tokenizer = load_tts(args.tts, args.backend)
    synth = Synthesizer(model, tokenizer, backend=args.backend)
    verifier = load_verifier(args.verifier, args.backend)
    judges = {name: r for name, r in recognizers(args.asr, False, [r["text"] for r in read_manifest(args.train_manifest)]).items()
              if name.endswith("+ lexicon")}
    sampling = SamplingConfig(best_of=args.candidates, cfg_scale=args.cfg_scale, temperature=args.temperature)
    index, count = (int(v) for v in args.shard.split("/"))
    pairs = list(enumerate(prompt_pairs(read_manifest(args.manifest), args.limit)))[index::count]
    rate, items = synth.sample_rate, []
    for n, (row, prompt_row) in tqdm(pairs, desc="best-of study", unit="utt", file=sys.stderr):
        voice = synth.voice_from_audio(load(prompt_row["path"], rate), prompt_row["text"])
        for sentence, runs, wavs in synth.candidates(row["text"], voice, replace(sampling, seed=args.seed + n)):
            heard = [verifier.hear(wav, rate, sentence) for wav in wavs]  # score and transcript: one recognizer run
            items.append({"n": n, "text": row["text"], "sentence": sentence, "candidates": [
                {"frames": len(run), "verifier": score, "verifier heard": transcript,
                 **{name: judge.transcribe(wav, rate) for name, judge in judges.items()}}
                for run, wav, (score, transcript) in zip(runs, wavs, heard)]})
    return {"tts": args.tts, "manifest": args.manifest, "verifier": args.verifier, "judges": list(judges),
            "frame_rate": model.cfg.codec_frame_rate, "chars_per_second": model.cfg.chars_per_second,
            "temperature": args.temperature, "items": items}


def errors(reference: str, heard: str) -> int:
    return edit_distance(words(reference), words(heard))


def rules(study: dict) -> dict:
    """Rule name -> score(item, candidate) (lower is chosen)."""
    def expected_frames(item: dict) -> float:  # at the pace the model trained on
        return len(item["sentence"]) / (study.get("chars_per_second") or 16.0) * study["frame_rate"]

    found = {
        "verifier (as shipped)": lambda item, c: c["verifier"],
        "verifier's transcript, then score": lambda item, c: errors(item["sentence"], c["verifier heard"]) + 1e-3 * c["verifier"],
        "length nearest the text's": lambda item, c: abs(c["frames"] - expected_frames(item)),
    }
    for judge in study["judges"]:
        found[f"oracle: {judge}"] = lambda item, c, j=judge: errors(item["sentence"], c[j]) + 1e-3 * c["verifier"]
    return found


def report(studies: list[dict]) -> str:
    items = sorted((item for s in studies for item in s["items"]), key=lambda item: item["n"])
    study = studies[0]
    n_max = min(len(item["candidates"]) for item in items)
    sizes = [n for n in (1, 2, 4, 8, 16, 32) if n <= n_max]
    ref_words = sum(len(words(item["sentence"])) for item in items)
    lines = [f"Best-of-N replayed on {len(items)} sentences ({ref_words} words) of {study['manifest']}, {n_max} "
             f"candidates each, {study['tts']}, temperature {study.get('temperature', 0.8):g}; WER by each judge "
             f"(rows: how the candidate is chosen among the first N).", ""]
    for judge in study["judges"]:
        lines += [f"Judge: {judge}", "", "| rule | " + " | ".join(f"N={n}" for n in sizes) + " |",
                  "|---" * (len(sizes) + 1) + "|"]
        for name, score in rules(study).items():
            cells = []
            for n in sizes:
                wrong = sum(errors(item["sentence"], min(item["candidates"][:n], key=lambda c: score(item, c))[judge])
                            for item in items)
                cells.append(f"{100 * wrong / ref_words:.1f}%")
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        mean = sum(errors(item["sentence"], c[judge]) for item in items for c in item["candidates"][:n_max])
        lines += [f"| (mean over all {n_max}) | " + " | ".join(f"{100 * mean / n_max / ref_words:.1f}%" for _ in sizes) + " |", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("draw", help="render and transcribe every candidate")
    d.add_argument("--tts", default="tts")
    d.add_argument("--manifest", default="data/mini/manifests/dev.jsonl")
    d.add_argument("--train-manifest", default="data/mini/manifests/train.jsonl", help="training texts: the lexicon")
    d.add_argument("--asr", nargs="+", default=["models/asr"], help="judges (CTC recognizer directories)")
    d.add_argument("--verifier", default="asr_verifier")
    d.add_argument("--candidates", type=int, default=16)
    d.add_argument("--temperature", type=float, default=0.8)
    d.add_argument("--cfg-scale", type=float)
    d.add_argument("--limit", type=int, default=40)
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--shard", default="0/1", help="i/n: only every n-th sentence from the i-th")
    d.add_argument("--backend", default="torch", choices=["auto", "torch", "onnx"])
    d.add_argument("--out", type=Path, required=True)
    r = sub.add_parser("report", help="replay best-of-N under each rule")
    r.add_argument("studies", type=Path, nargs="+")
    r.add_argument("--out", type=Path, help="also write the tables here")
    args = p.parse_args(argv)
    if args.command == "draw":
        study = draw(args)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(study, indent=1))
        print(report([study]))
        return 0
    text = report([json.loads(path.read_text()) for path in args.studies])
    if args.out:
        args.out.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli("best_of_study.py", main))
