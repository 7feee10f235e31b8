"""TTS end to end on tiny models: synthesis (offline == streamed, long text, voice prompt),
the training entry point (corpus tokens, BPE, train, bit-exact resume) and tts-cli."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from codec import audio
from codec.pretrained import load_codec
from serve.engine import TorchCodecEngine
from tests.conftest import SENTENCE
from tts.config import load_preset
from tts.generate import SamplingConfig
from tts.model import TtsModel
from tts.sequence import build_prompt
from tts.synthesize import DEFAULT_CHARS_PER_SECOND, Synthesizer
from tts.text import TextTokenizer, train_tokenizer

from tiny_tts import tiny_synthesizer

ROOT = Path(__file__).resolve().parents[1]
TEXTS = ["The old mill stood by the river.", "She carried the basket home at noon.",
         "Three birds sang in 1887.", "A quiet bridge crossed the valley.", "He wrote 12 letters to Clara."]


@pytest.fixture(scope="module")
def synth() -> Synthesizer:
    return tiny_synthesizer(TEXTS)


def test_streamed_audio_equals_offline(synth):
    sampling = SamplingConfig(seed=3, max_frames=30)
    text = "First sentence here. And a second one!"
    offline = synth.synthesize(text, sampling=sampling)
    chunks = list(synth.stream(text, sampling=sampling, chunk_frames=7))
    assert len(chunks) > 2 and all(c.dtype == np.float32 for c in chunks)
    streamed = np.concatenate(chunks)
    assert streamed.shape == offline.shape and np.abs(streamed - offline).max() < 1e-5
    hop = synth.codec.hop
    frames, rest = divmod(len(offline) + synth.codec.cfg.delay_samples, hop)
    assert rest == 0 and 30 < frames <= 60  # both sentences (<= 30 frames each) through one decoder stream


def test_voice_prompt_changes_and_seeds_reproduce(synth):
    sampling = SamplingConfig(seed=1, max_frames=20)
    ref = (0.1 * np.random.default_rng(0).standard_normal(synth.sample_rate)).astype(np.float32)
    voice = synth.voice_from_audio(ref, "A quiet bridge.")
    assert len(voice.codes) == synth.codec.n_frames(len(ref))
    a = synth.synthesize("Hello there.", voice, sampling)
    assert np.array_equal(a, synth.synthesize("Hello there.", voice, sampling))
    assert not np.array_equal(a, synth.synthesize("Hello there.", None, sampling))


def test_a_voice_warms_a_decoder_once(synth, monkeypatch):
    """The decoder stream a voice prompt warmed is kept (the last WARMED_VOICES) and forked: a
    request in that voice decodes its prompt no more, and sounds as with a stream warmed afresh."""
    sampling = SamplingConfig(seed=1, max_frames=20)
    voices = [synth.voice_from_audio((0.1 * np.random.default_rng(seed).standard_normal(synth.sample_rate)).astype(np.float32),
                                     "A quiet bridge.") for seed in range(3)]
    monkeypatch.setattr(synth._warmed, "size", 2)
    synth._warmed.clear()
    fresh = synth.synthesize("Hello there.", voices[0], sampling)
    (kept,) = synth._warmed.values()
    assert np.array_equal(synth.synthesize("Hello there.", voices[0], sampling), fresh)  # from the kept stream
    assert np.abs(np.concatenate(list(synth.stream("Hello there.", voices[0], sampling))) - fresh).max() < 1e-5
    assert list(synth._warmed.values()) == [kept]
    for voice in voices[1:]:
        synth.synthesize("Hello there.", voice, sampling)
    assert len(synth._warmed) == 2 and kept not in synth._warmed.values()  # the oldest goes


def test_later_sentences_continue_the_previous_one(synth, monkeypatch):
    """With ``context='previous'`` the second sentence's prompt is the first's text and generated
    frames; the first is drawn as without; streamed equals offline; where that leaves the
    sentence no room in the model's positions, the voice prompt again."""
    sampling = SamplingConfig(seed=3, max_frames=20)
    voice = synth.voice_from_audio(np.zeros(4800, np.float32), "A quiet bridge.")
    text = "The old mill. By the river!"
    going_on = Synthesizer(synth.model, synth.tokenizer, codec=synth.codec, context="previous")
    first, second = going_on.speak(text, voice, sampling)
    assert first == synth.speak(text, voice, sampling)[0] and first.frames
    encode = synth.tokenizer.encode
    alone = build_prompt(synth.model, encode(second.text), encode(first.text), first.frames)
    assert second.prompt == alone and second.prompt_text == len(encode(first.text))
    offline = going_on.synthesize(text, voice, sampling)
    streamed = np.concatenate(list(going_on.stream(text, voice, sampling, chunk_frames=6)))
    assert streamed.shape == offline.shape and np.abs(streamed - offline).max() < 1e-5
    room = synth.model.cfg.codec_frame_rate * len(second.text) / DEFAULT_CHARS_PER_SECOND  # its frames at that pace
    monkeypatch.setattr(synth.model.cfg, "max_seq_len", math.ceil(len(alone) + room))  # it just fits
    assert going_on.speak(text, voice, sampling)[1].prompt == alone
    monkeypatch.setattr(synth.model.cfg, "max_seq_len", math.ceil(len(alone) + room) - 1)  # it does not: the voice again
    assert going_on.speak(text, voice, sampling)[1].prompt == synth.speak(text, voice, sampling)[1].prompt
    with pytest.raises(ValueError, match="context must be one of"):
        Synthesizer(synth.model, synth.tokenizer, codec=synth.codec, context="last")


