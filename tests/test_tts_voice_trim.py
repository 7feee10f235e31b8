"""Voice prompt trimming: the CTC Viterbi path equals torchaudio's forced alignment, and a long
prompt made of two espeak phrases with a pause between them is cut in that pause, with the
matching half of its transcript, on the torch recognizer and on its ONNX graph; the
synthesizer encodes only what is kept."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
import torch
import torchaudio.functional as AF

from codec import audio
from codec.pretrained import load_codec
from serve.engine import TorchCodecEngine
from tts.config import load_preset
from tts.ctc import ctc_align
from tts.model import TtsModel
from tts.synthesize import Synthesizer
from tts.text import InvalidText, TextTokenizer, train_tokenizer
from tts.verify import load_verifier
from tts.voice_trim import trim_voice

SR = 24000
FIRST, SECOND = "The old captain walked home slowly.", "Seven green apples fell from the tree."
PAUSE_S = 0.5


def test_ctc_align_equals_torchaudio_forced_align():
    for frames, target in [(40, [3, 7, 7, 1, 9]), (80, [5, 1, 12, 12, 12, 1, 20, 3]), (5, [4, 4, 2]), (1, [6])]:
        log_probs = torch.randn(frames, 28, generator=torch.Generator().manual_seed(frames)).log_softmax(-1)
        spans = ctc_align(log_probs.double().numpy(), target)
        labels, _ = AF.forced_align(log_probs[None], torch.tensor([target], dtype=torch.int32), blank=0)
        path = labels[0].numpy()
        expected = []  # each target label's first and last frame on torchaudio's path
        i, t = -1, 0
        while t < frames:
            if path[t] and (t == 0 or path[t] != path[t - 1] or not path[t - 1]):
                i += 1
                expected.append([t, t])
            if path[t]:
                expected[i][1] = t
            t += 1
        assert spans == [tuple(e) for e in expected]
    with pytest.raises(ValueError, match="cannot hold"):
        ctc_align(np.log(np.full((3, 28), 1 / 28)), [5, 5, 2])  # a repeat needs a blank between


@pytest.fixture(scope="module")
def two_phrases(tmp_path_factory):
    """FIRST, a pause, SECOND (espeak-ng, 24 kHz) and the time SECOND starts."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed (make system-deps)")
    root = tmp_path_factory.mktemp("phrases")
    parts = []
    for n, text in enumerate((FIRST, SECOND)):
        subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(root / f"{n}.wav"), text], check=True)
        parts.append(audio.load(root / f"{n}.wav", SR))
    wav = np.concatenate([parts[0], np.zeros(int(PAUSE_S * SR), np.float32), parts[1]])
    return wav, len(parts[0]) / SR, len(parts[1]) / SR


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_a_long_prompt_is_cut_in_the_pause_with_its_words(asr_dir, two_phrases, backend):
    wav, first_s, second_s = two_phrases
    verifier = load_verifier(str(asr_dir), backend=backend)
    transcript = f"{FIRST} {SECOND}"
    limit = first_s + PAUSE_S / 2 + 0.3  # room for FIRST and part of the pause, not a word of SECOND
    head = trim_voice(wav, SR, transcript, verifier.recognizer, limit)
    assert head.transcript == FIRST and head.start_s == 0 and first_s < head.end_s < first_s + PAUSE_S
    assert len(head.wav) / SR <= limit
    np.testing.assert_array_equal(head.wav[: -SR // 10], wav[: len(head.wav) - SR // 10])  # the words untouched
    tail = trim_voice(wav, SR, transcript, verifier.recognizer, second_s + PAUSE_S / 2 + 0.3, keep="end")
    assert tail.transcript == SECOND and first_s < tail.start_s < first_s + PAUSE_S
    assert tail.end_s == pytest.approx(len(wav) / SR)
    # the kept audio says its transcript, not the other half's
    assert verifier.score(head.wav, SR, head.transcript) < verifier.score(head.wav, SR, SECOND)
    assert verifier.score(tail.wav, SR, tail.transcript) < verifier.score(tail.wav, SR, FIRST)


def test_short_prompts_stay_whole_and_bad_ones_are_refused(asr_dir, two_phrases):
    wav, _, _ = two_phrases
    recognizer = load_verifier(str(asr_dir), backend="torch").recognizer
    whole = trim_voice(wav, SR, f"{FIRST} {SECOND}", recognizer, len(wav) / SR + 0.01)
    assert whole.transcript == f"{FIRST} {SECOND}" and np.array_equal(whole.wav, wav)
    one = trim_voice(wav, SR, f"{FIRST} {SECOND}", recognizer, 0.1)  # not even a word fits: the first one is kept
    assert one.transcript == "The" and 0 < len(one.wav) / SR < 1.0
    assert trim_voice(wav, SR, f"{FIRST} {SECOND}", recognizer, 0.1, keep="end").transcript == "tree."
    hyphen = trim_voice(wav, SR, FIRST.replace("The old", "The-old") + " " + SECOND, recognizer, 0.1)
    assert hyphen.transcript == "The-old"  # one piece of transcript: both its words or neither
    with pytest.raises(InvalidText, match="nothing to say"):
        trim_voice(wav, SR, "-- !!", recognizer, 1.0)
    with pytest.raises(InvalidText, match="too short"):
        trim_voice(wav[: SR // 5], SR, SECOND * 3, recognizer, 0.1)
    with pytest.raises(ValueError, match="keep"):
        trim_voice(wav, SR, SECOND, recognizer, 1.0, keep="middle")


def test_the_synthesizer_trims_a_voice_prompt_with_its_verifier(asr_dir, two_phrases):
    wav, first_s, _ = two_phrases
    torch.manual_seed(0)
    model = TtsModel(load_preset("tiny", codec="distilcodec-tiny")).eval()
    tokenizer = TextTokenizer(train_tokenizer([FIRST, SECOND], vocab_size=300))
    codec = TorchCodecEngine(load_codec("distilcodec-tiny"))
    synth = Synthesizer(model, tokenizer, codec=codec, verifier=load_verifier(str(asr_dir), backend="torch"))
    full = synth.voice_from_audio(wav, f"{FIRST} {SECOND}")
    limit = first_s + PAUSE_S / 2 + 0.3
    cut = synth.voice_from_audio(wav, f"{FIRST} {SECOND}", max_seconds=limit)
    assert full.transcript == f"{FIRST} {SECOND}" and cut.transcript == FIRST
    rate = len(full.codes) / (len(wav) / SR)  # codec frames per second
    assert first_s * rate < len(cut.codes) <= limit * rate + 1
    with pytest.raises(ValueError, match="needs a recognizer"):
        Synthesizer(model, tokenizer, codec=codec).voice_from_audio(wav, SECOND, max_seconds=1.0)
