"""The CTC recognizer that measures TTS intelligibility: text <-> labels, training with
bit-exact resume, the shared model directory format, transcription."""

from __future__ import annotations

import json

import numpy as np
import pytest

from codec import audio
from tts.asr import ALPHABET, CtcRecognizer, encode_text, greedy_text, train

SR = 24000


def test_labels_round_trip_through_ctc_collapse():
    labels = encode_text("Hello, World! It's")
    assert labels == [ALPHABET.index(c) + 1 for c in "hello world it's"]
    spaced = []
    for k in labels:  # CTC path: blanks between every label, repeats doubled
        spaced += [0, k, k]
    assert greedy_text(spaced) == "hello world it's"
    assert greedy_text([3, 3, 0, 3, 1, 1, 4, 0]) == "aa b"


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    root = tmp_path_factory.mktemp("asr")
    rows = []
    for i, text in enumerate(["a cat", "the dog", "one sun", "big red hat"]):
        t = np.arange(SR) / SR
        wav = (0.2 * np.sin(2 * np.pi * (150 + 40 * i) * t * (1 + t))).astype(np.float32)
        audio.save(root / f"u{i}.wav", wav, SR)
        rows.append({"id": f"u{i}", "path": str(root / f"u{i}.wav"), "text": text, "speaker": "s", "duration": 1.0})
    path = root / "train.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_training_resumes_bit_exactly_and_loads(manifest, tmp_path):
    train(str(manifest), str(tmp_path / "full"), None, steps=6, batch_size=2, dim=16)
    assert train(str(manifest), str(tmp_path / "cut"), None, steps=6, batch_size=2, dim=16, stop_after=3) is None
    wer = train(str(manifest), str(tmp_path / "cut"), str(manifest), steps=6, batch_size=2, dim=16)
    full, cut = CtcRecognizer.from_pretrained(tmp_path / "full"), CtcRecognizer.from_pretrained(tmp_path / "cut")
    for (name, a), (_, b) in zip(full.state_dict().items(), cut.state_dict().items()):
        assert np.array_equal(a.numpy(), b.numpy()), name
    assert wer >= 0.0
    before = (tmp_path / "cut" / "model.safetensors").stat().st_mtime_ns
    assert train(str(manifest), str(tmp_path / "cut"), str(manifest), steps=6, batch_size=2, dim=16) is None  # done: no-op
    assert (tmp_path / "cut" / "model.safetensors").stat().st_mtime_ns == before
    heard = full.transcribe(audio.load(manifest.parent / "u0.wav", SR), SR)
    assert isinstance(heard, str) and set(heard) <= set(ALPHABET)
    assert isinstance(full.transcribe(np.zeros(100, np.float32), SR), str)  # shorter than one FFT window


def test_lexicon_snaps_spelling_but_keeps_known_words():
    from tts.asr import Lexicon

    lex = Lexicon(["the old mill stood by the river", "a quiet bridge"])
    assert lex.snap("the olde mil stod by th rivr") == "the old mill stood by the river"
    assert lex.snap("quiet bridge") == "quiet bridge" and lex.snap("") == ""


def test_voice_prompts_for_the_tts_evaluation_come_from_the_same_speaker():
    from recipe_scripts import load_recipe_script

    module = load_recipe_script("evaluate_tts")
    rows = [{"id": f"{s}_{i}", "speaker": s} for s in ("b", "a", "c") for i in range(3 if s != "c" else 1)]
    pairs = module.prompt_pairs(rows, limit=3)
    assert [t["id"] for t, _ in pairs] == ["a_0", "b_0", "a_1"]  # round-robin; "c" has no second recording
    assert all(t["speaker"] == p["speaker"] and t["id"] != p["id"] for t, p in pairs)
    assert {p["id"] for _, p in module.prompt_pairs(rows, None)} == {"a_2", "b_2"}
    for row in rows:
        row["duration"] = 5.0 - int(row["id"][-1])  # recording 2 is each speaker's shortest, then 1
    shortest = module.prompt_pairs(rows, None, "shortest")
    assert [t["id"] for t, _ in shortest] == [t["id"] for t, _ in module.prompt_pairs(rows, None)]  # same targets
    assert [(t["id"], p["id"]) for t, p in shortest if t["speaker"] == "a"] == [("a_0", "a_2"), ("a_1", "a_2")]
    rows[1]["duration"] = 0.5  # b_1 is now b's shortest: b_1's own prompt is the next shortest
    assert {t["id"]: p["id"] for t, p in module.prompt_pairs(rows, None, "shortest")}["b_1"] == "b_2"
