"""How well the consent checks (``tts.consent``) tell consent from its absence, with the bundled
verifier and speaker encoder (ONNX Runtime, as the server runs them).

    python benchmarks/consent.py [--thresholds 0.4 0.5 0.6 0.7]

Each of 10 espeak-ng voices says the consent statement and two other sentences.
- Statement: the verifier's score (nats per character) of the statement on each voice saying
  it, and on each saying something else (``MAX_SCORE`` must fall between).
- Voice: the cosine between a voice's statement and its own other sentences (the same speaker)
  and every other voice's (another speaker); at each threshold, the share of same-voice pairs
  refused and of other-voice pairs let through.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from codec.errors import run_cli  # noqa: E402
from pitch_formants import SR, espeak  # noqa: E402  (espeak-ng at 24 kHz, as the corpus engine runs it)
from tts.consent import MAX_SCORE  # noqa: E402

STATEMENT = "I agree that recordings of my voice may be used to make a synthetic voice on this server."
OTHERS = ["The old captain walked home slowly after the long storm had passed.",
          "Seven green apples fell from the tree into the quiet river below."]
VOICES = ["en-us", "en-gb", "en-us+f3", "en-gb-scotland+m3", "en-us+f4", "en-gb-x-rp", "en-029", "en-us+m5",
          "en-gb-x-gbclan+f2", "en-us-nyc"]


def main() -> None:
    from serve.speaker_runtime import OnnxSpeakerEncoder
    from tts.text import normalize
    from tts.verify import load_verifier

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--thresholds", nargs="+", type=float, default=[0.4, 0.5, 0.6, 0.7])
    p.add_argument("--verifier", default="asr_verifier")
    p.add_argument("--speaker", default="models/speaker")
    args = p.parse_args()
    verifier, speaker = load_verifier(args.verifier, "onnx"), OnnxSpeakerEncoder(args.speaker)
    said = {v: [espeak(t, v) for t in [STATEMENT, *OTHERS]] for v in VOICES}
    target = normalize(STATEMENT)
    agreed = [verifier.score(said[v][0], SR, target) for v in VOICES]
    other = [verifier.score(w, SR, target) for v in VOICES for w in said[v][1:]]
    print(f"statement scores (nats per character, at most {MAX_SCORE:g} passes): said {min(agreed):.2f}-{max(agreed):.2f}, "
          f"other sentences {min(other):.2f}-{max(other):.2f}")
    emb = {v: [speaker.embedding(w, SR) for w in said[v]] for v in VOICES}
    same = np.array([emb[v][0] @ e for v in VOICES for e in emb[v][1:]])
    others = np.array([emb[a][0] @ e for a in VOICES for b in VOICES if a != b for e in emb[b][1:]])
    print(f"voice cosines: same voice {same.min():.2f}-{same.max():.2f} (median {np.median(same):.2f}), "
          f"other voices {others.min():.2f}-{others.max():.2f} (median {np.median(others):.2f})")
    print("| min similarity | same-voice pairs refused | other-voice pairs let through |")
    print("|---|---|---|")
    for t in args.thresholds:
        print(f"| {t:g} | {100 * (same < t).mean():.0f}% ({(same < t).sum()}/{len(same)}) "
              f"| {100 * (others >= t).mean():.0f}% ({(others >= t).sum()}/{len(others)}) |")


if __name__ == "__main__":
    sys.exit(run_cli("consent.py", main))
