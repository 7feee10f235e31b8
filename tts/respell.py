"""A user's pronunciation dictionary (Riva's ``custom_dictionary``): words the model misreads,
each with a respelling it reads right ("Nguyen" -> "win", "SQL" -> "sequel").

The model reads letters, so a pronunciation here is plain text, or IPA (Riva's), which is
read as letters that sound like it (``tts.phonemes``: "Nguyen  nˈuːjɛn" is "nooyen"); it replaces
the whole word (case-insensitive; "Nguyen's" becomes "win's"; a key may be several words)
before normalization, and in SSML only outside the markup. Riva's format is accepted as is:
entries separated by commas or new lines, each a key and its respelling separated by a tab
or two or more spaces; lines starting with # are comments.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

from .phonemes import is_ipa, respelling
from .text import InvalidText

MAX_ENTRIES = 10000
MAX_KEY_CHARS, MAX_VALUE_CHARS = 100, 200
_SEPARATOR = re.compile(r"\t|\s{2,}")


def parse_dictionary(text: str, source: str = "dictionary") -> dict[str, str]:
    """Entries of ``text`` -> {key, lower case, single spaces: respelling}; a malformed entry
    is refused by its number (``source`` names where it came from in the message)."""
    entries: dict[str, str] = {}
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    for n, entry in enumerate((e for line in lines for e in line.split(",") if e.strip()), 1):
        parts = _SEPARATOR.split(entry.strip(), maxsplit=1)
        if len(parts) != 2 or not parts[1].strip():
            raise InvalidText(f"{source}: entry {n} ({entry.strip()[:40]!r}) needs a word, then a tab or two spaces, "
                              "then how to say it")
        key, value = " ".join(parts[0].split()).lower(), " ".join(parts[1].split())
        if is_ipa(value):  # Riva's pronunciations are IPA: read as letters that sound like them
            try:
                value = respelling(value)
            except InvalidText as err:
                raise InvalidText(f"{source}: entry {n}: {err}") from None
        if len(key) > MAX_KEY_CHARS or len(value) > MAX_VALUE_CHARS:
            raise InvalidText(f"{source}: entry {n} is too long (words up to {MAX_KEY_CHARS} characters, "
                              f"respellings up to {MAX_VALUE_CHARS})")
        if not any(c.isalnum() for c in key) or not any(c.isalnum() for c in value):
            raise InvalidText(f"{source}: entry {n} ({entry.strip()[:40]!r}) has no letters or digits to say")
        entries[key] = value
        if len(entries) > MAX_ENTRIES:
            raise InvalidText(f"{source}: more than {MAX_ENTRIES} entries")
    return entries


def load_dictionary(path: str | Path) -> dict[str, str]:
    """A dictionary file (UTF-8, the format above), refused in one line where malformed."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InvalidText(f"{path}: not UTF-8 text") from None
    return parse_dictionary(text, str(path))


@functools.lru_cache(maxsize=16)
def _pattern(keys: frozenset[str]) -> re.Pattern:
    """One regular expression for all keys, longest first; cached, since a server's dictionary
    is the same for every request (10000 entries take about 0.5 s to compile)."""
    longest_first = sorted(keys, key=lambda k: (-len(k), k))
    return re.compile(r"(?<![\w'&])(" + "|".join(re.escape(k).replace(r"\ ", r"\s+") for k in longest_first)
                      + r")(?![\w])", re.IGNORECASE)


def respell(text: str, dictionary: dict[str, str]) -> str:
    """``text`` with every dictionary word replaced by its respelling (longest keys first);
    SSML keeps its markup and entities as they are."""
    if not dictionary:
        return text
    words = _pattern(frozenset(dictionary))

    def say(match: re.Match) -> str:
        return dictionary[" ".join(match.group(1).lower().split())]

    from .ssml import is_ssml

    if not is_ssml(text):
        return words.sub(say, text)
    return "".join(part if part.startswith("<") else words.sub(say, part) for part in re.split(r"(<[^>]*>)", text))
