"""Phonemes as letters (tts.phonemes): SSML <phoneme> and IPA pronunciations in a dictionary,
each phoneme spelled by where it stands, checked by reading the respellings back with espeak-ng."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tts.phonemes import is_ipa, respelling, symbols
from tts.respell import parse_dictionary, respell
from tts.text import InvalidText


@pytest.mark.parametrize("ipa, letters", [
    ("bˈʌɾɚ", "butter"),  # a short vowel before one consonant and a vowel: the consonant doubled
    ("tˈaɪm", "time"), ("tˈaɪmd", "timed"), ("kəmpjˈuːt", "kumpute"),  # a silent e after a long vowel's consonant
    ("fjˈuːɚ", "fewer"), ("ˈaʊt", "out"), ("ɡɹˈaʊnd", "ground"),
    ("ʃˈɔːɹt", "short"), ("kwˈɔːɹɾɚz", "kwarterz"), ("hˈɪstɚɹi", "histery"), ("fˈaɪɚ", "fire"),  # vowels before r
    ("mˈiːnz", "meens"), ("hˈɛns", "hense"), ("pˈiːs", "peess"), ("ɹˈiːtʃt", "reeched"),  # how words end
    ("bˈætʃᵻz", "batchiz"), ("ɡˈoʊð", "gohthe"), ("ˈɪŋk", "ink"), ("lˈæŋɡwɪdʒ", "langgwij"), ("pˈʊʃ", "push"),
    ("nˈuːjɛn", "nooyen"), ("ʃɪvˈɔːn", "shivvawn"), ("ðə kwˈɪk", "tha kwik"),
])
def test_each_phoneme_is_spelled_by_where_it_stands(ipa, letters):
    assert respelling(ipa) == letters


def test_x_sampa_and_marks():
    """X-SAMPA is the IPA it writes; stress, syllable marks, ties and diacritics are not letters;
    ':' is length, as people type it."""
    assert respelling('t@"meI4oU', "x-sampa") == respelling("təmˈeɪɾoʊ") == "tamaytoh"
    assert symbols("ˈtʃiː.z") == ["tʃ", "iː", "z"] and symbols("ti:") == symbols("tiː") == ["t", "iː"]
    assert symbols("ˌalgəɹˈɪt̪mɪk") == ["a", "l", "g", "ə", "ɹ", "ɪ", "t", "m", "ɪ", "k"]  # a dental t is a t
    for ipa, alphabet, needle in (("ʘa", "ipa", "no English sound for 'ʘ'"), ("S1 AA", "ups", "one of ipa, x-sampa"),
                                  ("ˈ ˌ", "ipa", "nothing to say")):
        with pytest.raises(InvalidText, match=needle):
            respelling(ipa, alphabet)


def test_a_dictionary_takes_ipa_as_riva_does():
    """Riva's custom_dictionary gives pronunciations in IPA: such a value is respelled; letters
    stay letters (a value with no IPA-only symbol)."""
    said = parse_dictionary("Nguyen  nˈuːjɛn, SQL  sequel\nSiobhan\tʃɪvˈɔːn")
    assert said == {"nguyen": "nooyen", "sql": "sequel", "siobhan": "shivvawn"}
    assert respell("Ask Nguyen about SQL.", said) == "Ask nooyen about sequel."
    assert is_ipa("ʃɪv") and not is_ipa("shiv") and not is_ipa("café")
    with pytest.raises(InvalidText, match="entry 2: phonemes"):
        parse_dictionary("a  b, x  ˈʘə")


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng (make system-deps)")
def test_respellings_are_read_back_as_the_phonemes_they_came_from():
    """The judge is espeak-ng, as the model learned to read from its voices: words turned into IPA
    by it, respelled, and read back by it come back with the same phonemes (stress and the vowels
    it reduces aside), for most words; far more than spelling each phoneme alone does (README:
    85% of 498 corpus words against 66%, 66% of 65 names against 43%)."""
    import benchmarks.phoneme_respelling as bench

    words = ("butter time document fewer ground short quarter history reached batches language push "
             "measure judge thinking yellow about eleven cabbage dinosaur piano family photograph telephone "
             "vegetable elephant umbrella tomorrow yesterday beautiful computer tuesday important remember").split()
    exact, per = bench.read_back(words, "en-us", respelling)
    alone = bench.read_back(words, "en-us", bench.naive)
    assert exact >= 0.75 and per <= 0.08, (exact, per)
    assert per < alone[1] / 2, (per, alone)


def test_ssml_phoneme_is_read_as_its_respelling(tmp_path):
    """tts-cli normalize shows a <phoneme> read as its letters (no model loads)."""
    import sys

    doc = '<speak>Ask <phoneme alphabet="ipa" ph="nˈuːjɛn">Nguyen</phoneme>.</speak>'
    proc = subprocess.run([sys.executable, "-m", "tts.cli", "normalize", doc], capture_output=True, text=True)
    assert proc.returncode == 0 and "Ask nooyen." in proc.stdout, proc.stderr
