"""codec-cli as users run it: a real subprocess on real audio files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from codec import audio, container

MODEL = "hificodec-tiny"


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "codec.cli", *args], capture_output=True, text=True, timeout=300)


@pytest.fixture()
def wavs(tmp_path: Path) -> list[Path]:
    rng = np.random.default_rng(0)
    paths = []
    for i, (sr, seconds) in enumerate([(24000, 0.7), (16000, 0.5), (44100, 0.3)]):
        t = np.arange(int(sr * seconds)) / sr
        wav = 0.3 * np.sin(2 * np.pi * (180 + 40 * i) * t) + 0.01 * rng.standard_normal(t.size)
        path = tmp_path / f"clip{i}.wav"
        audio.save(path, wav.astype(np.float32), sr)
        paths.append(path)
    return paths


def assert_one_line_error(proc: subprocess.CompletedProcess, needle: str) -> None:
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if not line.startswith("warning:")]
    assert len(errors) == 1 and errors[0].startswith("codec-cli: error:"), proc.stderr
    assert needle in errors[0]
    assert "Traceback" not in proc.stderr


def test_encode_decode_many_files(wavs, tmp_path):
    out = tmp_path / "out"
    assert cli("encode", "--model", MODEL, "--out-dir", str(out), *map(str, wavs)).returncode == 0
    codes = sorted(out.glob("*.codes"))
    assert [p.stem for p in codes] == [p.stem for p in wavs]
    header, arr = container.read(codes[1])
    assert header.model == MODEL and header.sample_rate == 24000
    assert arr.shape[0] == len(header.codebook_sizes) and arr.shape[-1] == header.n_frames

    proc = cli("decode", "--out-dir", str(out), *map(str, codes))
    assert proc.returncode == 0, proc.stderr
    for wav_path, code_path in zip(wavs, codes):
        header, _ = container.read(code_path)
        decoded = audio.load(out / f"{wav_path.stem}.wav", 24000)
        assert decoded.shape[-1] == header.n_samples
        assert np.isfinite(decoded).all()


def test_folders_are_searched_and_keep_their_subfolders(wavs, tmp_path):
    """A folder as input: every audio file below it (DAC's CLI does the same), written under
    --out-dir in the same subfolders, and decoded back the same way; two inputs that would
    write one output are refused before anything is written."""
    book = tmp_path / "book"
    (book / "part2").mkdir(parents=True)
    wavs[0].rename(book / "a.wav")
    wavs[1].rename(book / "part2" / "a.wav")  # the same name in another subfolder
    (book / "notes.txt").write_text("not audio")
    assert cli("encode", "--model", MODEL, "--out-dir", str(tmp_path / "codes"), str(book)).returncode == 0
    codes = sorted(p.relative_to(tmp_path / "codes") for p in (tmp_path / "codes").rglob("*.codes"))
    assert codes == [Path("a.codes"), Path("part2/a.codes")]
    proc = cli("decode", "--out-dir", str(tmp_path / "wavs"), str(tmp_path / "codes"))
    assert proc.returncode == 0, proc.stderr
    assert audio.load(tmp_path / "wavs" / "part2" / "a.wav", 24000).shape[-1] == int(24000 * 0.5)
    info = cli("info", str(tmp_path / "codes"))
    assert info.returncode == 0 and len(info.stdout.splitlines()) == 2
    clash = cli("encode", "--model", MODEL, "--out-dir", str(tmp_path / "flat"), str(book / "a.wav"), str(book / "part2" / "a.wav"))
    assert_one_line_error(clash, f"{book / 'a.wav'} and {book / 'part2' / 'a.wav'} would both be written to")
    assert not (tmp_path / "flat").exists()
    assert_one_line_error(cli("encode", "--model", MODEL, str(tmp_path / "wavs" / "nothing")), "no such file")
    (tmp_path / "empty").mkdir()
    assert_one_line_error(cli("encode", "--model", MODEL, str(tmp_path / "empty")), "a folder with no .wav/.flac")


def test_info_and_roundtrip(wavs, tmp_path):
    code_path = tmp_path / "a.codes"
    assert cli("encode", "--model", MODEL, "-o", str(code_path), str(wavs[0])).returncode == 0
    info = cli("info", str(code_path))
    assert info.returncode == 0 and f"model={MODEL}" in info.stdout and "kbit/s" in info.stdout
    rt = cli("roundtrip", "--model", MODEL, "-o", str(tmp_path / "rt.wav"), str(wavs[0]))
    assert rt.returncode == 0, rt.stderr
    assert audio.load(tmp_path / "rt.wav", 24000).shape[-1] == int(24000 * 0.7)


def test_block_seconds_change_memory_not_results(wavs, tmp_path):
    """0.1 s blocks (many stream steps, a resampled 44.1 kHz input) give the default's files."""
    for blocks in ("30", "0.1"):
        assert cli("encode", "--model", MODEL, "--block-seconds", blocks, "-o", str(tmp_path / f"{blocks}.codes"), str(wavs[2])).returncode == 0
        proc = cli("decode", "--block-seconds", blocks, "-o", str(tmp_path / f"{blocks}.wav"), str(tmp_path / f"{blocks}.codes"))
        assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "0.1.codes").read_bytes() == (tmp_path / "30.codes").read_bytes()
    one, many = (np.frombuffer(audio.to_pcm16(audio.load(tmp_path / f"{b}.wav", 24000)), "<i2").astype(int) for b in ("30", "0.1"))
    assert one.shape == many.shape == (int(44100 * 0.3) * 24000 // 44100,) and np.abs(one - many).max() <= 1
    proc = cli("roundtrip", "--model", MODEL, "--block-seconds", "0", str(wavs[0]))
    assert proc.returncode == 2 and "--block-seconds: must be a positive number of seconds" in proc.stderr


def test_bandwidth_flag_reduces_codebooks(wavs, tmp_path):
    code_path = tmp_path / "low.codes"
    proc = cli("encode", "--model", "encodec-tiny", "--bandwidth", "1.5", "-o", str(code_path), str(wavs[0]))
    assert proc.returncode == 0, proc.stderr
    header, _ = container.read(code_path)
    assert len(header.codebook_sizes) < 8


def test_bad_inputs_fail_with_one_line(wavs, tmp_path):
    text = tmp_path / "notes.wav"
    text.write_text("not audio at all")
    assert_one_line_error(cli("encode", "--model", MODEL, str(text)), "not a readable audio file")
    assert_one_line_error(cli("encode", "--model", MODEL, str(tmp_path / "missing.wav")), "no such file")
    assert_one_line_error(cli("decode", str(wavs[0])), "not a .codes file")

    good = tmp_path / "good.codes"
    assert cli("encode", "--model", MODEL, "-o", str(good), str(wavs[0])).returncode == 0
    truncated = tmp_path / "truncated.codes"
    truncated.write_bytes(good.read_bytes()[:-5])
    proc = cli("decode", str(truncated))
    assert_one_line_error(proc, "truncated.codes")
    assert not (tmp_path / "truncated.wav").exists()

    proc = cli("decode", "--model", "distilcodec-tiny", str(good))
    assert_one_line_error(proc, "good.codes")


def test_failed_decode_keeps_existing_output(wavs, tmp_path):
    target = tmp_path / "keep.wav"
    target.write_bytes(b"precious")
    broken = tmp_path / "keep.codes"
    broken.write_bytes(b"SPCODES\x00garbage")
    assert_one_line_error(cli("decode", "-o", str(target), str(broken)), "keep.codes")
    assert target.read_bytes() == b"precious"


def test_decoder_fine_tunes_decode_the_codes_other_encoders_refuse(wavs, tmp_path):
    """A .codes file names what its codes mean (codes_hash): a decoder-only fine-tune of its
    model decodes it, a codec with another encoder refuses it in one line. Files written
    before codes_hash (version 1) still need the very weights that made them."""
    import torch

    from codec.config import load_preset
    from codec.model import Codec

    torch.manual_seed(0)
    base = Codec(load_preset(MODEL))
    base.save_pretrained(tmp_path / "base")
    with torch.no_grad():
        next(base.decoder.parameters()).add_(0.01)
    base.save_pretrained(tmp_path / "tuned")
    torch.manual_seed(1)
    Codec(load_preset(MODEL)).save_pretrained(tmp_path / "other")
    codes = tmp_path / "a.codes"
    assert cli("encode", "--model", str(tmp_path / "base"), "-o", str(codes), str(wavs[0])).returncode == 0
    header, arr = container.read(codes)
    assert header.version == 2 and header.codes_hash
    tuned = cli("decode", "--model", str(tmp_path / "tuned"), "-o", str(tmp_path / "t.wav"), str(codes))
    assert tuned.returncode == 0, tuned.stderr
    other = cli("decode", "--model", str(tmp_path / "other"), "-o", str(tmp_path / "o.wav"), str(codes))
    assert_one_line_error(other, f"made by codes {header.codes_hash}, but")
    old = tmp_path / "old.codes"
    container.write(old, container.CodesHeader(**{**header.__dict__, "codes_hash": "", "version": 1}), arr)
    assert_one_line_error(cli("decode", "--model", str(tmp_path / "tuned"), "-o", str(tmp_path / "v1.wav"), str(old)),
                          f"made by weights {header.weights_hash}")
    assert cli("decode", "--model", str(tmp_path / "base"), "-o", str(tmp_path / "v1.wav"), str(old)).returncode == 0
