"""LibriTTS manifests (recipes/libritts/prepare.py), crops, shards, loader and the mini corpus."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from recipe_scripts import load_recipe_script
from codec.data import AudioSegmentDataset, ShardSampler, make_loader, read_manifest, set_epoch

ROOT = Path(__file__).resolve().parents[1]
prepare = load_recipe_script("prepare").prepare

SR = 24000


def _utt(root: Path, subset: str, spk: str, ch: str, k: int, seconds: float, sr: int = SR,
         text: str | None = "hello world") -> Path:
    """One sine utterance with its transcript in the LibriTTS layout."""
    d = root / subset / spk / ch
    d.mkdir(parents=True, exist_ok=True)
    wav = d / f"{spk}_{ch}_000000_{k:06d}.wav"
    t = np.arange(int(seconds * sr)) / sr
    sf.write(wav, 0.5 * np.sin(2 * np.pi * (200 + 50 * k) * t), sr, subtype="PCM_16")
    if text is not None:
        wav.with_name(wav.stem + ".normalized.txt").write_text(text + "\n")
    return wav


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "LibriTTS"
    for k in range(6):
        _utt(root, "train-clean-100", "19", "198", k, 0.3 + 0.1 * k)
    _utt(root, "train-other-500", "20", "200", 0, 0.5, sr=16000)
    for k in range(2):
        _utt(root, "dev-clean", "84", "121", k, 0.4)
        _utt(root, "test-clean", "61", "70", k, 0.4)
    bad = root / "train-clean-100" / "19" / "198" / "19_198_000000_000099.wav"
    bad.write_bytes(b"this is not a riff file at all" * 10)
    bad.with_name(bad.stem + ".normalized.txt").write_text("garbage\n")
    _utt(root, "test-clean", "61", "70", 7, 0.4, text=None)
    (root / "manifests").mkdir()  # non-subset folders are ignored
    return root


@pytest.fixture
def manifests(corpus: Path, tmp_path: Path) -> dict:
    return prepare(corpus, tmp_path / "manifests")


def test_prepare_splits_and_reports_bad_files(manifests: dict) -> None:
    assert manifests["counts"] == {"train": 7, "dev": 2, "test": 2}
    assert sorted(Path(p).name for p, _ in manifests["skipped"]) == [
        "19_198_000000_000099.wav", "61_70_000000_000007.wav"]
    train = read_manifest(manifests["manifests"]["train"])
    assert {r["speaker"] for r in train} == {"19", "20"}
    row = next(r for r in train if r["id"] == "19_198_000000_000002")
    assert set(row) == {"id", "path", "text", "speaker", "duration", "sample_rate"}
    assert Path(row["path"]).is_absolute() and row["text"] == "hello world"
    assert row["duration"] == pytest.approx(0.5, abs=1e-3) and row["sample_rate"] == SR
    assert {r["sample_rate"] for r in train if r["speaker"] == "20"} == {16000}
    assert [r["speaker"] for r in read_manifest(manifests["manifests"]["test"])] == ["61", "61"]
    assert manifests["hours"]["dev"] == pytest.approx(0.8 / 3600, rel=1e-3)


def test_prepare_subsets_map(corpus: Path, tmp_path: Path) -> None:
    out = prepare(corpus, tmp_path / "m2", subsets_map={"dev-clean": "test"})
    assert out["counts"] == {"train": 0, "dev": 0, "test": 2}


def test_crops_length_and_determinism(manifests: dict) -> None:
    path = manifests["manifests"]["train"]
    seg = 4000
    ds = AudioSegmentDataset(path, seg, SR, seed=3)
    crops0 = [ds[i] for i in range(len(ds))]
    assert all(c.shape == (seg,) and c.dtype == torch.float32 for c in crops0)
    again = AudioSegmentDataset(read_manifest(path), seg, SR, seed=3)
    assert all(torch.equal(a, again[i]) for i, a in enumerate(crops0))
    ds.set_epoch(1)
    assert any(not torch.equal(a, ds[i]) for i, a in enumerate(crops0))
    ds.set_epoch(0)
    assert torch.equal(ds[2], crops0[2])
    assert not torch.equal(AudioSegmentDataset(path, seg, SR, seed=4)[5], crops0[5])


def test_short_items_are_padded_and_resampled(manifests: dict) -> None:
    items = read_manifest(manifests["manifests"]["train"])
    short = [r for r in items if r["id"] == "19_198_000000_000000"]  # 0.3 s at 24 kHz
    x = AudioSegmentDataset(short, SR, SR, seed=0)[0]
    assert x.shape == (SR,) and x[: int(0.29 * SR)].abs().max() > 0.4 and x[int(0.31 * SR):].abs().max() == 0
    resampled = [r for r in items if r["speaker"] == "20"]  # 0.5 s at 16 kHz
    y = AudioSegmentDataset(resampled, 6000, SR, seed=0)[0]
    assert y.shape == (6000,) and 0.4 < float(y.abs().max()) < 0.6


def test_shards_disjoint_and_cover() -> None:
    for n in (10, 7):
        shards = [ShardSampler(n, rank=r, world_size=2, seed=5) for r in range(2)]
        lists = [list(s) for s in shards]
        assert len(lists[0]) == len(lists[1]) == len(shards[0]) == (n + 1) // 2
        assert set(lists[0]) | set(lists[1]) == set(range(n))
        if n % 2 == 0:
            assert not set(lists[0]) & set(lists[1])
    s = ShardSampler(10, rank=0, world_size=1, seed=5)
    first = list(s)
    assert sorted(first) == list(range(10)) and list(s) == first
    s.set_epoch(1)
    assert list(s) != first
    assert len(ShardSampler(7, rank=1, world_size=2, drop_last=True)) == 3


def test_loader_batches(manifests: dict) -> None:
    loader = make_loader(manifests["manifests"]["train"], 2000, SR, batch_size=3, seed=0)
    batches = list(loader)
    assert len(batches) == 2 and all(b.shape == (3, 2000) for b in batches)
    set_epoch(loader, 0)
    assert all(torch.equal(a, b) for a, b in zip(batches, loader))
    set_epoch(loader, 1)
    assert not all(torch.equal(a, b) for a, b in zip(batches, loader))
    ranks = [make_loader(manifests["manifests"]["train"], 2000, SR, 2, 0, rank=r, world_size=2) for r in range(2)]
    assert [len(r) for r in ranks] == [2, 2]
    with pytest.raises(ValueError, match="batch_size"):
        make_loader(manifests["manifests"]["dev"], 2000, SR, batch_size=4, seed=0)


@pytest.mark.skipif(shutil.which("espeak-ng") is None or importlib.util.find_spec("espeakng_loader") is None,
                    reason="needs both Debian's espeak-ng and pip's espeakng-loader")
def test_the_espeak_library_plans_the_programs_corpus(tmp_path: Path) -> None:
    """``--engine library`` (libespeak-ng from pip, for a machine without Debian's program) plans
    the same speakers, splits and sentences as the program, and speaks each at a like length."""
    made = {}
    for engine in ("program", "library"):
        out = made[engine] = tmp_path / engine
        subprocess.run([sys.executable, str(ROOT / "recipes/libritts/make_mini_corpus.py"), "--out", str(out),
                        "--n-train", "4", "--n-dev", "1", "--n-test", "2", "--seed", "1", "--engine", engine],
                       check=True, capture_output=True, text=True, timeout=120)
    assert (made["program"] / "SPEAKERS.txt").read_text() == (made["library"] / "SPEAKERS.txt").read_text()
    wavs = {e: sorted(p.relative_to(out) for p in out.glob("*/*/*/*.wav")) for e, out in made.items()}
    assert wavs["program"] == wavs["library"] and len(wavs["program"]) == 7
    for wav in wavs["program"]:
        (a, sr), (b, _) = (sf.read(made[e] / wav, dtype="float32") for e in ("program", "library"))
        assert sr == 24000 and 0.6 < len(b) / len(a) < 1.4 and np.sqrt(np.mean(b**2)) > 0.01
    bare = subprocess.run([sys.executable, str(ROOT / "recipes/libritts/make_mini_corpus.py"), "--out", str(tmp_path / "x"),
                           "--engine", "program"], capture_output=True, text=True, env={"PATH": str(tmp_path)})
    assert bare.returncode == 1 and bare.stderr.strip().splitlines() == [
        "make_mini_corpus.py: error: no espeak-ng program here: install Debian's espeak-ng (make system-deps)"]


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
def test_make_mini_corpus(tmp_path: Path) -> None:
    out = tmp_path / "mini"
    cmd = [sys.executable, str(ROOT / "recipes/libritts/make_mini_corpus.py"), "--out", str(out),
           "--n-train", "6", "--n-dev", "2", "--n-test", "2", "--seed", "1"]
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=120)
    wavs = {s: sorted((out / s).glob("*/*/*.wav")) for s in ("train-clean-mini", "dev-clean-mini", "test-clean-mini")}
    assert [len(w) for w in wavs.values()] == [6, 2, 2]
    for wav in sum(wavs.values(), []):
        spk, ch = wav.parent.parent.name, wav.parent.name
        assert wav.name.startswith(f"{spk}_{ch}_") and len(wav.stem.split("_")) == 4
        norm = wav.with_name(wav.stem + ".normalized.txt").read_text()
        assert len(norm.split()) >= 4 and not any(c.isdigit() for c in norm)
        assert wav.with_name(wav.stem + ".original.txt").is_file()
        x, sr = sf.read(wav, dtype="float32")
        assert sr == 24000 and x.ndim == 1 and sf.info(wav).subtype == "PCM_16"
        assert x.size > sr // 2 and np.sqrt(np.mean(x**2)) > 0.01
    speakers = {s: {w.parent.parent.name for w in ws} for s, ws in wavs.items()}
    assert not speakers["test-clean-mini"] & speakers["train-clean-mini"]
    assert speakers["dev-clean-mini"] <= speakers["train-clean-mini"]
    voices = {}
    for line in (out / "SPEAKERS.txt").read_text().splitlines()[1:]:
        sid, _, subsets, voice, *_ = [f.strip() for f in line.split("|")]
        voices.setdefault("test" if subsets.startswith("test") else "train", set()).add(voice.split("+")[1])
    assert not voices["test"] & voices["train"]
    texts = {w.with_name(w.stem + ".normalized.txt").read_text() for ws in wavs.values() for w in ws}
    assert len(texts) == 10
    mtimes = [w.stat().st_mtime_ns for w in wavs["train-clean-mini"]]
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=120)  # re-run skips
    assert [w.stat().st_mtime_ns for w in wavs["train-clean-mini"]] == mtimes
    manifest = json.loads(Path(prepare(out, tmp_path / "m")["manifests"]["test"]).read_text().splitlines()[0])
    assert manifest["sample_rate"] == 24000
