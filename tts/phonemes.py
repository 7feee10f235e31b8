"""Phonemes as letters the model reads: SSML ``<phoneme alphabet="ipa" ph="...">`` and IPA
pronunciations in a dictionary (Riva's ``custom_dictionary`` takes IPA).

The model reads letters, as the espeak-ng voices it learned from read them: a pronunciation
given in phonemes is said by spelling it the way English letters sound (a respelling:
/nˈuːjɛn/ -> "noo yen" is "nooyen"). Each phoneme is spelled by where it stands: a short vowel
before one consonant and a vowel doubles that consonant ("butter", not "buter", which reads
"byooter"), a long vowel before a last consonant takes a silent e ("time"), and so on. The
spellings were chosen by reading them back: espeak-ng's phonemes of each respelling against
the phonemes it was made from (``benchmarks/phoneme_respelling.py``). Stress marks are
dropped: letters do not carry them.

X-SAMPA (``alphabet="x-sampa"``) is read as the IPA it writes.
"""

from __future__ import annotations

import re
import unicodedata

from .text import InvalidText

ALPHABETS = ("ipa", "x-sampa")

# each consonant's usual spelling (``_consonant``: where it stands changes some)
CONSONANTS = {
    "p": "p", "b": "b", "t": "t", "d": "d", "k": "k", "ɡ": "g", "g": "g", "f": "f", "v": "v", "θ": "th", "ð": "th",
    "s": "s", "z": "z", "ʃ": "sh", "ʒ": "zh", "tʃ": "ch", "dʒ": "j", "h": "h", "m": "m", "n": "n", "ŋ": "ng",
    "l": "l", "ɫ": "l", "ɹ": "r", "r": "r", "ɾ": "t", "j": "y", "w": "w", "ʍ": "wh", "x": "k", "ʔ": "",
    "ç": "h", "ʎ": "ly", "ɲ": "ny", "ɬ": "l", "n̩": "n", "l̩": "l", "m̩": "m",
}
# vowels: (before a consonant that ends the word or a cluster, before one consonant and a vowel,
# before a vowel, at the end)
VOWELS = {
    "i": ("ee", "ee", "ee", "y"), "iː": ("ee", "ee", "ee", "ee"), "ɪ": ("i", "i", "i", "ih"),
    "ᵻ": ("e", "e", "i", "ih"), "e": ("e", "e", "e", "ay"), "eɪ": ("ay", "ay", "ay", "ay"),
    "ɛ": ("e", "e", "e", "eh"), "æ": ("a", "a", "a", "a"), "a": ("a", "a", "a", "ah"),
    "ɑ": ("o", "ah", "ah", "ah"), "ɑː": ("o", "ah", "ah", "ah"), "ɒ": ("o", "o", "o", "o"),
    "ɔ": ("aw", "aw", "aw", "aw"), "ɔː": ("aw", "aw", "aw", "aw"), "oʊ": ("oh", "oh", "ow", "oh"),
    "əʊ": ("oh", "oh", "ow", "oh"), "o": ("oh", "oh", "ow", "oh"), "oː": ("oh", "oh", "ow", "oh"),
    "ʊ": ("oo", "oo", "oo", "oo"), "u": ("oo", "oo", "oo", "oo"), "uː": ("oo", "oo", "oo", "oo"),
    "ʌ": ("u", "u", "u", "uh"), "ə": ("u", "a", "a", "a"), "ɐ": ("u", "a", "a", "a"),
    "ɚ": ("er", "er", "er", "er"), "ɝ": ("er", "er", "er", "er"), "ɜ": ("er", "er", "er", "er"),
    "ɜː": ("er", "er", "er", "er"), "aɪ": ("igh", "i", "ie", "ye"), "aʊ": ("ow", "ow", "ow", "ow"),
    "ɔɪ": ("oy", "oy", "oy", "oy"), "y": ("ew", "ew", "ew", "ew"), "ɪə": ("eer", "eer", "eer", "eer"),
    "eə": ("air", "air", "air", "air"), "ʊə": ("oor", "oor", "oor", "oor"),
    # sounds other Englishes and borrowed names have, spelled as the nearest English one
    "eː": ("ay", "ay", "ay", "ay"), "ɛː": ("air", "air", "air", "air"), "ʉ": ("oo", "oo", "oo", "oo"),
    "ʉː": ("oo", "oo", "oo", "oo"), "ɵ": ("oo", "oo", "oo", "oo"), "ɨ": ("i", "i", "i", "ih"),
    "ø": ("ur", "ur", "ur", "ur"), "øː": ("ur", "ur", "ur", "ur"), "œ": ("ur", "ur", "ur", "ur"),
    "ɯ": ("oo", "oo", "oo", "oo"), "ɤ": ("u", "u", "u", "uh"),
}
# a vowel and the r after it, where no vowel follows: one spelling ("ar", not "or" for /ɑːɹ/)
R_COLOURED = {"ɑ": "ar", "ɑː": "ar", "ɔ": "or", "ɔː": "or", "o": "or", "oː": "or", "oʊ": "or", "ɪ": "eer",
              "i": "eer", "iː": "eer", "ɛ": "air", "e": "air", "eɪ": "air", "ʊ": "oor", "u": "oor", "uː": "oor",
              "ɜ": "er", "ɜː": "er", "ə": "er", "ʌ": "er", "aɪ": "ire", "aʊ": "our", "æ": "ar", "a": "ar"}
