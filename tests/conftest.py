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


def shared_dir(tmp_path_factory, worker_id: str, name: str) -> Path:
    """A directory every test process of this run sees (``make test``'s xdist workers share the
    run's base temp directory); this process's own one when pytest runs without workers."""
    if worker_id == "master":
        return tmp_path_factory.mktemp(name)
    directory = tmp_path_factory.getbasetemp().parent / f"shared-{name}"
    directory.mkdir(exist_ok=True)
    return directory


@pytest.fixture(scope="session")
def exported_codec(tmp_path_factory, worker_id):
    """preset -> (torch codec, its directory: save_pretrained + ONNX graphs), exported once per
    test run: the first worker to ask exports it while the others wait (an export takes 15-40 s;
    presets are seeded, so every process builds the same weights). Read only: a test that
    changes a model works on a copy."""
    from filelock import FileLock

    from codec.onnx_export import export_codec
    from codec.pretrained import load_codec

    cache: dict = {}

    def get(preset: str):
        if preset not in cache:
            codec = load_codec(preset)
            directory = shared_dir(tmp_path_factory, worker_id, preset)
            with FileLock(str(directory) + ".lock"):
                if not (directory / "exported").is_file():
                    codec.save_pretrained(directory)
                    export_codec(codec, directory)
                    (directory / "exported").touch()
            assert load_codec(str(directory)).weights_hash() == codec.weights_hash(), "another process built other weights"
            cache[preset] = (codec, directory)
        return cache[preset]

    return get


@pytest.fixture(scope="session")
def exported_tts(tmp_path_factory, worker_id):
    """preset overrides -> (untrained tiny TtsModel seeded 0, its directory: save_pretrained, a
    BPE tokenizer, tts.onnx and tts.int8.onnx), exported once per test run as ``exported_codec``
    is. Read only."""
    from filelock import FileLock

    from tts.config import load_preset
    from tts.model import TtsModel
    from tts.onnx_export import export_tts
    from tts.text import TextTokenizer, train_tokenizer

    cache: dict = {}

    def get(**preset):
        key = tuple(sorted(preset.items()))
        if key not in cache:
            torch.manual_seed(0)
            model = TtsModel(load_preset("tiny", **preset)).eval()
            directory = shared_dir(tmp_path_factory, worker_id, "tts-" + "-".join(f"{k}={v}" for k, v in key))
            with FileLock(str(directory) + ".lock"):
                if not (directory / "exported").is_file():
                    model.save_pretrained(directory)
                    TextTokenizer(train_tokenizer(["a quiet bridge", "the old mill by the river"], 300)).save(
                        directory / "tokenizer.json")
                    export_tts(model, directory, quantize_int8=True)
                    (directory / "exported").touch()
            assert TtsModel.from_pretrained(directory).weights_hash() == model.weights_hash()
            cache[key] = (model, directory)
        return cache[key]

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