def test_multi_codebook_model_speaks_through_a_grvq_codec():
    """Delay pattern end to end: 4 codebooks, frames streamed once every codebook is known."""
    torch.manual_seed(0)
    model = TtsModel(load_preset("tiny", codec="hificodec-tiny", n_codebooks=4, codebook_size=64)).eval()
    synth = Synthesizer(model, TextTokenizer(train_tokenizer(TEXTS, vocab_size=300)),
                        codec=TorchCodecEngine(load_codec("hificodec-tiny")))
    sampling = SamplingConfig(seed=2, max_frames=25)
    voice = synth.voice_from_audio(np.zeros(4800, np.float32), "A quiet bridge.")
    assert np.asarray(voice.codes).shape == (synth.codec.n_frames(4800), 4)
    offline = synth.synthesize("The old mill. By the river!", voice, sampling)
    streamed = np.concatenate(list(synth.stream("The old mill. By the river!", voice, sampling, chunk_frames=6)))
    assert streamed.shape == offline.shape and np.abs(streamed - offline).max() < 1e-5
    assert len(offline) % synth.codec.hop == 0 and 0 < len(offline) <= 50 * synth.codec.hop  # whole frames (voice took the delay)
    with pytest.raises(ValueError, match="4 x 64"):
        Synthesizer(model, synth.tokenizer, codec=TorchCodecEngine(load_codec("distilcodec-tiny")))


def test_a_tts_model_refuses_a_codec_with_other_codes(synth):
    """Codes are indices into one codec's codebook: another codec of the same shape would
    decode them to noise, so the model records its codec's codes hash and checks it. A codec
    whose decoder alone was retrained speaks the same codes and is accepted."""
    model = TtsModel(load_preset("tiny", codec="distilcodec-tiny", codec_hash="0123456789abcdef")).eval()
    with pytest.raises(ValueError, match="decode to noise"):
        Synthesizer(model, synth.tokenizer, codec=synth.codec)
    for recorded in (synth.codec.codes_hash(), synth.codec.weights_hash()):  # the latter: configs before codes_hash
        model.cfg.codec_hash = recorded
        assert Synthesizer(model, synth.tokenizer, codec=synth.codec).codec is synth.codec

    retuned = load_codec("distilcodec-tiny")
    with torch.no_grad():
        for p in retuned.decoder.parameters():
            p.mul_(1.01)
    model.cfg.codec_hash = synth.codec.codes_hash()
    assert retuned.weights_hash() != synth.codec.weights_hash()
    assert Synthesizer(model, synth.tokenizer, codec=TorchCodecEngine(retuned)) is not None
    with torch.no_grad():
        next(retuned.quantizer.parameters()).mul_(1.01)
    with pytest.raises(ValueError, match="decode to noise"):
        Synthesizer(model, synth.tokenizer, codec=TorchCodecEngine(retuned))


def test_the_bundled_tts_is_bound_to_the_bundled_codec():
    """Publishing a new models/distilcodec without retraining the TTS on its codes must fail here,
    not produce noise for users."""
    from tts.pretrained import load_tts

    model, _ = load_tts("tts", "torch")
    assert model.cfg.codec_hash == load_codec(model.cfg.codec).codes_hash()