# a short vowel before one consonant and a vowel: that consonant doubled keeps it short
DOUBLED = {"b": "bb", "d": "dd", "f": "ff", "g": "gg", "k": "ck", "l": "ll", "m": "mm", "n": "nn", "p": "pp",
           "r": "rr", "s": "ss", "t": "tt", "v": "vv", "z": "zz", "j": "dge"}
SHORT = {"ɪ", "ɛ", "æ", "ʌ", "ɒ", "a", "e"}
VOICED = {"b", "d", "g", "v", "ð", "m", "n", "ŋ", "l", "ɫ", "ɹ", "r", "ʒ", "dʒ"}
IGNORED = "ˈˌ.‿ˑʰʲʷˠˤ' "  # stress, syllable marks, modifier letters (and any combining mark: ``symbols``)

_SYMBOLS = sorted([*CONSONANTS, *VOWELS], key=len, reverse=True)

# X-SAMPA's symbols for the sounds above (the ones English needs)
XSAMPA = {
    "tS": "tʃ", "dZ": "dʒ", "T": "θ", "D": "ð", "S": "ʃ", "Z": "ʒ", "N": "ŋ", "r\\": "ɹ", "4": "ɾ", "j": "j",
    "I": "ɪ", "E": "ɛ", "{": "æ", "A": "ɑ", "Q": "ɒ", "O": "ɔ", "U": "ʊ", "V": "ʌ", "@": "ə", "6": "ɐ",
    "@`": "ɚ", "3`": "ɝ", "3": "ɜ", "eI": "eɪ", "aI": "aɪ", "OI": "ɔɪ", "aU": "aʊ", "oU": "oʊ", "@U": "əʊ",
    "I@": "ɪə", "e@": "eə", "U@": "ʊə", ":": "ː", "\"": "ˈ", "%": "ˌ", "g": "ɡ", "W": "ʍ", "?": "ʔ", "5": "ɫ",
}
_XSAMPA_RE = re.compile("|".join(re.escape(s) for s in sorted(XSAMPA, key=len, reverse=True)))
_IPA_ONLY = {c for s in [*CONSONANTS, *VOWELS, "ˈˌː"] for c in s if ord(c) > 127}


def is_ipa(text: str) -> bool:
    """Whether ``text`` is written in IPA (has a symbol only IPA uses: "ˈ", "ə", "ʃ"...), not in
    letters: a dictionary's pronunciation may be either (Riva's are IPA)."""
    return any(c in _IPA_ONLY for c in text)


def from_xsampa(written: str) -> str:
    """X-SAMPA -> IPA (the symbols English needs; others pass through as they are)."""
    return _XSAMPA_RE.sub(lambda m: XSAMPA[m.group(0)], written)


def symbols(ipa: str) -> list[str]:
    """An IPA word as its phonemes (longest symbols first; stress, syllable marks and diacritics
    dropped, length kept where a vowel has it); an unknown symbol is refused by name."""
    out: list[str] = []
    i, ipa = 0, ipa.replace(":", "ː")  # the colon people type for length
    while i < len(ipa):
        ch = ipa[i]
        if ch == "ː":  # a long vowel: the symbol before it with its length, where that is one
            if out and out[-1] + "ː" in VOWELS:
                out[-1] += "ː"
            i += 1
            continue
        found = next((s for s in _SYMBOLS if ipa.startswith(s, i)), None)
        if found is None and (ch in IGNORED or unicodedata.combining(ch)):
            i += 1
            continue
        if found is None:
            raise InvalidText(f"phonemes {ipa!r}: no English sound for {ch!r}")
        out.append("g" if found == "ɡ" else found)  # the IPA letter and the plain one are one sound
        i += len(found)
    return out


def respelling(ipa: str, alphabet: str = "ipa") -> str:
    """Phonemes (IPA, or X-SAMPA) -> letters that read as them, a word for each word."""
    if alphabet not in ALPHABETS:
        raise InvalidText(f"phoneme alphabet {alphabet!r}: one of {', '.join(ALPHABETS)}")
    if alphabet == "x-sampa":
        ipa = from_xsampa(ipa)
    words = [_word(symbols(word)) for word in re.split(r"[\s‿]+", ipa.strip()) if word]
    said = " ".join(w for w in words if w)
    if not said:
        raise InvalidText(f"phonemes {ipa!r}: nothing to say")
    return said


