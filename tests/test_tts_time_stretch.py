"""Time stretching (WSOLA): it keeps pitch and loudness while changing length, streams chunk by
chunk to the same samples as offline, and real speech stretched either way still says its words
to the recognizer. The synthesizer uses it twice: a voice prompt is paced to the model's
training rate (``chars_per_second``, recorded by training), and output is played at a
requested ``speaking_rate``, streaming or not."""

from __future__ import annotations

import shutil
import subprocess
from typing import Callable

import numpy as np
import pytest

from codec import audio
from tts.config import ConfigError, TtsConfig
from tts.formants import FormantKeeper
from tts.sampling import SamplingConfig
from tts.text import normalize
from tts.time_stretch import Reshaper, TimeStretcher, check_reshape, time_stretch
from tts.verify import load_verifier
from tts.voice_pace import match_pace, pace_factor, speaking_rate

from tiny_tts import tiny_synthesizer

SR = 24000
PHRASE, OTHER = "The old captain walked home slowly.", "Seven green apples fell from the tree."


def peak_hz(wav: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(wav * np.hanning(len(wav))))
    return float(np.argmax(spectrum) * SR / len(wav))


@pytest.mark.parametrize("factor", [0.75, 1.3])
def test_wsola_changes_length_not_pitch_or_loudness(factor):
    t = np.arange(SR) / SR
    tone = (0.5 * np.sin(2 * np.pi * 187.0 * t) + 0.2 * np.sin(2 * np.pi * 561.0 * t)).astype(np.float32)
    out = time_stretch(tone, factor, SR)
    assert len(out) == round(len(tone) * factor)
    inner = out[SR // 20 : -SR // 20]  # away from the edges, which fade in from silence
    assert abs(peak_hz(inner) - 187.0) < 2.0
    assert inner.std() == pytest.approx(tone.std(), rel=0.03)
    # resampling to the same length would have moved the pitch by the factor: WSOLA must not
    assert abs(peak_hz(inner) - 187.0 / factor) > 20


def test_wsola_edge_cases():
    wav = np.random.default_rng(0).standard_normal(1000).astype(np.float32)
    np.testing.assert_array_equal(time_stretch(wav, 1.0, SR), wav)
    assert len(time_stretch(np.zeros(0, np.float32), 1.2, SR)) == 0
    assert len(time_stretch(wav[:10], 1.5, SR)) == 15  # shorter than one frame
    for bad in (0.3, 2.5):
        with pytest.raises(ValueError, match="outside"):
            time_stretch(wav, bad, SR)


@pytest.mark.parametrize("factor", [0.5, 0.8, 1.0, 1.3, 2.0])
def test_streaming_stretch_equals_offline(factor):
    rng = np.random.default_rng(7)
    wav = rng.standard_normal(SR).astype(np.float32) * np.hanning(SR).astype(np.float32)
    stretcher, parts, i = TimeStretcher(factor, SR), [], 0
    while i < len(wav):  # chunks from 1 sample to more than a frame
        n = int(rng.integers(1, 2000))
        parts.append(stretcher.push(wav[i : i + n]))
        i += n
    parts.append(stretcher.flush())
    np.testing.assert_array_equal(np.concatenate(parts), time_stretch(wav, factor, SR))
    with pytest.raises(RuntimeError, match="after flush"):
        stretcher.push(wav[:10])


def test_pace_factor_and_rate():
    assert speaking_rate("Hi there.", 0.5) == pytest.approx(len(normalize("Hi there.")) / 0.5)
    assert pace_factor(20.0, 16.0) == pytest.approx(1.25)  # faster than the model: played longer
    assert pace_factor(14.0, 16.0) == pytest.approx(0.875)
    assert pace_factor(40.0, 16.0) == pytest.approx(1.3) and pace_factor(4.0, 16.0) == pytest.approx(1 / 1.3)
    with pytest.raises(ValueError, match="needs audio"):
        speaking_rate("Hi.", 0.0)
    with pytest.raises(ConfigError, match="chars_per_second"):
        TtsConfig(chars_per_second=-1.0)


@pytest.fixture(scope="module")
def phrase(tmp_path_factory):
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed (make system-deps)")
    path = tmp_path_factory.mktemp("pace") / "phrase.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(path), PHRASE], check=True)
    return audio.load(path, SR)


@pytest.mark.parametrize("factor", [0.8, 1.25])
def test_stretched_speech_still_says_its_words(asr_dir, phrase, factor):
    verifier = load_verifier(str(asr_dir), backend="torch")
    out, applied = match_pace(phrase, SR, PHRASE, speaking_rate(PHRASE, len(phrase) / SR) / factor)
    assert applied == pytest.approx(factor) and len(out) == round(len(phrase) * factor)
    assert speaking_rate(PHRASE, len(out) / SR) == pytest.approx(speaking_rate(PHRASE, len(phrase) / SR) / factor, rel=1e-3)
    # the recognizer hears the same sentence, and tells it from another one as well as before
    own, other = verifier.score(out, SR, PHRASE), verifier.score(out, SR, OTHER)
    assert own < other
    assert own < verifier.score(phrase, SR, PHRASE) + 0.5


@pytest.fixture(scope="module")
def synth():
    return tiny_synthesizer([PHRASE, OTHER])


@pytest.mark.parametrize("factor", [0.8, 1.25])
def test_a_round_trip_keeps_speech_clean(phrase, factor):
    """Stretched and stretched back, speech keeps PESQ-WB >= 3: the waveform search keeps pitch
    periods in phase. Plain overlap-add (no search) loses more than a point; so did a 10 ms
    search with an unnormalized correlation (1.5-1.7 on held-out recordings)."""
    from codec.metrics import pesq_wb

    def round_trip(search_s: float) -> float:
        there = time_stretch(phrase, factor, SR, search_s=search_s)
        back = time_stretch(there, 1 / factor, SR, search_s=search_s)
        n = min(len(phrase), len(back))
        return pesq_wb(phrase[:n], back[:n], SR)

    wsola, ola = round_trip(0.005), round_trip(0.0)
    assert wsola >= 3.0 and wsola > ola + 1.0, (wsola, ola)


def test_the_synthesizer_paces_a_voice_prompt(synth, phrase):
    rate = speaking_rate(PHRASE, len(phrase) / SR)
    as_recorded = synth.voice_from_audio(phrase, PHRASE)
    slower = synth.voice_from_audio(phrase, PHRASE, pace=rate / 1.2)
    assert slower.transcript == PHRASE
    assert len(slower.codes) == pytest.approx(1.2 * len(as_recorded.codes), abs=2)
    same = synth.voice_from_audio(phrase, PHRASE, pace=rate)  # already at the pace: untouched
    assert np.array_equal(np.asarray(same.codes), np.asarray(as_recorded.codes))


def test_speaking_rate_streams_what_synthesize_returns(synth):
    sampling = SamplingConfig(seed=1, max_frames=40)
    normal = synth.synthesize(PHRASE, sampling=sampling)
    for rate in (0.8, 1.5):
        fast = synth.synthesize(PHRASE, sampling=sampling, speaking_rate=rate)
        assert len(fast) == round(len(normal) / rate)
        chunks = list(synth.stream(PHRASE, sampling=sampling, chunk_frames=3, speaking_rate=rate))
        assert len(chunks) > 2 and all(c.size for c in chunks)
        np.testing.assert_allclose(np.concatenate(chunks), fast, atol=1e-5)  # as decoding streams: float sums
    for bad in (0.3, 2.5):
        with pytest.raises(ValueError, match="speaking_rate must be 0.5 to 2"):
            synth.synthesize(PHRASE, sampling=sampling, speaking_rate=bad)


@pytest.mark.parametrize("semitones, rate", [(12.0, 1.0), (-12.0, 1.0), (4.0, 1.0), (3.0, 1.25), (-2.0, 0.8)])
def test_a_pitch_shift_moves_the_pitch_not_the_length(semitones, rate):
    """Reshaper: stretched by 2^(st/12)/rate, resampled by 2^(st/12): the tone moves by the shift,
    the length is the rate's, and chunks as they stream give what the whole does."""
    t = np.arange(2 * SR) / SR
    tone = (0.5 * np.sin(2 * np.pi * 187.0 * t) + 0.2 * np.sin(2 * np.pi * 561.0 * t)).astype(np.float32)
    whole = Reshaper(rate, semitones, SR)
    out = np.concatenate([whole.push(tone), whole.flush()])
    assert len(out) == round(len(tone) / rate)
    assert peak_hz(out[SR // 4 : SR // 4 + 8192]) == pytest.approx(187.0 * 2 ** (semitones / 12), abs=3.0)
    streaming = Reshaper(rate, semitones, SR)
    chunks = [streaming.push(tone[i : i + 999]) for i in range(0, len(tone), 999)] + [streaming.flush()]
    np.testing.assert_allclose(np.concatenate(chunks), out, atol=1e-6)


def harmonics_vowel(f0: float, seconds: float = 2.0) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]:
    """A steady vowel: harmonics of ``f0`` weighted by three resonances (700, 1200, 2600 Hz), and
    its envelope in dB (what a shift that keeps the formants must keep)."""
    def envelope_db(f: np.ndarray) -> np.ndarray:
        z = np.exp(2j * np.pi * np.asarray(f) / SR)
        gain = np.ones_like(z)
        for centre, width in ((700, 80), (1200, 90), (2600, 120)):
            r = np.exp(-np.pi * width / SR)
            pole = r * np.exp(2j * np.pi * centre / SR)
            gain = gain * (1 - r) / np.abs((1 - pole / z) * (1 - pole.conjugate() / z))
        return 20 * np.log10(np.abs(gain))

    t, harmonics = np.arange(int(seconds * SR)) / SR, np.arange(1, int(6000 / f0)) * f0
    phases = np.random.default_rng(0).uniform(0, 2 * np.pi, len(harmonics))
    wav = sum(10 ** (a / 20) * np.cos(2 * np.pi * h * t + p) for h, a, p in zip(harmonics, envelope_db(harmonics), phases))
    return (0.3 * wav / np.abs(wav).max()).astype(np.float32), envelope_db


def envelope_error_db(wav: np.ndarray, f0: float, envelope_db: Callable[[np.ndarray], np.ndarray]) -> float:
    """Mean |dB| between ``wav``'s harmonic amplitudes (below 4 kHz) and the envelope, loudness aside."""
    seg = wav[SR // 4 : -SR // 4]
    spectrum = np.abs(np.fft.rfft(seg * np.hanning(len(seg))))
    harmonics = np.arange(1, int(4000 / f0)) * f0
    amp = np.array([20 * np.log10(spectrum[int(round(h * len(seg) / SR)) - 3 : int(round(h * len(seg) / SR)) + 4].max())
                    for h in harmonics])
    off = amp - envelope_db(harmonics)
    return float(np.abs(off - off.mean()).mean())


@pytest.mark.parametrize("semitones", [7.0, -7.0, 12.0, -4.0])
def test_a_pitch_shift_keeps_the_formants(semitones):
    """The harmonics move by the shift while their amplitudes keep following the vowel's
    resonances where they were; resampling alone (a tape) moves the resonances too."""
    vowel, envelope_db = harmonics_vowel(120.0)
    f0 = 120.0 * 2 ** (semitones / 12)
    errors, peaks = {}, {}
    for keep in (True, False):
        reshaper = Reshaper(1.0, semitones, SR, keep_formants=keep)
        out = np.concatenate([reshaper.push(vowel), reshaper.flush()])
        assert len(out) == len(vowel)
        errors[keep], peaks[keep] = envelope_error_db(out, f0, envelope_db), peak_hz(out[SR // 4 : SR // 4 + 16384])
    assert errors[True] < 4.0 and errors[False] > 2.5 * errors[True], errors
    assert abs(peaks[True] - 700) <= f0  # the strongest harmonic: by the first resonance ...
    moved = 700 * 2 ** (semitones / 12)
    assert abs(peaks[False] - moved) < abs(peaks[False] - 700)  # ... which a tape moves with the pitch


def test_the_formant_keeper_streams_and_keeps_an_unshifted_signal():
    wav = np.random.default_rng(3).standard_normal(SR).astype(np.float32)
    same = FormantKeeper(1.0, SR)
    np.testing.assert_allclose(np.concatenate([same.push(wav), same.flush()]), wav, atol=1e-5)  # overlap-add is exact
    whole = FormantKeeper(1.4, SR)
    expected = np.concatenate([whole.push(wav), whole.flush()])
    assert len(expected) == len(wav)
    streaming = FormantKeeper(1.4, SR)
    chunks = [streaming.push(wav[i : i + 333]) for i in range(0, len(wav), 333)] + [streaming.flush()]
    assert 0 < len(wav) - sum(len(c) for c in chunks[:-1]) <= streaming.latency + streaming.hop  # a frame behind at most
    np.testing.assert_array_equal(np.concatenate(chunks), expected)
    empty = FormantKeeper(0.8, SR)
    assert len(empty.push(np.zeros(0, np.float32))) == len(empty.flush()) == 0


def test_pitch_and_rate_are_checked_together():
    check_reshape(2.0, 12.0)  # a stretch of 1: the most both ways
    for rate, semitones, needle in ((1.0, 13.0, "pitch must be -12 to 12"), (3.0, 0.0, "speaking_rate must be 0.5 to 2"),
                                    (2.0, -12.0, "would stretch the speech x0.25")):
        with pytest.raises(ValueError, match=needle):
            check_reshape(rate, semitones)


def test_pitch_streams_what_synthesize_returns(synth):
    """A request's pitch (Google's) is the speech as played at its rate, reshaped: streamed or
    whole, plain text or an SSML piece's <prosody pitch> (which adds to it)."""
    sampling = SamplingConfig(seed=1, max_frames=40)
    normal = synth.synthesize(PHRASE, sampling=sampling)
    shift = Reshaper(1.0, 3.0, SR)
    expected = np.concatenate([shift.push(normal), shift.flush()])
    np.testing.assert_allclose(synth.synthesize(PHRASE, sampling=sampling, pitch=3.0), expected, atol=1e-5)
    chunks = list(synth.stream(PHRASE, sampling=sampling, chunk_frames=3, pitch=3.0))
    np.testing.assert_allclose(np.concatenate(chunks), expected, atol=1e-5)
    ssml = np.concatenate(list(synth.stream(f'<speak><prosody pitch="+2st">{PHRASE}</prosody></speak>', sampling=sampling,
                                            pitch=1.0)))
    np.testing.assert_allclose(ssml, expected, atol=1e-5)
