"""A text of one utterance per line, each to its own file (``tts-cli synthesize --out-dir``,
``speech-client synthesize --out-dir``), as Piper reads lines into an output folder.

A line is "ID<tab>text" or just text (its ID then its number among the utterances: 0001, 0002,
...); blank lines are skipped. Every line is checked before any is spoken, so a bad one is named and
nothing is left half done.
"""

from __future__ import annotations

import re
from pathlib import Path

from codec.errors import CodecError

from .ssml import is_ssml, parse_ssml
from .text import normalize


def utterance_lines(text: str, out_dir: Path) -> list[tuple[Path, str]]:
    """(DIR/ID.wav, text) for each non-empty line; ``out_dir`` is created once all are fine."""
    jobs, seen = [], {}
    for n, line in enumerate(text.splitlines(), 1):  # n: the line's number in the file, as errors name it
        if not line.strip():
            continue
        name, said = line.split("\t", 1) if "\t" in line else (f"{len(jobs) + 1:04d}", line)
        if not re.fullmatch(r"[\w-][\w.-]*", name):
            raise CodecError(f"line {n}: id {name!r} must be letters, digits, '.', '-' or '_' (it names the file)")
        if name in seen:
            raise CodecError(f"line {n}: id {name!r} is also line {seen[name]}'s")
        seen[name] = n
        check_text(said, f"line {n}")
        jobs.append((out_dir / f"{name}.wav", said))
    if not jobs:
        raise CodecError("--out-dir reads one utterance per line, and the text has no lines")
    out_dir.mkdir(parents=True, exist_ok=True)
    return jobs


def check_text(text: str, where: str) -> None:
    """Text (or SSML) that cannot be read is refused, naming where it is."""
    try:
        parse_ssml(text) if is_ssml(text) else normalize(text)
    except CodecError as err:
        raise CodecError(f"{where}: {err}") from None