def _word(phones: list[str]) -> str:
    letters, k = [], 0
    while k < len(phones):
        p, after = phones[k], phones[k + 1 :]
        if p in ("aɪ", "aʊ") and after[:1] == ["ɚ"]:
            letters.append("ire" if p == "aɪ" else "our")  # "fire", "hour"
            k += 2
            continue
        if p in VOWELS and after[:1] in (["ɹ"], ["r"]):
            r_coloured = _r_coloured(p, phones[k - 1] if k else None, after[1:])
            if r_coloured is not None:
                letters.append(r_coloured)
                k += 2
                continue
        if p in ("aɪ", "aʊ") or (p == "j" and after[:1] == ["uː"] and k):
            spelled, used = _long(phones, k)
            if spelled is not None:
                letters.append(spelled)
                k += used
                continue
        spelled = _consonant(p, phones[k - 1] if k else None, after) if p in CONSONANTS else _vowel(p, after, k == 0)
        if spelled == "ed" and letters and letters[-1].endswith("e"):
            spelled = "d"  # "timed", not "timeed"
        letters.append(spelled)
        k += 1
    return "".join(letters)


def _r_coloured(p: str, before: str | None, rest: list[str]) -> str | None:
    """A vowel and the r after it as one spelling ("ar" for /ɑːɹ/, not "or"), where no vowel
    follows; before a vowel only the r-coloured ones ("history", "current")."""
    if rest and rest[0] in VOWELS:
        return {"ɚ": "er", "ɜ": "urr", "ɜː": "urr", "ɝ": "urr", "ɪ": "eer", "i": "eer", "iː": "eer"}.get(p)
    if before == "w" and p in ("ɔ", "ɔː", "o", "oː"):
        return "ar"  # "warm", "quarter"
    return R_COLOURED.get(p)


def _long(phones: list[str], k: int) -> tuple[str | None, int]:
    """/aɪ/ and /(j)uː/ before a consonant take a silent e after it ("time", "timed", "compute");
    /aʊ/ before a consonant is "ou" ("out"). (letters, phonemes used); None: the usual way."""
    p = phones[k]
    used = 2 if p == "j" else 1
    rest = phones[k + used :]
    if not rest or rest[0] not in CONSONANTS or (len(rest) > 1 and rest[1] in VOWELS):
        if p != "j":
            return None, 1
        return ("u", 2) if rest and rest[0] in CONSONANTS else ("ew", 2)  # "document"; "fewer", "value"
    if p == "aʊ":
        return ("ow" if rest[0] == "n" and rest[1:2] != ["d"] else "ou"), 1  # "counter", "out", "ground"
    c = CONSONANTS[rest[0]]
    if c in ("", "ng", "y", "w", "h", "r", "ch", "sh", "th", "zh", "wh"):
        return ("igh", 1) if p == "aɪ" and c != "r" else (None, 1)  # "sighed" has no e to spare
    ending = "ce" if c == "s" else c + "e"
    return ("i" if p == "aɪ" else "u") + ending, used + 1


def _vowel(p: str, after: list[str], first: bool) -> str:
    if not after:
        return "eye" if p == "aɪ" and first else VOWELS[p][3]
    if after[0] in VOWELS:
        return VOWELS[p][2]
    if p == "ᵻ" and after in (["z"], ["d"]):
        return "i"  # "batches", "wanted"
    if p == "ʊ":
        return {"ʃ": "u", "l": "u", "d": "ou"}.get(after[0], "oo")  # "push", "full", "could", "look"
    open_ = len(after) > 1 and after[1] in VOWELS  # one consonant, then a vowel
    if p == "aɪ" and open_:  # "identical", "final"; before an r, "y" ("gyro")
        return "i" if first or after[0] not in ("ɹ", "r") else "y"
    return VOWELS[p][1 if open_ else 0]


def _consonant(p: str, before: str | None, after: list[str]) -> str:
    spelled = CONSONANTS[p]
    if spelled == "ch" and before in SHORT:
        return "tch"
    if spelled == "ng" and after[:1] == ["k"]:
        return "n"  # "ink", not "ingk"
    if before in SHORT and after and after[0] in VOWELS and spelled in DOUBLED:
        return DOUBLED[spelled]
    if not after and before in CONSONANTS:
        if spelled == "z" and before in VOICED:
            return "s"  # "means": a last "nz" reads "nts"
        if spelled == "s" and CONSONANTS[before] in ("n", "l", "r"):
            return "se"  # "hence", "parse": a last "ns" reads "nz"
        if spelled == "d" and CONSONANTS[before] in ("m", "b", "g", "v", "z", "zh", "j", "th"):
            return "ed"  # "streamed": a last "md" reads as letters
        if spelled == "t" and CONSONANTS[before] == "ch":
            return "ed"  # "reached": a last "cht" reads as German
        if spelled == "g" and CONSONANTS[before] == "d":
            return "gue"  # "Tadhg": a last "dg" reads "j"
    if spelled == "th" and p == "ð" and not after and before in VOWELS:
        return "the"  # "Goethe", "bathe": a last "th" reads as in "bath"
    if spelled == "s" and not after and before in VOWELS and before not in SHORT:
        return "ss"  # "piece", "notice": a last "s" after a vowel reads "z"
    if before == "ʊ" and spelled == "l" and after and after[0] in VOWELS:
        return "ll"
    if spelled == "g" and after and after[0] in ("i", "iː", "ɪ", "e", "ɛ", "aɪ", "ᵻ"):
        return "gh"  # "ghee", not "gee" (a j)
    return spelled
