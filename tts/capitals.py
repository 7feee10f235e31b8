"""Words in capitals, read as a reader would: an initialism letter by letter ("FBI" -> "F B I",
as ``tts.semiotic`` reads "F.B.I."), an acronym as a word ("NASA" -> "Nasa"), and shouting
("I AM SO ANGRY") as the words it is.

The model reads letters and never met a word in capitals in training (the corpus is sentence
case), so "FBI" or "ANGRY" left as written are byte sequences it has no reading for. Which
reading a word gets: the tables below first (acronyms said as words, initialisms that look
sayable, English words written in capitals for emphasis), then its length (two or three
capitals are nearly always letters: "CEO", "BBC", "API"), then whether English could say it (a
consonant run that opens and one that closes an English syllable, vowels between: "NATO" and
"UNESCO" can, "HTML", "NAACP" and "USSR" cannot). Words in capitals in a row, one of them "I" or
a common word, are shouting: each becomes lower case unless it cannot be said ("THE FBI IS HERE"
-> "The F B I is here"; "FBI, CIA, NSA" is three initialisms).
"""

from __future__ import annotations

import re

from .semiotic import Rule

# acronyms said as words; a value is how (for those whose letters mislead)
SAID_AS_WORDS = {
    "nasa": "Nasa", "nato": "Nato", "unesco": "Unesco", "unicef": "Unicef", "fifa": "Fifa", "uefa": "Uefa",
    "opec": "Opec", "aids": "Aids", "sars": "Sars", "covid": "Covid", "laser": "laser", "radar": "radar",
    "scuba": "scuba", "nafta": "Nafta", "ikea": "Ikea", "lego": "Lego", "ram": "ram", "rom": "rom", "gif": "gif",
    "pin": "pin", "sim": "sim", "lan": "lan", "wan": "wan", "jpeg": "jay peg", "nvidia": "en vidia", "ascii": "askee",
    "ok": "okay", "wifi": "wifi", "gui": "gooey", "json": "jason", "yaml": "yammel", "captcha": "captcha", "emoji": "emoji", "yolo": "yolo",
}
# initialisms that English could say but readers spell
SPELLED = {"ucla", "aclu", "ieee", "oecd", "usa", "ceo", "cfo", "cto", "eta", "faq", "rip", "ufo", "ui", "io", "ai",
           "eu", "un"}
# English words written in capitals for emphasis, read as words even alone ("I did NOT say that")
EMPHASIS = set("""a an the and or but not no yes so very all any every is are was were be been do does did don't
doesn't didn't can can't cannot will won't would wouldn't should shouldn't must have has had haven't me my mine you
your he him his she her we our they them their this that these those here there now then never ever always only
just too way why how what who when where which really more most less much many big huge free new hot cold stop help
wow please thanks thank one two three off out up down on in at to for of by with from if than again right wrong
good bad best worst love hate sorry go going gone get got come came look see saw let make made take took give gave
tell told say said know knew think want need like away back home over still yet even as about after before""".split())

VOWELS = set("AEIOU")
ONSETS = set("B C D F G H J K L M N P Q R S T V W X Y Z".split()) | {
    "BL", "BR", "CH", "CL", "CR", "DR", "DW", "FL", "FR", "GL", "GN", "GR", "KN", "PH", "PL", "PR", "SC", "SH", "SK",
    "SL", "SM", "SN", "SP", "ST", "SW", "TH", "TR", "TW", "WH", "WR", "SCH", "SCR", "SHR", "SPL", "SPR", "STR", "THR"}
CODAS = set("B C D F G K L M N P R S T V W X Z".split()) | {
    "CH", "CK", "CT", "DS", "FT", "GH", "LD", "LF", "LK", "LL", "LM", "LP", "LS", "LT", "MB", "MP", "MS", "NC", "ND",
    "NG", "NK", "NS", "NT", "PH", "PT", "RB", "RC", "RD", "RF", "RG", "RK", "RL", "RM", "RN", "RP", "RS", "RT", "SH",
    "SK", "SP", "SS", "ST", "TH", "TS", "XT", "CKS", "GHT", "LDS", "LKS", "LLS", "LTS", "MPS", "NCH", "NDS", "NGS", "NGTH",
    "NKS", "NTH", "NTS", "PTS", "RCH", "RDS", "RKS", "RLD", "RMS", "RNS", "RST", "RTH", "RTS", "SKS", "STS", "TCH"}
