"""Phonemes read back: how well ``tts.phonemes`` spells IPA so that it is said as written.

The model reads letters as the espeak-ng voices it learned from read them, so espeak-ng is the
judge: each word of the corpus generator's text (its sentence pool and public-domain passages)
is turned into IPA by espeak-ng, respelled, and the respelling read back into IPA by espeak-ng.
Reported per voice: the share of words whose phonemes come back exactly, and the phoneme
error rate (edit distance over the original's phonemes), stress and length marks ignored and
the unstressed vowels espeak-ng reduces (ʌ/ə/ɐ, ɚ/ɜ, ɪ/ᵻ, t/ɾ, ɑ/ɒ) taken as one. Baseline in
the same run: each phoneme spelled its usual way with no regard to its neighbours.

    python benchmarks/phoneme_respelling.py [--voices en-us en-gb] [--limit 0]
"""

from __future__ import annotations

import argparse
import random
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from recipes.libritts.make_mini_corpus import PUBLIC_DOMAIN, sentence_pool  # noqa: E402
from tts.phonemes import CONSONANTS, VOWELS, respelling, symbols  # noqa: E402

# names and borrowed words, the words a pronunciation is given for (not used to choose the spellings)
NAMES = ("Nguyen Siobhan Saoirse Joaquin Xavier Giuseppe Nakamura Oaxaca Worcester Leicester Yosemite Szczepanski "
         "Tchaikovsky Dvorak Goethe Nietzsche Descartes Versailles Reykjavik Guangzhou Beijing Kyiv Wojciech Niamh "
         "Aoife Sean Zbigniew Xochitl Anais Chloe Phoebe Hermione Dagny Ingrid Bjorn Soren Thibault Jacques Renee "
         "Ruairi Caoimhe Padraig Eoin Tadhg Aisling Grainne Mairead Deirdre Ciaran Oisin Cillian Dearbhla Fionnuala "
         "quinoa gnocchi bruschetta espresso croissant pho sriracha chipotle jalapeno acai tzatziki gyro").split()
SAME = {"ʌ": "ə", "ɐ": "ə", "ɜ": "ɚ", "ɝ": "ɚ", "ᵻ": "ɪ", "ɾ": "t", "ɒ": "ɑ"}  # what espeak-ng reduces


def corpus_words() -> list[str]:
    texts = [spoken for pair in sentence_pool(20000, random.Random(0)) for spoken in pair] + list(PUBLIC_DOMAIN)
    return sorted({w.lower() for text in texts for w in re.findall(r"[A-Za-z]{2,}", text)})


def espeak_ipa(lines: list[str], voice: str) -> list[str]:
    """espeak-ng's phonemes of each line (a word a line)."""
    out = subprocess.run(["espeak-ng", "-q", "--ipa", "-v", voice], input="\n".join(lines) + "\n",
                         capture_output=True, text=True, check=True).stdout.splitlines()
    out = [line.strip() for line in out if line.strip()]
    if len(out) != len(lines):
        raise RuntimeError(f"espeak-ng gave {len(out)} lines for {len(lines)} words")
    return out


def phones(ipa: str) -> list[str]:
    return [SAME.get(p.rstrip("ː"), p.rstrip("ː")) for p in symbols(ipa)]


def edits(a: list[str], b: list[str]) -> int:
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        diagonal, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            diagonal, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diagonal + (x != y))
    return row[-1]


def naive(ipa: str) -> str:
    """Each phoneme's usual spelling, alone (the baseline)."""
    return "".join(CONSONANTS[p] if p in CONSONANTS else VOWELS[p][0] for p in symbols(ipa))


def read_back(words: list[str], voice: str, spell) -> tuple[float, float]:
    """(share of words said exactly, phoneme error rate) of ``spell``'s respellings."""
    ipa = espeak_ipa(words, voice)
    back = espeak_ipa([spell(i) for i in ipa], voice)
    errors = [edits(phones(a), phones(b)) for a, b in zip(ipa, back)]
    return sum(e == 0 for e in errors) / len(words), sum(errors) / sum(len(phones(a)) for a in ipa)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--voices", nargs="+", default=["en-us", "en-gb", "en-gb-x-rp", "en-gb-scotland"])
    parser.add_argument("--limit", type=int, default=0, help="the first N words only (0: all)")
    args = parser.parse_args()
    lists = {"corpus words": corpus_words()[: args.limit or None], "names": list(NAMES)}
    print(f"{len(lists['corpus words'])} corpus words, {len(NAMES)} names; espeak-ng reads each respelling back\n")
    print("| words | voice | baseline exact | baseline PER | tts.phonemes exact | tts.phonemes PER | PER ratio |")
    print("|---|---|---|---|---|---|---|")
    for name, words in lists.items():
        for voice in args.voices:
            base_exact, base_per = read_back(words, voice, naive)
            exact, per = read_back(words, voice, respelling)
            print(f"| {name} | {voice} | {base_exact:.1%} | {base_per:.1%} | {exact:.1%} | {per:.1%} | {per / base_per:.2f} |")


if __name__ == "__main__":
    main()
