"""A text of one utterance per line, each to its own file (``tts-cli synthesize --out-dir``,
``speech-client synthesize --out-dir``), as Piper reads lines into an output folder.

A line is "ID<tab>text" or just text (its ID then its number among the utterances: 0001, 0002,
...); blank lines are skipped. Every line is checked before any is spoken, so a bad one is named and
nothing is left half done; a run that stops part way (a server gone, ^C) goes on with ``--resume``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from codec.errors import CodecError

from .respell import respell
from .ssml import is_ssml, parse_ssml
from .text import normalize


RESUME_HELP = "with --out-dir: skip the lines whose file is already there (a run that stopped goes on)"


def check_batch_options(out_dir: Path | None, resume: bool, word_times: Path | None, marks: Path | None = None) -> None:
    """The options that only go with one file, or only with a folder, refused before any work."""
    if resume and not out_dir:
        raise CodecError("--resume goes on with an --out-dir batch: there is no folder to look in")
    for option, given in (("--word-times", word_times), ("--marks", marks)):
        if out_dir and given:
            raise CodecError(f"{option} writes one file: synthesize the lines one at a time with -o")


def utterance_lines(text: str, out_dir: Path, said: dict[str, str] | None = None) -> list[tuple[Path, str]]:
    """(DIR/ID.wav, text) for each non-empty line; ``out_dir`` is created once all are fine. Each
    text is checked as ``said`` (a pronunciation dictionary) respells it, as it will be read."""
    jobs, seen = [], {}
    for n, line in enumerate(text.splitlines(), 1):  # n: the line's number in the file, as errors name it
        if not line.strip():
            continue
        name, line = line.split("\t", 1) if "\t" in line else (f"{len(jobs) + 1:04d}", line)
        if not re.fullmatch(r"[\w-][\w.-]*", name):
            raise CodecError(f"line {n}: id {name!r} must be letters, digits, '.', '-' or '_' (it names the file)")
        if name in seen:
            raise CodecError(f"line {n}: id {name!r} is also line {seen[name]}'s")
        seen[name] = n
        check_text(respell(line, said or {}), f"line {n}")
        jobs.append((out_dir / f"{name}.wav", line))
    if not jobs:
        raise CodecError("--out-dir reads one utterance per line, and the text has no lines")
    out_dir.mkdir(parents=True, exist_ok=True)
    return jobs


def unwritten(jobs: list[tuple[Path, str]], out_dir: Path) -> list[tuple[Path, str]]:
    """The lines whose file is not there yet (``--resume``): a batch that stopped part way goes on.
    A file appears only whole (written aside, then renamed), and each line sounds as it would alone,
    so the finished folder is the one an uninterrupted run writes. Says on stderr what it skips."""
    todo = [(dst, line) for dst, line in jobs if not dst.exists()]
    print(f"{out_dir}: {len(jobs) - len(todo)} of {len(jobs)} lines already there, "
          f"{len(todo) or 'none'} to go", file=sys.stderr)
    return todo


def check_text(text: str, where: str) -> None:
    """Text (or SSML) that cannot be read is refused, naming where it is."""
    try:
        parse_ssml(text) if is_ssml(text) else normalize(text)
    except CodecError as err:
        raise CodecError(f"{where}: {err}") from None
