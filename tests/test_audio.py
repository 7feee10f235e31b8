"""codec.audio: real files on disk, mixdown, resampling, formats and the errors users see."""

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from codec import audio, g711
from codec.errors import CodecError, InvalidAudio

ROOT = Path(__file__).resolve().parents[1]


def sine(freq: float, sr: int, seconds: float = 0.5, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def peak_hz(wav: np.ndarray, sr: int) -> float:
    spec = np.abs(np.fft.rfft(wav * np.hanning(len(wav))))
    return float(np.argmax(spec) * sr / len(wav))


def test_load_mono_wav_exact(tmp_path):
    x = sine(440, 24000)
    sf.write(tmp_path / "a.wav", x, 24000, subtype="FLOAT")
    y = audio.load(tmp_path / "a.wav", 24000)
    assert y.dtype == np.float32 and y.ndim == 1
    np.testing.assert_array_equal(y, x)


def test_stereo_is_mixed_down(tmp_path):
    left, right = sine(440, 24000), sine(1000, 24000, amp=0.25)
    sf.write(tmp_path / "s.wav", np.stack([left, right], 1), 24000, subtype="FLOAT")
    y = audio.load(str(tmp_path / "s.wav"), 24000)
    np.testing.assert_allclose(y, (left + right) / 2, atol=1e-7)


@pytest.mark.parametrize("sr", [16000, 44100])
def test_resample_keeps_frequency_and_duration(tmp_path, sr):
    sf.write(tmp_path / "in.wav", sine(1000, sr), sr, subtype="PCM_16")
    y = audio.load(tmp_path / "in.wav", 24000)
    assert abs(len(y) - 12000) <= 1
    assert abs(peak_hz(y, 24000) - 1000) < 5
    assert 0.45 < np.abs(y[1000:-1000]).max() < 0.55


def test_resample_function_identity_and_length():
    x = sine(300, 16000)
    np.testing.assert_array_equal(audio.resample(x, 16000, 16000), x)
    assert abs(len(audio.resample(x, 16000, 48000)) - 3 * len(x)) <= 1


@pytest.mark.parametrize("ext", ["flac", "ogg"])
def test_save_load_roundtrip_formats(tmp_path, ext):
    x = sine(500, 24000)
    path = tmp_path / f"out.{ext}"
    audio.save(path, x[None], 24000)  # [1, T] accepted
    y = audio.load(path, 24000)
    assert abs(len(y) - len(x)) <= 1
    n = min(len(x), len(y))
    tol = 1e-3 if ext == "flac" else 0.1  # FLAC is PCM_16 lossless, Vorbis is lossy
    assert np.abs(y[:n] - x[:n]).max() < tol
    assert abs(peak_hz(y, 24000) - 500) < 5
    assert list(tmp_path.iterdir()) == [path]  # no temp file left behind


def test_save_clips_and_replaces_atomically(tmp_path):
    path = tmp_path / "o.wav"
    audio.save(path, np.zeros(10, np.float32), 8000)
    audio.save(path, np.array([2.0, -2.0, 0.5], np.float32), 8000)
    y, sr = sf.read(path, dtype="float32")
    assert sr == 8000 and y[0] > 0.99 and y[1] == -1.0 and abs(y[2] - 0.5) < 1e-4
    assert list(tmp_path.iterdir()) == [path]


def test_save_errors(tmp_path):
    with pytest.raises(InvalidAudio, match=r"out\.xyz.*unsupported"):
        audio.save(tmp_path / "out.xyz", np.zeros(10), 8000)
    with pytest.raises(CodecError, match="missing"):
        audio.save(tmp_path / "missing" / "o.wav", np.zeros(10), 8000)
    with pytest.raises(ValueError):
        audio.save(tmp_path / "o.wav", np.zeros((2, 10)), 8000)


def test_bytes_roundtrip_and_pcm16():
    x = sine(700, 16000)
    data = audio.to_file_bytes(x, 16000)
    assert data[:4] == b"RIFF"
    y = audio.decode_bytes(data, 24000)
    assert abs(len(y) - 12000) <= 1 and abs(peak_hz(y, 24000) - 700) < 5
    pcm = audio.to_pcm16(x)
    assert len(pcm) == 2 * len(x)
    np.testing.assert_allclose(audio.from_pcm16(pcm), x, atol=1 / 32768)
    assert audio.from_pcm16(audio.to_pcm16(np.array([3.0, -3.0, np.nan]))).tolist() == [32767 / 32768, -1.0, 0.0]


def test_decode_bytes_errors():
    with pytest.raises(InvalidAudio, match=r"^req\.wav: not a readable audio file"):
        audio.decode_bytes(b"hello, not audio", 24000, name="req.wav")
    with pytest.raises(InvalidAudio, match="<bytes>: empty"):
        audio.decode_bytes(b"", 24000)
    with pytest.raises(InvalidAudio, match="odd number"):
        audio.from_pcm16(b"\x00\x01\x02")


def _bad_inputs(tmp_path):
    text = tmp_path / "text.wav"
    text.write_text("this is not audio\n")
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, np.float32), 24000)
    nan = tmp_path / "nan.wav"
    sf.write(nan, np.array([0.0, np.nan, 0.1], np.float32), 24000, subtype="FLOAT")
    return [
        (tmp_path / "missing.wav", "no such file"),
        (tmp_path, "directory"),
        (text, "not a readable audio file"),
        (empty, "no audio frames"),
        (nan, "NaN"),
    ]


