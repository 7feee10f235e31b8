"""Shared fixtures: seeded RNGs and single-threaded torch for deterministic, quiet tests, and
one real spoken sentence."""

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

SENTENCE = "The quick brown fox jumps over the lazy dog."


@pytest.fixture(autouse=True)
def _seed_everything():
    torch.manual_seed(0)
    np.random.seed(0)
    yield


@pytest.fixture
def np_rng():
    return np.random.default_rng(0)


def pytest_configure(config):
    torch.set_num_threads(1)


def pytest_collection_modifyitems(config, items):
    """Slow tests first, longest first (``slow(seconds=N)``; stable otherwise): under ``make
    test``'s parallel workers the longest one starts at once instead of finishing alone at the end."""

    def expected_seconds(item) -> float:
        slow = item.get_closest_marker("slow")
        return 0.0 if slow is None else slow.kwargs.get("seconds", 20.0)

    items.sort(key=expected_seconds, reverse=True)


@pytest.fixture(scope="session")
def speech(tmp_path_factory) -> Path:
    """``SENTENCE`` spoken by espeak-ng (a WAV at espeak's rate; ``codec.audio.load`` resamples)."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed (make system-deps)")
    path = tmp_path_factory.mktemp("speech") / "s.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(path), SENTENCE], check=True)
    return path


@pytest.fixture(scope="session")
def exported_codec(tmp_path_factory):
    """preset -> (torch codec, its directory: save_pretrained + ONNX graphs), made once per test
    process (an export takes 15-30 s; presets are seeded, so every test saw the same weights
    before). Read only: a test that changes a model works on a copy."""
    from codec.onnx_export import export_codec
    from codec.pretrained import load_codec

    cache: dict = {}

    def get(preset: str):
        if preset not in cache:
            codec = load_codec(preset)
            directory = tmp_path_factory.mktemp(preset)
            codec.save_pretrained(directory)
            export_codec(codec, directory)
            cache[preset] = (codec, directory)
        return cache[preset]

    return get


@pytest.fixture(scope="session")
def asr_dir(tmp_path_factory) -> Path:
    """The bundled recognizer (a trained one) in a directory of its own, with its ONNX graph:
    a best-of-N verifier for tiny TTS models."""
    from tts.asr import CtcRecognizer
    from tts.asr_onnx import export_asr

    directory = tmp_path_factory.mktemp("asr")
    for name in ("config.json", "model.safetensors"):
        shutil.copy(Path(__file__).resolve().parents[1] / "models" / "asr" / name, directory / name)
    export_asr(CtcRecognizer.from_pretrained(directory), directory)
    return directory


def self_signed(directory: Path, name: str = "server") -> tuple[Path, Path]:
    """A self-signed certificate for localhost and its key, made by openssl: (cert, key)."""
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key
