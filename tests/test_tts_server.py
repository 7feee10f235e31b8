"""speech.v1.TextToSpeech on a real server: tiny TTS + tiny codec, both on ONNX Runtime."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import sys
import threading
import time
from pathlib import Path

import grpc
import numpy as np
import pytest
import torch

from codec import audio, g711
from serve import wire
from serve.gen.speech.v1 import speech_pb2 as pb
from serve.gen.speech.v1 import speech_pb2_grpc as pb_grpc
from serve.server import ServerConfig
from tests.conftest import SENTENCE, self_signed
from tts.config import load_preset
from tts.model import TtsModel
from tts.onnx_export import export_tts
from tts.sampling import SamplingConfig
from tts.text import TextTokenizer, train_tokenizer
from tts.time_stretch import time_stretch
from tts.voice_pace import pace_factor, speaking_rate

sys.path.insert(0, str(Path(__file__).resolve().parent))
from grpc_harness import RunningServer  # noqa: E402

SR = 24000
PACE = 11.0  # characters per second, slower than espeak's en-us voice
NARRATOR_SECONDS = 5  # the model's voice: longer than the server's voice_prompt_seconds (4)


@pytest.fixture(scope="module")
def server(tmp_path_factory, asr_dir, exported_codec):
    root = tmp_path_factory.mktemp("tts-server")
    codec_dir = exported_codec("distilcodec-tiny")[1]
    torch.manual_seed(0)
    tts_dir = root / "tts"
    model = TtsModel(load_preset("tiny", codec=str(codec_dir), codec_frame_rate=100.0)).eval()
    model.cfg.chars_per_second = PACE  # as training records it: zero-shot prompts are paced to it
    model.save_pretrained(tts_dir)
    TextTokenizer(train_tokenizer(["hello there", "the old mill by the river", "a quiet bridge"], 300)).save(tts_dir / "tokenizer.json")
    export_tts(model, tts_dir)
    (tts_dir / "voices").mkdir()
    t = np.arange(NARRATOR_SECONDS * SR) / SR  # longer than voice_prompt_seconds: the model's voices stay whole
    audio.save(tts_dir / "voices" / "narrator.wav", (0.2 * np.sin(2 * np.pi * 150 * t)).astype(np.float32), SR)
    (tts_dir / "voices" / "narrator.txt").write_text("a quiet bridge")
    dictionary = root / "say.txt"  # the server's pronunciations, for every request
    dictionary.write_text("zyzzyva  a quiet bridge\n")
    running = RunningServer(ServerConfig(port=0, codec=str(codec_dir), tts=[str(tts_dir)], max_streams=2,
                                         tts_verifier=str(asr_dir), max_best_of=3, voice_prompt_seconds=4.0,
                                         voice_prompt_pace=True, sentence_context="previous", metrics_port=0,
                                         tts_dictionary=str(dictionary), tts_search_seconds=0.1))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def voice_dir(tmp_path_factory) -> Path:
    """Where the gateway and the unpaced server keep clients' voices: one folder, shared as
    server processes on one port (--reuse-port) share it."""
    return tmp_path_factory.mktemp("voices")


@pytest.fixture(scope="module")
def unpaced(server, voice_dir):
    """The same models, zero-shot prompts read at their own pace (the default)."""
    cfg = server.server.cfg
    running = RunningServer(ServerConfig(port=0, codec=cfg.codec, tts=cfg.tts, voice_dir=str(voice_dir)))
    yield running
    running.stop()


@pytest.fixture
def stub(server):
    with grpc.insecure_channel(server.target) as channel:
        yield pb_grpc.TextToSpeechStub(channel)


def request(**kw) -> pb.SynthesizeSpeechRequest:
    base = dict(text="Hello there.", encoding=pb.FLOAT32_PCM, seed=3, temperature=0.9)
    base.update(kw)
    return pb.SynthesizeSpeechRequest(**base)


def test_models_and_voices(server, stub):
    assert list(stub.ListModels(pb.ListModelsRequest()).models) == ["tts"]
    assert [v.name for v in stub.ListVoices(pb.ListVoicesRequest()).voices] == ["narrator"]
    synth = server.server.tts_registry.entries["tts"].synth  # --voice-prompt-seconds 4 cuts zero-shot prompts only
    narrator = server.server.tts_registry.entries["tts"].voices["narrator"]
    assert len(narrator.codes) == synth.codec.n_frames(NARRATOR_SECONDS * SR) and narrator.transcript == "a quiet bridge"
    loaded = {"kind": "tts", "name": "tts", "weights_hash": synth.model.weights_hash}  # what the metrics say is served
    assert synth.model.weights_hash and server.server.metrics.registry.get_sample_value("speech_model_info", loaded) == 1


def test_later_sentences_go_on_as_the_server_is_told(server, unpaced, stub):
    """--sentence-context previous: a request's second sentence continues the first (its text
    and codes), where the default server starts it from the voice again; the first is the same."""
    assert server.server.tts_registry.entries["tts"].synth.context == "previous"
    one, two = request(text="Hello there."), request(text="Hello there. The old mill by the river.")
    with grpc.insecure_channel(unpaced.target) as channel:
        again = pb_grpc.TextToSpeechStub(channel)
        alone, restarted = (np.frombuffer(again.Synthesize(r).audio, "<f4") for r in (one, two))
    going_on = np.frombuffer(stub.Synthesize(two).audio, "<f4")
    assert np.array_equal(np.frombuffer(stub.Synthesize(one).audio, "<f4"), alone)
    n = len(alone)
    assert np.array_equal(going_on[:n], restarted[:n]) and not np.array_equal(going_on[n:], restarted[n:])


def test_word_times_come_with_the_audio(server, unpaced, stub):
    """word_times: Synthesize answers with each word and when it is said; a stream sends each
    sentence's words with the audio after it (the first mid-stream), the same words and times;
    a server without a recognizer refuses the request."""
    text = "Hello there. The old mill by the river."
    whole = stub.Synthesize(request(text=text, word_times=True))
    duration = len(np.frombuffer(whole.audio, "<f4")) / SR
    said = [(w.word, w.sentence) for w in whole.words]
    assert said == [("Hello", 0), ("there.", 0), ("The", 1), ("old", 1), ("mill", 1), ("by", 1), ("the", 1), ("river.", 1)]
    assert all(a.end_s <= b.start_s + 1e-6 for a, b in zip(whole.words, whole.words[1:]))
    assert 0 <= whole.words[0].start_s and whole.words[-1].end_s <= duration + 1e-3
    assert not stub.Synthesize(request(text=text)).words  # only when asked
    streamed = list(stub.SynthesizeStream(request(text=text, word_times=True)))
    words = [w for r in streamed for w in r.words]
    assert [(w.word, w.sentence) for w in words] == said
    assert [round(w.start_s, 2) for w in words] == pytest.approx([round(w.start_s, 2) for w in whole.words], abs=0.02)
    first = next(i for i, r in enumerate(streamed) if r.words)
    assert {w.sentence for w in streamed[first].words} == {0} and first < len(streamed) - 1 and streamed[first].audio
    with grpc.insecure_channel(unpaced.target) as channel:
        plain = pb_grpc.TextToSpeechStub(channel)
        for call in (plain.Synthesize, lambda r: list(plain.SynthesizeStream(r))):
            with pytest.raises(grpc.RpcError) as info:
                call(request(word_times=True))
            assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "word_times needs a recognizer" in info.value.details()


def test_ssml_marks_are_timed_with_the_words(server, stub):
    """word_times on SSML: each <mark> as a timepoint, in order; one between pieces where the audio
    before it ends (the break's start), one inside text when the word after it begins (after a
    last word: when it ends); a stream sends the same ones once known; asked for with the words."""
    doc = ('<speak><mark name="start"/>Hello <mark name="mid"/>there.<break time="300ms"/><mark name="after"/>'
           'The old mill.<mark name="end"/></speak>')
    whole = stub.Synthesize(request(text=doc, word_times=True))
    wav, words = np.frombuffer(whole.audio, "<f4"), whole.words
    marks = [(t.mark_name, round(t.time_s, 4)) for t in whole.timepoints]
    assert [w.word for w in words] == ["Hello", "there.", "The", "old", "mill."]
    assert [doc[w.text_offset : w.text_offset + w.text_length] for w in words] == ["Hello", "there", "The", "old", "mill"]
    assert marks == [("start", 0.0), ("mid", round(words[1].start_s, 4)), ("after", marks[2][1]), ("end", round(len(wav) / SR, 4))]
    after = round(marks[2][1] * SR)
    assert not wav[after - int(0.3 * SR) : after].any() and wav[after : after + 480].any()  # just after the break
    streamed = list(stub.SynthesizeStream(request(text=doc, word_times=True)))
    assert [(t.mark_name, round(t.time_s, 4)) for r in streamed for t in r.timepoints][:3] == marks[:3]
    assert [t.mark_name for r in streamed for t in r.timepoints] == ["start", "mid", "after", "end"]
    assert streamed[-1].timepoints[-1].time_s == pytest.approx(len(wav) / SR, abs=0.03)  # the stream's own audio
    assert not stub.Synthesize(request(text=doc)).timepoints  # only when asked


def test_marks_alone_are_timed_as_with_the_words(server, unpaced, stub):
    """enable_time_pointing [SSML_MARK] (Google's): the same timepoints as word_times gives, and no
    words; a mark between pieces needs no recognizer, one inside text does (refused in one line
    without it, before anything plays)."""
    doc = ('<speak><mark name="start"/>Hello <mark name="mid"/>there. The <mark name="late"/>old mill.<break time="300ms"/>'
           '<mark name="after"/>Hi.<mark name="end"/></speak>')
    with_words = stub.Synthesize(request(text=doc, word_times=True))
    alone = stub.Synthesize(request(text=doc, enable_time_pointing=[pb.SSML_MARK]))
    assert alone.audio == with_words.audio and not alone.words
    assert list(alone.timepoints) == list(with_words.timepoints)
    streamed = list(stub.SynthesizeStream(request(text=doc, enable_time_pointing=[pb.SSML_MARK])))
    assert not any(r.words for r in streamed)
    assert [t for r in streamed for t in r.timepoints][:4] == list(with_words.timepoints)[:4]
    between = '<speak>Hello there.<break time="300ms"/><mark name="after"/>The old mill.<mark name="end"/></speak>'
    with grpc.insecure_channel(unpaced.target) as channel:
        plain = pb_grpc.TextToSpeechStub(channel)
        answer = plain.Synthesize(request(text=between, enable_time_pointing=[pb.SSML_MARK]))
        wav = np.frombuffer(answer.audio, "<f4")
        after = round(answer.timepoints[0].time_s * SR)
        assert [t.mark_name for t in answer.timepoints] == ["after", "end"] and not answer.words
        assert not wav[after - int(0.3 * SR) : after].any() and wav[after : after + 480].any()
        assert answer.timepoints[1].time_s == pytest.approx(len(wav) / SR, abs=1e-4)
        streamed = list(plain.SynthesizeStream(request(text=between, enable_time_pointing=[pb.SSML_MARK])))
        assert [t for r in streamed for t in r.timepoints][:1] == list(answer.timepoints)[:1]
        for call in (plain.Synthesize, lambda r: list(plain.SynthesizeStream(r))):
            with pytest.raises(grpc.RpcError) as info:
                call(request(text=doc, enable_time_pointing=[pb.SSML_MARK]))
            assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "a <mark> inside text is timed by finding its words" in info.value.details()


def test_a_batching_server_reads_greedy_text_as_one_at_a_time(unpaced):
    """--tts-batch 2: a request's sentences are generated two at a time; with no draw involved
    (top_k 1) the speech is what one at a time says."""
    cfg = unpaced.server.cfg
    running = RunningServer(ServerConfig(port=0, codec=cfg.codec, tts=cfg.tts, tts_batch=2))
    try:
        assert running.server.tts_registry.entries["tts"].synth.batch == 2
        text = request(text="Hello there. The old mill by the river. A quiet bridge.", top_k=1)
        said = []
        for target in (running.target, unpaced.target):
            with grpc.insecure_channel(target) as channel:
                said.append(np.frombuffer(pb_grpc.TextToSpeechStub(channel).Synthesize(text).audio, "<f4"))
    finally:
        running.stop()
    assert len(said[0]) == len(said[1]) > 0
    np.testing.assert_allclose(said[0], said[1], atol=1e-5)


def test_concurrent_requests_share_model_calls(server):
    """Two streams at once: their decode steps run as shared model calls (serve.step_batcher),
    and each answer is whole (its own length, as alone: the tiny model's codes end where they end)."""
    metrics = server.server.metrics.registry.get_sample_value
    shared = lambda: (metrics("speech_tts_step_requests_count", {}) or 0.0) - (  # noqa: E731
        metrics("speech_tts_step_requests_bucket", {"le": "1.0"}) or 0.0)
    before = shared()
    text = "The old mill by the river, and a quiet bridge. " * 2
    alone = [stub_call(server, text, seed) for seed in (5, 6)]
    answers: list = [None, None]
    threads = [threading.Thread(target=lambda i=i: answers.__setitem__(i, stub_call(server, text, 5 + i))) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert shared() - before >= 20  # steps of both requests ran as one call
    for ours, theirs in zip(answers, alone):
        assert len(ours) > 0.5 * SR and abs(len(ours) - len(theirs)) <= 0.2 * len(theirs)


def stub_call(server, text: str, seed: int) -> np.ndarray:
    with grpc.insecure_channel(server.target) as channel:
        stub = pb_grpc.TextToSpeechStub(channel)
        return np.concatenate([np.frombuffer(r.audio, "<f4") for r in stub.SynthesizeStream(request(text=text, seed=seed))])


def test_stream_equals_unary_and_starts_small(server, stub):
    metrics = server.server.metrics.registry.get_sample_value
    before = {rpc: metrics("speech_audio_seconds_total", {"rpc": rpc, "model": "tts"}) or 0.0
              for rpc in ("Synthesize", "SynthesizeStream")}
    chars = metrics("speech_text_characters_total", {"model": "tts"}) or 0.0
    jobs = metrics("speech_inference_queue_seconds_count", {}) or 0.0
    batches = metrics("speech_tts_step_requests_count", {}) or 0.0
    unary = stub.Synthesize(request())
    assert unary.sample_rate_hz == SR and unary.encoding == pb.FLOAT32_PCM
    chunks = [np.frombuffer(r.audio, "<f4") for r in stub.SynthesizeStream(request(chunk_ms=40))]
    assert len(chunks) >= 2 and len(chunks[0]) <= 0.04 * SR < len(chunks[1])  # small first chunk, then larger
    np.testing.assert_allclose(np.concatenate(chunks), np.frombuffer(unary.audio, "<f4"), atol=1e-5)
    seconds = len(np.frombuffer(unary.audio, "<f4")) / SR  # what each request synthesized, in the metrics
    for rpc in before:
        assert metrics("speech_audio_seconds_total", {"rpc": rpc, "model": "tts"}) - before[rpc] == pytest.approx(seconds)
    assert metrics("speech_text_characters_total", {"model": "tts"}) - chars == 2 * len("Hello there.")
    assert metrics("speech_first_response_seconds_count", {"rpc": "SynthesizeStream"}) >= 1
    # each request a generation thread, and each of its decode steps (a frame of the tiny codec's 100
    # a second) a call of the step batcher
    steps = metrics("speech_tts_step_requests_count", {}) - batches
    assert steps >= seconds * 100 and metrics("speech_inference_queue_seconds_count", {}) - jobs > 2 + steps
    voiced = np.frombuffer(stub.Synthesize(request(voice_name="narrator")).audio, "<f4")
    assert not np.array_equal(voiced[: len(chunks[0])], chunks[0])
    guided = stub.Synthesize(request(cfg_scale=3.0)).audio  # a second, textless row steers the codes
    assert guided != unary.audio and stub.Synthesize(request(cfg_scale=3.0)).audio == guided


def test_zero_shot_and_output_rate(stub):
    prompt = audio.to_file_bytes((0.1 * np.random.default_rng(0).standard_normal(SR)).astype(np.float32), SR)
    resp = stub.Synthesize(request(encoding=pb.LINEAR_PCM, sample_rate_hz=16000,
                                   zero_shot_data=pb.ZeroShotData(audio_prompt=prompt, transcript="hello there")))
    assert resp.sample_rate_hz == 16000 and len(resp.audio) > 0 and len(resp.audio) % 2 == 0
    phone = list(stub.SynthesizeStream(request(encoding=pb.MULAW, sample_rate_hz=8000)))  # a phone line
    assert {(r.encoding, r.sample_rate_hz) for r in phone} == {(pb.MULAW, 8000)}
    floats = np.concatenate([np.frombuffer(r.audio, "<f4") for r in stub.SynthesizeStream(request(sample_rate_hz=8000))])
    assert b"".join(r.audio for r in phone) == g711.mulaw_encode(floats)
    opus = stub.Synthesize(request(encoding=pb.OGG))
    assert opus.encoding == pb.OGG and abs(len(audio.decode_bytes(opus.audio, SR)) - len(
        np.frombuffer(stub.Synthesize(request()).audio, "<f4"))) <= 1
    with pytest.raises(grpc.RpcError) as info:
        list(stub.SynthesizeStream(request(encoding=pb.WAV)))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "whole files go by unary calls" in info.value.details()


def test_a_recording_is_made_into_a_prompt_off_the_event_loop(server, stub, monkeypatch):
    """A recording sent with a request becomes a prompt on the inference pool: 20-450 ms (5-27 s
    recordings) that on the event loop would hold up every other stream's audio. ListVoices reads
    custom voices' files off the loop likewise."""
    registry, threads = server.server.tts_registry, []
    made = registry._made

    def spy(*args):
        threads.append(threading.current_thread())
        return made(*args)

    monkeypatch.setattr(registry, "_made", spy)
    prompt = audio.to_file_bytes((0.1 * np.random.default_rng(11).standard_normal(SR)).astype(np.float32), SR)
    stub.Synthesize(request(zero_shot_data=pb.ZeroShotData(audio_prompt=prompt, transcript="hello there")))
    assert len(threads) == 1 and threads[0] is not server.thread and threads[0].name.startswith("infer")
    described = registry.custom.descriptions  # custom voices' descriptions are files: read off the loop too
    monkeypatch.setattr(registry.custom, "descriptions", lambda model: threads.append(threading.current_thread())
                        or described(model))
    assert stub.ListVoices(pb.ListVoicesRequest()).voices
    assert len(threads) == 2 and threads[1] is not server.thread


def test_a_long_zero_shot_prompt_keeps_its_first_words(server, stub, speech):
    """The server's --voice-prompt-seconds 4 cuts a 6.8 s prompt (SENTENCE twice) after its first
    sentence: the result is the one a client gets by sending that sentence's audio alone."""
    said = audio.load(speech, SR)
    long = audio.to_file_bytes(np.concatenate([said, np.zeros(SR, np.float32), said]), SR)
    received = wire.audio_from_proto(pb.Audio(data=long), SR, max_seconds=30.0)  # what the server decodes
    kept = server.server.tts_registry.verifier.trim(received, SR, f"{SENTENCE} {SENTENCE}", 4.0)
    assert kept.transcript == SENTENCE and 2.5 < len(kept.wav) / SR <= 4.0
    cut = stub.Synthesize(request(zero_shot_data=pb.ZeroShotData(audio_prompt=long, transcript=f"{SENTENCE} {SENTENCE}")))
    alone = stub.Synthesize(request(zero_shot_data=pb.ZeroShotData(
        audio_prompt=kept.wav.astype("<f4").tobytes(), encoding=pb.FLOAT32_PCM, sample_rate_hz=SR, transcript=SENTENCE)))
    assert cut.audio == alone.audio
    with pytest.raises(grpc.RpcError) as info:  # 5 s cannot say 440 characters: no words to cut between
        stub.Synthesize(request(zero_shot_data=pb.ZeroShotData(audio_prompt=audio.to_file_bytes(np.tile(said, 2)[: 5 * SR], SR),
                                                               transcript=" ".join([SENTENCE] * 10))))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "too short" in info.value.details()


def test_a_zero_shot_prompt_is_paced_to_the_models_rate(stub, unpaced, speech):
    """--voice-prompt-pace stretches a prompt to the model's chars_per_second: the same as a
    client sending the stretched audio to a server that leaves prompts as they are."""
    wav = audio.to_file_bytes(audio.load(speech, SR), SR)
    said = wire.audio_from_proto(pb.Audio(data=wav), SR, max_seconds=30.0)  # what the server decodes
    factor = pace_factor(speaking_rate(SENTENCE, len(said) / SR), PACE)
    assert factor > 1.1  # espeak speaks faster than PACE: the prompt is played longer
    slower = time_stretch(said, factor, SR)
    paced = stub.Synthesize(request(zero_shot_data=pb.ZeroShotData(audio_prompt=wav, transcript=SENTENCE)))
    with grpc.insecure_channel(unpaced.target) as channel:
        plain = pb_grpc.TextToSpeechStub(channel)
        as_recorded = plain.Synthesize(request(zero_shot_data=pb.ZeroShotData(audio_prompt=wav, transcript=SENTENCE)))
        stretched = plain.Synthesize(request(zero_shot_data=pb.ZeroShotData(
            audio_prompt=slower.astype("<f4").tobytes(), encoding=pb.FLOAT32_PCM, sample_rate_hz=SR, transcript=SENTENCE)))
    assert paced.audio == stretched.audio and paced.audio != as_recorded.audio


def test_speaking_rate_plays_faster_streaming_or_not(stub):
    normal = np.frombuffer(stub.Synthesize(request(encoding=pb.FLOAT32_PCM)).audio, "<f4")
    fast = np.frombuffer(stub.Synthesize(request(encoding=pb.FLOAT32_PCM, speaking_rate=1.6)).audio, "<f4")
    assert len(fast) == round(len(normal) / 1.6)
    chunks = [np.frombuffer(r.audio, "<f4") for r in stub.SynthesizeStream(request(speaking_rate=1.6, chunk_ms=40))]
    assert len(chunks) >= 2
    np.testing.assert_allclose(np.concatenate(chunks), fast, atol=1e-5)


def test_volume_gain_scales_what_is_said(stub):
    """volume_gain_db (Google's): the same speech that many dB louder or softer, unary and streamed,
    clipped at full scale."""
    plain = np.frombuffer(stub.Synthesize(request(text="Hello there.")).audio, "<f4")
    softer = np.frombuffer(stub.Synthesize(request(text="Hello there.", volume_gain_db=-6.0)).audio, "<f4")
    np.testing.assert_allclose(softer, plain * 10 ** (-6 / 20), atol=1e-6)
    streamed = np.concatenate([np.frombuffer(r.audio, "<f4") for r in stub.SynthesizeStream(
        request(text="Hello there.", volume_gain_db=-6.0))])
    np.testing.assert_allclose(streamed, softer, atol=1e-5)
    loudest = np.frombuffer(stub.Synthesize(request(text="Hello there.", volume_gain_db=16.0)).audio, "<f4")
    assert np.abs(loudest).max() <= 1.0 and np.allclose(loudest, np.clip(plain * 10 ** (16 / 20), -1, 1), atol=1e-5)


def test_pitch_reshapes_what_is_said(stub):
    """pitch (Google's, semitones): the same speech reshaped (tts.time_stretch.Reshaper), as long,
    unary and streamed."""
    from tts.time_stretch import Reshaper

    plain = np.frombuffer(stub.Synthesize(request(text="Hello there.")).audio, "<f4")
    higher = np.frombuffer(stub.Synthesize(request(text="Hello there.", pitch=3.0)).audio, "<f4")
    shift = Reshaper(1.0, 3.0, SR)
    np.testing.assert_allclose(higher, np.concatenate([shift.push(plain), shift.flush()]), atol=1e-5)
    streamed = np.concatenate([np.frombuffer(r.audio, "<f4") for r in stub.SynthesizeStream(
        request(text="Hello there.", pitch=3.0))])
    np.testing.assert_allclose(streamed, higher, atol=1e-5)


def test_ssml_requests(stub):
    doc = '<speak>Hello there.<break time="200ms"/><prosody rate="fast">A quiet bridge.</prosody></speak>'
    unary = np.frombuffer(stub.Synthesize(request(text=doc)).audio, "<f4")
    chunks = [np.frombuffer(r.audio, "<f4") for r in stub.SynthesizeStream(request(text=doc, chunk_ms=40))]
    np.testing.assert_allclose(np.concatenate(chunks), unary, atol=1e-5)
    assert np.count_nonzero(unary == 0) >= 0.2 * SR  # the break is silence
    # <voice name>: the model's own voice (or a custom one) for its text, as a request in that voice reads it
    voiced = np.frombuffer(stub.Synthesize(request(text='<speak><voice name="narrator">Hello there.</voice></speak>')).audio, "<f4")
    np.testing.assert_allclose(voiced, np.frombuffer(stub.Synthesize(request(text="Hello there.", voice_name="narrator")).audio,
                                                     "<f4"), atol=1e-5)
    for call in (stub.Synthesize, lambda r: list(stub.SynthesizeStream(r))):
        with pytest.raises(grpc.RpcError) as info:
            call(request(text='<speak>Hi. <voice name="nobody">Ho.</voice></speak>'))
        assert info.value.code() == grpc.StatusCode.NOT_FOUND and "voice 'nobody' not found" in info.value.details()


@pytest.mark.parametrize("kw, code, needle", [
    (dict(text=""), grpc.StatusCode.INVALID_ARGUMENT, "nothing to say"),
    (dict(text="\U0001F600 \u200b"), grpc.StatusCode.INVALID_ARGUMENT, "nothing to say"),
    (dict(text="a" * 2001), grpc.StatusCode.INVALID_ARGUMENT, "at most 2000"),
    (dict(language_code="fr-FR"), grpc.StatusCode.INVALID_ARGUMENT, "English only"),
    (dict(speaking_rate=3.0), grpc.StatusCode.INVALID_ARGUMENT, "speaking_rate must be 0.5 to 2"),
    (dict(volume_gain_db=20.0), grpc.StatusCode.INVALID_ARGUMENT, "volume_gain_db must be -96 to 16"),
    (dict(pitch=13.0), grpc.StatusCode.INVALID_ARGUMENT, "pitch must be -12 to 12 semitones"),
    (dict(pitch=-12.0, speaking_rate=2.0), grpc.StatusCode.INVALID_ARGUMENT, "would stretch the speech x0.25"),
    (dict(text="<speak>Hi <audio/></speak>"), grpc.StatusCode.INVALID_ARGUMENT, "<audio> is not supported"),
    (dict(text='<speak><prosody rate="2">Hi</prosody></speak>', speaking_rate=1.5), grpc.StatusCode.INVALID_ARGUMENT,
     "speaking_rate must be"),
    (dict(voice_name="nobody"), grpc.StatusCode.NOT_FOUND, "narrator"),
    (dict(model="other"), grpc.StatusCode.NOT_FOUND, "not loaded"),
    (dict(cfg_scale=0.5), grpc.StatusCode.INVALID_ARGUMENT, "cfg_scale"),
    (dict(best_of=4), grpc.StatusCode.RESOURCE_EXHAUSTED, "limit of 3"),
    (dict(zero_shot_data=pb.ZeroShotData(audio_prompt=b"junk", transcript="x")), grpc.StatusCode.INVALID_ARGUMENT, "readable"),
    (dict(custom_dictionary="ok  fine,Nguyen win"), grpc.StatusCode.INVALID_ARGUMENT,
     "custom_dictionary: entry 2 ('Nguyen win') needs a word, then a tab or two spaces"),
])
def test_bad_requests(stub, kw, code, needle):
    for call in (stub.Synthesize, lambda r: list(stub.SynthesizeStream(r))):
        with pytest.raises(grpc.RpcError) as info:
            call(request(**kw))
        assert info.value.code() == code and needle in info.value.details()


def test_pronunciations_respell_the_text(stub):
    """The server's --tts-dictionary respells every request; a request's custom_dictionary adds
    entries and overrides the server's (Riva's format)."""
    bridge = stub.Synthesize(request(text="Hello, a quiet bridge.")).audio
    assert stub.Synthesize(request(text="Hello, Zyzzyva.")).audio == bridge
    assert stub.Synthesize(request(text="Yo, zyzzyva.", custom_dictionary="  yo  hello")).audio == bridge
    assert stub.Synthesize(request(text="Zyzzyva.", custom_dictionary="zyzzyva  hello there")).audio == \
        stub.Synthesize(request(text="Hello there.")).audio
    streamed = b"".join(r.audio for r in stub.SynthesizeStream(request(text="Hello, Zyzzyva.")))
    np.testing.assert_allclose(np.frombuffer(streamed, "<f4"), np.frombuffer(bridge, "<f4"), atol=1e-5)
    # phonemes (Riva's IPA entries, SSML <phoneme>) are read as their respelling
    respelled = stub.Synthesize(request(text="Hello, nooyen.")).audio
    assert stub.Synthesize(request(text="Hello, Nguyen.", custom_dictionary="Nguyen  nˈuːjɛn")).audio == respelled
    assert stub.Synthesize(request(text='<speak>Hello, <phoneme alphabet="ipa" ph="nˈuːjɛn">Nguyen</phoneme>.</speak>')
                           ).audio == respelled


def test_pronunciations_respell_the_voice_prompts_transcript(stub):
    """The prompt's audio says its words as the dictionary spells them, so its transcript is
    respelled too: a zero-shot transcript and a bundled voice's (for that request only)."""
    prompt = audio.to_file_bytes((0.1 * np.random.default_rng(0).standard_normal(SR)).astype(np.float32), SR)

    def zero_shot(transcript, **kw):
        return stub.Synthesize(request(zero_shot_data=pb.ZeroShotData(audio_prompt=prompt, transcript=transcript), **kw)).audio

    assert zero_shot("yo there", custom_dictionary="yo  hello") == zero_shot("hello there")
    assert zero_shot("zyzzyva") == zero_shot("a quiet bridge")  # the server's own dictionary
    narrator = stub.Synthesize(request(voice_name="narrator")).audio  # its transcript: "a quiet bridge"
    assert stub.Synthesize(request(voice_name="narrator", custom_dictionary="quiet  calm")).audio != narrator
    assert stub.Synthesize(request(voice_name="narrator", custom_dictionary="yo  hello")).audio == narrator
    assert stub.Synthesize(request(voice_name="narrator")).audio == narrator  # the voice itself is unchanged


def test_best_of_candidates_are_chosen_by_the_servers_verifier(server, stub):
    """The verifier runs on ONNX Runtime too; a stream sends each sentence once it is chosen.
    This server searches (--tts-search-seconds 0.1): its answer is the search's choice."""
    assert type(server.server.tts_registry.verifier.recognizer).__name__ == "OnnxRecognizer"
    text = "The old mill by the river. A quiet bridge."
    best = stub.Synthesize(request(text=text, best_of=3)).audio
    assert best == stub.Synthesize(request(text=text, best_of=3)).audio  # seeded
    assert best != stub.Synthesize(request(text=text)).audio
    synth, drawn = server.server.tts_registry.entries["tts"].synth, dict(seed=3, temperature=0.9, best_of=3)
    searched = synth.synthesize(text, sampling=SamplingConfig(**drawn, search_seconds=0.1))
    np.testing.assert_array_equal(np.frombuffer(best, "<f4"), searched)
    assert not np.array_equal(synth.synthesize(text, sampling=SamplingConfig(**drawn, search_seconds=0)), searched)
    chunks = [np.frombuffer(r.audio, "<f4") for r in stub.SynthesizeStream(request(text=text, best_of=3))]
    assert len(chunks) >= 2
    np.testing.assert_allclose(np.concatenate(chunks), np.frombuffer(best, "<f4"), atol=1e-5)


def test_cancel_stops_generation_and_frees_slot(server, stub):
    long_text = "The old mill stood by the river. " * 20
    call = stub.SynthesizeStream(request(text=long_text, chunk_ms=20))
    next(call)
    slots = server.server.codec_service.slots
    assert slots.active == 1
    call.cancel()
    deadline = time.time() + 10
    while slots.active and time.time() < deadline:
        time.sleep(0.02)
    assert slots.active == 0
    start = time.time()
    stub.Synthesize(request(text="Hi."))  # the worker pool is free again at once
    assert time.time() - start < 10


def test_python_client_and_cli(server, stub, tmp_path, monkeypatch, capsys):
    from serve.client import SpeechClient, main

    with SpeechClient(server.target) as client:
        assert client.voices() == ["narrator"]
        wav, rate = client.synthesize("Hello there.", seed=3, temperature=0.9)
        np.testing.assert_array_equal(wav, np.frombuffer(stub.Synthesize(request()).audio, "<f4"))
        chunks = list(client.synthesize_stream("Hello there.", chunk_ms=40, seed=3, temperature=0.9))
        assert rate == SR and len(chunks) >= 2 and all(r == SR for _, r in chunks)
        np.testing.assert_allclose(np.concatenate([c for c, _ in chunks]), wav, atol=1e-5)
        fast, _ = client.synthesize("Hello there.", seed=3, temperature=0.9, speaking_rate=1.6)
        assert len(fast) == round(len(wav) / 1.6)
    ref = tmp_path / "ref.wav"
    audio.save(ref, (0.1 * np.random.default_rng(1).standard_normal(SR // 2)).astype(np.float32), SR)
    out = tmp_path / "out.wav"
    assert main(["--server", server.target, "synthesize", "A quiet bridge.", "-o", str(out), "--stream",
                 "--voice-audio", str(ref), "--voice-text", "hello there", "--sample-rate", "16000"]) == 0
    import soundfile

    assert soundfile.info(out).samplerate == 16000 and soundfile.info(out).frames > 0
    slow = tmp_path / "slow.wav"
    assert main(["--server", server.target, "synthesize", "A quiet bridge.", "-o", str(slow), "--stream",
                 "--voice-audio", str(ref), "--voice-text", "hello there", "--sample-rate", "16000",
                 "--speaking-rate", "0.5"]) == 0
    assert abs(soundfile.info(slow).frames - 2 * soundfile.info(out).frames) <= 2
    assert main(["--server", server.target, "synthesize", "x", "-o", str(out), "--voice", "nobody"]) == 1
    assert main(["--server", server.target, "add-voice", "mine", str(ref), "--text", "hello there"]) == 0  # kept: in memory
    assert "say with --voice mine" in capsys.readouterr().out
    mine, sent = tmp_path / "mine.wav", tmp_path / "sent.wav"
    assert main(["--server", server.target, "synthesize", "A quiet bridge.", "-o", str(mine), "--voice", "mine"]) == 0
    assert main(["--server", server.target, "synthesize", "A quiet bridge.", "-o", str(sent), "--voice-audio", str(ref),
                 "--voice-text", "hello there"]) == 0
    assert mine.read_bytes() == sent.read_bytes()
    assert main(["--server", server.target, "delete-voice", "mine"]) == 0
    assert main(["--server", server.target, "delete-voice", "mine"]) == 1
    assert "error: NOT_FOUND: custom voice 'mine' not found" in capsys.readouterr().err
    piped, typed = tmp_path / "piped.wav", tmp_path / "typed.wav"  # text (here SSML) from stdin
    doc = '<speak>Hello there.<break time="100ms"/></speak>'
    assert main(["--server", server.target, "synthesize", doc, "-o", str(typed)]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO(doc))
    assert main(["--server", server.target, "synthesize", "-", "-o", str(piped)]) == 0
    assert piped.read_bytes() == typed.read_bytes()
    lines = tmp_path / "lines"  # one request per line: each file as that request alone
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{doc}\n\nhi\tHello there.\n"))
    assert main(["--server", server.target, "synthesize", "-", "--out-dir", str(lines)]) == 0
    assert sorted(f.name for f in lines.iterdir()) == ["0001.wav", "hi.wav"]
    assert (lines / "0001.wav").read_bytes() == typed.read_bytes()
    kept = (lines / "hi.wav").stat().st_mtime_ns  # --resume: only the missing file is asked for, the same audio
    (lines / "0001.wav").unlink()
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{doc}\n\nhi\tHello there.\n"))
    assert main(["--server", server.target, "synthesize", "-", "--out-dir", str(lines), "--resume"]) == 0
    assert (lines / "0001.wav").read_bytes() == typed.read_bytes() and (lines / "hi.wav").stat().st_mtime_ns == kept
    assert "1 of 2 lines already there, 1 to go" in capsys.readouterr().err
    assert main(["--server", server.target, "synthesize", "Hi.", "-o", str(out), "--resume"]) == 1
    assert "--resume goes on with an --out-dir batch" in capsys.readouterr().err
    assert main(["--server", server.target, "synthesize", "Hi.\n\U0001F600", "--out-dir", str(tmp_path / "bad")]) == 1
    assert not (tmp_path / "bad").exists()  # the bad line was found before any request
    (tmp_path / "yo.txt").write_text("yo  hello\n")  # respelled past the limit: found before any request too
    assert main(["--server", server.target, "synthesize", "Hi.\n" + "yo " * 600, "--out-dir", str(tmp_path / "bad"),
                 "--dictionary", str(tmp_path / "yo.txt")]) == 1
    assert "line 2: text is 3600 characters; at most 2000" in capsys.readouterr().err and not (tmp_path / "bad").exists()
    part = tmp_path / "part"  # the server's own dictionary makes line 2 too long: line 1's file stays
    assert main(["--server", server.target, "synthesize", "Hi.\n" + "zyzzyva " * 240, "--out-dir", str(part)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("speech-client: error: 0002: INVALID_ARGUMENT: text is") and \
        err[-1].endswith(f"(1 of 2 lines are in {part}; --resume goes on from there)"), err
    assert [f.name for f in part.iterdir()] == ["0001.wav"]
    monkeypatch.setattr("sys.stdin", io.StringIO("Hello there. A quiet bridge."))  # stdin as it comes: one file
    came = tmp_path / "came.wav"
    assert main(["--server", server.target, "synthesize", "-", "-o", str(came), "--as-it-comes", "--seed", "3",
                 "--temperature", "0.9"]) == 0
    with SpeechClient(server.target) as client:
        wav, _ = client.synthesize("Hello there. A quiet bridge.", seed=3, temperature=0.9)
        sliced = np.concatenate([c for c, _ in client.synthesize_text_stream(["Hello th", "ere. A qu", "iet bridge."],
                                                                             seed=3, temperature=0.9)])
    np.testing.assert_allclose(sliced, wav, atol=1e-5)
    np.testing.assert_allclose(audio.load(came, SR), wav, atol=2 / 32768)
    assert "first audio after" in capsys.readouterr().err
    assert main(["--server", server.target, "synthesize", "Hi.", "-o", str(came), "--as-it-comes"]) == 1
    assert "--as-it-comes reads the text from stdin" in capsys.readouterr().err
    times = tmp_path / "words.json"  # when each word is said, as tts-cli writes it
    assert main(["--server", server.target, "synthesize", "Hello there. A quiet bridge.", "-o", str(out),
                 "--word-times", str(times)]) == 0
    words = json.loads(times.read_text())
    assert [(w["word"], w["sentence"]) for w in words] == [("Hello", 0), ("there.", 0), ("A", 1), ("quiet", 1), ("bridge.", 1)]
    assert set(words[0]) == {"word", "start", "end", "sentence", "aligned", "text_offset", "text_length"}
    assert [(w["text_offset"], w["text_length"]) for w in words] == [(0, 5), (6, 5), (13, 1), (15, 5), (21, 6)]
    assert words[-1]["end"] <= soundfile.info(out).duration + 1e-3
    streamed = tmp_path / "streamed.json"  # the same through SynthesizeStream: the words come with its last message
    assert main(["--server", server.target, "synthesize", '<speak>Hello there. <mark name="m"/>A quiet bridge.</speak>',
                 "-o", str(out), "--word-times", str(streamed), "--stream"]) == 0
    timed = json.loads(streamed.read_text())  # an SSML mark among the words, where it stands
    assert [w.get("word", w.get("mark")) for w in timed] == ["Hello", "there.", "m", "A", "quiet", "bridge."]
    assert timed[2]["time"] == timed[3]["start"] and set(timed[2]) == {"mark", "time"}
    marks = tmp_path / "marks.json"  # the marks alone (enable_time_pointing), unary and streamed
    for how in ([], ["--stream"]):
        assert main(["--server", server.target, "synthesize", '<speak>Hello there. <mark name="m"/>A quiet bridge.</speak>',
                     "-o", str(out), "--marks", str(marks), *how]) == 0
        assert json.loads(marks.read_text()) == [timed[2]]
    monkeypatch.setattr("sys.stdin", io.StringIO("Hello there. A quiet bridge."))  # as it comes: each sentence's words
    came_times = tmp_path / "came.json"
    assert main(["--server", server.target, "synthesize", "-", "-o", str(came), "--as-it-comes",
                 "--word-times", str(came_times)]) == 0
    assert [w["word"] for w in json.loads(came_times.read_text())] == [w["word"] for w in words]
    with SpeechClient(server.target) as client:  # best of 3: the server's verifier chose one of three
        assert not np.array_equal(client.synthesize("Hello there.", seed=3, best_of=3)[0],
                                  client.synthesize("Hello there.", seed=3)[0])
    assert main(["--server", server.target, "synthesize", "Hi.", "-o", str(out), "--best-of", "9"]) == 1  # over 3
    said = tmp_path / "say.txt"  # pronunciations sent with the request, checked before it is sent
    said.write_text("# greetings\nyo  hello\n")
    hello, yo = tmp_path / "hello.wav", tmp_path / "yo.wav"
    assert main(["--server", server.target, "synthesize", "Hello there.", "-o", str(hello)]) == 0
    assert main(["--server", server.target, "synthesize", "Yo there.", "-o", str(yo), "--dictionary", str(said)]) == 0
    assert yo.read_bytes() == hello.read_bytes()
    said.write_text("yo hello\n")
    assert main(["--server", server.target, "synthesize", "Yo.", "-o", str(yo), "--dictionary", str(said)]) == 1


def test_int8_graph_is_served_on_request(server, tmp_path, capsys):
    """--tts-int8 serves tts.int8.onnx; without that graph the server refuses to start, in one line
    (as it does with a malformed --tts-dictionary). A server without --tts-verifier refuses best_of > 1."""
    import shutil

    from serve.server import main
    from tts.onnx_export import quantize

    tts_dir = Path(server.server.cfg.tts[0])
    copy = tmp_path / "tts"
    shutil.copytree(tts_dir, copy)
    codec = ["--codec", server.server.cfg.codec, "--port", "0"]
    assert main([*codec, "--tts", str(copy), "--tts-int8"]) == 1
    assert "int8" in capsys.readouterr().err.strip().splitlines()[-1]
    (tmp_path / "say.txt").write_text("fine  ok\nNguyen win\n")  # a bad dictionary: refused by line, before serving
    assert main([*codec, "--tts", str(copy), "--tts-dictionary", str(tmp_path / "say.txt")]) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1].endswith("entry 2 ('Nguyen win') needs a word, then a tab or "
                                                                      "two spaces, then how to say it")
    quantize(copy / "tts.onnx", copy / "tts.int8.onnx")
    running = RunningServer(ServerConfig(port=0, codec=server.server.cfg.codec, tts=[str(copy)], tts_int8=True))
    try:
        with grpc.insecure_channel(running.target) as channel:
            resp = pb_grpc.TextToSpeechStub(channel).Synthesize(request())
            with pytest.raises(grpc.RpcError) as info:  # this server has no --tts-verifier
                pb_grpc.TextToSpeechStub(channel).Synthesize(request(best_of=2))
        assert len(resp.audio) > 0 and running.server.tts_registry.default.synth.model.tts.graph.name == "tts.int8.onnx"
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "--tts-verifier" in info.value.details()
    finally:
        running.stop()


@pytest.fixture(scope="module")
def gateway(server, voice_dir):
    """The same models behind a bearer token, with speech over HTTP too (--http-port)."""
    cfg = server.server.cfg
    running = RunningServer(ServerConfig(port=0, codec=cfg.codec, tts=cfg.tts, http_port=0, auth_token="t0k", metrics_port=0,
                                         text_stream_idle_seconds=1.0, http_cors=["https://app.example"],
                                         tts_verifier=cfg.tts_verifier, voice_dir=str(voice_dir), max_voices=2))
    yield running
    running.stop()


def http(gateway, path: str, body: dict | bytes | None = None, token: str | None = "t0k",
         content_type: str = "application/json", method: str | None = None, **headers) -> tuple[int, dict, bytes]:
    """(status, headers, body) of one real HTTP request to the gateway."""
    from urllib.error import HTTPError
    from urllib.request import Request, urlopen

    data = json.dumps(body).encode() if isinstance(body, dict) else body
    headers = {"Content-Type": content_type, **({"Authorization": f"Bearer {token}"} if token else {}), **headers}
    req = Request(f"http://127.0.0.1:{gateway.server.http_port}{path}", data=data, headers=headers, method=method)
    try:
        with urlopen(req, timeout=60) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except HTTPError as err:
        return err.code, dict(err.headers), err.read()


def test_http_speech_is_the_grpc_answer_in_openais_shape(gateway):
    """POST /v1/audio/speech: pcm and wav stream what SynthesizeStream says, mp3 and opus too,
    encoded as it comes (chunk by chunk), flac is a file of what Synthesize says; the token, the
    models and voices, and health as over gRPC."""
    said = dict(model="tts", input="Hello there.", voice="narrator", seed=3, temperature=0.9)
    metrics = gateway.server.metrics.registry.get_sample_value
    labels = {"grpc_type": "server_stream", "grpc_service": "speech.v1.TextToSpeech", "grpc_method": "SynthesizeStream",
              "grpc_code": "OK"}
    streams = metrics("grpc_server_handled_total", labels) or 0  # other tests may have used this server first
    answered = metrics("speech_http_requests_total", {"path": "/v1/audio/speech", "code": "200"}) or 0
    with grpc.insecure_channel(gateway.target) as channel:
        tts, token = pb_grpc.TextToSpeechStub(channel), [("authorization", "Bearer t0k")]
        asked = request(voice_name="narrator", model="tts")
        streamed = b"".join(r.audio for r in tts.SynthesizeStream(request(voice_name="narrator", encoding=pb.LINEAR_PCM),
                                                                  metadata=token))
        whole = np.frombuffer(tts.Synthesize(asked, metadata=token).audio, "<f4")
    status, headers, pcm = http(gateway, "/v1/audio/speech", {**said, "response_format": "pcm"})
    assert (status, headers["Content-Type"], pcm) == (200, "audio/pcm", streamed)
    status, headers, wav = http(gateway, "/v1/audio/speech", {**said, "response_format": "wav"})
    assert headers["Content-Type"] == "audio/wav" and wav[:4] == b"RIFF" and wav[44:] == pcm
    assert audio.to_pcm16(audio.decode_bytes(wav, SR)) == pcm  # a header of unknown length reads to the end
    _, headers, flac = http(gateway, "/v1/audio/speech", {**said, "response_format": "flac"})
    assert headers["Content-Type"] == "audio/flac" and audio.to_pcm16(audio.decode_bytes(flac, SR)) == audio.to_pcm16(whole)
    assert headers["Content-Length"] == str(len(flac))
    for fmt, kind, magic in (("mp3", "audio/mpeg", b"\xff"), ("opus", "audio/ogg", b"OggS")):
        _, headers, data = http(gateway, "/v1/audio/speech", {**said, "response_format": fmt})
        assert headers["Content-Type"] == kind and data.startswith(magic) and "Content-Length" not in headers
        encoded = audio.StreamedFile(SR, {"mp3": "MP3", "opus": "OGG"}[fmt])
        alone = encoded.push(whole) + encoded.close()  # the stream's audio is Synthesize's
        assert (data == alone) if fmt == "mp3" else audio.decode_bytes(data, SR).tolist() == audio.decode_bytes(alone, SR).tolist()
    asked_mp3 = json.dumps({**said, "response_format": "mp3"}).encode()
    answer = raw_http(gateway, b"POST /v1/audio/speech HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer t0k\r\nConnection: close\r\n"
                      b"Content-Type: application/json\r\n"
                      b"Content-Length: %d\r\n\r\n%s" % (len(asked_mp3), asked_mp3))
    head, body = answer.split(b"\r\n\r\n", 1)
    assert b"Transfer-Encoding: chunked" in head and len(chunks_of(body)) >= 3  # as the stream's messages come
    status, _, body = http(gateway, "/v1/models")
    assert status == 200 and json.loads(body)["data"] == [{"id": "tts", "object": "model", "owned_by": "speechcodec"}]
    assert json.loads(http(gateway, "/v1/audio/voices")[2]) == {"voices": ["narrator"], "data": [
        {"object": "audio.voice", "id": "narrator", "name": "narrator", "model": "tts", "description": "tts: prompt voice",
         "custom": False}]}
    assert http(gateway, "/healthz", token=None)[:1] == (200,)
    assert metrics("grpc_server_handled_total", labels) - streams == 6  # the gRPC stream above, pcm, wav, mp3 (twice), opus
    assert metrics("speech_http_requests_total", {"path": "/v1/audio/speech", "code": "200"}) - answered == 6
    http(gateway, "/v1/audio/speech", {"input": "Hi.", "emotion": "glad"})  # refused before any gRPC call: counted here
    http(gateway, "/nowhere")
    assert metrics("speech_http_requests_total", {"path": "/v1/audio/speech", "code": "400"}) >= 1
    assert metrics("speech_http_requests_total", {"path": "other", "code": "404"}) >= 1


@pytest.mark.parametrize("path, body, token, status, kind, needle", [
    ("/v1/audio/speech", {"model": "tts", "input": "Hi.", "voice": ""}, None, 401, "authentication_error",
     "missing or wrong bearer token"),
    ("/v1/audio/speech", {"model": "tts", "input": "Hi.", "voice": "alloy"}, "t0k", 404, "not_found_error",
     "voice 'alloy' not found (have: narrator)"),
    ("/v1/audio/speech", {"model": "tts-1", "input": "Hi.", "voice": ""}, "t0k", 404, "not_found_error", "tts-1"),
    ("/v1/audio/speech", {"model": "tts", "input": "\U0001F600", "voice": "", "response_format": "pcm"}, "t0k", 400,
     "invalid_request_error", "nothing to say"),
    ("/v1/audio/speech", {"model": "tts", "input": "Hi.", "voice": "", "speed": 3}, "t0k", 400, "invalid_request_error",
     "speed must be 0.5 to 2 (1 = as the model speaks), got 3"),
    ("/v1/audio/speech", {"model": "tts", "input": "Hi.", "voice": "", "speed": 0}, "t0k", 400, "invalid_request_error",
     "speed must be 0.5 to 2"),
    ("/v1/audio/speech", {"model": "tts", "input": "Hi.", "response_format": "aac"}, "t0k", 400, "invalid_request_error",
     "response_format must be one of mp3, opus, flac, wav, pcm, got 'aac'"),
    ("/v1/audio/speech", {"model": "tts", "input": "Hi.", "response_format": "opus", "sample_rate": 22050}, "t0k", 400,
     "invalid_request_error", "OGG (Opus) audio can be 8000, 12000, 16000, 24000, 48000 Hz, not 22050"),
    ("/v1/audio/speech", {"model": "tts", "input": "Hi.", "emotion": "glad"}, "t0k", 400, "invalid_request_error",
     "unknown field emotion"),
    ("/v1/audio/speech", {"model": "tts", "input": "Hi.", "stream_format": "ws"}, "t0k", 400, "invalid_request_error",
     "stream_format must be 'audio' or 'sse', got 'ws'"),
    ("/v1/audio/speech", {"model": "tts", "input": 5}, "t0k", 400, "invalid_request_error", "input must be the text"),
    ("/v1/audio/speech", {"model": "tts", "input": "Hi.", "word_times": True}, "t0k", 400, "invalid_request_error",
     'word_times come as events: ask for them with "stream_format": "sse"'),
    ("/v1/audio/speech", {"model": "tts", "input": "Hi.", "enable_time_pointing": "SSML_MARK", "stream_format": "sse"},
     "t0k", 400, "invalid_request_error", "enable_time_pointing must be a list of TIMEPOINT_TYPE_UNSPECIFIED, SSML_MARK"),
    ("/v1/audio/speech", {"model": "tts", "input": "Hi.", "seed": 1.5}, "t0k", 400, "invalid_request_error",
     "seed must be an integer, got 1.5"),
    ("/v1/audio/speech", {"model": "tts", "input": "Hi.", "volume_gain_db": 30}, "t0k", 400, "invalid_request_error",
     "volume_gain_db must be -96 to 16"),
    ("/v1/audio/speech", {"model": "tts", "input": "Hi.", "pitch": "up"}, "t0k", 400, "invalid_request_error",
     "pitch must be a number, got 'up'"),
    ("/v1/audio/speech", {"model": "tts", "input": "Hi.", "speed": "fast"}, "t0k", 400, "invalid_request_error",
     "speed must be a number, got 'fast'"),
    ("/v1/audio/speech", {"model": "tts", "input": "Hi.", "voice_audio": "UklGRg=="}, "t0k", 400,
     "invalid_request_error", "needs voice_audio (an audio file, base64) and voice_text (what it says); send both"),
    ("/v1/audio/speech", {"model": "tts", "input": "Hi.", "voice": "narrator", "voice_audio": "UklGRg==", "voice_text": "Hi."},
     "t0k", 400, "invalid_request_error", "voice 'narrator' and voice_audio both say whose voice: send one"),
    ("/v1/audio/speech", {"model": "tts", "input": "Hi.", "voice_audio": "a wav!", "voice_text": "Hi."}, "t0k", 400,
     "invalid_request_error", "voice_audio must be an audio file (WAV, FLAC, Ogg, MP3) in base64"),
    ("/v1/audio/speech", {"model": "tts", "input": "Hi.", "voice_audio": "UklGRg==", "voice_text": "Hi."}, "t0k", 400,
     "invalid_request_error", "not a readable audio file"),
    ("/v1/audio/speech", {"model": "tts", "input": "Hi.", "voice_audio": ["UklGRg=="], "voice_text": "Hi."}, "t0k", 400,
     "invalid_request_error", "voice_audio must be text"),
    ("/v1/models", None, "t\u00f6k", 401, "authentication_error", "missing or wrong bearer token"),
    ("/v1/audio/speech", b"{not json", "t0k", 400, "invalid_request_error", "the body is not JSON"),
    ("/v1/audio/speech", b"[1]", "t0k", 400, "invalid_request_error", "the body must be a JSON object"),
    ("/v1/audio/speech", None, "t0k", 405, "invalid_request_error", "/v1/audio/speech takes POST, not GET"),
    ("/v1/nothing", None, "t0k", 404, "not_found_error", "no such endpoint '/v1/nothing'"),
    ("/v1/models", None, "wrong", 401, "authentication_error", "missing or wrong bearer token"),
])
def test_http_errors_are_openais_json_with_the_grpc_status_mapped(gateway, path, body, token, status, kind, needle):
    got, headers, data = http(gateway, path, body, token)
    error = json.loads(data)["error"]
    assert (got, headers["Content-Type"], error["type"]) == (status, "application/json", kind) and needle in error["message"]


def raw_http(gateway, head: bytes) -> bytes:
    """The whole answer to a request written byte for byte (the server closes after answering)."""
    import socket

    with socket.create_connection(("127.0.0.1", gateway.server.http_port)) as conn:
        conn.sendall(head)
        return b"".join(iter(lambda: conn.recv(4096), b""))


def dechunk(body: bytes) -> bytes:
    """A chunked body's data (RFC 9112 7.1); fails on one that never ends."""
    return b"".join(chunks_of(body))


def chunks_of(body: bytes) -> list[bytes]:
    """A chunked body's chunks, as the server wrote them."""
    data = []
    while True:
        size, body = body.split(b"\r\n", 1)
        if int(size, 16) == 0:
            assert body == b"\r\n", "no end after the last chunk"
            return data
        data.append(body[:int(size, 16)])
        assert body[int(size, 16):int(size, 16) + 2] == b"\r\n"
        body = body[int(size, 16) + 2:]


def test_http_speaks_like_a_recording_sent_with_the_request(gateway):
    """voice_audio (a file, base64) + voice_text: gRPC's zero_shot_data, so the same audio as a
    gRPC client that sends that recording; its transcript is needed, as over gRPC. The voice
    prompt made of it is kept: the requests after the first make none."""
    prompt = audio.to_file_bytes((0.1 * np.random.default_rng(5).standard_normal(SR)).astype(np.float32), SR)
    made = gateway.server.tts_registry.zero_shot_voices
    before = len(made)
    with grpc.insecure_channel(gateway.target) as channel:
        stub = pb_grpc.TextToSpeechStub(channel)
        streamed = b"".join(r.audio for r in stub.SynthesizeStream(request(encoding=pb.LINEAR_PCM, zero_shot_data=pb.ZeroShotData(
            audio_prompt=prompt, transcript="hello there")), metadata=[("authorization", "Bearer t0k")]))
        plain = b"".join(r.audio for r in stub.SynthesizeStream(request(encoding=pb.LINEAR_PCM),
                                                                metadata=[("authorization", "Bearer t0k")]))
    said = {"model": "tts", "input": request().text, "seed": request().seed, "temperature": request().temperature,
            "response_format": "pcm", "voice_audio": base64.b64encode(prompt).decode()}
    status, _, pcm = http(gateway, "/v1/audio/speech", {**said, "voice_text": "hello there"})
    assert status == 200 and pcm == streamed != plain
    import openai

    client = openai.OpenAI(base_url=f"http://127.0.0.1:{gateway.server.http_port}/v1", api_key="t0k", max_retries=0)
    answer = client.audio.speech.create(model="tts", voice="", input=said["input"], response_format="pcm", extra_body={
        "seed": said["seed"], "temperature": said["temperature"], "voice_audio": said["voice_audio"], "voice_text": "hello there"})
    assert answer.content == streamed  # as the README shows it
    got, code = over_socket(gateway, [{"model": "tts", "seed": said["seed"], "temperature": said["temperature"], "text": said["input"],
                                       "voice_audio": said["voice_audio"], "voice_text": "hello there"}, {"end": True}])
    assert code == 1000 and b"".join(m for m in got if isinstance(m, bytes)) == streamed  # the text socket's options too
    status, _, body = http(gateway, "/v1/audio/speech", {**said, "voice_text": " "})
    assert status == 400 and "a voice prompt needs the transcript of its audio" in json.loads(body)["error"]["message"]
    assert len(made) == before + 1  # four requests in that voice, one prompt made


def test_a_voice_of_ones_own_is_kept_under_a_name(gateway, unpaced, voice_dir):
    """CreateVoice keeps a recording under a name: said as voice_name, it is that recording sent
    with the request; a server sharing --voice-dir has it too (and loses it when it is deleted);
    over HTTP too (POST, GET, DELETE /v1/audio/voices); refusals in one line."""
    auth = [("authorization", "Bearer t0k")]
    recording = audio.to_file_bytes((0.1 * np.random.default_rng(7).standard_normal(SR)).astype(np.float32), SR)
    sent = pb.ZeroShotData(audio_prompt=recording, transcript="hello there")

    def said(target: str, **kw) -> bytes:
        with grpc.insecure_channel(target) as channel:
            stub = pb_grpc.TextToSpeechStub(channel)
            return b"".join(r.audio for r in stub.SynthesizeStream(request(encoding=pb.LINEAR_PCM, **kw), metadata=auth))

    with grpc.insecure_channel(gateway.target) as channel:
        stub = pb_grpc.TextToSpeechStub(channel)
        made = stub.CreateVoice(pb.CreateVoiceRequest(name="mine", recording=sent, description="my voice"), metadata=auth)
        assert (made.name, made.model, made.description, made.custom) == ("mine", "tts", "my voice", True)
        synth, kept = gateway.server.tts_registry.entries["tts"].synth, gateway.server.tts_registry.custom
        assert synth._warmed.get(synth._codes(kept.get("tts", "mine").prompt.codes).tobytes())  # said a word in: warm
        listed = {v.name: v for v in stub.ListVoices(pb.ListVoicesRequest(), metadata=auth).voices}
        assert listed["mine"].custom and not listed["narrator"].custom and listed["narrator"].model == "tts"
        for kw, code, needle in [
                (dict(name="mine", recording=sent), grpc.StatusCode.ALREADY_EXISTS, "already exists"),
                (dict(name="narrator", recording=sent), grpc.StatusCode.ALREADY_EXISTS, "one of the model's own voices"),
                (dict(name="../up", recording=sent), grpc.StatusCode.INVALID_ARGUMENT, "letters, digits"),
                (dict(name="mute", recording=pb.ZeroShotData(audio_prompt=recording)), grpc.StatusCode.INVALID_ARGUMENT,
                 "transcript"),
                (dict(name="other", recording=sent, model="nope"), grpc.StatusCode.NOT_FOUND, "'nope' is not loaded")]:
            with pytest.raises(grpc.RpcError) as info:
                stub.CreateVoice(pb.CreateVoiceRequest(**kw), metadata=auth)
            assert info.value.code() == code and needle in info.value.details(), (kw, info.value.details())
    assert [p.name for p in (voice_dir / "tts").iterdir()] == ["mine"]  # nothing of the refused ones
    by_name = said(gateway.target, voice_name="mine")
    assert by_name == said(gateway.target, zero_shot_data=sent) != said(gateway.target)
    assert said(unpaced.target, voice_name="mine") == by_name  # the other server reads it from the folder

    status, _, body = http(gateway, "/v1/audio/voices", {"name": "yours", "audio": base64.b64encode(recording).decode(),
                                                         "text": "a quiet bridge"})
    assert status == 201 and json.loads(body) == {"object": "audio.voice", "id": "yours", "name": "yours", "model": "tts",
                                                  "description": "", "custom": True}
    status, _, body = http(gateway, "/v1/audio/voices")
    assert status == 200 and json.loads(body)["voices"] == ["narrator", "mine", "yours"]
    assert [v["custom"] for v in json.loads(body)["data"]] == [False, True, True]
    speech = {"model": "tts", "input": request().text, "seed": request().seed, "temperature": request().temperature,
              "response_format": "pcm"}
    status, _, pcm = http(gateway, "/v1/audio/speech", {**speech, "voice": "yours"})
    assert status == 200 and pcm == said(gateway.target, zero_shot_data=pb.ZeroShotData(
        audio_prompt=recording, transcript="a quiet bridge"))
    import openai  # OpenAI's custom voice object, {"id": ...}, names it too

    client = openai.OpenAI(base_url=f"http://127.0.0.1:{gateway.server.http_port}/v1", api_key="t0k", max_retries=0)
    assert client.audio.speech.create(model="tts", voice={"id": "yours"}, input=speech["input"], response_format="pcm",
                                      extra_body={"seed": speech["seed"], "temperature": speech["temperature"]}).content == pcm
    status, _, body = http(gateway, "/v1/audio/speech", {**speech, "voice": {"name": "yours"}})
    assert status == 400 and 'voice must be a name or {"id": NAME}' in json.loads(body)["error"]["message"]
    for body, status_, needle in [({"name": "third", "audio": base64.b64encode(recording).decode(), "text": "hi"}, 429,
                                   "at most 2 custom voices"),
                                  ({"name": "yours", "audio": base64.b64encode(recording).decode(), "text": "hi"}, 409,
                                   "already exists"),
                                  ({"name": "x", "audio": "%%%", "text": "hi"}, 400, "audio must be an audio file"),
                                  ({"name": "x", "text": "hi"}, 400, "a voice needs audio"),
                                  ({"name": "x", "audio": "", "text": "hi", "age": 3}, 400, "unknown field age")]:
        status, _, answer = http(gateway, "/v1/audio/voices", body)
        assert status == status_ and needle in json.loads(answer)["error"]["message"], answer
    status, _, body = http(gateway, "/v1/audio/voices/mine", method="DELETE")
    assert status == 200 and json.loads(body) == {"object": "audio.voice.deleted", "id": "mine", "deleted": True}
    for target in (gateway.target, unpaced.target):  # gone for both servers
        with pytest.raises(grpc.RpcError) as info:
            said(target, voice_name="mine")
        assert info.value.code() == grpc.StatusCode.NOT_FOUND and "voice 'mine' not found (have: narrator, yours)" in \
            info.value.details()
    status, _, body = http(gateway, "/v1/audio/voices/mine", method="DELETE")
    assert status == 404 and "custom voice 'mine' not found" in json.loads(body)["error"]["message"]
    status, _, body = http(gateway, "/v1/audio/voices/narrator", method="DELETE")
    assert status == 400 and "only custom voices" in json.loads(body)["error"]["message"]
    import requests

    url, token = f"http://127.0.0.1:{gateway.server.http_port}/v1/audio/voices", {"Authorization": "Bearer t0k"}
    form = requests.post(url, headers=token, data={"name": "mine", "text": "hello there", "replace": "false"},
                         files={"audio_sample": ("mine.wav", recording, "audio/wav")}, timeout=60)  # OpenAI's name, as curl -F
    assert form.status_code == 201 and form.json()["name"] == "mine" and said(gateway.target, voice_name="mine") == by_name
    form = requests.post(url, headers=token, data={"name": "x"}, files={"audio": ("x.wav", recording)}, timeout=60)
    assert form.status_code == 400 and "a voice needs text" in form.json()["error"]["message"]
    status, _, body = http(gateway, "/v1/audio/voices", recording, content_type="audio/wav")
    assert status == 415 and "as JSON or as a multipart form" in json.loads(body)["error"]["message"]
    with grpc.insecure_channel(unpaced.target) as channel:  # replaced by one server, the other says the new one
        pb_grpc.TextToSpeechStub(channel).CreateVoice(pb.CreateVoiceRequest(name="yours", recording=sent, replace=True))
    assert said(gateway.target, voice_name="yours") == by_name
    assert sorted(p.name for p in (voice_dir / "tts").iterdir()) == ["mine", "yours"]  # no leftovers
    for name in ("mine", "yours"):
        http(gateway, f"/v1/audio/voices/{name}", method="DELETE")


def test_http_body_limits(gateway):
    """Refused from the headers alone, before any body is read (a client still sending it may see
    its connection closed: the answer is already there); a body that ends short of its
    Content-Length is refused, not read as the whole."""
    post = b"POST /v1/audio/speech HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
    answer = raw_http(gateway, post + b"Content-Length: 5000000\r\n\r\n")  # closed after: the body is unread
    assert answer.startswith(b"HTTP/1.1 413 Content Too Large") and b"at most 4194304 per request" in answer
    assert b"\r\nConnection: close\r\n" in answer
    answer = raw_http(gateway, post + b"Transfer-Encoding: chunked\r\n\r\n10\r\n{\"input\": \"Hi.\"}\r\n0\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 411 Length Required") and b"send the body with a Content-Length" in answer
    assert http(gateway, "/v1/audio/speech", b"{}", content_type="text/plain")[0] == 415
    import socket

    with socket.create_connection(("127.0.0.1", gateway.server.http_port)) as conn:  # a body cut short
        conn.sendall(post + b"Authorization: Bearer t0k\r\nContent-Length: 100\r\n\r\n{\"input\": ")
        conn.shutdown(socket.SHUT_WR)
        answer = b"".join(iter(lambda: conn.recv(4096), b""))
    assert answer.startswith(b"HTTP/1.1 400 Bad Request") and b"the body ended after 10 of its 100 bytes" in answer
    answer = raw_http(gateway, post + b"Expect: 100-continue\r\nContent-Length: 5000000\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 413")  # refused without asking for the body


def test_a_body_that_stops_coming_is_a_408(gateway, monkeypatch):
    """A client that sends part of its body and then nothing is answered 408 once the idle
    timeout passes (10 s; 1 s here), not left holding its connection."""
    import socket

    from serve import http_gateway, http_server

    monkeypatch.setattr(http_server._QuietHandler, "timeout", 1.0)
    monkeypatch.setattr(http_gateway, "IDLE_S", 1.0)
    post = b"POST /v1/audio/speech HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
    with socket.create_connection(("127.0.0.1", gateway.server.http_port)) as conn:
        conn.sendall(post + b"Authorization: Bearer t0k\r\nContent-Length: 100\r\n\r\n{\"input\": ")
        conn.settimeout(30)
        answer = b"".join(iter(lambda: conn.recv(4096), b""))
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout"), answer[:200]
    assert b"the body stopped coming (Content-Length 100; nothing for 1 s)" in answer


def test_one_http_connection_carries_many_requests(gateway):
    """HTTP/1.1 keep-alive: requests one after another on one connection, an audio stream among
    them chunked, an error among them; an HTTP/1.0 client's stream ends with its connection."""
    from http.client import HTTPConnection

    headers = {"Authorization": "Bearer t0k", "Content-Type": "application/json"}
    speech = {"model": "tts", "input": "Hi.", "response_format": "pcm", "seed": 3}
    conn = HTTPConnection("127.0.0.1", gateway.server.http_port, timeout=60)
    answers, sockets = [], set()
    for method, path, body in (("GET", "/healthz", None), ("POST", "/v1/audio/speech", speech),
                               ("GET", "/v1/nowhere", None), ("POST", "/v1/audio/speech", {**speech, "response_format": "flac"}),
                               ("GET", "/v1/models", None)):
        conn.request(method, path, body=json.dumps(body) if body else None, headers=headers)
        resp = conn.getresponse()
        answers.append((resp.status, resp.headers.get("Transfer-Encoding"), resp.headers.get("Connection"), resp.read()))
        assert resp.headers["Keep-Alive"] == "timeout=10"
        sockets.add(id(conn.sock))
    conn.close()
    assert [a[:3] for a in answers] == [(200, None, None), (200, "chunked", None), (404, None, None), (200, None, None),
                                        (200, None, None)]
    assert len(sockets) == 1 and answers[1][3] == http(gateway, "/v1/audio/speech", speech)[2]
    body = json.dumps(speech).encode()
    answer = raw_http(gateway, b"POST /v1/audio/speech HTTP/1.0\r\nAuthorization: Bearer t0k\r\nContent-Type: "
                               b"application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    head, pcm = answer.split(b"\r\n\r\n", 1)
    assert b"\r\nConnection: close" in head and b"Transfer-Encoding" not in head and pcm == answers[1][3]
    answer = raw_http(gateway, b"POST /v1/audio/speech HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer t0k\r\n"  # pipelined
                               b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
                      + b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    first, rest = answer.split(b"\r\n0\r\n\r\n", 1)  # the stream's last chunk, then the next answer
    assert dechunk(first.split(b"\r\n\r\n", 1)[1] + b"\r\n0\r\n\r\n") == pcm
    assert rest.startswith(b"HTTP/1.1 200 OK") and rest.endswith(b'{"status": "SERVING"}')


def test_a_client_expecting_100_continue_is_answered_at_once(gateway):
    """curl sends "Expect: 100-continue" with uploads over 1 MB and waits up to 1 s for it: the
    body's first read answers it."""
    import socket

    body = json.dumps({"model": "tts", "input": "Hi.", "response_format": "pcm", "seed": 3}).encode()
    with socket.create_connection(("127.0.0.1", gateway.server.http_port), timeout=30) as conn:
        conn.sendall(b"POST /v1/audio/speech HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer t0k\r\nContent-Type: "
                     b"application/json\r\nExpect: 100-continue\r\nConnection: close\r\nContent-Length: %d\r\n\r\n"
                     % len(body))
        conn.settimeout(0.5)  # curl's own wait is 1 s
        assert conn.recv(64) == b"HTTP/1.1 100 Continue\r\n\r\n"
        conn.settimeout(30)
        conn.sendall(body)
        answer = b"".join(iter(lambda: conn.recv(65536), b""))
    assert answer.startswith(b"HTTP/1.1 200 OK") and dechunk(answer.split(b"\r\n\r\n", 1)[1]) == http(
        gateway, "/v1/audio/speech", json.loads(body))[2]


def test_the_openai_sdk_speaks_to_the_gateway(gateway):
    """The real OpenAI client, pointed at the server: what its users write works unchanged."""
    import openai
    client = openai.OpenAI(base_url=f"http://127.0.0.1:{gateway.server.http_port}/v1", api_key="t0k", max_retries=0)
    answer = client.audio.speech.create(model="tts", voice="narrator", input="Hello there.", response_format="wav",
                                        extra_body={"seed": 3, "temperature": 0.9})
    assert audio.to_pcm16(audio.decode_bytes(answer.content, SR)) == http(gateway, "/v1/audio/speech", {
        "model": "tts", "input": "Hello there.", "voice": "narrator", "seed": 3, "temperature": 0.9,
        "response_format": "pcm"})[2]
    with pytest.raises(openai.NotFoundError, match="voice 'alloy' not found"):
        client.audio.speech.create(model="tts", voice="alloy", input="Hello there.")
    assert [m.id for m in client.models.list()] == ["tts"]


def test_usage_counts_a_text_its_respelling_grew(server):
    """The usage of a text the server's dictionary respells past one normalization's 2000
    characters: the tokens of every part, not an error at the end of an answer."""
    registry = server.server.tts_registry
    tokens = len(registry.default.synth.tokenizer.encode("a quiet bridge " * 120))
    usage = registry.usage("tts", "zyzzyva " * 240, 2.0)  # 1920 characters, 3360 respelled
    assert abs(usage["input_tokens"] - 2 * tokens) <= 4  # the parts' cuts may join other tokens
    assert (usage["output_tokens"], usage["total_tokens"]) == (200, usage["input_tokens"] + 200)


def test_an_answer_past_grpcs_4_mb_default_comes_whole(gateway):
    """One answer past gRPC's 4 MB default (100 s of audio: a long text's Synthesize, here a
    Decode, which is quicker to make): the gateway's channel (mp3/opus/flac/wav are made from
    one answer) and both Python clients take what the server sends (--max-message-mb)."""
    from codec import container
    from serve.async_client import AsyncSpeechClient
    from serve.client import SpeechClient

    with SpeechClient(gateway.target, token="t0k") as client:
        short = client.encode(np.sin(np.arange(2 * SR) / SR * 2 * np.pi * 220).astype(np.float32), SR)
        info = client.model_info(short.model)
        frames = wire.codes_from_proto(short)[0]
        codes = wire.codes_to_proto(np.tile(frames, (1, 50)), short.model, short.weights_hash, 0, short.codes_hash)
        wav, _ = client.decode(codes)
    assert len(wav) * 4 > 4 << 20  # float32
    status, _, data = http(gateway, "/v1/audio/decode?format=pcm", container.dumps(*wire.codes_file(codes, info)),
                           content_type="application/octet-stream")
    assert status == 200 and len(data) > 4 << 20 and data == audio.to_pcm16(wav)

    async def main() -> np.ndarray:
        async with AsyncSpeechClient(gateway.target, token="t0k") as client:
            return (await client.decode(codes))[0]
    np.testing.assert_array_equal(asyncio.run(main()), wav)


def sse_events(data: bytes) -> list[dict]:
    """The JSON of each server-sent event in ``data``."""
    return [json.loads(event[len("data: "):]) for event in data.decode().split("\n\n") if event.startswith("data: ")]


def test_http_speech_as_openais_server_sent_events(gateway):
    """stream_format "sse": the same audio as base64 deltas (a stream in several, a file in one),
    then done with the usage: the text tokens read and the codec frames written."""
    import openai
    said = dict(model="tts", input="Hello there.", voice="narrator", seed=3, temperature=0.9)
    pcm = http(gateway, "/v1/audio/speech", {**said, "response_format": "pcm"})[2]
    status, headers, body = http(gateway, "/v1/audio/speech", {**said, "response_format": "pcm", "stream_format": "sse"})
    events = sse_events(body)
    assert (status, headers["Content-Type"]) == (200, "text/event-stream") and len(events) > 2
    assert [e["type"] for e in events] == ["speech.audio.delta"] * (len(events) - 1) + ["speech.audio.done"]
    assert b"".join(base64.b64decode(e["audio"]) for e in events[:-1]) == pcm
    synth = gateway.server.tts_registry.default.synth
    read, wrote = len(synth.tokenizer.encode("Hello there.")), round(len(pcm) / 2 / SR * synth.model.cfg.codec_frame_rate)
    assert events[-1]["usage"] == {"input_tokens": read, "output_tokens": wrote, "total_tokens": read + wrote}
    flac = http(gateway, "/v1/audio/speech", {**said, "response_format": "flac"})[2]
    events = sse_events(http(gateway, "/v1/audio/speech", {**said, "response_format": "flac", "stream_format": "sse"})[2])
    assert [base64.b64decode(e["audio"]) for e in events[:-1]] == [flac] and events[-1]["usage"]["output_tokens"] == wrote
    mp3 = http(gateway, "/v1/audio/speech", {**said, "response_format": "mp3"})[2]
    events = sse_events(http(gateway, "/v1/audio/speech", {**said, "response_format": "mp3", "stream_format": "sse"})[2])
    assert len(events) > 3 and b"".join(base64.b64decode(e["audio"]) for e in events[:-1]) == mp3
    assert events[-1]["usage"]["output_tokens"] == wrote
    wav = sse_events(http(gateway, "/v1/audio/speech", {**said, "response_format": "wav", "stream_format": "sse"})[2])
    assert b"".join(base64.b64decode(e["audio"]) for e in wav[:-1])[44:] == pcm and wav[-1]["usage"]["output_tokens"] == wrote
    client = openai.OpenAI(base_url=f"http://127.0.0.1:{gateway.server.http_port}/v1", api_key="t0k", max_retries=0)
    with client.audio.speech.with_streaming_response.create(
            model="tts", voice="narrator", input="Hello there.", response_format="pcm", stream_format="sse",
            extra_body={"seed": 3, "temperature": 0.9}) as answer:
        lines = [line for line in answer.iter_lines() if line.startswith("data: ")]
    assert b"".join(base64.b64decode(json.loads(line[6:]).get("audio", "")) for line in lines) == pcm


def test_http_server_sent_events_carry_each_sentences_words(gateway):
    """word_times with stream_format "sse": each sentence's words as a speech.words event after
    the audio they came with (the first before the audio ends), as SynthesizeStream sends them,
    and SSML marks' times as speech.marks events; a file format's come with its one delta, as
    Synthesize's."""
    text = '<speak>Hello there. <mark name="m"/>The old mill by the river.</speak>'
    said = dict(model="tts", input=text, voice="narrator", seed=3, temperature=0.9, stream_format="sse", word_times=True)
    with grpc.insecure_channel(gateway.target) as channel:
        stub, token = pb_grpc.TextToSpeechStub(channel), [("authorization", "Bearer t0k")]
        answers = list(stub.SynthesizeStream(request(text=text, voice_name="narrator", word_times=True,
                                                     encoding=pb.LINEAR_PCM), metadata=token))
        streamed = [(w.word, w.sentence, round(w.start_s, 3)) for a in answers for w in a.words]
        marked = [{"mark": t.mark_name, "time_s": round(t.time_s, 3)} for a in answers for t in a.timepoints]
        whole = stub.Synthesize(request(text=text, voice_name="narrator", word_times=True), metadata=token)
    assert [m["mark"] for m in marked] == ["m"]
    events = sse_events(http(gateway, "/v1/audio/speech", {**said, "response_format": "pcm"})[2])
    kinds = [e["type"] for e in events]
    assert [(w["word"], w["sentence"], w["start_s"]) for e in events if e["type"] == "speech.words"
            for w in e["words"]] == streamed
    assert [m for e in events if e["type"] == "speech.marks" for m in e["marks"]] == marked
    assert kinds.index("speech.words") < len(kinds) - 1 - kinds[::-1].index("speech.audio.delta") and kinds[-1] == "speech.audio.done"
    events = sse_events(http(gateway, "/v1/audio/speech", {**said, "response_format": "flac"})[2])
    assert [e["type"] for e in events] == ["speech.audio.delta", "speech.words", "speech.marks", "speech.audio.done"]
    assert [(w["word"], w["sentence"], w["start_s"]) for w in events[1]["words"]] == [
        (w.word, w.sentence, round(w.start_s, 3)) for w in whole.words]
    assert events[2]["marks"] == [{"mark": t.mark_name, "time_s": round(t.time_s, 3)} for t in whole.timepoints]
    alone = {**said, "word_times": False, "enable_time_pointing": ["SSML_MARK"], "response_format": "pcm"}
    events = sse_events(http(gateway, "/v1/audio/speech", alone)[2])  # the marks without the words
    assert "speech.words" not in [e["type"] for e in events]
    assert [m for e in events if e["type"] == "speech.marks" for m in e["marks"]] == marked


def test_an_http_client_that_leaves_cancels_its_synthesis(gateway):
    """A pcm stream whose client hangs up stops being made: its gRPC call ends CANCELLED."""
    import socket

    body = json.dumps({"model": "tts", "input": "Hello there. " * 40, "response_format": "pcm"}).encode()
    metrics = gateway.server.metrics.registry.get_sample_value
    labels = {"grpc_type": "server_stream", "grpc_service": "speech.v1.TextToSpeech", "grpc_method": "SynthesizeStream",
              "grpc_code": "CANCELLED"}
    before = metrics("grpc_server_handled_total", labels) or 0
    with socket.create_connection(("127.0.0.1", gateway.server.http_port)) as conn:
        conn.sendall(b"POST /v1/audio/speech HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer t0k\r\nContent-Type: "
                     b"application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        assert conn.recv(4096).startswith(b"HTTP/1.1 200 OK")
    deadline = time.monotonic() + 30
    while (metrics("grpc_server_handled_total", labels) or 0) == before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert metrics("grpc_server_handled_total", labels) == before + 1


def text_stream(stub, slices, config=None, **kw):
    """SynthesizeTextStream of ``slices`` (str, or (str, flush)); the answers as float32 arrays."""
    def messages():
        yield pb.SynthesizeTextStreamRequest(config=config or request(text="", **kw))
        for item in slices:
            text, flush = item if isinstance(item, tuple) else (item, False)
            yield pb.SynthesizeTextStreamRequest(text=text, flush=flush)
    return [np.frombuffer(r.audio, "<f4") for r in stub.SynthesizeTextStream(messages())]


def test_text_arriving_in_slices_sounds_as_one_synthesize(stub):
    """A model's answer token by token: each sentence read once the next begins, the whole as
    Synthesize reads it (the server's dictionary and sentence context included)."""
    text = "Hello there. Zyzzyva by the river. The old mill, 2 birds."
    whole = np.frombuffer(stub.Synthesize(request(text=text)).audio, "<f4")
    rng = np.random.default_rng(0)
    cuts = np.sort(rng.choice(np.arange(1, len(text)), 12, replace=False))
    slices = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)])]
    np.testing.assert_allclose(np.concatenate(text_stream(stub, slices)), whole, atol=1e-5)
    np.testing.assert_allclose(np.concatenate(text_stream(stub, [], request(text=text))), whole, atol=1e-5)


def test_text_stream_speaks_before_the_text_is_done(stub):
    """The first sentence's audio comes while the client still holds the rest back; a flush
    reads a sentence that has no end yet."""
    import threading

    heard = threading.Event()

    def messages():
        yield pb.SynthesizeTextStreamRequest(config=request(text=""))
        yield pb.SynthesizeTextStreamRequest(text="Hello there. A qu")
        assert heard.wait(60), "no audio before the rest of the text"
        yield pb.SynthesizeTextStreamRequest(text="iet bridge", flush=True)

    answers = []
    for answer in stub.SynthesizeTextStream(messages()):
        answers.append(np.frombuffer(answer.audio, "<f4"))
        heard.set()
    whole = np.frombuffer(stub.Synthesize(request(text="Hello there. A quiet bridge")).audio, "<f4")
    np.testing.assert_allclose(np.concatenate(answers), whole, atol=1e-5)


def test_a_text_stream_tells_each_sentences_words_as_it_goes(stub):
    """word_times on a text stream: a sentence's words come with the audio after it (once the
    next sentence has played past the margin), not all at the end; the words and times are
    SynthesizeStream's for the whole text."""
    text = "Hello there. The old mill by the river."
    streamed = list(stub.SynthesizeStream(request(text=text, word_times=True)))
    config = pb.SynthesizeTextStreamRequest(config=request(text="", word_times=True))
    answers = list(stub.SynthesizeTextStream(iter([config] + [pb.SynthesizeTextStreamRequest(text=piece) for piece in
                                                              ("Hello th", "ere. The old", " mill by the river.")])))
    words, whole = [w for answer in answers for w in answer.words], [w for answer in streamed for w in answer.words]
    assert [(w.word, w.sentence) for w in words] == [(w.word, w.sentence) for w in whole]
    # each word's place in the text as sent, all its messages one after another
    assert [(w.text_offset, w.text_length) for w in words] == [(w.text_offset, w.text_length) for w in whole]
    assert [text[w.text_offset : w.text_offset + w.text_length] for w in words] == [w.word.strip(".") for w in words]
    assert [t for w in words for t in (w.start_s, w.end_s)] == pytest.approx(
        [t for w in whole for t in (w.start_s, w.end_s)], abs=1e-3)
    first = next(i for i, answer in enumerate(answers) if answer.words)
    assert {w.sentence for w in answers[first].words} == {0} and first < len(answers) - 1  # sentence 0's, mid-stream
    np.testing.assert_allclose(np.concatenate([np.frombuffer(a.audio, "<f4") for a in answers]),
                               np.concatenate([np.frombuffer(a.audio, "<f4") for a in streamed]), atol=1e-5)


LONG_ANSWER = "Hello there. The old mill by the river is quiet. " * 3  # the interrupt comes with its first audio


def test_an_interrupted_text_stream_goes_on_with_the_next_text(stub):
    """Barge-in: an interrupt cuts off what is being said (the audio before the mark is the long
    answer's own, cut short) and the next text is read as a new stream reads it: the same audio,
    words numbered and timed from 0."""
    import threading

    heard = threading.Event()

    def messages():
        yield pb.SynthesizeTextStreamRequest(config=request(text="", word_times=True))
        yield pb.SynthesizeTextStreamRequest(text=LONG_ANSWER)
        assert heard.wait(60), "no audio before the interrupt"
        yield pb.SynthesizeTextStreamRequest(interrupt=True, text="A quiet bridge. The end.")

    answers = []
    for answer in stub.SynthesizeTextStream(messages()):
        answers.append(answer)
        heard.set()
    marks = [i for i, answer in enumerate(answers) if answer.interrupted]
    assert len(marks) == 1 and not answers[marks[0]].audio and answers[marks[0]].sample_rate_hz == SR
    before, after = answers[:marks[0]], answers[marks[0] + 1:]
    fresh = list(stub.SynthesizeTextStream(iter([pb.SynthesizeTextStreamRequest(config=request(
        text="A quiet bridge. The end.", word_times=True))])))
    np.testing.assert_allclose(np.concatenate([np.frombuffer(a.audio, "<f4") for a in after]),
                               np.concatenate([np.frombuffer(a.audio, "<f4") for a in fresh]), atol=1e-5)
    assert [(w.word, w.sentence, round(w.start_s, 3), w.text_offset) for a in after for w in a.words] == [
        (w.word, w.sentence, round(w.start_s, 3), w.text_offset) for a in fresh for w in a.words]  # places from 0 too
    said = np.concatenate([np.frombuffer(a.audio, "<f4") for a in before])
    whole = np.concatenate(text_stream(stub, [LONG_ANSWER]))
    assert 0 < len(said) < len(whole) / 2  # cut off early
    np.testing.assert_allclose(said, whole[:len(said)], atol=1e-5)


@pytest.mark.parametrize("encoding, rate", [(pb.FLOAT32_PCM, 0), (pb.MULAW, 8000)])
def test_each_flushed_turn_is_marked_once_all_said(stub, encoding, rate):
    """A flush ends a turn: a message with ``flushed`` follows once its audio (the resampler's
    last samples included) and its words are all out, so a voice agent knows it has finished
    speaking; the next turn's audio then follows, on the same stream."""
    import threading

    said = threading.Event()
    config = dict(text="", word_times=True, encoding=encoding, sample_rate_hz=rate)

    def messages():
        yield pb.SynthesizeTextStreamRequest(config=request(**config))
        yield pb.SynthesizeTextStreamRequest(text="Hello there. The old mill", flush=True)
        assert said.wait(60), "no flushed mark"
        yield pb.SynthesizeTextStreamRequest(text="A quiet bridge.", flush=True)

    answers = []
    for answer in stub.SynthesizeTextStream(messages()):
        answers.append(answer)
        if answer.flushed:
            said.set()
    marks = [i for i, a in enumerate(answers) if a.flushed]
    assert len(marks) == 2 and marks[1] == len(answers) - 1
    first = list(stub.SynthesizeTextStream(iter([pb.SynthesizeTextStreamRequest(config=request(
        **{**config, "text": "Hello there. The old mill"}))])))
    turn = answers[:marks[0] + 1]
    assert b"".join(a.audio for a in turn) == b"".join(a.audio for a in first)
    assert [(w.word, w.sentence) for a in turn for w in a.words] == [(w.word, w.sentence) for a in first for w in a.words]
    assert [w.word for w in answers[marks[0]].words] == ["The", "old", "mill"]  # the turn's last sentence, at its mark
    assert [w.word for a in answers[marks[0] + 1:] for w in a.words] == ["A", "quiet", "bridge."]
    sizes = [len(next(a.audio for a in part if a.audio)) for part in (answers, answers[marks[0] + 1:])]
    assert sizes[1] <= 2 * sizes[0]  # the next turn's first chunk is small, as the stream's first (25 frames before)


def test_an_interrupt_is_read_at_once_behind_a_long_queue(stub):
    """Forty sentences (a piece each, as a language model's tokens bring them) wait to be read
    when the interrupt comes: it is read at once, not after the queue, so the speech stops
    within the first sentences."""
    import threading

    heard = threading.Event()

    def messages():
        yield pb.SynthesizeTextStreamRequest(config=request(text=""))
        for _ in range(40):
            yield pb.SynthesizeTextStreamRequest(text="Hello there. ")
        assert heard.wait(60), "no audio before the interrupt"
        yield pb.SynthesizeTextStreamRequest(interrupt=True)

    answers = []
    for answer in stub.SynthesizeTextStream(messages()):
        answers.append(answer)
        heard.set()
    mark = [a.interrupted for a in answers].index(True)
    said = sum(len(a.audio) for a in answers[:mark]) // 4
    two = len(np.concatenate(text_stream(stub, ["Hello there. Hello there."])))
    assert 0 < said < 4 * two, f"{said / two * 2:.1f} sentences said before the interrupt was read"


def test_an_interrupt_with_nothing_said_is_answered_too(stub):
    """Every interrupt gets its mark, said over or not (a client counts on it), in order."""
    answers = list(stub.SynthesizeTextStream(iter([
        pb.SynthesizeTextStreamRequest(config=request(text="")), pb.SynthesizeTextStreamRequest(interrupt=True),
        pb.SynthesizeTextStreamRequest(interrupt=True, text="Hello there.")])))
    assert [a.interrupted for a in answers[:2]] == [True, True] and not any(a.interrupted for a in answers[2:])
    np.testing.assert_allclose(np.concatenate([np.frombuffer(a.audio, "<f4") for a in answers[2:]]),
                               np.concatenate(text_stream(stub, ["Hello there."])), atol=1e-5)


def test_the_clients_drop_what_an_interrupt_cut_off(server, stub):
    """SpeechClient and AsyncSpeechClient: INTERRUPT among the texts; what comes back is the long
    answer cut short, then the next text as a stream of its own, none of the old after the cut.
    FLUSH reads the text so far as a turn of its own."""
    import asyncio
    import threading

    from serve.async_client import AsyncSpeechClient
    from serve.client import SpeechClient
    from serve.turns import FLUSH, INTERRUPT

    def check(chunks: list, whole: np.ndarray, fresh: np.ndarray) -> None:
        got = np.concatenate(chunks)
        cut = len(got) - len(fresh)
        assert 0 < cut < len(whole) / 2
        np.testing.assert_allclose(got[:cut], whole[:cut], atol=1e-5)
        np.testing.assert_allclose(got[cut:], fresh, atol=1e-5)

    with SpeechClient(server.target) as client:
        turns, marks = [], []  # flushed() is called once the turn's audio is all out: after its last chunk
        for chunk, _ in client.synthesize_text_stream(["Hello there. A quiet bridge", FLUSH, "The end."], seed=3,
                                                      temperature=0.9, flushed=lambda: marks.append(len(turns))):
            turns.append(chunk)
        np.testing.assert_allclose(np.concatenate(turns), np.concatenate(text_stream(
            stub, [("Hello there. A quiet bridge", True), "The end."])), atol=1e-5)
        first = np.concatenate([c for c, _ in client.synthesize_text_stream(["Hello there. A quiet bridge"], seed=3,
                                                                            temperature=0.9)])
        assert len(marks) == 1 and len(np.concatenate(turns[: marks[0]])) == len(first)
        whole = np.concatenate([c for c, _ in client.synthesize_text_stream([LONG_ANSWER], seed=3, temperature=0.9)])
        fresh = np.concatenate([c for c, _ in client.synthesize_text_stream(["A quiet bridge."], seed=3, temperature=0.9)])
        heard = threading.Event()

        def texts():
            yield LONG_ANSWER
            assert heard.wait(60)
            yield INTERRUPT
            yield "A quiet bridge."

        chunks = []
        for chunk, _ in client.synthesize_text_stream(texts(), seed=3, temperature=0.9):
            chunks.append(chunk)
            heard.set()
        check(chunks, whole, fresh)

    async def main() -> list:
        heard = asyncio.Event()

        async def texts():
            yield LONG_ANSWER
            await asyncio.wait_for(heard.wait(), 60)
            yield INTERRUPT
            yield "A quiet bridge."

        async with AsyncSpeechClient(server.target) as client:
            got = []
            async for chunk, _ in client.synthesize_text_stream(texts(), seed=3, temperature=0.9):
                got.append(chunk)
                heard.set()
            said, flushed_at = [], []
            async for chunk, _ in client.synthesize_text_stream(["Hello there. A quiet bridge", FLUSH, "The end."], seed=3,
                                                                temperature=0.9, flushed=lambda: flushed_at.append(len(said))):
                said.append(chunk)
            return got, said, flushed_at

    got, said, flushed_at = asyncio.run(main())
    check(got, whole, fresh)
    assert flushed_at == marks and np.array_equal(np.concatenate(said), np.concatenate(turns))


@pytest.mark.parametrize("first, later, needle", [
    (pb.SynthesizeTextStreamRequest(text="Hi."), [], "the first SynthesizeTextStream message must carry a config"),
    (None, [pb.SynthesizeTextStreamRequest(config=request())], "the config may only come first"),
    (None, [pb.SynthesizeTextStreamRequest(text="<speak>Hi.</speak>")], "reads plain text"),
    (None, [pb.SynthesizeTextStreamRequest(text="* * *")], "the stream's text has nothing to say"),
    (pb.SynthesizeTextStreamRequest(config=request(text="", encoding=pb.WAV)), [], "whole files go by unary calls"),
])
def test_text_stream_refusals(stub, first, later, needle):
    first = first or pb.SynthesizeTextStreamRequest(config=request(text=""))
    with pytest.raises(grpc.RpcError) as info:
        list(stub.SynthesizeTextStream(iter([first, *later])))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and needle in info.value.details()


def test_a_text_stream_gone_quiet_is_closed_and_frees_its_slot(gateway):
    """--text-stream-idle 1: a client that sends nothing more is told DEADLINE_EXCEEDED."""
    def messages():
        yield pb.SynthesizeTextStreamRequest(config=request(text=""))
        yield pb.SynthesizeTextStreamRequest(text="Hello there. A qu")
        time.sleep(5)  # says nothing more, keeps the stream open

    with grpc.insecure_channel(gateway.target) as channel:
        stub = pb_grpc.TextToSpeechStub(channel)
        answers, began = [], time.monotonic()
        with pytest.raises(grpc.RpcError) as info:
            for answer in stub.SynthesizeTextStream(messages(), metadata=[("authorization", "Bearer t0k")]):
                answers.append(answer)
    assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED and "no text came for 1 s" in info.value.details()
    assert answers and time.monotonic() - began < 4.5  # the first sentence was said, then the stream closed
    assert gateway.server.codec_service.slots.active == 0


TEXT_SOCKET = "/v1/audio/speech/stream-input"


def over_socket(gateway, messages: list, headers: dict | None = None, origin: str | None = None,
                until_audio: list | None = None) -> tuple[list, int]:
    """What the gateway's text-stream WebSocket answers ``messages`` (dicts sent as JSON, str and
    bytes as they are), and how it closed; ``until_audio``: sent only once the first audio came."""
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    url = f"ws://127.0.0.1:{gateway.server.http_port}{TEXT_SOCKET}"
    headers = {"Authorization": "Bearer t0k"} if headers is None else headers
    got = []
    with connect(url, additional_headers=headers, origin=origin, open_timeout=30) as ws:
        for message in messages:
            ws.send(json.dumps(message) if isinstance(message, dict) else message)
        try:
            while True:
                got.append(ws.recv(timeout=60))
                if until_audio and isinstance(got[-1], bytes):
                    for message in until_audio:
                        ws.send(json.dumps(message))
                    until_audio = None
        except ConnectionClosed:
            pass
    return got, ws.close_code


def socket_events(got: list) -> list[dict]:
    return [json.loads(m) for m in got if isinstance(m, str)]


def test_text_over_a_websocket_is_the_grpc_text_stream(gateway):
    """The socket is SynthesizeTextStream: the same bytes for the same slices, framed by start
    and done (with the usage), in 16-bit PCM or G.711; a browser's token comes in the options."""
    text = "Hello there. The old mill, 2 birds."
    cuts = [0, 4, 9, 15, 22, 30, len(text)]
    slices = [text[a:b] for a, b in zip(cuts, cuts[1:])]
    synth = gateway.server.tts_registry.default.synth
    with grpc.insecure_channel(gateway.target) as channel:
        stub = pb_grpc.TextToSpeechStub(channel)
        pcm, mulaw = (b"".join(r.audio for r in stub.SynthesizeTextStream(iter(
            [pb.SynthesizeTextStreamRequest(config=request(text="", voice_name="narrator", encoding=encoding))]
            + [pb.SynthesizeTextStreamRequest(text=piece) for piece in slices]), metadata=[("authorization", "Bearer t0k")]))
            for encoding in (pb.LINEAR_PCM, pb.MULAW))
    metrics = gateway.server.metrics.registry.get_sample_value
    opened = metrics("speech_http_requests_total", {"path": TEXT_SOCKET, "code": "101"}) or 0
    options = {"model": "tts", "voice": "narrator", "seed": 3, "temperature": 0.9}
    got, code = over_socket(gateway, [options, *({"text": piece} for piece in slices), {"end": True}])
    events = socket_events(got)
    assert code == 1000 and events[0] == {"type": "start", "sample_rate": SR, "format": "pcm"}
    assert b"".join(m for m in got if isinstance(m, bytes)) == pcm and isinstance(got[1], bytes)
    read, wrote = len(synth.tokenizer.encode(text)), round(len(pcm) / 2 / SR * synth.model.cfg.codec_frame_rate)
    assert events[1:] == [{"type": "done", "usage": {"input_tokens": read, "output_tokens": wrote,
                                                      "total_tokens": read + wrote}}] and got[-1] == json.dumps(events[-1])
    got, code = over_socket(gateway, [{**options, "token": "t0k", "response_format": "mulaw", "text": text},
                                      {"end": True}], headers={}, origin="https://app.example")
    assert code == 1000 and b"".join(m for m in got if isinstance(m, bytes)) == mulaw
    assert metrics("speech_http_requests_total", {"path": TEXT_SOCKET, "code": "101"}) - opened == 2


def test_a_websocket_speaks_before_its_text_is_done(gateway):
    """The first sentence's audio comes while the rest is held back; a flush reads the rest."""
    options = {"model": "tts", "voice": "narrator", "seed": 3, "temperature": 0.9, "text": "Hello there. A qu"}
    got, code = over_socket(gateway, [options], until_audio=[{"text": "iet bridge", "flush": True}, {"end": True}])
    with grpc.insecure_channel(gateway.target) as channel:
        whole = pb_grpc.TextToSpeechStub(channel).SynthesizeStream(
            request(text="Hello there. A quiet bridge", voice_name="narrator", encoding=pb.LINEAR_PCM),
            metadata=[("authorization", "Bearer t0k")])
        whole = b"".join(r.audio for r in whole)
    assert code == 1000 and b"".join(m for m in got if isinstance(m, bytes)) == whole


def test_a_websocket_sends_each_sentences_words(gateway):
    """word_times: a sentence's words as a message of their own once found, before the audio ends."""
    slices = ("Hello th", "ere. The old", " mill by the river.")
    with grpc.insecure_channel(gateway.target) as channel:
        answers = pb_grpc.TextToSpeechStub(channel).SynthesizeTextStream(iter(
            [pb.SynthesizeTextStreamRequest(config=request(text="", word_times=True, encoding=pb.LINEAR_PCM))]
            + [pb.SynthesizeTextStreamRequest(text=piece) for piece in slices]), metadata=[("authorization", "Bearer t0k")])
        expected = [(w.word, w.sentence, round(w.start_s, 3)) for answer in answers for w in answer.words]
    got, code = over_socket(gateway, [{"seed": 3, "temperature": 0.9, "word_times": True},
                                      *({"text": piece} for piece in slices), {"end": True}])
    said = [m for m in got if isinstance(m, str) and json.loads(m)["type"] == "words"]
    assert [(w["word"], w["sentence"], w["start_s"]) for m in said for w in json.loads(m)["words"]] == expected
    assert code == 1000 and len(said) >= 2 and got.index(said[0]) < max(i for i, m in enumerate(got) if isinstance(m, bytes))


def test_a_websocket_turn_is_flushed(gateway):
    """{"flush": true} is answered {"type": "flushed"} after the turn's audio; the socket stays
    for the next turn."""
    options = {"model": "tts", "voice": "narrator", "seed": 3, "temperature": 0.9}
    got, code = over_socket(gateway, [{**options, "text": "Hello there."}, {"flush": True}],
                            until_audio=[{"text": "A quiet bridge.", "flush": True}, {"end": True}])
    events = [e["type"] for e in socket_events(got)]
    assert code == 1000 and events == ["start", "flushed", "flushed", "done"]
    mark = got.index(json.dumps({"type": "flushed"}))
    alone, _ = over_socket(gateway, [{**options, "text": "Hello there."}, {"end": True}])
    assert b"".join(m for m in got[:mark] if isinstance(m, bytes)) == b"".join(m for m in alone if isinstance(m, bytes))
    assert any(isinstance(m, bytes) for m in got[mark:])


def test_a_websocket_answer_can_be_interrupted(gateway):
    """{"interrupt": true}: the long answer stops (its audio so far is its own), "interrupted"
    comes, and the next text is said as a new socket says it; then done and a normal close."""
    options = {"model": "tts", "voice": "narrator", "seed": 3, "temperature": 0.9}
    got, code = over_socket(gateway, [{**options, "text": LONG_ANSWER}],
                            until_audio=[{"interrupt": True, "text": "A quiet bridge."}, {"end": True}])
    fresh, fresh_code = over_socket(gateway, [{**options, "text": "A quiet bridge."}, {"end": True}])
    whole, _ = over_socket(gateway, [{**options, "text": LONG_ANSWER}, {"end": True}])
    mark = got.index(json.dumps({"type": "interrupted"}))
    pcm = [b"".join(m for m in part if isinstance(m, bytes)) for part in (got[:mark], got[mark:], fresh, whole)]
    assert code == fresh_code == 1000 and pcm[1] == pcm[2] and socket_events(got)[-1]["type"] == "done"
    assert 0 < len(pcm[0]) < len(pcm[3]) / 2 and pcm[3].startswith(pcm[0])


@pytest.mark.parametrize("messages, headers, kind, needle, code", [
    ([{"model": "tts", "text": "Hi."}, {"end": True}], {}, "authentication_error", "missing or wrong bearer token", 1008),
    ([{"voice": "alloy"}], None, "not_found_error", "voice 'alloy' not found", 1008),
    ([{"emotion": "glad"}], None, "invalid_request_error", "unknown option emotion", 1008),
    ([{"response_format": "mp3"}], None, "invalid_request_error", "response_format must be one of pcm, mulaw, alaw", 1008),
    (["{not json"], None, "invalid_request_error", "a message is not JSON", 1008),
    ([b"\x00\x01"], None, "invalid_request_error", "send JSON text messages", 1008),
    ([{}, {"text": "Hi.", "speed": 2}], None, "invalid_request_error", "unknown field speed", 1008),
    ([{}, {"end": True}, {"text": "Hi."}], None, "invalid_request_error", "the text has ended", 1008),
    ([{}, {"text": "Hi."}, {"end": True}, {"interrupt": True}], None, "invalid_request_error", "ends with flush", 1008),
    ([{}, {"interrupt": "yes"}], None, "invalid_request_error", "interrupt true or false", 1008),
    ([{}, {"text": "* * *"}, {"end": True}], None, "invalid_request_error", "nothing to say", 1008),
    ([{}, {"text": "Hello there. A qu"}], None, "timeout_error", "no text came for 1 s", 1011),  # --text-stream-idle 1
])
def test_websocket_errors_are_an_error_message_then_a_close(gateway, messages, headers, kind, needle, code):
    got, closed = over_socket(gateway, messages, headers=headers)
    error = socket_events(got)[-1]
    assert error["type"] == "error" and error["error"]["type"] == kind and needle in error["error"]["message"]
    assert closed == code


def test_websocket_handshakes_refused(gateway):
    """A page from an origin not allowed (--http-cors), a wrong path, a plain GET: HTTP errors."""
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    base = f"ws://127.0.0.1:{gateway.server.http_port}"
    for url, origin, status, needle in ((base + TEXT_SOCKET, "https://evil.example", 403, "may not open this socket"),
                                        (base + "/v1/socket", None, 404, "no WebSocket at '/v1/socket'")):
        with pytest.raises(InvalidStatus) as info:
            connect(url, origin=origin, open_timeout=30)
        assert info.value.response.status_code == status and needle in json.loads(info.value.response.body)["error"]["message"]
    status, _, body = http(gateway, TEXT_SOCKET)
    assert status == 426 and "is a WebSocket" in json.loads(body)["error"]["message"]


def test_a_websocket_client_that_leaves_cancels_its_synthesis(gateway):
    from websockets.sync.client import connect

    metrics = gateway.server.metrics.registry.get_sample_value
    labels = {"grpc_type": "bidi_stream", "grpc_service": "speech.v1.TextToSpeech", "grpc_method": "SynthesizeTextStream",
              "grpc_code": "CANCELLED"}
    before = metrics("grpc_server_handled_total", labels) or 0
    with connect(f"ws://127.0.0.1:{gateway.server.http_port}{TEXT_SOCKET}", additional_headers={"Authorization": "Bearer t0k"},
                 open_timeout=30) as ws:
        ws.send(json.dumps({"model": "tts", "text": "Hello there. " * 40, "seed": 3}))
        ws.send(json.dumps({"end": True}))
        while not isinstance(ws.recv(timeout=60), bytes):
            pass
    deadline = time.monotonic() + 30
    while (metrics("grpc_server_handled_total", labels) or 0) == before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert metrics("grpc_server_handled_total", labels) == before + 1


def test_a_server_stopping_mid_answer_ends_the_events_with_an_error(server):
    """stream_format "sse": once events have gone out, a failure (here the server stopping, its
    grace over) is an error event, not a silent end; the raw pcm stream's chunked body never
    ends, so the client knows it is cut short (HTTP/1.0's close looked like a whole answer)."""
    import threading
    from http.client import IncompleteRead
    from urllib.request import Request, urlopen

    cfg = server.server.cfg
    running = RunningServer(ServerConfig(port=0, codec=cfg.codec, tts=cfg.tts, http_port=0))
    body = {"model": "tts", "input": "Hello there. " * 150, "response_format": "pcm"}
    req, raw = (Request(f"http://127.0.0.1:{running.server.http_port}/v1/audio/speech", data=json.dumps(b).encode(),
                        headers={"Content-Type": "application/json"}) for b in ({**body, "stream_format": "sse"}, body))
    stopping = threading.Thread(target=running.stop)
    with urlopen(req, timeout=60) as resp, urlopen(raw, timeout=60) as pcm:
        first = json.loads(resp.readline().decode()[len("data: "):])
        assert pcm.headers["Transfer-Encoding"] == "chunked" and len(pcm.read(4000)) == 4000
        stopping.start()  # grace 1 s: far less than 150 sentences take
        events = [first] + sse_events(resp.read())
        with pytest.raises(IncompleteRead):
            pcm.read()
    stopping.join(60)
    assert [e["type"] for e in events[:-1]] == ["speech.audio.delta"] * (len(events) - 1)
    assert events[-1]["type"] == "error" and events[-1]["error"]["code"] in ("CANCELLED", "UNAVAILABLE")


def test_http_speech_over_tls(server, tmp_path):
    """With --tls-cert the gateway is HTTPS (and its socket wss://), and still reaches gRPC over
    its private socket."""
    import ssl
    from urllib.request import Request, urlopen

    from websockets.sync.client import connect

    cert, key = self_signed(tmp_path)
    cfg = server.server.cfg
    running = RunningServer(ServerConfig(port=0, codec=cfg.codec, tts=cfg.tts, http_port=0, tls_cert=str(cert),
                                         tls_key=str(key)))
    try:
        body = json.dumps({"model": "tts", "input": "Hello there.", "response_format": "pcm", "seed": 3}).encode()
        req = Request(f"https://localhost:{running.server.http_port}/v1/audio/speech", data=body,
                      headers={"Content-Type": "application/json"})
        with urlopen(req, context=ssl.create_default_context(cafile=str(cert)), timeout=60) as resp:
            pcm = resp.read()
            assert resp.status == 200 and len(pcm) > 0
        with connect(f"wss://localhost:{running.server.http_port}{TEXT_SOCKET}", open_timeout=30,
                     ssl=ssl.create_default_context(cafile=str(cert))) as ws:
            ws.send(json.dumps({"model": "tts", "text": "Hello there.", "seed": 3}))
            ws.send(json.dumps({"end": True}))
            assert b"".join(m for m in ws if isinstance(m, bytes)) == pcm and ws.close_code == 1000
        with pytest.raises(OSError):  # plaintext gets no answer
            urlopen(f"http://localhost:{running.server.http_port}/healthz", timeout=10)
    finally:
        running.stop()


def test_a_text_stream_is_not_idle_while_its_text_is_said(gateway):
    """The idle clock (1 s here) runs only while nothing is being said: text that takes longer
    than that to read is all read, then the quiet stream is closed."""
    text = "Hello there, a quiet bridge, " * 24 + "hello"  # one piece (no sentence end): the queue stays empty

    def messages():
        yield pb.SynthesizeTextStreamRequest(config=request(text=""))
        yield pb.SynthesizeTextStreamRequest(text=text, flush=True)
        time.sleep(30)  # waits for the speech, says nothing more

    with grpc.insecure_channel(gateway.target) as channel:
        stub, token = pb_grpc.TextToSpeechStub(channel), [("authorization", "Bearer t0k")]
        whole = np.frombuffer(stub.Synthesize(request(text=text), metadata=token).audio, "<f4")
        answers, began = [], time.monotonic()
        with pytest.raises(grpc.RpcError) as info:
            for answer in stub.SynthesizeTextStream(messages(), metadata=token):
                answers.append(np.frombuffer(answer.audio, "<f4"))
                last = time.monotonic()
        closed = time.monotonic()
    assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    np.testing.assert_allclose(np.concatenate(answers), whole, atol=1e-5)
    assert last - began > 1.5, f"the text was said in {last - began:.1f} s: too fast to show the clock waits"
    assert 0.8 < closed - last < 3, f"closed {closed - last:.2f} s after the speech: the clock ran while it was said"


def test_the_async_client_speaks_as_the_blocking_one(server, tmp_path):
    """AsyncSpeechClient on an event loop: the same answers, text streams from async generators,
    two at once on one channel, a voice of one's own kept and deleted."""
    import asyncio

    from serve.async_client import AsyncSpeechClient
    from serve.client import SpeechClient

    text = "Hello there. A quiet bridge."
    ref = tmp_path / "ref.wav"
    audio.save(ref, (0.1 * np.random.default_rng(2).standard_normal(SR // 2)).astype(np.float32), SR)
    with SpeechClient(server.target) as blocking:
        whole, rate = blocking.synthesize(text, seed=3, temperature=0.9)
        like_ref, _ = blocking.synthesize(text, voice_audio=ref, voice_text="hello there", seed=3, temperature=0.9)
        codes = blocking.encode(whole, rate)
        decoded, _ = blocking.decode(codes)

    async def tokens(seed: int):
        for n, token in enumerate(["Hello th", "ere. A qu", "iet bridge."]):
            await asyncio.sleep(0.01 * ((seed + n) % 3))
            yield token

    async def main():
        async with AsyncSpeechClient(server.target) as client:
            assert await client.voices() == ["narrator"]
            wav, got_rate = await client.synthesize(text, seed=3, temperature=0.9)
            streamed = [c async for c, _ in client.synthesize_stream(text, seed=3, temperature=0.9)]

            async def said(seed: int) -> np.ndarray:
                return np.concatenate([c async for c, _ in client.synthesize_text_stream(tokens(seed), seed=3,
                                                                                         temperature=0.9)])
            together = await asyncio.gather(said(0), said(1))
            words: list = []
            _ = [c async for c, _ in client.synthesize_text_stream(tokens(2), words=words, seed=3, temperature=0.9)]
            marked, marks = [], []  # a stream's word times and SSML marks
            _ = [c async for c, _ in client.synthesize_stream('<speak>Hello <mark name="m"/>there.</speak>', words=marked,
                                                              timepoints=marks)]
            assert [w.word for w in marked] == ["Hello", "there."] and [(t.mark_name, t.time_s) for t in marks] == [
                ("m", marked[1].start_s)]
            again, _ = await client.decode(await client.encode(whole, rate))
            assert (await client.create_voice("async", ref, "hello there")).custom
            voiced, _ = await client.synthesize(text, voice="async", seed=3, temperature=0.9)
            await client.delete_voice("async")
            np.testing.assert_array_equal(voiced, like_ref)
            return wav, got_rate, streamed, together, again, words

    wav, got_rate, streamed, together, again, words = asyncio.run(main())
    assert [w.word for w in words] == ["Hello", "there.", "A", "quiet", "bridge."]
    np.testing.assert_array_equal(wav, whole)
    assert got_rate == rate and len(streamed) >= 2
    np.testing.assert_allclose(np.concatenate(streamed), whole, atol=1e-5)
    for one in together:
        np.testing.assert_allclose(one, whole, atol=1e-5)
    np.testing.assert_array_equal(again, decoded)


def test_http_cors_lets_the_allowed_pages_call_from_a_browser(gateway):
    """--http-cors https://app.example: its preflight is answered and its answers readable; other
    pages get neither."""
    status, headers, _ = http(gateway, "/v1/audio/speech", token=None, method="OPTIONS", Origin="https://app.example",
                              **{"Access-Control-Request-Method": "POST"})
    assert status == 204 and headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert "POST" in headers["Access-Control-Allow-Methods"] and "Authorization" in headers["Access-Control-Allow-Headers"]
    said = {"model": "tts", "input": "Hi.", "response_format": "pcm"}
    status, headers, _ = http(gateway, "/v1/audio/speech", said, Origin="https://app.example")
    assert status == 200 and headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert "X-Bitrate-Kbps" in headers["Access-Control-Expose-Headers"]  # a page may read the codec's headers
    status, headers, body = http(gateway, "/v1/audio/speech", token=None, method="OPTIONS", Origin="https://evil.example")
    assert status == 403 and "Access-Control-Allow-Origin" not in headers and b"--http-cors" in body
    status, headers, _ = http(gateway, "/v1/models", Origin="https://evil.example")
    assert status == 200 and "Access-Control-Allow-Origin" not in headers


CONSENT = "I agree that recordings of my voice may be used to make a synthetic voice on this server."


def espeak(directory: Path, voice: str, text: str) -> Path:
    import shutil
    import subprocess

    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed (make system-deps)")
    path = directory / f"{voice}-{len(text)}.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), text], check=True)
    return path


@pytest.fixture(scope="module")
def consenting(server, tmp_path_factory):
    """The same TTS, making voices only with their speaker's consent (--voice-consent), checked by
    the bundled verifier and speaker encoder (their ONNX graphs: make onnx)."""
    cfg = server.server.cfg
    running = RunningServer(ServerConfig(port=0, codec=cfg.codec, tts=cfg.tts, tts_verifier="asr_verifier", http_port=0,
                                         voice_consent=CONSENT, voice_dir=str(tmp_path_factory.mktemp("consented"))))
    yield running
    running.stop()


def test_a_voice_is_made_only_with_its_speakers_consent(consenting, tmp_path, capsys):
    """The consent recording must say the statement (the verifier hears it) in the recording's
    voice (the speaker encoder): else INVALID_ARGUMENT and nothing kept; what was checked is kept
    with the voice; a request's own recording is refused (it would be a voice made without it)."""
    from serve.client import SpeechClient

    recording = espeak(tmp_path, "en-us+f3", "The old captain walked home slowly after the long storm had passed.")
    agreed = espeak(tmp_path, "en-us+f3", CONSENT)
    other_words = espeak(tmp_path, "en-us+f3", "Seven green apples fell from the tree into the quiet river below.")
    other_voice = espeak(tmp_path, "en-us+f4", CONSENT)
    folder = Path(consenting.server.cfg.voice_dir) / "tts"
    with SpeechClient(consenting.target) as client:
        assert client.consent_statement() == CONSENT
        for consent, needle in ((None, "only with its speaker's consent: send consent, a recording of the speaker saying"),
                                (other_words, "the consent recording does not say the statement"),
                                (other_voice, "the consent recording is not in the recording's voice")):
            with pytest.raises(grpc.RpcError) as info:
                client.create_voice("mine", recording, "the old captain walked home", consent=consent)
            assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and needle in info.value.details()
            assert not folder.exists() or not any(folder.iterdir())
        made = client.create_voice("mine", recording, "the old captain walked home", consent=agreed)
        assert made.name == "mine"
        kept = json.loads((folder / "mine" / "voice.json").read_text())["consent"]
        assert kept["statement"] == CONSENT and kept["score"] <= 4.0 and kept["similarity"] >= 0.6
        np.testing.assert_allclose(audio.load(folder / "mine" / "consent.wav", SR), audio.load(agreed, SR), atol=1e-6)
        assert client.synthesize("Hello there.", voice="mine", seed=3)[0].size
        with pytest.raises(grpc.RpcError) as info:
            client.synthesize("Hello there.", voice_audio=recording, voice_text="the old captain walked home")
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "make it with CreateVoice" in info.value.details()
    from serve.client import main as speech_client  # the command line: the statement, a voice with its consent

    assert speech_client(["--server", consenting.target, "consent"]) == 0 and capsys.readouterr().out == CONSENT + "\n"
    assert speech_client(["--server", consenting.target, "add-voice", "theirs", str(recording), "--text", "the old captain",
                          "--consent", str(other_voice)]) == 1
    assert "the consent recording is not in the recording's voice" in capsys.readouterr().err
    assert speech_client(["--server", consenting.target, "add-voice", "theirs", str(recording), "--text", "the old captain",
                          "--consent", str(agreed)]) == 0 and (folder / "theirs" / "consent.wav").is_file()
    status, _, body = http(consenting, "/v1/audio/voices", token=None)
    assert status == 200 and json.loads(body)["consent_statement"] == CONSENT
    voice = {"name": "yours", "audio": base64.b64encode(recording.read_bytes()).decode(), "text": "the old captain"}
    status, _, body = http(consenting, "/v1/audio/voices", voice, token=None)
    assert status == 400 and "only with its speaker's consent" in json.loads(body)["error"]["message"]
    status, _, body = http(consenting, "/v1/audio/voices", {**voice, "consent": base64.b64encode(agreed.read_bytes()).decode()},
                           token=None)
    assert status == 201 and (folder / "yours" / "consent.wav").is_file()