def _corpus(root: Path) -> Path:
    rng = np.random.default_rng(0)
    rows = []
    for i, text in enumerate(TEXTS * 2):
        t = np.arange(int(24000 * (0.5 + 0.05 * i))) / 24000
        wav = (0.2 * np.sin(2 * np.pi * (120 + 15 * i) * t) + 0.01 * rng.standard_normal(t.size)).astype(np.float32)
        path = root / f"u{i}.wav"
        audio.save(path, wav, 24000)
        rows.append({"id": f"u{i}", "path": path.name, "text": text, "duration": len(t) / 24000, "sample_rate": 24000})
    manifest = root / "train.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return manifest


def _run(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=600,
                          input=stdin)


@pytest.mark.slow(seconds=75)
@pytest.mark.parametrize("model", [{"codec": "distilcodec-tiny"},
                                   {"codec": "hificodec-tiny", "n_codebooks": 4, "codebook_size": 64}],
                         ids=["single-codebook", "delay-pattern"])
def test_training_entry_point_resumes_bit_exact_and_cli_synthesizes(tmp_path, model, asr_dir, speech):
    manifest = _corpus(tmp_path)
    tokens, tok = tmp_path / "tokens.safetensors", tmp_path / "tokenizer.json"
    assert _run("-m", "tts.cli", "encode-corpus", str(manifest), str(tokens), "--codec", model["codec"]).returncode == 0
    assert _run("-m", "tts.cli", "train-tokenizer", str(manifest), str(tok), "--vocab-size", "300").returncode == 0

    def config(out: Path) -> Path:
        cfg = {"train_tokens": str(tokens), "dev_tokens": str(tokens), "tokenizer": str(tok), "out_dir": str(out),
               "model": {"preset": "tiny", **model}, "batch_size": 2, "max_steps": 8,
               "warmup_steps": 2, "log_every": 2, "ckpt_every": 4, "sample_every": 8, "threads": 1,
               "token_noise": 0.2, "voice_prompts": 0.5, "text_dropout": 0.3,
               "self_feed": 0.3}
        path = out.with_suffix(".yaml")
        path.write_text(yaml.safe_dump(cfg))
        return path

    full, split = tmp_path / "full", tmp_path / "split"
    for args in (["--config", str(config(full))], ["--config", str(config(split)), "--stop-after", "4"],
                 ["--config", str(config(split)), "--resume"]):
        proc = _run("-m", "tts.train", *args)
        assert proc.returncode == 0, proc.stderr[-2000:]
    a, b = TtsModel.from_pretrained(full / "model"), TtsModel.from_pretrained(split / "model")
    assert a.weights_hash() == b.weights_hash()
    assert a.cfg.codec_hash == load_codec(model["codec"]).codes_hash()  # taken from the token file
    assert a.cfg.chars_per_second > 0  # the training audio's pace, which voice prompts are stretched to
    assert (full / "model" / "tokenizer.json").is_file() and any((full / "tensorboard").iterdir())
    out = tmp_path / "hello.wav"
    proc = _run("-m", "tts.cli", "synthesize", "Hello, 2 birds.", "-o", str(out), "--model", str(full / "model"),
                "--stream", "--seed", "0")
    assert proc.returncode == 0, proc.stderr
    assert len(audio.load(out, 24000)) > 0 and "real-time factor" in proc.stderr and "note:" not in proc.stderr
    runs = {}  # a second sentence goes on from the first with --context previous; the first is the same
    for context in ("voice", "previous"):
        runs[context] = tmp_path / f"{context}.wav"
        proc = _run("-m", "tts.cli", "synthesize", "Hello, 2 birds. Hi.", "-o", str(runs[context]), "--model",
                    str(full / "model"), "--seed", "0", "--context", context)
        assert proc.returncode == 0, proc.stderr
    first, again, going_on = (audio.load(f, 24000) for f in (out, runs["voice"], runs["previous"]))
    n = len(first)
    assert np.array_equal(again[:n], going_on[:n]) and not np.array_equal(again[n:], going_on[n:])
    best = tmp_path / "best.wav"
    proc = _run("-m", "tts.cli", "synthesize", "Hello, 2 birds.", "-o", str(best), "--model", str(full / "model"),
                "--best-of", "2", "--verifier", str(asr_dir), "--stream")
    assert proc.returncode == 0 and len(audio.load(best, 24000)) > 0, proc.stderr
    if "n_codebooks" in model:  # the delay pattern: one voice prompt; what reads text and files is the same for both
        voiced = tmp_path / "voiced.wav"
        proc = _run("-m", "tts.cli", "synthesize", "Hi.", "-o", str(voiced), "--model", str(full / "model"), "--voice",
                    str(speech), "--voice-text", SENTENCE, "--voice-seconds", "0")
        assert proc.returncode == 0 and len(audio.load(voiced, 24000)) > 0, proc.stderr
        return
    _cli_reads_text_and_files(tmp_path, full / "model", out, runs, asr_dir)
    _cli_voice_prompts(tmp_path, full / "model", a.cfg.chars_per_second, asr_dir, speech)


