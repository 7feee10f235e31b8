"""How much of what a recognizer hears do a codec's codes carry? Held-out bits per frame.

    python recipes/libritts/code_phonetics.py --models exp/student_ft_refit/model exp/student_final/model \
        --asr models/asr --train 1000 --test 200 --out exp/eval/code_phonetics.md

The recognizer's contextual features (tts.asr, 50 Hz) are clustered by k-means on training
frames into phonetic units (HuBERT-style: they follow the phones, not the voice). For each
codec, p(unit | code) is counted on training frames (backed off to p(unit) for rare codes)
and scored on the held-out voices of the test split:
I(unit; code) = H(unit) - H(unit | code), both held-out cross-entropies in bits per frame.
A TTS predicts codes from text; codes that follow the phones (high I) make that mapping far
easier to learn than codes that spend their bits on voice and pitch. Use a recognizer that
was not the codec's phonetic teacher (the recipe's judge, models/asr, is seed 0).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from codec.errors import run_cli  # noqa: E402
from codec.audio import load  # noqa: E402
from codec.data import read_manifest  # noqa: E402
from codec.model import Codec  # noqa: E402
from codec.quantize.vq import assign, kmeans  # noqa: E402

SAMPLE_RATE = 24000


@torch.inference_mode()
def frames(rows: list[dict], recognizer, codecs: list[Codec]) -> tuple[np.ndarray, list[np.ndarray]]:
    """Recognizer features [N, C] and each codec's first-codebook codes [N], frame-aligned."""
    from tqdm import tqdm

    feats, codes = [], [[] for _ in codecs]
    for row in tqdm(rows, desc="frames", unit="utt", file=sys.stderr, mininterval=10):
        wav = torch.from_numpy(load(row["path"], SAMPLE_RATE))[None]
        heard = recognizer.encode(recognizer.features(wav))[0]
        per_codec = [codec.encode(wav)[0, 0] for codec in codecs]
        n = min(len(heard), *(len(c) for c in per_codec))
        feats.append(heard[:n].numpy())
        for store, c in zip(codes, per_codec):
            store.append(c[:n].numpy())
    return np.concatenate(feats), [np.concatenate(c) for c in codes]


def held_out_bits(train_codes: np.ndarray, train_units: np.ndarray, test_codes: np.ndarray, test_units: np.ndarray,
                  n_codes: int, n_units: int, backoff: float = 1.0) -> tuple[float, float]:
    """(H(unit), H(unit | code)) on the test frames, with both distributions counted on train."""
    prior = (np.bincount(train_units, minlength=n_units) + 1.0) / (len(train_units) + n_units)
    joint = np.zeros((n_codes, n_units))
    np.add.at(joint, (train_codes, train_units), 1.0)
    conditional = (joint + backoff * prior) / (joint.sum(1, keepdims=True) + backoff)
    h_unit = -np.log2(prior[test_units]).mean()
    h_given = -np.log2(conditional[test_codes, test_units]).mean()
    return float(h_unit), float(h_given)


def main(argv: list[str] | None = None) -> int:
    from tts.asr import CtcRecognizer

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", required=True, help="codec directories")
    p.add_argument("--asr", default="models/asr", help="recognizer directory (not the codec's phonetic teacher)")
    p.add_argument("--train-manifest", default="data/mini/manifests/train.jsonl")
    p.add_argument("--manifest", default="data/mini/manifests/test.jsonl", help="held-out voices")
    p.add_argument("--train", type=int, default=1000, help="training utterances (random, seeded)")
    p.add_argument("--test", type=int, default=200, help="held-out utterances")
    p.add_argument("--units", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)

    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    train_rows = read_manifest(args.train_manifest)
    train_rows = [train_rows[i] for i in sorted(rng.permutation(len(train_rows))[: args.train])]
    test_rows = read_manifest(args.manifest)[: args.test]
    recognizer = CtcRecognizer.from_pretrained(args.asr)
    codecs = [Codec.from_pretrained(m).eval() for m in args.models]
    train_feats, train_codes = frames(train_rows, recognizer, codecs)
    test_feats, test_codes = frames(test_rows, recognizer, codecs)
    centroids = kmeans(torch.from_numpy(train_feats), args.units, iters=20, spherical=False, reseed_empty=True)
    train_units = assign(torch.from_numpy(train_feats), centroids).numpy()
    test_units = assign(torch.from_numpy(test_feats), centroids).numpy()
    lines = [f"Phonetic information in the codes: {len(train_units)} training frames ({len(train_rows)} utterances), "
             f"{len(test_units)} held-out frames ({len(test_rows)} utterances of {args.manifest}); {args.units} "
             f"k-means units of {args.asr}'s features.", "",
             "| codec | H(unit) bits | H(unit given code) bits | I(unit; code) bits | share of H(unit) |", "|---|---|---|---|---|"]
    for model, codec, tr, te in zip(args.models, codecs, train_codes, test_codes):
        h_unit, h_given = held_out_bits(tr, train_units, te, test_units, codec.codebook_sizes[0], args.units)
        lines.append(f"| {model} | {h_unit:.3f} | {h_given:.3f} | {h_unit - h_given:.3f} | {100 * (h_unit - h_given) / h_unit:.1f}% |")
    text = "\n".join(lines) + "\n"
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli("code_phonetics.py", main))
