"""Text frontend: English normalization to speakable words, and the BPE text tokenizer.

``normalize`` spells out what a reader says (numbers, ordinals, currency, percentages, times,
dates, abbreviations; measures, telephone numbers, fractions and addresses in ``tts.semiotic``;
words in capitals in ``tts.capitals``)
and tidies punctuation, so the model only ever sees words.  The
tokenizer is a byte-level BPE trained by the recipe with HF ``tokenizers`` and saved as
``tokenizer.json`` next to the model.  Bad text raises ``InvalidText`` with one line.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from pathlib import Path
from typing import Iterable

from codec.errors import CodecError

from .capitals import RULES as CAPITALS_RULES
from .markdown import plain, prose
from .numbers import digits_words, number_words, ordinal_words, year_words
from .semiotic import (CURRENCY, MONEY, MONTH_WRITTEN, RULES as SEMIOTIC_RULES, SENTENCE_END, TIME_END, WEB_RE, WEEKDAY,
                       Rule, date_words, kept_period, weekday_name, web_words)

MAX_CHARS = 2000
TOKENIZER_FILE = "tokenizer.json"


class InvalidText(CodecError):
    """Text that cannot be spoken: empty, too long, or without any letters or digits."""


ABBREVIATIONS = {
    "mr": "mister", "mrs": "missus", "ms": "miz", "dr": "doctor", "st": "saint", "prof": "professor",
    "jr": "junior", "sr": "senior", "capt": "captain", "gen": "general", "lt": "lieutenant", "col": "colonel",
    "sgt": "sergeant", "rev": "reverend", "vs": "versus", "etc": "et cetera", "approx": "approximately",
    "vol": "volume", "mt": "mount", "ft": "feet", "jan": "january", "feb": "february", "mar": "march",
    "apr": "april", "aug": "august", "sept": "september", "sep": "september", "oct": "october",
    "nov": "november", "dec": "december", "apt": "apartment", "ave": "avenue", "blvd": "boulevard",
    "dept": "department", "depts": "departments", "govt": "government", "univ": "university",
    "assn": "association", "intl": "international", "natl": "national", "hwy": "highway",
}
PUNCT_MAP = {"\u201c": '"', "\u201d": '"', "\u2018": "'", "\u2019": "'", "\u2014": ", ", "\u2013": ", ",
             "\u2026": "...", "\u00a0": " ", "&": " and ", "%": " percent", "+": " plus ", "=": " equals ",
             "@": " at ", "#": " number ", "\u2248": " about ", "\u00b1": " plus or minus ", "\u00f7": " divided by ",
             "\u2264": " less than or equal to ", "\u2265": " more than or equal to ", "\u2260": " not equal to ",
             "\u2192": " to ", "\u00a7": " section ", "\u00b6": " paragraph ", "\u00a9": " copyright "}
# what NFKC would make unreadable: "½" is "1⁄2" after it, "m²" "m2"
_BEFORE_NFKC = {"\u00bd": " 1/2", "\u00bc": " 1/4", "\u00be": " 3/4", "\u2153": " 1/3", "\u2154": " 2/3",
                "\u215b": " 1/8", "\u215c": " 3/8", "\u215d": " 5/8", "\u215e": " 7/8", "\u2155": " 1/5",
                "\u00b2": "^2", "\u00b3": "^3", "\u2122": "", "\u00ae": ""}
_BEFORE_NFKC_RE = re.compile("[" + "".join(_BEFORE_NFKC) + "]")
_COMPARED = {"~": "about ", "<": "less than ", ">": "more than "}  # before a number
_EMAIL_SAID = {".": " dot ", "_": " underscore ", "-": " dash ", "+": " plus ", "@": " at "}


def _email(m: re.Match) -> str:
    """'john.doe@example.com' -> 'john dot doe at example dot com'."""
    return re.sub(r"[._+@-]", lambda s: _EMAIL_SAID[s.group(0)], m.group(0))


# symbols that mean something else next to what they touch, read before PUNCT_MAP's general
# readings; each is looked for only in text with one of its characters (most text has none)
_BEFORE_SYMBOLS = [
    ("@", re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}\b"), _email),  # every symbol of an address said
    (".", WEB_RE, web_words),  # "example.com/search?q=cats": the query's "=" too, as a web address says it
    ("P", re.compile(r"\bPh\.? ?D\.?(?!\w)" + SENTENCE_END), lambda m: "P H D" + kept_period(m)),
    # "5–10", "9 a.m. – 5 p.m.": a range, not a pause
    ("\u2013\u2014", re.compile(r"(?<=\d) ?[\u2013\u2014] ?(?=\d)"), "-"),
    ("\u2013\u2014", re.compile(r"(?:(?<=[ap]m)|(?<=[ap]\.m\.)) ?[\u2013\u2014] ?(?=\d)", re.IGNORECASE), " - "),
    ("#", re.compile(r"\b([A-G])#(?!\w)"), r"\1 sharp"),  # "C#", "F#"
    ("$", re.compile(r"\bUS\$"), "$"),
    ("\u2212", re.compile(r"\u2212(?=\d)"), "-"),  # the minus sign
    ("~<>", re.compile(r"(?<![\w~<>])([~<>]) ?(?=[\d" + MONEY + "])"), lambda m: _COMPARED[m.group(1)]),
    ("#", re.compile(r"(?<![\w#])#(?=[A-Za-z])"), ""),  # a hashtag is its word ("#1" is number one)
    # letters joined by "&" are spelled: "AT&T" is "A T and T" ("AT" alone may be the word)
    ("&", re.compile(r"\b([A-Z]{1,3})&([A-Z]{1,3})\b"), lambda m: f"{' '.join(m.group(1))} and {' '.join(m.group(2))}"),
    ("-\u2013\u2014", re.compile(r"\b(" + WEEKDAY + r") ?[-\u2013\u2014] ?(" + WEEKDAY + r")(?!\w)" + SENTENCE_END, re.IGNORECASE),
     lambda m: f"{weekday_name(m.group(1))} to {weekday_name(m.group(2))}" + kept_period(m)),  # "Mon-Fri": Monday to Friday
]


BEFORE_NUMBERS = {"no": "number", "nos": "numbers", "p": "page", "pp": "pages", "fig": "figure", "figs": "figures",
                  "ch": "chapter", "chap": "chapter", "sec": "section", "eq": "equation", "c": "circa", "ca": "circa",
                  "ext": "extension"}
# abbreviations that lead into what follows (titles, "vs."): never a sentence's end
LEADING = {"mr", "mrs", "ms", "dr", "st", "prof", "capt", "gen", "lt", "col", "sgt", "rev", "mt", "vs", "apt"}
# the lookahead turns away most places at once: a word of letters and a period follows
_MONTH_NAMES = "|".join(MONTH_WRITTEN)  # "in May 350 came": not a model
# words whose number is read in pairs even where they start a sentence ("Room 237 is haunted")
_DESIGNATORS = ("Room|Flight|Route|Highway|Interstate|Suite|Gate|Platform|Bus|Section|Title|Chapter|Page|Area|Model|Boeing|Airbus|"
                "ISO|IEC|RFC|PEP|ANSI|DIN")  # standards too: "ISO 9001" is ninety oh one
_ABBR_RE = re.compile(r"\b(?=[a-z]{2,6}\.)(" + "|".join(ABBREVIATIONS) + r")\." + SENTENCE_END, re.IGNORECASE)
_AFTER_NAME_RE = re.compile(r"\b[A-Z][a-z]*,? $")  # "John Smith Jr.": a name's suffix, which may end a sentence
# what is named after a "Jr.", which then ends no sentence: "Martin Luther King Jr. Day"
_NAMED_AFTER_RE = re.compile(r" (?:Day|Boulevard|Blvd|Drive|Avenue|Street|Parkway|Highway|Memorial|High|Elementary|"
                             r"Middle|School|Hospital|Center|Library|Park|Bridge|Airport|Stadium|Building|Award|Prize)\b")
_ABBR_END_RE = re.compile(r"\b(?:" + "|".join(LEADING) + r")\.$", re.IGNORECASE)  # "Mr." ends no sentence
_CURRENCY_RE = re.compile("([" + MONEY + r"])\s?(\d[\d,]*)(?:\.(\d{1,2}))?\b")
_ORDINAL_RE = re.compile(r"\b(\d{1,3}(?:,\d{3})+|\d+)(st|nd|rd|th)\b", re.IGNORECASE)
_TIME_RE = re.compile(r"\b(\d{1,2}):(\d{2})(?!\d)(?:\s*(am|pm|a\.m\.|p\.m\.)(?!\w)" + TIME_END + ")?", re.IGNORECASE)
_DATE_RE = re.compile(r"\b(\d{1,2})/(\d{1,2})/(\d{4})\b")
_DECIMAL_RE = re.compile(r"\b(\d+)\.(\d+)\b")
_NUMBER_RE = re.compile(r"\b\d{1,3}(?:,\d{3})+\b|\b\d+\b")
_YEAR_CONTEXT_RE = re.compile(r"\b(in|since|of|from|by|until|till|during|circa|copyright)\s+(1[1-9]\d\d|20\d\d)\b",
                              re.IGNORECASE)
_YEARS_BETWEEN_RE = re.compile(r"\b(between|from)\s+(1[1-9]\d\d|20\d\d) (and|to|until|till|through) (1[1-9]\d\d|20\d\d)\b"
                               r"(?![,.]?\d)", re.IGNORECASE)
# codes read digit by digit: "PIN 1234", "your code is 0042", "area code 415", "ZIP 02139", "CA 94103" (a state's ZIP)
STATES = set("AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY NC ND OH OK "
             "OR PA RI SC SD TN TX UT VT VA WA WV WI WY".split())
_CODE_RE = re.compile(r"\b((?:PIN|OTP|passcode|code|ZIP)(?: number)?(?: is|:)? |(?-i:[A-Z]{2}) )(\d{3,8}(?:-\d{4})?)\b"
                      r"(?![.,]\d)", re.IGNORECASE)
# a year by what names it: a month ("May 2021", "Dec. 1999"), a quarter or half ("Q3 2024", "H1 2025"),
# a fiscal year, "the year 1066" (1000-2099)
_YEAR_NAMED_RE = re.compile(r"\b((?-i:" + "|".join(sorted(MONTH_WRITTEN, key=len, reverse=True)) + r")\.?,?|Q[1-4]|H[12]|FY|year)"
                            r"\s+(1\d{3}|20\d\d)\b(?!,\d)", re.IGNORECASE)
# a ratio is no time: "3:2", "16:9", "1:100" (times, "10:30", are read before)
_RATIO_RE = re.compile(r"(?<![\w:.])(\d+):(\d+)(?![\w:])")
# emergency numbers are dialled digit by digit: "call 911", "dial 999", "a 911 dispatcher"
_EMERGENCY_RE = re.compile(r"\b(?:(call(?:ed|ing|s)?|dial(?:l?ed|l?ing|s)?|ring|phone|text) (911|999|112)"
                           r"|(911)(?= (?:calls?|operators?|dispatch(?:ers?)?|centers?|centres?|lines?)\b))\b", re.IGNORECASE)


def normalize(text: str) -> str:
    """Speakable text: unicode tidied, numbers and symbols read out, whitespace collapsed.

    Cached: servers see the same prompts and voice transcripts again and again."""
    if not isinstance(text, str):
        raise InvalidText(f"text must be a string, got {type(text).__name__}")
    return _normalize_cached(text)


@functools.lru_cache(maxsize=4096)
def _normalize_cached(text: str) -> str:
    if not isinstance(text, str):
        raise InvalidText(f"text must be a string, got {type(text).__name__}")
    if len(text) > MAX_CHARS:
        raise InvalidText(f"text is {len(text)} characters; at most {MAX_CHARS} per request (split it)")
    text = _clean_unicode(text)
    digits = any(ch.isdigit() for ch in text)
    for rule in _RULES:
        if (digits or not rule.digits) and (not rule.needs or rule.needs in text):
            text = rule.pattern.sub(rule.reading, text)
    text = re.sub(r"\s+([,.!?;:])", r"\1", re.sub(r"\s+", " ", text)).strip()
    if not any(ch.isalpha() for ch in text):
        raise InvalidText("text has nothing to say (no letters or numbers after normalization)")
    return text


def _clean_unicode(text: str) -> str:
    """NFKC, typographic punctuation to ASCII, control and unassigned characters dropped."""
    if _BEFORE_NFKC_RE.search(text):  # "1½" -> "1 1/2"; "2 ½" -> "2 1/2" (one space: a mixed number)
        text = _BEFORE_NFKC_RE.sub(lambda m: _BEFORE_NFKC[m.group(0)], text).replace("  ", " ")
    text = plain(unicodedata.normalize("NFKC", text))  # a chat model's Markdown (tts.markdown)
    for chars, pattern, said in _BEFORE_SYMBOLS:
        if any(ch in text for ch in chars):
            text = pattern.sub(said, text)
    text = "".join(PUNCT_MAP.get(ch, ch) for ch in text)
    kept = []
    for ch in text:
        cat = unicodedata.category(ch)
        if cat[0] == "C" and ch not in "\n\t":
            continue  # control, format, unassigned, private use
        if cat[0] == "S" and ch not in MONEY + "¢°^":  # "^": a power, read by a rule (or dropped there)
            kept.append(" ")  # emoji and other symbols are not spoken
            continue
        kept.append(ch)
    return "".join(kept)


def _currency(m: re.Match) -> str:
    one, many, sub_one, sub_many = CURRENCY[m.group(1)]
    whole = int(m.group(2).replace(",", ""))
    cents = int((m.group(3) or "0").ljust(2, "0"))
    parts = [f"{number_words(whole)} {one if whole == 1 else many}"] if whole or not cents else []
    if cents:
        parts.append(f"{number_words(cents)} {sub_one if cents == 1 else sub_many}")
    return " and ".join(parts)


def _time(m: re.Match) -> str:
    h, mins, suffix = int(m.group(1)), int(m.group(2)), (m.group(3) or "").lower().replace(".", "")
    if mins > 59:
        return m.group(0)
    if h > 24:  # minutes and seconds: "ran 5 km in 25:30" is "twenty five thirty"
        return f"{number_words(h)} {'oh ' * (mins < 10)}{number_words(mins)}" + kept_period(m)
    on_the_hour = " hundred" if h > 12 or (h == 0 and not suffix) else " o'clock"  # 17:00 is "seventeen hundred"
    spoken = number_words(h) + (on_the_hour if mins == 0 and not suffix else "" if mins == 0 else
                                " oh " + number_words(mins) if mins < 10 else " " + number_words(mins))
    return spoken + (" " + " ".join(suffix) if suffix else "") + kept_period(m)


def _date(m: re.Match) -> str:
    return date_words(int(m.group(1)), int(m.group(2)), int(m.group(3))) or m.group(0)


def _abbreviation(m: re.Match) -> str:
    """'Mr.' -> 'mister'; 'etc.' -> 'et cetera', and its period stays where it ends a sentence
    (the text's end, or a capital next); a title's never does ("Mr. Brown"), nor does "Sr." or
    "Jr." before a word unless it follows a name ("Sr. Engineer"; "John Smith Jr. Then...")."""
    key = m.group(1).lower()
    title = key in LEADING or (key in ("sr", "jr") and (not _AFTER_NAME_RE.search(m.string, 0, m.start())
                                                        or _NAMED_AFTER_RE.match(m.string, m.end())))
    return ABBREVIATIONS[key] + ("" if title else kept_period(m))


def _code(m: re.Match) -> str:
    """'PIN 1234' -> 'PIN one two three four'; a ZIP code after a state ('TX 76102') likewise."""
    said = m.group(1)
    if len(said) == 3 and said[:2] not in STATES:  # two capitals that are no state
        return m.group(0)
    return said + ", ".join(digits_words(part) for part in m.group(2).split("-"))


def _pairs(digits: str, plural: str = "") -> str:
    """'747' -> 'seven forty seven', '101' -> 'one oh one', '4090' -> 'forty ninety' ('500': five
    hundred); ``plural`` "s": "747s" -> 'seven forty sevens'."""
    if digits[0] == "0":
        said = digits_words(digits)
    elif digits.endswith("00"):
        said = number_words(int(digits))
    elif len(digits) == 4:
        said = year_words(int(digits))
    else:
        tail = digits[1:]
        said = f"{number_words(int(digits[0]))} {'oh ' * (tail[0] == '0')}{number_words(int(tail))}"
    if not plural:
        return said
    return said[:-1] + "ies" if said.endswith("y") else said + ("es" if said.endswith("x") else "s")


def _ers(said: str) -> str:
    """'forty nine' -> 'forty niners', 'seventy six' -> 'seventy sixers' (a team named by a number)."""
    return said + ("rs" if said.endswith("e") else "ers")


def _size(digits: str) -> str:
    """A side of a size: "1920x1080" is said in pairs, "nineteen twenty by ten eighty"."""
    return _pairs(digits) if len(digits) in (3, 4) else digits


def _number(m: re.Match) -> str:
    return number_words(int(m.group(0).replace(",", "")))


_RULES: list[Rule] = [
    # before a number only: "No. 5", "p. 45", "Fig. 3", "c. 1850" ("He said no." is a word)
    Rule(re.compile(r"\b(" + "|".join(BEFORE_NUMBERS) + r")\. ?(?=\d)", re.IGNORECASE),
         lambda m: BEFORE_NUMBERS[m.group(1).lower()] + " "),
    Rule(_CODE_RE, _code),
    # the networking standards: "802.11ac" is eight oh two dot eleven a c
    Rule(re.compile(r"(?<![$\d.,])\b802\.(1\d|2[0-2]|[1-9])([a-zA-Z]{0,2})\b(?!\.\d)"),
         lambda m: " ".join(["eight oh two dot", number_words(int(m.group(1))), *m.group(2)]), needs="802."),
    # a toll-free number spelled as a word: "1-800-FLOWERS" is "one eight hundred flowers"
    Rule(re.compile(r"(?<![\w-])1[-. ]?(8(?:00|88|77|66|55|44|33))[-. ]((?-i:[A-Z][A-Z\d]{2,11}))(?![\w-])"),
         lambda m: f"one {'eight hundred' if m.group(1) == '800' else digits_words(m.group(1))} {m.group(2).lower()}"),
    Rule(re.compile(r"(?<![\w-])-(?=\d)"), lambda m: "minus "),  # before the measures: "-3.5°C"
    Rule(re.compile(r"\b(\d+) ?y/o\b"), lambda m: f"{m.group(1)} years old", needs="/"),  # before "and/or" is two words
    Rule(re.compile(r"\b[wW]/o\b"), lambda m: "without", digits=False, needs="/"),
    Rule(re.compile(r"\b([wW])/(?= )"), lambda m: "with" if m.group(1) == "w" else "With", digits=False, needs="/"),
    *SEMIOTIC_RULES,  # measures, telephones, fractions, month dates, addresses: before the number rules
    Rule(_YEAR_NAMED_RE, lambda m: f"{m.group(1)} {year_words(int(m.group(2)))}"),  # before "Dec." is spelled out
    Rule(_ABBR_RE, _abbreviation, digits=False),
    Rule(re.compile(r"\bvs\b(?!\.)"), lambda m: "versus", digits=False),  # "A vs B" (with its period: an abbreviation)
    Rule(_CURRENCY_RE, _currency),
    Rule(_DATE_RE, _date),
    Rule(re.compile(r"\b(\d{1,2}:\d{2}) ?- ?(?=\d{1,2}:\d{2}\b)"), lambda m: f"{m.group(1)} to ", needs=":"),  # "9:30-10:15"
    Rule(_TIME_RE, _time, needs=":"),
    Rule(_RATIO_RE, lambda m: f"{m.group(1)} to {m.group(2)}", needs=":"),
    # powers: "x^2" is x squared, "2^10" two to the power of ten
    Rule(re.compile(r"(?<=\w)\^([23])(?!\d)"), lambda m: " squared" if m.group(1) == "2" else " cubed", needs="^"),
    Rule(re.compile(r"(?<=\w)\^(\d+)"), lambda m: f" to the power of {m.group(1)}", needs="^"),
    Rule(re.compile(r"\^"), lambda m: " ", digits=False, needs="^"),  # a caret that is no power is not read
    # "3x faster" is three times; "4x4", "1920x1080" a size ("0x1F" stays a hex number)
    Rule(re.compile(r"\b(\d+(?:\.\d+)?)x(?= (?:more|less|as|the|\w+er)\b)"), lambda m: f"{m.group(1)} times", needs="x"),
    Rule(re.compile(r"\b(\d+)x(\d+)\b"), lambda m: f"{_size(m.group(1))} by {_size(m.group(2))}", needs="x"),
    Rule(_ORDINAL_RE, lambda m: ordinal_words(int(m.group(1).replace(",", "")))),
    Rule(_YEARS_BETWEEN_RE, lambda m: f"{m.group(1)} {year_words(int(m.group(2)))} {m.group(3)} {year_words(int(m.group(4)))}"),
    Rule(_YEAR_CONTEXT_RE, lambda m: f"{m.group(1)} {year_words(int(m.group(2)))}"),
    Rule(_EMERGENCY_RE, lambda m: " ".join(filter(None, (m.group(1), digits_words(m.group(2) or m.group(3)))))),
    # a model or route number after a name is read in pairs, as said: "Boeing 747" -> "seven forty seven", "Highway
    # 101" -> "one oh one", "RTX 4090", "A380", "F-150" (a name mid-sentence: "Over 300 people" is a count)
    Rule(re.compile(r"(?:(?<=[a-z,;:)] )(?!(?:" + _MONTH_NAMES + r")\b)|\b(?=(?:" + _DESIGNATORS + r") ))([A-Z][A-Za-z]*) "
                    r"(\d{3,4})(s?)\b(?![.,:/]\d)"), lambda m: f"{m.group(1)} {_pairs(m.group(2), m.group(3))}"),
    Rule(re.compile(r"\b([A-Z]{1,3})-?(\d{3,4})(s?)\b(?![.,:/]\d)"), lambda m: f"{m.group(1)} {_pairs(m.group(2), m.group(3))}"),
    Rule(re.compile(r"\b(\d?[1-9])ers\b"), lambda m: _ers(number_words(int(m.group(1)))), needs="ers"),  # "49ers", "76ers"
    Rule(re.compile(r"(?<=[A-Za-z])(?=\d)|(?<=\d)(?=[A-Za-z])"), lambda m: " "),  # "A4", "3D", "MP3": the number apart
    Rule(_DECIMAL_RE, lambda m: f"{number_words(int(m.group(1)))} point {digits_words(m.group(2))}"),
    Rule(_NUMBER_RE, _number),
    *CAPITALS_RULES,  # words in capitals: "FBI" -> "F B I", "NASA" -> "Nasa", "I AM SO ANGRY" -> "I am so angry"
]


def split_sentences(text: str, max_chars: int = 300) -> list[str]:
    """The pieces a model reads one at a time: sentences (split after . ! ?); a sentence longer
    than ``max_chars`` is cut after a ; where it can be, else at a comma, else at a space, and
    each cut piece ends with a full stop in place of its ; or comma.

    No piece ends with ; or a comma: a clause ending with one is never a whole utterance in
    training, so a model handed one went on talking after it ("Her short journey saw Mary;"
    came out 4 s long, its last 2 s babble). Splitting every ; into sentences of their own
    measured no better overall: training voices read them better, new voices worse, as each
    new piece starts from the voice prompt again (README, "Sentence pieces")."""
    out: list[str] = []
    for piece in (p.strip() for p in re.split(r"(?<=[.!?])\s+", text)):
        while len(piece) > max_chars:
            cut = next((c for c in (piece.rfind(mark, 0, max_chars) for mark in ";, ") if c > 0), max_chars)
            head = piece[: cut + 1].strip()
            out.append(head[:-1] + "." if head[-1] in ";," else head)
            piece = piece[cut + 1 :].strip()
        if piece:
            out.append(piece)
    return out


def split_long_text(text: str, max_chars: int = MAX_CHARS) -> list[str]:
    """A text of any length (a chapter, a book) as pieces one request can read: its paragraphs
    (blank lines between them; line breaks inside one are spaces), a paragraph longer than
    ``max_chars`` cut after the last sentence end that fits (not "Mr." or another abbreviation),
    else after the last space.
    Paragraphs with nothing to say ("* * *") are left out."""
    pieces: list[str] = []
    for paragraph in re.split(r"\n\s*\n", prose(text)):  # a code block may hold blank lines: left out first
        rest = " ".join(plain(paragraph).split())  # Markdown's lines read before they are joined
        while len(rest) > max_chars:
            window = rest[: max_chars + 1]
            ends = [m.end() for m in re.finditer(r"[.!?][\"')\]]*\s", window) if not _ABBR_END_RE.search(window, 0, m.start() + 1)]
            cut = ends[-1] if ends else window.rfind(" ") + 1 or max_chars
            pieces.append(rest[:cut].strip())
            rest = rest[cut:].strip()
        pieces.append(rest)
    return [piece for piece in pieces if any(ch.isalnum() for ch in piece)]


# -- BPE tokenizer ---------------------------------------------------------------------
def train_tokenizer(texts: Iterable[str], vocab_size: int = 512):
    """Byte-level BPE over normalized, lowercased text (the recipe's text vocabulary)."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token=None))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator((normalize(t) for t in texts), trainer)
    return tok


class TextTokenizer:
    """Normalize + BPE: text -> ids in [0, vocab_size) and back."""

    def __init__(self, tokenizer) -> None:
        self.tok = tokenizer

    @classmethod
    def from_file(cls, path: str | Path) -> "TextTokenizer":
        from tokenizers import Tokenizer

        return cls(Tokenizer.from_file(str(path)))

    def save(self, path: str | Path) -> None:
        self.tok.save(str(path))

    @property
    def vocab_size(self) -> int:
        return self.tok.get_vocab_size()

    def encode(self, text: str) -> list[int]:
        return self.tok.encode(normalize(text)).ids

    def encode_spoken(self, spoken: list[str]) -> list[list[int]]:
        """Ids of texts already ``normalize``d, in one parallel batch: a training corpus holds
        tens of thousands of them and one call each was most of a run's start-up."""
        return [e.ids for e in self.tok.encode_batch(spoken)]

    def decode(self, ids: list[int]) -> str:
        return self.tok.decode(ids)