def _cli_reads_text_and_files(tmp_path: Path, model_dir: Path, out: Path, runs: dict[str, Path], asr_dir: Path) -> None:
    """SSML, paragraphs, text as it arrives, one file per line (resumed), dictionaries, word times:
    the text side of tts.cli synthesize, the same whatever the model's code layout."""
    paused = tmp_path / "paused.wav"  # the same sentence as SSML from stdin, then a 300 ms break
    proc = _run("-m", "tts.cli", "synthesize", "-", "-o", str(paused), "--model", str(model_dir), "--seed", "0",
                stdin='<speak>Hello, 2 birds.<break time="300ms"/></speak>')
    assert proc.returncode == 0, proc.stderr
    assert len(audio.load(paused, 24000)) == len(audio.load(out, 24000)) + 7200
    paragraphs = tmp_path / "paragraphs.wav"  # text from stdin in paragraphs (long form): the same sentences, the same audio
    proc = _run("-m", "tts.cli", "synthesize", "-", "-o", str(paragraphs), "--model", str(model_dir), "--seed", "0",
                stdin="Hello, 2 birds.\n\n* * *\n\nHi.\n")
    assert proc.returncode == 0, proc.stderr
    assert paragraphs.read_bytes() == runs["voice"].read_bytes()
    came = tmp_path / "came.wav"  # stdin read as it arrives: each sentence once the next begins, the same speech
    proc = _run("-m", "tts.cli", "synthesize", "-", "-o", str(came), "--model", str(model_dir), "--seed", "0",
                "--as-it-comes", stdin="Hello, 2 birds. Hi.")
    assert proc.returncode == 0, proc.stderr
    np.testing.assert_allclose(audio.load(came, 24000), audio.load(runs["voice"], 24000), atol=2 / 32768)
    hi, lines = tmp_path / "hi.wav", tmp_path / "lines"  # one utterance per line, each as it would sound alone
    assert _run("-m", "tts.cli", "synthesize", "Hi.", "-o", str(hi), "--model", str(model_dir), "--seed", "0").returncode == 0
    (tmp_path / "intro.txt").write_text("intro  hello\nyo  hi\n")  # a dictionary respells the texts, not the ids
    proc = _run("-m", "tts.cli", "synthesize", "-", "--out-dir", str(lines), "--model", str(model_dir), "--seed", "0",
                "--dictionary", str(tmp_path / "intro.txt"), stdin="Intro, 2 birds. Hi.\n\nintro\tYo.\n")
    assert proc.returncode == 0 and "in 2 files under" in proc.stderr, proc.stderr
    assert sorted(p.name for p in lines.iterdir()) == ["0001.wav", "intro.wav"]
    assert (lines / "0001.wav").read_bytes() == runs["voice"].read_bytes() and (lines / "intro.wav").read_bytes() == hi.read_bytes()
    kept = (lines / "0001.wav").stat().st_mtime_ns  # --resume: only the missing line is spoken, as before
    (lines / "intro.wav").unlink()
    proc = _run("-m", "tts.cli", "synthesize", "-", "--out-dir", str(lines), "--model", str(model_dir), "--seed", "0",
                "--dictionary", str(tmp_path / "intro.txt"), "--resume", stdin="Intro, 2 birds. Hi.\n\nintro\tYo.\n")
    assert proc.returncode == 0 and "1 of 2 lines already there, 1 to go" in proc.stderr, proc.stderr
    assert (lines / "intro.wav").read_bytes() == hi.read_bytes() and (lines / "0001.wav").stat().st_mtime_ns == kept
    respelled, words_file = tmp_path / "respelled.wav", tmp_path / "say.txt"  # a pronunciation dictionary
    words_file.write_text("Yo  hello\n")
    proc = _run("-m", "tts.cli", "synthesize", "Yo, 2 birds. Hi.", "-o", str(respelled), "--model", str(model_dir),
                "--seed", "0", "--dictionary", str(words_file))
    assert proc.returncode == 0, proc.stderr
    assert respelled.read_bytes() == runs["voice"].read_bytes()
    words_file.write_text("Yo hello\n")
    proc = _run("-m", "tts.cli", "synthesize", "Yo.", "-o", str(respelled), "--model", str(model_dir),
                "--dictionary", str(words_file))
    assert proc.returncode == 1 and proc.stderr.strip().endswith("entry 1 ('Yo hello') needs a word, then a tab or two "
                                                                 "spaces, then how to say it"), proc.stderr
    timed, times = tmp_path / "timed.wav", tmp_path / "words.json"  # and when each word is said: the same audio
    proc = _run("-m", "tts.cli", "synthesize", '<speak>Hello, 2 <mark name="m"/>birds. Hi.</speak>', "-o", str(timed),
                "--model", str(model_dir), "--seed", "0", "--word-times", str(times), "--verifier", str(asr_dir))
    assert proc.returncode == 0 and "4 word times and 1 marks" in proc.stderr, proc.stderr
    assert timed.read_bytes() == runs["voice"].read_bytes()  # the SSML says what the text does; its mark adds nothing
    words = json.loads(times.read_text())
    mark = words.pop(2)  # before the word it stands before
    assert mark == {"mark": "m", "time": words[2]["start"]}
    assert [(w["word"], w["sentence"]) for w in words] == [("Hello,", 0), ("two", 0), ("birds.", 0), ("Hi.", 1)]
    ssml = '<speak>Hello, 2 <mark name="m"/>birds. Hi.</speak>'  # each word's place in the document
    assert [ssml[w["text_offset"] : w["text_offset"] + w["text_length"]] for w in words] == ["Hello", "2", "birds", "Hi"]
    assert all(a["start"] <= b["start"] for a, b in zip(words, words[1:]))
    assert 0 <= words[0]["start"] and words[-1]["end"] <= len(audio.load(timed, 24000)) / 24000 + 0.01
    marks = tmp_path / "marks.json"  # the mark alone: only its sentence aligned, the same time
    proc = _run("-m", "tts.cli", "synthesize", '<speak>Hello, 2 <mark name="m"/>birds. Hi.</speak>', "-o", str(timed),
                "--model", str(model_dir), "--seed", "0", "--marks", str(marks), "--verifier", str(asr_dir))
    assert proc.returncode == 0 and "1 marks -> " in proc.stderr, proc.stderr
    assert json.loads(marks.read_text()) == [mark]
    came_times = tmp_path / "came.json"  # read as it arrives: the same words at the same times
    proc = _run("-m", "tts.cli", "synthesize", "-", "-o", str(came), "--model", str(model_dir), "--seed", "0",
                "--as-it-comes", "--word-times", str(came_times), "--verifier", str(asr_dir), stdin="Hello, 2 birds. Hi.")
    assert proc.returncode == 0 and "4 word times" in proc.stderr, proc.stderr
    came_words = json.loads(came_times.read_text())
    assert [(w["word"], w["sentence"]) for w in came_words] == [(w["word"], w["sentence"]) for w in words]
    assert [w[k] for w in came_words for k in ("start", "end")] == pytest.approx([w[k] for w in words for k in ("start", "end")],
                                                                                abs=1e-3)