def test_bad_inputs_raise_invalid_audio_with_path(tmp_path):
    for path, what in _bad_inputs(tmp_path):
        with pytest.raises(InvalidAudio) as info:
            audio.load(path, 24000)
        msg = str(info.value)
        assert msg.startswith(f"{path}: ") and what in msg and "\n" not in msg


def test_no_torch_import():
    code = "import codec.audio, codec.container, sys; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


@pytest.mark.parametrize("subtype, encode, decode", [("ULAW", g711.mulaw_encode, g711.mulaw_decode),
                                                     ("ALAW", g711.alaw_encode, g711.alaw_decode)])
def test_g711_bytes_are_libsndfiles(subtype, encode, decode):
    """Every 16-bit value companded as libsndfile writes a ULAW/ALAW file, every byte read back as
    it reads one; speech-level audio keeps ~35 dB SNR (8 bits a sample, log steps)."""
    every = np.arange(-32768, 32768, dtype=np.int16)
    ref = io.BytesIO()
    sf.write(ref, every, 8000, subtype=subtype, format="RAW")
    assert encode(every / 32768.0) == ref.getvalue()
    codes = bytes(range(256))
    heard = sf.read(io.BytesIO(codes), samplerate=8000, channels=1, subtype=subtype, format="RAW", dtype="int16")[0]
    np.testing.assert_array_equal(np.round(decode(codes) * 32768).astype(np.int16), heard)
    x = 0.3 * sine(300, 8000) + 0.05 * sine(2100, 8000)
    y = decode(encode(x))
    assert y.dtype == np.float32 and 30 < 10 * np.log10(np.sum(x**2) / np.sum((x - y) ** 2)) < 45
    assert decode(encode(np.array([4.0, -4.0, np.nan]))).tolist() == decode(encode(np.array([1.0, -1.0, 0.0]))).tolist()


def test_file_bytes_flac_is_lossless_ogg_is_opus():
    x = sine(700, 24000)
    flac = audio.to_file_bytes(x, 24000, "FLAC")
    assert flac[:4] == b"fLaC" and audio.decode_bytes(flac, 24000).tolist() == audio.from_pcm16(audio.to_pcm16(x)).tolist()
    ogg = audio.to_file_bytes(x, 24000, "OGG")
    assert ogg[:4] == b"OggS" and b"OpusHead" in ogg[:100]
    y = audio.decode_bytes(ogg, 24000)
    assert len(y) == len(x) and abs(peak_hz(y, 24000) - 700) < 5
    with pytest.raises(InvalidAudio, match="OGG \\(Opus\\) audio can be 8000, 12000, 16000, 24000, 48000 Hz, not 22050"):
        audio.to_file_bytes(x, 22050, "OGG")


def test_streamed_files_come_as_the_audio_does_and_read_whole():
    """MP3 and Ogg Opus made chunk by chunk: bytes before the audio ends, and the bytes read back
    whole by libsndfile (the MP3 with no empty tag frame in front, which a constant-bitrate reader
    would count as audio; delayed by the encoder's ~50 ms), the Opus as the whole file's audio."""
    x = np.concatenate([sine(300, 24000, 1.6), 0.3 * sine(900, 24000, 1.7)])
    x += 0.05 * np.random.default_rng(0).standard_normal(len(x)).astype(np.float32)  # one lag aligns it
    for fmt in ("MP3", "OGG"):
        stream = audio.StreamedFile(24000, fmt)
        parts = [stream.push(x[i : i + 4800]) for i in range(0, len(x), 4800)]
        parts.append(stream.close())
        data = b"".join(parts)
        assert sum(1 for p in parts[:-1] if p) >= 3  # pages and frames go out as they fill
        y = audio.decode_bytes(data, 24000)
        if fmt == "OGG":  # the first 0.2 s go out in pages of their own, after the two header pages
            assert parts[0].count(b"OggS") >= 3 and data[:4] == b"OggS" and y.tolist() == audio.decode_bytes(audio.to_file_bytes(x, 24000, "OGG"), 24000).tolist()
            continue
        frame = audio._mp3_frame_length(data)
        assert data[:2] == b"\xff\xf3" and any(data[4:frame]) and len(data) % frame == 0  # constant bitrate, no tag frame
        lag = max(range(2000), key=lambda d: float(np.dot(y[d : d + 24000], x[:24000])))
        error = y[lag : lag + len(x)] - x
        assert 1000 < lag < 1200 and len(y) - len(x) < lag + 1152 and 10 * np.log10(np.sum(x**2) / np.sum(error**2)) > 20
    with pytest.raises(ValueError, match="FLAC is not made as a stream"):
        audio.StreamedFile(24000, "FLAC")
    with pytest.raises(InvalidAudio, match="not 22050"):
        audio.StreamedFile(22050, "OGG")
