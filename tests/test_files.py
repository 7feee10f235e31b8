"""Files a block at a time (codec.audio.read_blocks / writer, codec.files): exactly the offline result."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from codec import audio, container, files
from codec.errors import InvalidAudio
from serve.engine import load_codec_engine

SR = 24000


def speechlike(sr: int, seconds: float, channels: int = 1, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(sr * seconds)) / sr
    voiced = sum(np.sin(2 * np.pi * k * (110 + 30 * np.sin(3 * t)) * t) / k for k in range(1, 8))
    mono = 0.2 * voiced * (0.6 + 0.4 * np.sin(2 * np.pi * 2.5 * t)) + 0.01 * rng.standard_normal(t.size)
    return np.stack([mono, 0.7 * mono[::-1]], axis=1)[:, :channels].astype(np.float32)


@pytest.mark.parametrize("sr,channels,seconds", [(44100, 2, 2.0), (16000, 1, 1.37), (SR, 1, 1.0)])
def test_blocks_concatenate_to_what_load_returns(tmp_path, sr, channels, seconds):
    path = tmp_path / "in.wav"
    sf.write(path, speechlike(sr, seconds, channels), sr, subtype="FLOAT")
    whole = audio.load(path, SR)
    for block_seconds in (0.25, 0.5, 0.3, 10.0):  # 0.25 and 0.5 divide 2 s: a last read of 0 frames
        blocks = list(audio.read_blocks(path, SR, block_seconds))
        assert len(blocks) >= min(3, int(seconds / block_seconds))
        assert np.array_equal(np.concatenate(blocks), whole), block_seconds


def test_block_reading_refuses_bad_audio_as_load_does(tmp_path):
    wav = speechlike(SR, 1.0)
    wav[int(0.8 * SR)] = np.nan  # in the fourth block, after three good ones
    sf.write(tmp_path / "nan.wav", wav, SR, subtype="FLOAT")
    blocks = audio.read_blocks(tmp_path / "nan.wav", SR, 0.25)
    with pytest.raises(InvalidAudio, match="nan.wav: contains NaN"):
        list(blocks)
    sf.write(tmp_path / "empty.wav", np.zeros((0, 1), np.float32), SR)
    with pytest.raises(InvalidAudio, match="no audio frames"):
        list(audio.read_blocks(tmp_path / "empty.wav", SR, 0.25))
    with pytest.raises(InvalidAudio, match="no such file"):
        audio.read_blocks(tmp_path / "missing.wav", SR, 1.0)
    with pytest.raises(ValueError, match="block_seconds"):
        audio.read_blocks(tmp_path / "empty.wav", SR, 0)


def test_writer_publishes_only_a_complete_file(tmp_path):
    dst = tmp_path / "out.wav"
    audio.save(dst, np.full(100, 0.25, np.float32), SR)
    before = dst.read_bytes()
    with pytest.raises(RuntimeError, match="model failed"):  # the caller's error passes through as it is
        with audio.writer(dst, SR) as write:
            write(np.zeros(SR, np.float32))
            raise RuntimeError("model failed")
    assert dst.read_bytes() == before and sorted(tmp_path.iterdir()) == [dst]
    with audio.writer(dst, SR) as write:
        for i in range(3):
            write(np.full(10, 0.1 * i, np.float32))
    assert np.allclose(audio.load(dst, SR), np.repeat([0.0, 0.1, 0.2], 10), atol=1 / 32768)


@pytest.fixture(scope="module")
def codec():
    return load_codec_engine("hificodec-tiny", backend="torch")


@pytest.fixture()
def recording(tmp_path) -> Path:
    """1.371 s at 16 kHz: resampled, and its length no multiple of the codec's hop (32904 samples at 24 kHz)."""
    path = tmp_path / "rec.wav"
    sf.write(path, speechlike(16000, 1.371), 16000)
    return path


def pcm16(wav: np.ndarray) -> np.ndarray:
    return np.frombuffer(audio.to_pcm16(wav), "<i2").astype(np.int32)


@pytest.mark.parametrize("block_seconds", [0.13, 0.5, None])
def test_files_in_blocks_equal_the_offline_codec(codec, recording, tmp_path, block_seconds):
    wav = audio.load(recording, SR)
    offline_codes = codec.encode(wav[None])[0]
    offline_wav = codec.decode(offline_codes[None], n_samples=wav.shape[0])[0]

    files.encode_file(codec, recording, tmp_path / "x.codes", None, block_seconds)
    header, codes = container.read(tmp_path / "x.codes")
    assert np.array_equal(codes, offline_codes)
    assert header.n_samples == wav.shape[0] and header.n_frames == offline_codes.shape[1]

    files.decode_codes(codec, codes, header.n_samples, tmp_path / "x.wav", block_seconds)
    decoded = pcm16(audio.load(tmp_path / "x.wav", SR))
    assert decoded.shape == (wav.shape[0],)
    assert np.abs(decoded - pcm16(offline_wav)).max() <= 1  # float rounding may move one LSB

    seconds = files.roundtrip_file(codec, recording, tmp_path / "rt.wav", None, block_seconds)
    assert seconds == pytest.approx(1.371, abs=1e-4)
    assert np.abs(pcm16(audio.load(tmp_path / "rt.wav", SR)) - pcm16(offline_wav)).max() <= 1


def test_a_failed_file_leaves_the_previous_output(codec, tmp_path):
    bad = tmp_path / "bad.wav"
    wav = speechlike(SR, 1.0)
    wav[-10] = np.inf  # found only in the last block, after audio has been written
    sf.write(bad, wav, SR, subtype="FLOAT")
    dst = tmp_path / "rt.wav"
    dst.write_bytes(b"previous")
    with pytest.raises(InvalidAudio, match="infinite"):
        files.roundtrip_file(codec, bad, dst, None, 0.2)
    assert dst.read_bytes() == b"previous" and sorted(p.name for p in tmp_path.iterdir()) == ["bad.wav", "rt.wav"]