def _cli_voice_prompts(tmp_path: Path, model_dir: Path, chars_per_second: float, asr_dir: Path, speech: Path) -> None:
    """A long voice prompt cut to its first words by the verifier, paced to the model on request,
    and the model's own voices by name."""
    out = tmp_path / "voiced.wav"
    said = audio.load(speech, 24000)
    ref = tmp_path / "ref.wav"
    audio.save(ref, np.concatenate([said, np.zeros(24000, np.float32), said]), 24000)
    seconds = f"{2 * len(said) / 24000 + 1:.1f} s"
    for extra, cut in (([], "within 3 s: 'The quick brown fox"), (["--voice-seconds", "3.5"], f"within 3.5 s: {SENTENCE!r}"),
                       (["--voice-seconds", "0"], None), (["--voice-seconds", "60"], None)):
        # a long voice prompt keeps its first words within 3 s by default, found by the verifier
        proc = _run("-m", "tts.cli", "synthesize", "Hi.", "-o", str(out), "--model", str(model_dir), "--voice",
                    str(ref), "--voice-text", f"{SENTENCE} {SENTENCE}", "--verifier", str(asr_dir), *extra)
        assert proc.returncode == 0, proc.stderr
        assert (f"voice prompt cut from {seconds} to its first words {cut}" in proc.stderr if cut
                else "cut from" not in proc.stderr), proc.stderr
        assert "aiming at" not in proc.stderr  # read at its own pace unless asked
    proc = _run("-m", "tts.cli", "synthesize", "Hi.", "-o", str(out), "--model", str(model_dir), "--voice",
                str(ref), "--voice-text", f"{SENTENCE} {SENTENCE}", "--voice-seconds", "0", "--voice-pace", "model")
    assert proc.returncode == 0 and "cut from" not in proc.stderr, proc.stderr
    assert f"characters/s, aiming at {chars_per_second:g}" in proc.stderr, proc.stderr
    # one of the model's own voices, by name: its transcript comes with it, and it is read whole
    # (a training speaker) unless --voice-seconds says otherwise
    (model_dir / "voices").mkdir()
    audio.save(model_dir / "voices" / "narrator.wav", audio.load(ref, 24000), 24000)
    (model_dir / "voices" / "narrator.txt").write_text(f"{SENTENCE} {SENTENCE}\n")
    listed = _run("-m", "tts.cli", "voices", "--model", str(model_dir))
    assert listed.returncode == 0 and listed.stdout.startswith(f"narrator\t{seconds}\t{SENTENCE} {SENTENCE}")
    by_name, by_file = tmp_path / "by_name.wav", tmp_path / "by_file.wav"
    for voice, dst in ((["--voice", "narrator", "--verifier", str(asr_dir)], by_name),
                       (["--voice", str(model_dir / "voices" / "narrator.wav"), "--voice-text", f"{SENTENCE} {SENTENCE}",
                         "--voice-seconds", "0"], by_file)):
        proc = _run("-m", "tts.cli", "synthesize", "Hi.", "-o", str(dst), "--model", str(model_dir), "--seed", "1",
                    *voice)
        assert proc.returncode == 0 and "cut from" not in proc.stderr, proc.stderr
    assert by_name.read_bytes() == by_file.read_bytes()
    (tmp_path / "kwik.txt").write_text("kwik  quick\n")  # pronunciations respell the prompt's transcript too
    misspelt = f"{SENTENCE} {SENTENCE}".replace("quick", "kwik")
    proc = _run("-m", "tts.cli", "synthesize", "Hi.", "-o", str(out), "--model", str(model_dir), "--seed", "1",
                "--voice", str(model_dir / "voices" / "narrator.wav"), "--voice-text", misspelt, "--voice-seconds", "0",
                "--dictionary", str(tmp_path / "kwik.txt"))
    assert proc.returncode == 0 and out.read_bytes() == by_file.read_bytes(), proc.stderr
    proc = _run("-m", "tts.cli", "synthesize", "Hi.", "-o", str(out), "--model", str(model_dir), "--voice", "narrator",
                "--verifier", str(asr_dir), "--voice-seconds", "3.5")
    assert proc.returncode == 0 and f"cut from {seconds} to its first words within 3.5 s: {SENTENCE!r}" in proc.stderr
    proc = _run("-m", "tts.cli", "synthesize", "Hi.", "-o", str(out), "--model", str(model_dir), "--voice", "nobody")
    assert proc.returncode == 1 and "the model has no voice of that name (have: narrator" in proc.stderr
    # no recognizer installed and none asked for: the default cut is skipped with a note, not an error
    proc = _run("-m", "tts.cli", "synthesize", "Hi.", "-o", str(out), "--model", str(model_dir), "--voice",
                str(ref), "--voice-text", f"{SENTENCE} {SENTENCE}", env={"SPEECH_MODELS_DIR": str(tmp_path / "none")})
    assert proc.returncode == 0 and "note: voice prompt kept whole: asr_verifier: no recognizer there" in proc.stderr, proc.stderr



