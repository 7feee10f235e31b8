"""Phonetic distillation (codec/phonetic.py): a recognizer's features as the codec's target."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import load_file

from codec import audio
from codec.checkpoint import state_hash
from codec.distill import DistillConfig, DistillTrainer
from codec.model import Codec
from codec.phonetic import PhoneticTeacher, cosine_distance
from codec.config import load_preset
from codec.train import Dist
from tts.asr import AsrConfig, CtcRecognizer

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> Path:
    """Harmonic 'vowels' of several pitches, a tiny teacher codec and a tiny recognizer."""
    root = tmp_path_factory.mktemp("phonetic")
    rng = np.random.default_rng(0)
    rows = []
    for i in range(6):
        t = np.arange(int(24000 * 0.6)) / 24000
        wav = sum(np.sin(2 * np.pi * (100 + 25 * i) * k * t) / k for k in range(1, 6)) * 0.15
        path = root / f"u{i}.wav"
        audio.save(path, (wav + 0.01 * rng.standard_normal(t.size)).astype(np.float32), 24000)
        rows.append({"id": path.stem, "path": path.name, "duration": 0.6, "sample_rate": 24000})
    (root / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    torch.manual_seed(0)
    Codec(load_preset("hificodec-tiny")).save_pretrained(root / "teacher")
    CtcRecognizer(AsrConfig(dim=16, n_conv=1, n_rnn=1)).save_pretrained(root / "asr")
    return root


def _config(root: Path, out: Path, **extra) -> DistillConfig:
    fields = dict(train_manifest=str(root / "train.jsonl"), out_dir=str(out), codec={"preset": "distilcodec-tiny"},
                  teacher=str(root / "teacher"), segment_seconds=0.2, batch_size=2, max_steps=6, warmup_steps=1,
                  adv_start_step=100, discriminator="tiny", ckpt_every=3, log_every=1, sample_every=100,
                  phonetic_teacher=str(root / "asr"))
    return DistillConfig(**{**fields, **extra})


def test_teacher_features_follow_the_codec_frame_rate_and_pass_gradients(setup):
    teacher = PhoneticTeacher(str(setup / "asr"), 24000, torch.device("cpu"))
    wav = torch.randn(2, 4800, requires_grad=True)  # 0.2 s: 10 recognizer frames (hop 480)
    for frames in (10, 20):  # same rate; a hop-240 codec (interpolated)
        assert teacher.features(wav, frames).shape == (2, frames, teacher.feature_dim)
    teacher.features(wav, 20).sum().backward()
    assert wav.grad.abs().sum() > 0
    assert not any(p.requires_grad for p in teacher.model.parameters())
    with pytest.raises(ValueError, match="16000 Hz"):
        PhoneticTeacher(str(setup / "asr"), 16000, torch.device("cpu"))


def test_cosine_distance():
    a = torch.randn(2, 5, 8)
    assert cosine_distance(a, a).item() == pytest.approx(0, abs=1e-6)
    assert cosine_distance(a, -a[:, :4]).item() == pytest.approx(2, abs=1e-6)  # frames cut to the shorter


def test_config_needs_a_recognizer_for_phonetic_weights():
    with pytest.raises(ValueError, match="phonetic_teacher"):
        DistillConfig(train_manifest="x", out_dir="y", teacher="t", phonetic_weight=1.0)


def test_a_codec_teacher_is_needed_unless_a_fine_tune_weights_it_zero():
    with pytest.raises(ValueError, match="needs 'teacher'"):
        DistillConfig(train_manifest="x", out_dir="y")  # a student from nothing
    with pytest.raises(ValueError, match="needs 'teacher'"):
        DistillConfig(train_manifest="x", out_dir="y", init_from="m", teacher_mel_weight=0.0)  # latent term on
    DistillConfig(train_manifest="x", out_dir="y", init_from="m", latent_weight=0.0, teacher_mel_weight=0.0)


def test_phonetic_decoder_fine_tune_keeps_every_code(setup, tmp_path):
    """Encoder and quantizer frozen, no codec teacher: only the decoder learns what the
    recognizer hears, so a TTS trained on the codes stays valid."""
    torch.set_num_threads(1)
    torch.manual_seed(0)
    Codec(load_preset("distilcodec-tiny")).save_pretrained(tmp_path / "student")
    weights = {"mel": 1.0, "adversarial": 0.0, "feature": 0.0, "commitment": 0.0, "codebook": 0.0}
    cfg = _config(setup, tmp_path / "dec", teacher="", init_from=str(tmp_path / "student"), frozen=["encoder", "quantizer"],
                  latent_weight=0.0, teacher_mel_weight=0.0, phonetic_output_weight=20.0, weights=weights, lr=3e-3)
    trainer = DistillTrainer(cfg, Dist())
    assert trainer.teacher is None and len(trainer.aux) == 0
    before = {name: state_hash(getattr(trainer.codec, name)) for name in ("encoder", "quantizer", "decoder")}
    wav = torch.from_numpy(np.stack([audio.load(setup / f"u{i}.wav", 24000)[:4800] for i in range(2)]))
    logs = [trainer.train_step(wav) for _ in range(8)]
    assert "distill/latent" not in logs[0] and logs[-1]["distill/phonetic_output"] < logs[0]["distill/phonetic_output"]
    assert state_hash(trainer.codec.decoder) != before["decoder"]
    assert all(state_hash(getattr(trainer.codec, n)) == before[n] for n in ("encoder", "quantizer"))


def test_only_the_weighted_terms_are_built(setup, tmp_path):
    torch.set_num_threads(1)
    idle = DistillTrainer(_config(setup, tmp_path / "a"), Dist())  # a teacher named, no weight: not even loaded
    assert idle.phonetic is None and len(idle.aux) == 0
    output_only = DistillTrainer(_config(setup, tmp_path / "b", phonetic_output_weight=1.0), Dist())
    assert output_only.phonetic is not None and len(output_only.aux) == 0  # no head to train


def test_phonetic_loss_trains_head_and_encoder_and_resumes_bit_exact(setup, tmp_path):
    torch.set_num_threads(1)
    weights = {"mel": 0.0, "adversarial": 0.0, "feature": 0.0, "commitment": 0.0, "codebook": 0.0}
    cfg = _config(setup, tmp_path / "full", phonetic_weight=1.0, phonetic_output_weight=1.0, latent_weight=0.0,
                  teacher_mel_weight=0.0, weights=weights, lr=3e-3, max_steps=20, ckpt_every=10)
    trainer = DistillTrainer(cfg, Dist())
    assert set(trainer.aux) == {"phonetic_head"}
    encoder_before = state_hash(trainer.codec.encoder)
    wav = torch.from_numpy(np.stack([audio.load(setup / f"u{i}.wav", 24000)[:4800] for i in range(2)]))
    first = trainer.train_step(wav)
    for _ in range(15):
        last = trainer.train_step(wav)
    assert last["distill/phonetic"] < 0.5 * first["distill/phonetic"]  # the head learns the target
    assert "distill/phonetic_output" in last
    assert state_hash(trainer.codec.encoder) != encoder_before  # the codes are pulled, not only the head

    full = DistillTrainer(cfg, Dist())
    full.fit()
    split = DistillTrainer(_config(setup, tmp_path / "split", **{k: getattr(cfg, k) for k in (
        "phonetic_weight", "phonetic_output_weight", "latent_weight", "teacher_mel_weight", "weights", "lr",
        "max_steps", "ckpt_every")}), Dist())
    split.fit(stop_after=10)
    resumed = DistillTrainer(split.cfg, Dist())
    assert resumed.resume() and resumed.step == 10
    resumed.fit()
    assert state_hash(resumed.codec) == state_hash(full.codec)
    assert state_hash(resumed.aux) == state_hash(full.aux)
    ckpt = load_file(str(tmp_path / "full" / "checkpoint.safetensors"))
    assert any(k.startswith("aux.phonetic_head.") for k in ckpt)  # checkpointed with the run...
    published = load_file(str(tmp_path / "full" / "model" / "model.safetensors"))
    assert not any("phonetic" in k for k in published)  # ...but never part of the codec


@pytest.mark.slow(seconds=10)
def test_phonetic_distillation_under_torchrun(setup, tmp_path):
    cfg = _config(setup, tmp_path / "ddp", phonetic_weight=1.0, phonetic_output_weight=1.0, max_steps=4)
    path = tmp_path / "ddp.yaml"
    data = dataclasses.asdict(cfg)
    data["betas"] = list(data["betas"])
    path.write_text(yaml.safe_dump(data))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           "-m", "codec.distill", "--config", str(path)], capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ckpt = load_file(str(tmp_path / "ddp" / "checkpoint.safetensors"))
    assert any(k.startswith("aux.phonetic_head.") for k in ckpt)
