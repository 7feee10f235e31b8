"""Codec training as the recipe runs it: real subprocesses, real files, real torchrun."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from codec import audio
from codec.model import Codec

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """A few seconds of voiced-like synthetic audio with JSONL manifests."""
    root = tmp_path_factory.mktemp("corpus")
    rng = np.random.default_rng(0)
    for split, n in (("train", 6), ("dev", 2)):
        rows = []
        for i in range(n):
            t = np.arange(int(24000 * 0.6)) / 24000
            f0 = 110 + 30 * i
            wav = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 6)) * 0.15
            wav = (wav + 0.01 * rng.standard_normal(t.size)).astype(np.float32)
            path = root / f"{split}{i}.wav"
            audio.save(path, wav, 24000)
            rows.append({"id": path.stem, "path": path.name, "duration": 0.6, "sample_rate": 24000})
        (root / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


def _config(corpus: Path, out: Path, **extra) -> Path:
    cfg = {
        "codec": {"preset": "hificodec-tiny"}, "train_manifest": str(corpus / "train.jsonl"),
        "dev_manifest": str(corpus / "dev.jsonl"), "out_dir": str(out), "segment_seconds": 0.2,
        "batch_size": 2, "max_steps": 8, "warmup_steps": 2, "adv_start_step": 4, "discriminator": "tiny",
        "log_every": 2, "ckpt_every": 4, "sample_every": 8, "threads": 1, **extra,
    }
    path = out.with_suffix(".yaml")
    path.write_text(yaml.safe_dump(cfg))
    return path


def _run(*args: str) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]


def _hash(out: Path) -> str:
    return Codec.from_pretrained(out / "model").weights_hash()


CODEC_CONFS = sorted(p for p in (ROOT / "recipes" / "libritts" / "conf").glob("*.yaml") if not p.stem.startswith("tts_"))


@pytest.mark.parametrize("path", CODEC_CONFS, ids=lambda p: p.stem)
def test_every_codec_recipe_config_loads(path):
    """A typo in a recipe YAML must fail here, not an hour into run.sh (tests/test_tts.py loads
    the tts_* ones)."""
    from codec.distill import DistillConfig
    from codec.train import TrainConfig

    data = yaml.safe_load(path.read_text())
    cfg = (DistillConfig if {"teacher", "phonetic_teacher"} & set(data) else TrainConfig).from_yaml(path)
    assert cfg.codec_config().sample_rate == 24000 and cfg.max_steps > 0


def _state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in module.state_dict().items()}


def test_decoder_only_finetune_keeps_every_code(corpus, tmp_path):
    """``frozen: [encoder, quantizer]`` retrains the decoder (GAN on) and nothing else: the
    codes of any audio stay the same, so the codes hash that binds a TTS is unchanged."""
    from codec.pretrained import load_codec
    from codec.train import Dist, Trainer, TrainConfig

    init = tmp_path / "init"
    base = load_codec("distilcodec-tiny").train()
    with torch.no_grad():  # a trained-looking codebook: k-means init on latents
        base.quantizer(base.latent(torch.randn(2, 4800)))
    base.save_pretrained(init)
    base = Codec.from_pretrained(init)
    wav = torch.from_numpy(audio.load(corpus / "dev0.wav", 24000))[None]

    def finetune(out: Path, frozen: list[str], **extra) -> Codec:
        cfg = TrainConfig.from_yaml(_config(corpus, out, codec={"preset": "distilcodec-tiny"}, init_from=str(init),
                                            frozen=frozen, max_steps=3, adv_start_step=0, lr=1e-2, **extra))
        Trainer(cfg, Dist()).fit()
        return Codec.from_pretrained(out / "model")

    tuned = finetune(tmp_path / "decoder", ["encoder", "quantizer"])
    for part in ("encoder", "quantizer"):
        before, after = _state(getattr(base, part)), _state(getattr(tuned, part))
        assert all(torch.equal(before[k], after[k]) for k in before), part
    before, after = _state(base.decoder), _state(tuned.decoder)
    assert any(not torch.equal(before[k], after[k]) for k in before)
    assert tuned.weights_hash() != base.weights_hash() and tuned.codes_hash() == base.codes_hash()
    assert torch.equal(tuned.encode(wav), base.encode(wav))
    assert not torch.equal(tuned.decode(base.encode(wav)), base.decode(base.encode(wav)))

    whole = finetune(tmp_path / "whole", [])  # the control: training everything moves the codes
    assert whole.codes_hash() != base.codes_hash()

    depth = len(base.decoder.layers[0].blocks)  # a deeper decoder on the same codes
    grown = finetune(tmp_path / "grown", ["encoder", "quantizer"], decoder_layers=depth + 2)
    assert grown.cfg.decoder_layers == depth + 2 and len(grown.decoder.layers[0].blocks) == depth + 2
    assert grown.codes_hash() == base.codes_hash()
    assert all(bool(block.pwconv2.weight.abs().sum() > 0) for block in grown.decoder.layers[0].blocks[depth:])  # learned
    with pytest.raises(ValueError, match="deepens init_from"):
        TrainConfig(train_manifest="x", out_dir="y", decoder_layers=8)

    with pytest.raises(ValueError, match="some, not all"):
        TrainConfig(train_manifest="x", out_dir="y", frozen=["encoder", "quantizer", "decoder"])
    with pytest.raises(ValueError, match="some, not all"):
        TrainConfig(train_manifest="x", out_dir="y", frozen=["vocoder"])


def test_perceptual_weight_adds_the_pesq_shaped_term(corpus, tmp_path):
    """``weights.perceptual`` adds codec.perceptual's disturbance to the generator loss (and
    builds nothing at 0)."""
    from codec.train import Dist, Trainer, TrainConfig

    def trainer(weight: float) -> Trainer:
        return Trainer(TrainConfig.from_yaml(_config(corpus, tmp_path / f"w{weight}", weights={"perceptual": weight},
                                                     adv_start_step=100)), Dist())

    off, on = trainer(0.0), trainer(5.0)
    assert off.perceptual_loss is None
    wav = torch.from_numpy(audio.load(corpus / "train0.wav", 24000))[None, :4800]
    with torch.no_grad():
        out = on.codec(wav)
        loss_off, logs_off = off.generator_loss(wav, out)
        loss_on, logs_on = on.generator_loss(wav, out)
    assert "loss/perceptual" not in logs_off and logs_on["loss/perceptual"] > 0
    assert torch.isclose(loss_on, loss_off + 5.0 * logs_on["loss/perceptual"])


@pytest.mark.slow(seconds=35)
def test_train_stop_resume_is_bit_exact_and_distill(corpus, tmp_path):
    full = tmp_path / "full"
    _run("-m", "codec.train", "--config", str(_config(corpus, full)))
    assert (full / "checkpoint.safetensors").exists() and (full / "tensorboard").is_dir()

    split = tmp_path / "split"
    cfg = _config(corpus, split)
    _run("-m", "codec.train", "--config", str(cfg), "--stop-after", "4")
    _run("-m", "codec.train", "--config", str(cfg), "--resume")
    assert _hash(split) == _hash(full)

    student = tmp_path / "student"
    dcfg = _config(corpus, student, codec={"preset": "distilcodec-tiny"}, teacher=str(full / "model"))
    _run("-m", "codec.distill", "--config", str(dcfg))
    model = Codec.from_pretrained(student / "model")
    assert model.cfg.quantizer.kind == "single"

    # k-means refit of the student's codebook, then a warm fine-tune (student's discriminators)
    refit = subprocess.run([sys.executable, "-m", "codec.refit", "--model", str(student / "model"), "--manifest",
                            str(corpus / "train.jsonl"), "--out", str(tmp_path / "refit"), "--iters", "5",
                            "--ema-decay", "0.995"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert refit.returncode == 0, refit.stderr[-2000:]
    before, after = (float(line.split("usage ")[1].split("%")[0]) for line in refit.stdout.splitlines()[:2])
    assert after == 100.0 and before < after
    refitted = Codec.from_pretrained(tmp_path / "refit")
    assert refitted.cfg.quantizer.ema_decay == 0.995
    assert not torch.equal(refitted.quantizer.vq.codebook(), model.quantizer.vq.codebook())
    finetuned = tmp_path / "finetuned"
    fcfg = _config(corpus, finetuned, codec={"preset": "distilcodec-tiny"}, teacher=str(full / "model"),
                   init_from=str(tmp_path / "refit"), init_disc_from=str(student / "checkpoint.safetensors"),
                   max_steps=2, adv_start_step=0, teacher_mel_weight=0.0)
    _run("-m", "codec.distill", "--config", str(fcfg))
    assert Codec.from_pretrained(finetuned / "model").cfg.quantizer.ema_decay == 0.995

    wrong = subprocess.run([sys.executable, "-m", "codec.refit", "--model", str(full / "model"), "--manifest",
                            str(corpus / "train.jsonl"), "--out", str(tmp_path / "x")], capture_output=True, text=True,
                           cwd=ROOT, timeout=300)
    assert wrong.returncode == 2 and wrong.stderr.strip().splitlines()[-1].startswith("refit: error: needs a single-codebook codec")


@pytest.mark.slow(seconds=10)
def test_torchrun_two_processes(corpus, tmp_path):
    out = tmp_path / "ddp"
    cfg = _config(corpus, out)
    _run("-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "codec.train", "--config", str(cfg))
    assert (out / "model" / "model.safetensors").exists()
    assert _hash(out) != Codec(Codec.from_pretrained(out / "model").cfg).weights_hash()


def test_run_sh_refuses_a_speeds_phase_without_speeds(tmp_path):
    """--tts-speeds-conf with the corpus as recorded would train a 'speed' phase on nothing new:
    refused in one line before any stage runs."""
    proc = subprocess.run(["bash", "recipes/libritts/run.sh", "--exp", str(tmp_path), "--stage", "99",
                           "--tts-speeds-conf", "recipes/libritts/conf/tts_small_gpu_speeds.yaml"],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [
        "run.sh: --tts-speeds-conf trains on speed-perturbed voices: give --tts-speeds too (e.g. 0.9,1.0,1.1)"]
    assert not any(tmp_path.iterdir())


@pytest.mark.slow(seconds=330)
def test_recipe_end_to_end_tiny(tmp_path):
    """run.sh --size tiny: espeak corpus, manifests, train, resume, distill, evaluate, publish, load;
    then the TTS stages: corpus tokens, BPE, train, publish with ONNX, synthesize; the CTC
    recognizer and the TTS word-error-rate table."""
    if subprocess.run(["which", "espeak-ng"], capture_output=True).returncode:
        pytest.skip("espeak-ng not installed (make system-deps)")
    corpus, exp, models = tmp_path / "corpus", tmp_path / "exp", tmp_path / "models"
    env = {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"}

    def run_sh(*args: str) -> str:
        cmd = ["bash", "recipes/libritts/run.sh", "--size", "tiny", "--corpus", str(corpus), "--exp", str(exp), "--models", str(models), *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, timeout=900)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return proc.stderr

    run_sh("--stop-stage", "1")
    assert sum(1 for _ in open(corpus / "manifests" / "test.jsonl")) == 3
    manifests = [f"train_manifest={corpus}/manifests/train.jsonl", f"dev_manifest={corpus}/manifests/dev.jsonl"]
    first = subprocess.run([sys.executable, "-m", "codec.train", "--config", "recipes/libritts/conf/tiny.yaml",
                            "--out-dir", str(exp / "teacher"), "--stop-after", "4", "--set", manifests[0], "--set", manifests[1]],
                           capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
    assert first.returncode == 0, first.stderr[-2000:]  # stopped early: stage 2 must resume from step 4
    log = run_sh("--stage", "2", "--stop-stage", "11", "--tts-speeds", "0.9,1.0")
    assert "resumed from step 4" in log
    table = (exp / "eval" / "codec.md").read_text()
    assert "| hificodec-tiny |" in table and "| distilcodec-tiny |" in table and "Opus" in table
    assert "WER ↓" in table and "ground truth" in table
    for name, kind in (("hificodec", "grvq"), ("distilcodec", "single")):
        model = Codec.from_pretrained(models / name)
        assert model.cfg.name == name and model.cfg.quantizer.kind == kind
        assert all((models / name / f"{g}.onnx").is_file() for g in ("encoder", "decoder", "encoder_step", "decoder_step"))
    decoded, refit = Codec.from_pretrained(exp / "student_decoder" / "model"), Codec.from_pretrained(exp / "student_final" / "model")
    assert decoded.codes_hash() == refit.codes_hash() != Codec.from_pretrained(exp / "student_ft" / "model").codes_hash()
    assert decoded.weights_hash() != refit.weights_hash()  # the decoder-only fine-tune ran ...
    assert Codec.from_pretrained(models / "distilcodec").weights_hash() == decoded.weights_hash()  # ... and was published
    from safetensors import safe_open

    with safe_open(str(exp / "student_ft" / "checkpoint.safetensors"), "pt") as f:  # phonetic distillation ran
        assert any(k.startswith("aux.phonetic_head.") for k in f.keys())
    assert (exp / "asr_teacher" / "model.safetensors").is_file()  # the teacher is not the judge (exp/asr)
    wer_table = (exp / "eval" / "tts.md").read_text()
    assert "| ctc |" in wer_table and "2 held-out sentences" in wer_table
    assert "Reading start (aligned heads" in wer_table  # read from the heads the training recorded
    assert "Speaker similarity (cosine of" in wer_table  # the recipe's speaker encoder (stage 10)
    assert {p.name for p in (models / "speaker").iterdir()} == {"config.json", "model.safetensors", "speaker.onnx"}
    assert {p.name for p in (models / "asr").iterdir()} == {"config.json", "model.safetensors"}
    assert {p.name for p in (models / "asr_verifier").iterdir()} == {"config.json", "model.safetensors", "asr.onnx"}
    served = (exp / "eval" / "tts_best4.md").read_text()  # best-of-N, judged by the other recognizer
    assert "best of 4 by" in served and "cut to its first words within 3 s" in served and "voice prompts median" in served
    pairs = (exp / "eval" / "tts_pairs.md").read_text()  # two sentences per request
    assert "2 held-out requests" in pairs and "each request 2 sentences in a row" in pairs and "| ctc |" in pairs
    assert "TTS teacher-forced" not in pairs and "Speaker similarity" in pairs
    from tts.model import TtsModel

    from tts.data import read_tokens

    train_rows, _, train_meta = read_tokens(exp / "tts" / "tokens" / "train.safetensors")
    assert train_meta["speeds"] == "[1.0]" and len(train_rows) == 12  # phases 1-2: the voices as recorded
    sp_rows, _, sp_meta = read_tokens(exp / "tts" / "tokens" / "train_sp.safetensors")
    assert sp_meta["speeds"] == "[0.9, 1.0]" and len(sp_rows) == 2 * 12  # phase 3: speed-perturbed training voices
    assert read_tokens(exp / "tts" / "tokens" / "dev.safetensors")[2]["speeds"] == "[1.0]"  # held out: as recorded
    assert (exp / "tts" / "finetune" / "model" / "config.json").is_file()  # the self_feed phase ran
    tuned = TtsModel.from_pretrained(exp / "tts" / "speeds" / "model").half().float()  # then the speeds phase from it
    published = TtsModel.from_pretrained(models / "tts")  # ... which is what stage 9 published
    assert (published.cfg.align_layers, published.cfg.align_heads) == ((1,), 1)  # tts_tiny.yaml's guided heads
    assert all(torch.equal(a, b) for a, b in zip(tuned.state_dict().values(), published.state_dict().values()))
    tts_files = {p.name for p in (models / "tts").iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "tts.onnx"} <= tts_files
    proc = subprocess.run([sys.executable, "-m", "tts.cli", "synthesize", "Three birds.", "-o", str(tmp_path / "s.wav"),
                           "--model", str(models / "tts")], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]

    # preference optimization of what stage 9 published, two rounds, each round's pairs drawn by two processes
    # at once: round 2 draws from round 1's published model, optimizes it and is published over it
    run_sh("--stage", "12", "--tts-speeds", "0.9,1.0", "--tts-dpo-draw-jobs", "2", "--tts-dpo-rounds", "2")
    from tts.preference import PAIRS_KIND

    pair_rows, _, pair_meta = read_tokens(exp / "tts" / "dpo1" / "pairs.safetensors")
    shards = [m["settings"] for m in json.loads(pair_meta["merged"])]
    assert pair_meta["kind"] == PAIRS_KIND and [s["shard"] for s in shards] == ["0/2", "1/2"]
    assert {s["source"] for s in shards} == {"train_sp.safetensors"} and pair_meta["drawn"] == "8"
    assert pair_rows and pair_meta["tts_weights_hash"] == published.weights_hash()  # drawn from stage 9's model
    first = TtsModel.from_pretrained(exp / "tts" / "dpo1" / "model").half().float()  # as round 1 published it
    second_meta = read_tokens(exp / "tts" / "dpo2" / "pairs.safetensors")[2]
    assert [m["settings"]["seed"] for m in json.loads(second_meta["merged"])] == [2, 2]
    assert second_meta["tts_weights_hash"] == first.weights_hash() != published.weights_hash()
    third = TtsModel.from_pretrained(models / "tts")
    second = TtsModel.from_pretrained(exp / "tts" / "dpo2" / "model").half().float()
    assert all(torch.equal(a, b) for a, b in zip(second.state_dict().values(), third.state_dict().values()))
    assert third.weights_hash() != first.weights_hash()
    assert "| ctc |" in (exp / "eval" / "tts_dpo_best4.md").read_text()


def test_the_rate_is_measured_after_the_slow_first_steps():
    """--time-budget: the cosine schedule's length from the rate after warm-up, a stop at the deadline."""
    from codec.time_budget import TimeBudget

    now = [0.0]
    budget = TimeBudget(100, probe=(2, 5), reserve=4, clock=lambda: now[0])
    budget.start(10)
    cfg = type("Cfg", (), {"max_steps": 1000})()
    for step, seconds in zip(range(11, 16), (10, 10, 1, 1, 1)):  # two slow warm-up steps, then 1 s/step
        now[0] += seconds
        assert budget.after_step(step, cfg) is False
    # at step 15, 23 s spent: (100 - 4 - 23) s left at 1 s/step
    assert cfg.max_steps == budget.fitted == 15 + 73
    now[0] = 95.9
    assert budget.after_step(20, cfg) is False  # before the deadline (100 - 4)
    now[0] = 96.0
    assert budget.after_step(21, cfg) is False  # checked every 10 steps only
    assert budget.after_step(30, cfg) is True
    with pytest.raises(ValueError, match="> 0 seconds"):
        TimeBudget(0)
    with pytest.raises(ValueError, match="increasing"):
        TimeBudget(10, probe=(5, 5))