@pytest.mark.parametrize("args, needle", [
    (["synthesize", "hi", "-o", "x.wav", "--model", "/nonexistent"], "no trained TTS model"),
    (["synthesize", "hi", "-o", "x.wav", "--best-of", "2", "--verifier", "/nonexistent"], "no recognizer there"),
    (["synthesize", "hi", "-o", "x.wav", "--best-of", "0"], "best_of must be 1 to 16"),
    (["synthesize", "hi", "-o", "x.wav", "--batch", "2", "--context", "previous"], "batch > 1 needs context 'voice'"),
    (["synthesize", "hi", "-o", "x.wav", "--batch", "0"], "batch must be 1 to 64"),
    (["synthesize", "a\tHi.\nb\tHo.\na\tHa.", "--out-dir", "x"], "line 3: id 'a' is also line 1's"),
    (["synthesize", "../up\tHi.", "--out-dir", "x"], "line 1: id '../up' must be letters, digits"),
    (["synthesize", " \n ", "--out-dir", "x"], "the text has no lines"),
    (["synthesize", "Hi.\n\n\U0001F600\n", "--out-dir", "x"], "line 3: text has nothing to say"),  # the file's line
    (["synthesize", "hi", "--out-dir", "x", "--word-times", "w.json"], "--word-times writes one file"),
    (["synthesize", "hi", "--out-dir", "x", "--marks", "m.json"], "--marks writes one file"),
    (["synthesize", "-", "-o", "x.wav", "--as-it-comes", "--marks", "m.json"], "--as-it-comes reads plain text"),
    (["synthesize", "hi", "-o", "x.wav", "--resume"], "--resume goes on with an --out-dir batch"),
    (["synthesize", "hi", "-o", "x.wav", "--as-it-comes"], "--as-it-comes reads the text from stdin (-)"),
    (["synthesize", "hi", "-o", "x.wav", "--voice", "tests/conftest.py"], "--voice needs --voice-text"),
    (["synthesize", "hi", "-o", "x.wav", "--voice", "r.wav", "--voice-text", "hi", "--voice-seconds", "-1"],
     "--voice-seconds must be >= 0"),
    (["synthesize", "hi", "-o", "x.wav", "--speaking-rate", "3"], "--speaking-rate must be 0.5 to 2"),
    (["synthesize", "hi", "-o", "x.wav", "--pitch", "13"], "--pitch must be -12 to 12 semitones"),
    (["synthesize", "<speak>hi <audio/></speak>", "-o", "x.wav"], "SSML tag <audio> is not supported"),
    (["synthesize", '<speak><voice name="nobody">hi</voice></speak>', "-o", "x.wav"], "the model has no voice of that name"),
    (["synthesize", "hi", "-o", "x.wav", "--voice-pace", "fast"], "--voice-pace must be 'model' or characters per second"),
    (["synthesize", "hi", "-o", "x.wav", "--voice-pace", "-3"], "--voice-pace must be >= 0"),
])
def test_cli_errors_are_one_line(args, needle, tmp_path, monkeypatch, capsys):
    """In this process (``main`` is what ``python -m tts.cli`` runs; the process's own exit status
    and stderr are checked by ``test_a_mistake_ends_the_process_in_one_line``), in a scratch
    folder: no case may write anything."""
    from tts.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "conftest.py").write_text("not a recording")
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("tts-cli: error:") and needle in err, err
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["conftest.py", "tests"]


