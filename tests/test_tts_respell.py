"""Pronunciation dictionaries (tts.respell): Riva's custom_dictionary format, whole words only,
SSML markup left alone, bad entries refused by number."""

from __future__ import annotations

import pytest

from tts.respell import MAX_ENTRIES, load_dictionary, parse_dictionary, respell
from tts.text import InvalidText


def test_rivas_format_and_files_parse_alike(tmp_path):
    riva = parse_dictionary("  Nguyen  win,SQL  sequel, New York  noo   york")
    assert riva == {"nguyen": "win", "sql": "sequel", "new york": "noo york"}
    path = tmp_path / "words.txt"
    path.write_text("# names\nNguyen\twin\nSQL    sequel\n\nNew York  noo york\n", encoding="utf-8")
    assert load_dictionary(path) == riva
    assert parse_dictionary("") == {} and parse_dictionary("# nothing\n\n") == {}


@pytest.mark.parametrize("text, needle", [
    ("Nguyen win", "entry 1 ('Nguyen win') needs a word, then a tab or two spaces"),  # one space: which part is which?
    ("SQL  sequel,Nguyen  ", "entry 2"),
    ("!!  bang", "entry 1 ('!!  bang') has no letters or digits"),
    ("ok  ??", "has no letters or digits"),
    ("x" * 101 + "  y", "entry 1 is too long"),
])
def test_bad_entries_are_refused_by_number(text, needle):
    with pytest.raises(InvalidText, match=needle.replace("(", r"\(").replace(")", r"\)").replace("?", r"\?")):
        parse_dictionary(text)


def test_too_many_entries_and_a_bad_file(tmp_path):
    with pytest.raises(InvalidText, match=f"more than {MAX_ENTRIES} entries"):
        parse_dictionary("\n".join(f"w{i}  word" for i in range(MAX_ENTRIES + 1)))
    path = tmp_path / "latin1.txt"
    path.write_bytes("Caf\xe9  cafe".encode("latin-1"))
    with pytest.raises(InvalidText, match="latin1.txt: not UTF-8 text"):
        load_dictionary(path)


def test_whole_words_case_insensitive_longest_first():
    words = parse_dictionary("Nguyen  win\nSQL  sequel\nSQL Server  sequel server two\nNew York  noo york")
    assert respell("Ask Nguyen about SQL; nguyen's SQL Server too.", words) == \
        "Ask win about sequel; win's sequel server two too."
    assert respell("Nguyenx and xSQL stay, as does SQLite.", words) == "Nguyenx and xSQL stay, as does SQLite."
    assert respell("From NEW\nYORK to new york.", words) == "From noo york to noo york."
    assert respell("Nguyen", {}) == "Nguyen"


def test_ssml_keeps_its_markup():
    words = parse_dictionary("speak  talk\nbreak  brake\namp  amplifier\nNguyen  win")
    ssml = '<speak>Speak to Nguyen &amp; break<break time="1s"/> the amp.</speak>'
    assert respell(ssml, words) == '<speak>talk to win &amp; brake<break time="1s"/> the amplifier.</speak>'