def _stepped_clock(trainer_ref: list, slow_after: int):
    """Seconds as a function of the trainer's step: 0.5 s/step, 2 s/step after ``slow_after``."""
    def clock() -> float:
        step = trainer_ref[0].step if trainer_ref else 0
        return 0.5 * min(step, slow_after) + 2.0 * max(0, step - slow_after)
    return clock


def test_a_budget_fits_max_steps_stops_at_its_deadline_and_resume_keeps_the_fit(corpus, tmp_path):
    from codec.checkpoint import _training_state
    from codec.train import Dist, Trainer, TrainConfig, main

    path = _config(corpus, tmp_path / "run", max_steps=100, ckpt_every=1000, sample_every=1000)
    from codec.time_budget import TimeBudget

    ref: list = []
    budget = TimeBudget(10, probe=(1, 3), reserve=0, clock=_stepped_clock(ref, slow_after=5))
    trainer = Trainer(TrainConfig.from_yaml(path), Dist())
    ref.append(trainer)
    trainer.fit(budget=budget)
    # 0.5 s/step measured over steps 1-3 -> 3 + (10 - 1.5) / 0.5 = 20 steps; the run slowed to
    # 2 s/step after step 5, so the deadline (10 s, step 8.75) stopped it at the check of step 10
    assert budget.fitted == 20 and trainer.step == 10
    assert _training_state(tmp_path / "run" / "checkpoint.safetensors")["extra"] == {"fitted_max_steps": 20}
    main(["--config", str(path), "--resume"])  # YAML says 100; the fitted schedule is kept
    assert _training_state(tmp_path / "run" / "checkpoint.safetensors")["step"] == 20