def test_a_mistake_ends_the_process_in_one_line():
    proc = _run("-m", "tts.cli", "synthesize", "hi", "-o", "x.wav", "--pitch", "13")
    assert proc.returncode == 1 and proc.stderr.splitlines() == [
        "tts-cli: error: --pitch must be -12 to 12 semitones (0 = as the model speaks), got 13"]


def test_speed_perturbed_copies_are_voices_of_their_own(tmp_path):
    from tts.data import encode_corpus, read_tokens, speed_perturb, voice_partners

    manifest = _corpus(tmp_path)
    rows = [json.loads(line) for line in manifest.read_text().splitlines()]
    manifest.write_text("".join(json.dumps({**r, "speaker": f"s{i % 2}"}) + "\n" for i, r in enumerate(rows)))
    codec = load_codec("distilcodec-tiny")
    plain = encode_corpus(manifest, codec, tmp_path / "plain.safetensors")
    out = encode_corpus(manifest, codec, tmp_path / "sp.safetensors", speeds=(1.1, 0.9, 1.0))
    kept, codes, meta = read_tokens(out)
    _, plain_codes, _ = read_tokens(plain)
    assert json.loads(meta["speeds"]) == [0.9, 1.0, 1.1] and len(kept) == 3 * len(rows)
    assert all(c.dtype == torch.int16 for c in codes.values())  # 1024 codes: half the bytes of int32
    for r in rows:  # the corpus as recorded is unchanged; slower copies are longer, faster ones shorter
        assert torch.equal(codes[r["id"]], plain_codes[r["id"]])
        sample = int(r["duration"] * 24000)
        for speed in (0.9, 1.1):
            frames = codes[f"{r['id']}_sp{speed:g}"].shape[-1]
            assert frames == codec.n_frames(round(sample / speed)), (speed, frames)
    speakers = {row["id"]: row["speaker"] for row in kept}
    assert speakers["u3_sp0.9"] == "s1_sp0.9" and speakers["u3"] == "s1"
    for row, partner in zip(kept, voice_partners(kept, 1.0, seed=0)):  # prompts never cross speeds
        assert partner is not None and partner["speaker"] == row["speaker"]
    stamp = out.stat().st_mtime_ns
    assert encode_corpus(manifest, codec, out, speeds=(0.9, 1.0, 1.1)).stat().st_mtime_ns == stamp  # cached
    encode_corpus(manifest, codec, out)
    assert len(read_tokens(out)[0]) == len(rows)  # other speeds: encoded again

    t = np.arange(24000) / 24000
    faster = speed_perturb(np.sin(2 * np.pi * 200 * t).astype(np.float32), 1.1, 24000)
    assert abs(len(faster) - 24000 / 1.1) <= 1
    assert abs(np.argmax(np.abs(np.fft.rfft(faster))) * 24000 / len(faster) - 220) < 2  # pitch x 1.1
    bad = _run("-m", "tts.cli", "encode-corpus", str(manifest), str(tmp_path / "x.safetensors"), "--speeds", "0.9,fast")
    assert bad.returncode == 2 and "expected comma-separated numbers" in bad.stderr.strip().splitlines()[-1]


