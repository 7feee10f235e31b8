"""ONNX export + ONNX Runtime engine: parity with torch on real speech, streaming step graphs,
metadata, a torch-free runtime, and the CLI's --backend switch."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import onnx
import pytest
import torch

from codec import audio, container, files
from codec.onnx_export import GRAPHS, OPSET
from codec.pretrained import load_codec, models_dir
from serve.runtime import OnnxCodec

SR = 24000
FAST = ["hificodec-tiny", "distilcodec-tiny"]
SLOW = [pytest.param(p, marks=pytest.mark.slow(seconds=25)) for p in ("languagecodec-tiny", "encodec-tiny")]


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> np.ndarray:
    path = tmp_path_factory.mktemp("speech") / "s.wav"
    if shutil.which("espeak-ng"):
        subprocess.run(["espeak-ng", "-v", "en-gb", "-w", str(path), "Streaming equals offline, even in ONNX."], check=True)
        return audio.load(path, SR)
    rng = np.random.default_rng(0)  # without espeak-ng: a chirp with noise
    t = np.arange(2 * SR) / SR
    return (0.3 * np.sin(2 * np.pi * (100 + 200 * t) * t) + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


@pytest.fixture
def exported(exported_codec):
    """preset -> (torch codec, model dir with save_pretrained + ONNX graphs), shared (conftest)."""
    return exported_codec


@pytest.mark.parametrize("preset", FAST + SLOW)
def test_offline_parity_with_torch(exported, speech, preset):
    codec, directory = exported(preset)
    engine = OnnxCodec(directory, threads=1)
    batch = np.stack([speech, speech[::-1].copy()])
    ref_codes = codec.encode(torch.from_numpy(batch)).numpy()
    codes = engine.encode(batch)
    np.testing.assert_array_equal(codes, ref_codes)
    ref = codec.decode(torch.from_numpy(ref_codes), n_samples=batch.shape[1]).numpy()
    out = engine.decode(codes, n_samples=batch.shape[1])
    assert out.shape == ref.shape and np.abs(out - ref).max() < 1e-4
    for n_q in range(1, codec.n_codebooks):  # one decoder graph serves every lower bitrate
        if n_q % codec.cfg.quantizer.groups == 0:
            low = codec.decode(torch.from_numpy(ref_codes[:, :n_q]), n_samples=batch.shape[1]).numpy()
            assert np.abs(engine.decode(codes[:, :n_q], n_samples=batch.shape[1]) - low).max() < 1e-4
            np.testing.assert_array_equal(engine.encode(batch, n_q), ref_codes[:, :n_q])


@pytest.mark.parametrize("preset", FAST)
def test_step_graphs_equal_offline_graphs(exported, speech, preset):
    _, directory = exported(preset)
    engine = OnnxCodec(directory, threads=1)
    batch = np.stack([speech, 0.5 * speech])
    offline_codes = engine.encode(batch)
    offline = engine.decode(offline_codes, n_samples=batch.shape[1])
    rng = np.random.default_rng(1)
    stream = engine.stream(batch=2)
    codes, wav, pos = [], [], 0
    while pos < batch.shape[1]:
        n = int(rng.integers(1, 3 * engine.hop))
        c = stream.encoder.push(batch[:, pos : pos + n])
        codes.append(c)
        wav.append(stream.decoder.push(c))
        pos += n
    c = stream.encoder.flush()
    codes.append(c)
    wav.append(stream.decoder.push(c))
    np.testing.assert_array_equal(np.concatenate(codes, axis=2), offline_codes)
    streamed = np.concatenate(wav, axis=1)[:, : batch.shape[1]]
    assert np.abs(streamed - offline).max() < 1e-5


def test_a_forked_decoder_stream_goes_on_as_the_original_would(exported):
    """fork(): shared history decoded once, then independent continuations (best-of's voice
    prompt), on ONNX Runtime, torch and the numpy facade over torch."""
    from serve.engine import TorchCodecEngine

    codec, directory = exported("distilcodec-tiny")
    rng = np.random.default_rng(2)
    history, a, b = (rng.integers(0, codec.codebook_sizes[0], (1, 1, n)) for n in (9, 7, 5))
    for engine in (OnnxCodec(directory, threads=1), TorchCodecEngine(codec)):
        stream = engine.stream(1).decoder
        stream.push(history)
        fork = stream.fork()
        got_b = fork.push(b)
        got_a = stream.push(a)  # the original is untouched by what the fork decoded
        for tail, got in ((a, got_a), (b, got_b)):
            fresh = engine.stream(1).decoder
            fresh.push(history)
            np.testing.assert_array_equal(fresh.push(tail), got)
    stream = codec.stream(1).decoder  # the torch stream itself
    stream.push(torch.from_numpy(history))
    fork = stream.fork()
    assert torch.equal(fork.push(torch.from_numpy(a)), stream.push(torch.from_numpy(a)))


def test_graphs_are_valid_and_carry_metadata(exported):
    codec, directory = exported("hificodec-tiny")
    for g in GRAPHS:
        model = onnx.load(directory / f"{g}.onnx")
        onnx.checker.check_model(model)
        meta = {p.key: p.value for p in model.metadata_props}
        assert meta["model_name"] == codec.cfg.name == "hificodec-tiny" and meta["weights_hash"] == codec.weights_hash()
        assert meta["opset"] == str(OPSET) and json.loads(meta["config"])["hop"] == codec.hop
        assert meta["codes_hash"] == codec.codes_hash()
    engine = OnnxCodec(directory)
    assert (engine.weights_hash(), engine.codes_hash()) == (codec.weights_hash(), codec.codes_hash())


def test_runtime_rejects_bad_codes(exported):
    from codec.errors import ModelMismatch

    _, directory = exported("hificodec-tiny")
    engine = OnnxCodec(directory)
    with pytest.raises(ModelMismatch, match="out of range"):
        engine.decode(np.full((1, 4, 3), 10_000))
    with pytest.raises(ModelMismatch, match="multiple of 2"):
        engine.decode(np.zeros((1, 3, 3), np.int64))


def test_runtime_imports_no_torch(exported):
    _, directory = exported("distilcodec-tiny")
    code = (
        "import sys, numpy as np\n"
        "from serve.runtime import OnnxCodec\n"
        f"c = OnnxCodec({str(directory)!r})\n"
        "codes = c.encode(np.zeros((1, 4800), np.float32))\n"
        "assert c.decode(codes).shape[1] > 0\n"
        "s = c.stream(); s.decoder.push(s.encoder.push(np.zeros((1, 960), np.float32)))\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_cli_export_and_backends_agree(exported, speech, tmp_path):
    _, directory = exported("hificodec-tiny")
    model = tmp_path / "model"
    shutil.copytree(directory, model, ignore=shutil.ignore_patterns("*.onnx"))
    wav = tmp_path / "s.wav"
    audio.save(wav, speech, SR)

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "codec.cli", *args], capture_output=True, text=True, timeout=300)

    proc = cli("encode", str(wav), "-o", str(tmp_path / "x.codes"), "--model", str(model), "--backend", "onnx")
    assert proc.returncode == 1 and "export-onnx" in proc.stderr and "Traceback" not in proc.stderr
    assert cli("export-onnx", str(model)).returncode == 0
    assert all((model / f"{g}.onnx").is_file() for g in GRAPHS)
    for backend in ("onnx", "torch"):
        proc = cli("encode", str(wav), "-o", str(tmp_path / f"{backend}.codes"), "--model", str(model), "--backend", backend)
        assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "onnx.codes").read_bytes() == (tmp_path / "torch.codes").read_bytes()
    proc = cli("decode", str(tmp_path / "onnx.codes"), "-o", str(tmp_path / "out.wav"), "--model", str(model), "--backend", "torch")
    assert proc.returncode == 0, proc.stderr


def test_files_in_blocks_equal_offline_graphs(exported, speech, tmp_path):
    """codec.files runs the step graphs on 0.3 s blocks: the offline graphs' codes and audio."""
    _, directory = exported("hificodec-tiny")
    engine = OnnxCodec(directory, threads=1)
    src = tmp_path / "s.wav"
    audio.save(src, speech, SR)
    wav = audio.load(src, SR)
    files.encode_file(engine, src, tmp_path / "x.codes", None, 0.3)
    header, codes = container.read(tmp_path / "x.codes")
    assert np.array_equal(codes, engine.encode(wav[None])[0])
    files.decode_codes(engine, codes, header.n_samples, tmp_path / "x.wav", 0.3)
    blocks, offline = audio.load(tmp_path / "x.wav", SR), engine.decode(codes[None], n_samples=wav.shape[0])[0]
    pcm = [np.frombuffer(audio.to_pcm16(w), "<i2").astype(int) for w in (blocks, offline)]
    assert pcm[0].shape == pcm[1].shape == wav.shape and np.abs(pcm[0] - pcm[1]).max() <= 1


def test_bundled_onnx_graphs_match_their_weights():
    """Shipped ONNX files must be re-exported whenever the safetensors weights change."""
    bundled = [d for d in sorted(models_dir().glob("*")) if (d / "encoder.onnx").is_file()]
    for directory in bundled:
        codec = load_codec(str(directory))
        for g in GRAPHS:
            meta = {p.key: p.value for p in onnx.load(directory / f"{g}.onnx", load_external_data=False).metadata_props}
            stale = f"{directory}/{g}.onnx is stale: run codec-cli export-onnx {directory}"
            assert (meta["weights_hash"], meta.get("codes_hash")) == (codec.weights_hash(), codec.codes_hash()), stale