_WORD = r"[A-Z][A-Z']*[A-Z]|[A-Z]"
# a run stays inside its sentence: a sentence reads the same alone as in its text (tts.text_stream)
_SHOUT = re.compile(r"(?<![\w'])(?:" + _WORD + r")(?:[\s,;:\"-]+(?:" + _WORD + r")(?![\w'])){1,}(?![\w'])")
_CAPITALS = re.compile(r"(?<![\w'])([A-Z]{2,})(s|'s)?(?![\w'])")


def sayable(word: str) -> bool:
    """Whether English spelling could say ``word`` (capitals) as one word: it opens with a
    syllable onset (or a vowel), closes with a coda (or a vowel), has no run of more than three
    consonants between vowels nor of more than two vowels ("Y" after the first letter, and "W"
    after a vowel, count as vowels: "YAML", "NEWS")."""
    word = word[0] + re.sub(r"(?<=[AEIOUY])W", "U", word[1:]).replace("Y", "I")
    runs = re.findall(r"[AEIOU]+|[^AEIOU]+", word)
    vowels = [r for r in runs if r[0] in VOWELS]
    if not vowels or any(len(r) > 2 for r in vowels):
        return False
    if runs[0][0] not in VOWELS and runs[0] not in ONSETS:
        return False
    if runs[-1][0] not in VOWELS and runs[-1] not in CODAS:
        return False
    return all(len(r) <= 3 for r in runs[1:-1] if r[0] not in VOWELS)


def letters(word: str) -> str:
    return " ".join(word)


def _one(word: str, plural: str) -> str:
    """A word in capitals alone among other words."""
    key = word.lower()
    if key in SAID_AS_WORDS:
        return SAID_AS_WORDS[key] + plural
    if key in EMPHASIS:
        return key + plural
    if key in SPELLED or len(word) <= 3 or not sayable(word):
        return letters(word) + ("'s" if plural else "")
    return word.capitalize() + plural


def _shouted_word(w: re.Match) -> str:
    """A word of a shouted run: lower case, but what cannot be said is still spelled."""
    text = w.group(0)
    plain, key = text.replace("'", ""), text.lower()
    if text == "I" or text.startswith("I'"):  # "I", "I'M"
        return "I" + key[1:]
    if key in SAID_AS_WORDS:
        return SAID_AS_WORDS[key]
    if len(plain) == 1 and text != "A":
        return text  # a letter: "THE U S ARMY"
    if key not in EMPHASIS and (key in SPELLED or not sayable(plain)):
        return letters(plain)
    return key


def _shout(m: re.Match) -> str:
    """Words in capitals in a row, shouted if one is the pronoun "I" or a common word ("THE END",
    "I AM"; not "US ARMY", "FBI, CIA, NSA" or "F B I"): in sentence case."""
    words = re.findall(r"[A-Z][A-Z']*", m.group(0))
    if not any(w == "I" or w.startswith("I'") or (len(w) > 1 and w.lower() in EMPHASIS) for w in words):
        return m.group(0)  # each is read alone
    return _sentence_case(re.sub(r"[A-Z][A-Z']*", _shouted_word, m.group(0)), m)


def _sentence_case(said: str, m: re.Match) -> str:
    """``said`` (what ``m`` matched) with a capital first letter where a sentence starts."""
    before = m.string[:m.start()].rstrip()
    return said[0].upper() + said[1:] if not before or before[-1] in ".!?" else said


def _alone(m: re.Match) -> str:
    return _sentence_case(_one(m.group(1), m.group(2) or ""), m)


# for tts.text's rules, after everything else (numerals, units, "U.S." and "5 PM" are read by then)
RULES = [Rule(_SHOUT, _shout, digits=False), Rule(_CAPITALS, _alone, digits=False)]


def read_capitals(text: str) -> str:
    """``text`` with its words in capitals as they are said (see the module's docstring)."""
    for rule in RULES:
        text = rule.pattern.sub(rule.reading, text)
    return text