def test_sample_tokens_keeps_a_seeded_share(tmp_path):
    """tts-cli sample-tokens: the same seed keeps the same utterances, with their codes and the
    file's codec binding, so a smaller training file is a subset, not a new corpus."""
    from safetensors.torch import save_file

    from tts.data import encode_corpus, read_tokens

    manifest = _corpus(tmp_path)
    full = encode_corpus(manifest, load_codec("distilcodec-tiny"), tmp_path / "full.safetensors", speeds=(0.9, 1.0))
    rows, codes, meta = read_tokens(full)
    picks = []
    for name in ("a", "b"):
        proc = _run("-m", "tts.cli", "sample-tokens", str(full), str(tmp_path / f"{name}.safetensors"), "--fraction", "0.5",
                    "--seed", "3")
        assert proc.returncode == 0 and "kept" in proc.stderr, proc.stderr
        picks.append(read_tokens(tmp_path / f"{name}.safetensors"))
    (kept, kept_codes, kept_meta), again = picks[0], picks[1]
    assert kept == again[0] and 0 < len(kept) < len(rows) and all(r in rows for r in kept)
    assert all(torch.equal(kept_codes[r["id"]], codes[r["id"]]) for r in kept) and set(kept_codes) == {r["id"] for r in kept}
    assert (kept_meta["codec_hash"], kept_meta["speeds"]) == (meta["codec_hash"], meta["speeds"])
    assert json.loads(kept_meta["sampled"]) == {"from": "full.safetensors", "fraction": 0.5, "seed": 3}
    other = _run("-m", "tts.cli", "sample-tokens", str(full), str(tmp_path / "c.safetensors"), "--fraction", "0.5")
    assert other.returncode == 0 and read_tokens(tmp_path / "c.safetensors")[0] != kept  # another seed, another share
    weights = tmp_path / "w.safetensors"
    save_file({"w": torch.zeros(2)}, weights)
    for src, fraction, needle in ((full, "0", "fraction must be in (0, 1]"), (full, "1.5", "fraction must be in (0, 1]"),
                                  (manifest, "0.5", "not a token file"), (weights, "0.5", "without token rows")):
        bad = _run("-m", "tts.cli", "sample-tokens", str(src), str(tmp_path / "x.safetensors"), "--fraction", fraction)
        assert bad.returncode == 1 and "Traceback" not in bad.stderr and needle in bad.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "x.safetensors").exists()



def test_the_last_used_values_are_kept():
    """tts.lru: a value got or put moves to the back; past ``size`` the front one goes."""
    from tts.lru import Lru

    kept = Lru(2)
    kept.put("a", 1)
    kept.put("b", 2)
    assert kept.get("a") == 1 and kept.get("z") is None
    kept.put("c", 3)  # "b" was the least recently used
    assert kept.values() == [1, 3] and len(kept) == 2
    kept.put("a", 4)
    assert kept.values() == [3, 4]
