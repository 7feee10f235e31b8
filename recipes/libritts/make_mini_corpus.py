"""Synthesize a small speech corpus in the LibriTTS layout with espeak-ng.

Layout: ``<out>/<subset>/<speaker>/<chapter>/<speaker>_<chapter>_<para>_<sent>.wav`` (24 kHz mono
PCM16) with ``.normalized.txt`` (numbers as words, what is spoken) and ``.original.txt`` (digits)
beside it, plus ``<out>/SPEAKERS.txt``. A speaker is an espeak-ng English voice + variant with a
fixed speed, pitch and level. ``dev-clean-mini`` reuses the train speakers with other sentences;
``test-clean-mini`` uses variants never heard in train. Deterministic for a seed; re-runnable.
Spoken by Debian's ``espeak-ng`` program, or where it is missing by libespeak-ng from pip's
``espeakng-loader`` (``--engine``, ``espeak.py``): the same speakers and splits, a close sound.

    python recipes/libritts/make_mini_corpus.py --out data/mini --n-train 4000 --n-dev 100 --n-test 400
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from codec.errors import run_cli  # noqa: E402
from tts.numbers import number_words, year_words  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from espeak import find_engine  # noqa: E402

SR_OUT = 24000
PEAK = 0.97
TRAIN, DEV, TEST = "train-clean-mini", "dev-clean-mini", "test-clean-mini"
# Variants that are whispered, unintelligible or nearly identical to the default voice.
SKIP_VARIANTS = {"whisper", "whisperf", "fast", "Demonic", "announcer", "UniRobot", "anikaRobot"}
# New in espeak-ng 1.52 (the library): left out so that both engines plan the same speakers and
# hold the same variants out for test (a model trained on one corpus is evaluated on the other's)
SKIP_VARIANTS |= {"ian", "mike2", "Mr serious", "Reed"}
SKIP_BASES = {"en-shaw"}  # English in the Shavian alphabet (espeak-ng 1.52): reads Latin text letter by letter
ENGINE = None  # the espeak-ng that speaks (espeak.find_engine), chosen in main before workers fork

W = {k: v.split("|" if "|" in v else None) for k, v in dict(
    name="Mary Thomas Eleanor Walter Agnes Henry Clara Arthur Margaret Robert Alice Edward Lucy "
         "George Martha Samuel Helen Francis Emily Oliver Rose Daniel Julia Peter Anna",
    noun="garden river window letter carriage village doctor soldier captain basket lantern "
         "mountain forest kitchen teacher farmer sailor candle bridge castle cottage meadow "
         "orchard harbor market stranger neighbor servant horse bird dog cat ship train book "
         "table chair road field house town coat hat song story picture clock door key box "
         "stone tree flower apple bottle cup knife blanket pocket journey storm morning evening "
         "winter summer school church island valley engine wagon fence gate ladder mirror "
         "painter merchant hunter shepherd musician lawyer judge gardener traveler child",
    adj="old young little quiet bright dark heavy narrow gentle strange careful famous "
        "golden silver tired happy patient curious ancient broken empty crowded distant "
        "elegant faithful green blue red white black warm cold wooden sudden splendid "
        "humble rough smooth tall short lonely cheerful anxious clever honest wild",
    verb="see/saw find/found carry/carried open/opened close/closed paint/painted "
         "build/built follow/followed watch/watched remember/remembered visit/visited "
         "bring/brought leave/left answer/answered climb/climbed cross/crossed "
         "describe/described hide/hid keep/kept lift/lifted mend/mended notice/noticed "
         "offer/offered pull/pulled push/pushed question/questioned reach/reached "
         "sell/sold buy/bought take/took throw/threw wash/washed write/wrote read/read "
         "hold/held borrow/borrowed chase/chased greet/greeted call/called",
    adv="slowly quickly quietly suddenly carefully gladly nearly silently proudly gently "
        "eagerly rarely often finally certainly surely happily boldly",
    prep="near behind beside across under over through into toward beyond along past",
    place="the old mill|the station|the village square|the sea|the northern hills|"
          "the market|the church tower|the river bank|the little inn|the edge of the woods",
    opener="In the morning|After a while|Later that day|At last|Without a word|Long ago|"
           "Meanwhile|For a moment|That evening|Once again|Of course|Every spring",
    conj="and|but|so|while|because|although|until|before|after",
    wh="Why|When|Where|How",
).items()}

PUBLIC_DOMAIN = [  # Carroll, Austen, Melville, Lincoln, Dickens, Twain: all public domain.
    "Alice was beginning to get very tired of sitting by her sister on the bank.",
    "It is a truth universally acknowledged, that a single man in possession of a good fortune, "
    "must be in want of a wife.",
    "Call me Ishmael. Some years ago, never mind how long precisely, I thought I would sail about.",
    "Four score and seven years ago our fathers brought forth on this continent a new nation.",
    "It was the best of times, it was the worst of times.",
    "You don't know about me without you have read a book by the name of The Adventures of Tom Sawyer.",
    "Curiouser and curiouser! cried Alice.",
    "There is nothing like looking, if you want to find something.",
    "The sun shone, having no alternative, on the nothing new.",
    "Marley was dead, to begin with. There is no doubt whatever about that.",
]

def plural(noun: str) -> str:
    if noun == "child":
        return "children"
    if noun.endswith(("s", "x", "ch", "sh")):
        return noun + "es"
    if noun.endswith("y") and noun[-2] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"


class TextGen:
    """Seeded grammar producing (original, normalized) sentence pairs of 4-25 words."""

    def __init__(self, rng: random.Random):
        self.r = rng

    def c(self, key: str) -> str:
        return self.r.choice(W[key])

    def np_(self) -> tuple[str, str]:
        """Noun phrase: a name, 'the adj noun', or a counted plural with the number in digits."""
        k = self.r.random()
        if k < 0.2:
            return (self.c("name"),) * 2
        if k < 0.35:
            n = self.r.choice([self.r.randint(2, 12), self.r.randint(13, 999), self.r.randint(1000, 5000)])
            noun = plural(self.c("noun"))
            return f"{n} {noun}", f"{number_words(n)} {noun}"
        words = [self.r.choice(["the", "the", "a", "that", "her", "his", "our"])]
        words += [self.c("adj") for _ in range(self.r.choice([0, 1, 1, 2]))] + [self.c("noun")]
        if words[0] == "a" and words[1][0] in "aeiou":
            words[0] = "an"
        text = " ".join(words)
        return (text,) * 2

    def tail(self) -> tuple[str, str]:
        """Optional adverbial: a place, a year or a time."""
        k = self.r.random()
        if k < 0.3:
            return (f"{self.c('prep')} {self.c('place')}",) * 2
        if k < 0.4:
            y = self.r.randint(1600, 2030)
            return f"in {y}", f"in {year_words(y)}"
        if k < 0.5:
            h = self.r.randint(1, 12)
            return f"at {h} o'clock", f"at {number_words(h)} o'clock"
        return "", ""

    def clause(self) -> tuple[str, str]:
        subj, obj, tail = self.np_(), self.np_(), self.tail()
        verb = self.c("verb").split("/")[1]
        adv = self.c("adv") + " " if self.r.random() < 0.3 else ""
        return tuple(" ".join(f"{s} {adv}{verb} {o} {t}".split()) for s, o, t in zip(subj, obj, tail))

    def question(self) -> tuple[str, str]:
        subj, obj, tail = self.np_(), self.np_(), self.tail()
        verb = self.c("verb").split("/")[0]
        lead = self.r.choice(["Did", "Did", self.c("wh") + " did"])
        return tuple(" ".join(f"{lead} {s} {verb} {o} {t}".split()) + "?" for s, o, t in zip(subj, obj, tail))

    def statement(self, target: int) -> tuple[str, str]:
        orig, norm = self.clause()
        if self.r.random() < 0.3:
            opener = self.c("opener") + ", "
            orig, norm = opener + orig, opener + norm
        while len(norm.split()) < target:
            o2, n2 = self.clause()
            conj = self.r.choice([", " + self.c("conj") + " ", "; ", " " + self.c("conj") + " "])
            orig, norm = orig + conj + o2, norm + conj + n2
        end = self.r.choice([".", ".", ".", "!"])
        return orig + end, norm + end

    def sentence(self) -> tuple[str, str]:
        """One pair with 4..25 words; questions are short, statements grow to a drawn length."""
        while True:
            target = self.r.randint(4, 25)
            orig, norm = self.question() if self.r.random() < 0.15 else self.statement(target)
            if 4 <= len(norm.split()) <= 25:
                return orig[0].upper() + orig[1:], norm[0].upper() + norm[1:]


def sentence_pool(n: int, rng: random.Random) -> list[tuple[str, str]]:
    """``n`` distinct sentence pairs: the public-domain lines first, then generated ones."""
    seen, out = set(), [(s, s) for s in PUBLIC_DOMAIN][: n // 20]
    seen.update(o for o, _ in out)
    gen = TextGen(rng)
    while len(out) < n:
        pair = gen.sentence()
        if pair[0] not in seen:
            seen.add(pair[0])
            out.append(pair)
    rng.shuffle(out)
    return out


def list_voices() -> tuple[list[str], dict[str, str]]:
    """Built-in (non-mbrola) English voices and {variant file name: gender} from espeak-ng."""
    bases = sorted({name for name, file, _ in ENGINE.voices("en") if file.startswith("gmw/") and name not in SKIP_BASES})
    variants = {file[3:]: sex for _, file, sex in ENGINE.voices("variant")
                if file.startswith("!v/") and sex in "MF" and file[3:] not in SKIP_VARIANTS}
    return bases, dict(sorted(variants.items()))


@dataclass
class Speaker:
    id: int
    voice: str  # e.g. en-gb-x-rp+klatt
    sex: str
    speed: int
    pitch: int
    amplitude: int
    chapters: list[int]
    subset: str


def make_speakers(rng: random.Random, n_train: int, n_test: int, n_test_variants: int) -> list[Speaker]:
    """Train speakers and held-out test speakers whose variants never occur in train."""
    bases, variants = list_voices()
    names = list(variants)
    rng.shuffle(names)
    held, kept = names[:n_test_variants], names[n_test_variants:]
    ids = rng.sample(range(10, 9999), n_train + n_test)
    out = []
    for k, (subset, pool, n) in enumerate([(TRAIN, kept, n_train), (TEST, held, n_test)]):
        combos = rng.sample([(b, v) for b in bases for v in pool], min(n, len(bases) * len(pool)))
        for b, v in combos:
            chapters = sorted(rng.sample(range(100, 99999), rng.randint(1, 3)))
            out.append(Speaker(ids[len(out)], f"{b}+{v}", variants[v], rng.randint(130, 200),
                               rng.randint(30, 70), rng.randint(30, 60), chapters, subset))
    return out


def plan(args: argparse.Namespace) -> tuple[list[Speaker], list[dict]]:
    """Every utterance to synthesize, fully determined by the seed and counts."""
    rng = random.Random(args.seed)
    speakers = make_speakers(rng, args.train_speakers, args.test_speakers, args.test_variants)
    texts = iter(sentence_pool(args.n_train + args.n_dev + args.n_test, rng))
    counters: dict[tuple[int, int], int] = {}
    jobs = []
    for subset, n in ((TRAIN, args.n_train), (DEV, args.n_dev), (TEST, args.n_test)):
        pool = [s for s in speakers if s.subset == (TEST if subset == TEST else TRAIN)]
        for i in range(n):
            spk = pool[i % len(pool)]
            ch = rng.choice(spk.chapters)
            k = counters[spk.id, ch] = counters.get((spk.id, ch), -1) + 1
            utt = f"{spk.id}_{ch}_{k // 5:06d}_{k % 5:06d}"
            orig, norm = next(texts)
            wav = Path(args.out) / subset / str(spk.id) / str(ch) / f"{utt}.wav"
            jobs.append(dict(wav=str(wav), voice=spk.voice, speed=spk.speed, pitch=spk.pitch, amp=spk.amplitude,
                             original=orig, normalized=norm))
    return speakers, jobs


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text + "\n", encoding="utf-8")
    os.replace(tmp, path)


def synthesize(job: dict) -> float:
    """Run espeak-ng for one utterance, resample 22.05 -> 24 kHz and write wav + transcripts."""
    wav = Path(job["wav"])
    wav.parent.mkdir(parents=True, exist_ok=True)
    _write_text(wav.with_suffix(".original.txt"), job["original"])
    _write_text(wav.with_suffix(".normalized.txt"), job["normalized"])
    x, sr = ENGINE.speak(job["normalized"], job["voice"], job["speed"], job["pitch"], job["amp"])
    y = soxr.resample(x, sr, SR_OUT, quality="HQ") if sr != SR_OUT else x
    peak = float(np.abs(y).max(initial=0.0))
    if peak > PEAK:  # resampling overshoot must not clip
        y = y * (PEAK / peak)
    tmp = wav.with_name(wav.name + ".tmp")
    sf.write(tmp, np.clip(y, -1.0, 32767 / 32768), SR_OUT, subtype="PCM_16", format="WAV")
    os.replace(tmp, wav)
    return len(y) / SR_OUT


def is_done(job: dict) -> bool:
    wav = Path(job["wav"])
    return all(p.exists() for p in (wav, wav.with_suffix(".original.txt"), wav.with_suffix(".normalized.txt")))


def write_speakers(out: Path, speakers: list[Speaker]) -> None:
    lines = [";ID  |SEX| SUBSET           | VOICE | SPEED | PITCH | AMPLITUDE"]
    for s in speakers:
        subsets = f"{TRAIN},{DEV}" if s.subset == TRAIN else TEST
        lines.append(f"{s.id:<5}| {s.sex} | {subsets} | {s.voice} | {s.speed} | {s.pitch} | {s.amplitude}")
    out.mkdir(parents=True, exist_ok=True)
    _write_text(out / "SPEAKERS.txt", "\n".join(lines))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True, help="corpus root (LibriTTS layout)")
    p.add_argument("--n-train", type=int, default=4000, help="train utterances")
    p.add_argument("--n-dev", type=int, default=100, help="dev utterances (train speakers)")
    p.add_argument("--n-test", type=int, default=400, help="test utterances (held-out speakers)")
    p.add_argument("--train-speakers", type=int, default=48)
    p.add_argument("--test-speakers", type=int, default=12)
    p.add_argument("--test-variants", type=int, default=8, help="espeak variants held out for test")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=int, default=2, help="parallel espeak-ng processes")
    p.add_argument("--engine", choices=("auto", "program", "library"), default="auto",
                   help="Debian's espeak-ng program, or libespeak-ng from pip's espeakng-loader (auto: the program "
                        "where installed; the library's newer espeak-ng sounds close to, not the same as, the program)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    global ENGINE
    args = parse_args(argv)
    ENGINE = find_engine(args.engine)
    speakers, jobs = plan(args)
    write_speakers(Path(args.out), speakers)
    todo = [j for j in jobs if not is_done(j)]
    print(f"{len(jobs)} utterances, {len(jobs) - len(todo)} already present, {len(speakers)} speakers; {ENGINE.name}")
    bar = tqdm(total=len(todo), unit="utt", disable=not todo)
    seconds = 0.0
    if args.jobs > 1 and len(todo) > 1:
        with multiprocessing.get_context("fork").Pool(args.jobs) as pool:
            for s in pool.imap_unordered(synthesize, todo, chunksize=8):
                seconds += s
                bar.update()
    else:
        for job in todo:
            seconds += synthesize(job)
            bar.update()
    bar.close()
    print(f"synthesized {seconds / 3600:.2f} h of audio into {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli("make_mini_corpus.py", main))
