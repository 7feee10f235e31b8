"""GAN training of a codec: single process or ``torchrun`` DDP (gloo on CPU, nccl on GPU).

    torchrun --nproc_per_node=2 -m codec.train --config recipes/libritts/conf/hificodec.yaml

Losses: multi-scale log-mel L1, multi-period + multi-resolution STFT discriminators
(adversarial + feature matching, from ``adv_start_step``), commitment/codebook.  Every
``ckpt_every`` steps an atomic checkpoint is written; ``--resume`` continues bit-for-bit
(the data order is a pure function of seed and step, RNGs are restored).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Iterator

import torch
import torch.distributed as dist
import yaml
from torch import Tensor, nn
from tqdm import tqdm
from torch.nn.parallel import DistributedDataParallel as DDP

from .checkpoint import LATEST, load_checkpoint, load_module_weights, save_checkpoint
from .config import CodecConfig, load_preset
from .data import AudioSegmentDataset, ShardSampler, read_manifest
from .discriminators import DISCRIMINATOR_PRESETS, Discriminators
from .errors import describe
from .losses import LossWeights, MultiScaleMelLoss, discriminator_loss, feature_matching_loss, generator_adversarial_loss
from .model import Codec
from .perceptual import PesqLikeLoss
from .time_budget import TimeBudget
from .train_logging import TrainLogger
from .typed_config import ConfigError, build, check_inputs, coerce_fields, read_yaml_mapping

FREEZABLE = ("encoder", "quantizer", "decoder")


@dataclass
class TrainConfig:
    """One training run; loaded from YAML (``codec: {preset: ..., overrides...}``)."""

    train_manifest: str
    out_dir: str
    codec: dict[str, Any] = field(default_factory=lambda: {"preset": "hificodec-small"})
    dev_manifest: str | None = None
    init_from: str | None = None  # start the generator from a saved codec directory
    init_disc_from: str | None = None  # a training checkpoint whose discriminators start this run's
    decoder_layers: int = 0  # with init_from: deepen its decoder to this many blocks, output unchanged (Codec.grow_decoder)
    segment_seconds: float = 1.0
    batch_size: int = 8
    max_steps: int = 10000
    lr: float = 5e-4
    lr_disc: float = 2e-4
    betas: tuple[float, float] = (0.8, 0.99)
    weight_decay: float = 0.01
    warmup_steps: int = 200
    min_lr_ratio: float = 0.1
    grad_clip: float = 1.0
    adv_start_step: int = 0
    discriminator: str = "default"
    # parts of the codec held fixed: ``[encoder, quantizer]`` trains the decoder alone, so every
    # code keeps its meaning and a TTS trained on the codes stays valid (``codes_hash`` unchanged)
    frozen: list[str] = field(default_factory=list)
    weights: LossWeights = field(default_factory=LossWeights)
    perceptual_filtering_db: float = 0.0  # colouring weights.perceptual forgives per band (PESQ: 20; codec.perceptual)
    log_every: int = 25
    ckpt_every: int = 250
    sample_every: int = 500
    seed: int = 0
    amp: bool = True  # bf16 autocast, GPU only
    threads: int = 0  # torch intra-op threads on CPU (0: leave as is)

    INPUTS: ClassVar[tuple[str, ...]] = ("train_manifest", "dev_manifest", "init_from", "init_disc_from")

    def __post_init__(self) -> None:
        coerce_fields(self)  # also turns a weights mapping into LossWeights
        if set(self.frozen) - set(FREEZABLE) or set(self.frozen) == set(FREEZABLE):
            raise ConfigError(f"frozen must name some, not all, of {list(FREEZABLE)}; got {self.frozen}")
        if self.decoder_layers and not self.init_from:
            raise ConfigError("decoder_layers deepens init_from's decoder; a new codec sets codec: {decoder_layers: N}")

    def codec_config(self) -> CodecConfig:
        spec = dict(self.codec)
        preset = spec.pop("preset", None)
        return load_preset(preset, **spec) if preset else CodecConfig.from_dict(spec)

    @classmethod
    def from_yaml(cls, path: str | Path, **overrides: Any) -> "TrainConfig":
        data = read_yaml_mapping(path)
        data.update({k: v for k, v in overrides.items() if v is not None})
        return build(cls, data, str(path))


def lr_factor(step: int, cfg: TrainConfig) -> float:
    """Linear warmup then cosine decay to ``min_lr_ratio``: a pure function of step."""
    if step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    progress = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.max_steps - cfg.warmup_steps))
    return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


@dataclass
class Dist:
    rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup_distributed() -> Dist:
    """Join the torchrun group when launched by torchrun; gloo on CPU, nccl on GPU."""
    if "RANK" not in os.environ:
        return Dist(device=torch.device("cuda" if torch.cuda.is_available() else "cpu"))
    cuda = torch.cuda.is_available()
    dist.init_process_group("nccl" if cuda else "gloo")
    rank, local = dist.get_rank(), int(os.environ.get("LOCAL_RANK", 0))
    device = torch.device(f"cuda:{local}") if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    return Dist(rank, dist.get_world_size(), device)


def batches(dataset: AudioSegmentDataset, sampler: ShardSampler, batch_size: int, start_step: int) -> Iterator[Tensor]:
    """Batches from ``start_step`` on; epoch and offset follow from the step alone."""
    per_epoch = len(sampler) // batch_size
    if per_epoch == 0:
        raise ValueError(f"batch_size {batch_size} exceeds this rank's shard of {len(sampler)} utterances")
    step = start_step
    while True:
        epoch, offset = divmod(step, per_epoch)
        sampler.set_epoch(epoch)
        dataset.set_epoch(epoch)
        indices = list(sampler)[offset * batch_size : per_epoch * batch_size]
        for b in range(0, len(indices), batch_size):
            yield torch.stack([dataset[i] for i in indices[b : b + batch_size]])
            step += 1


class Trainer:
    """Owns models, optimizers, the step loop and checkpoints for one run."""

    def __init__(self, cfg: TrainConfig, env: Dist) -> None:
        self.cfg, self.env = cfg, env
        self.out = Path(cfg.out_dir)
        torch.manual_seed(cfg.seed)
        self.codec = self.build_codec().to(env.device)
        self.frozen = [getattr(self.codec, name).requires_grad_(False) for name in cfg.frozen]
        self.disc = Discriminators(DISCRIMINATOR_PRESETS[cfg.discriminator])
        if cfg.init_disc_from:  # a fine-tune keeps its GAN warm instead of retraining the critic
            load_module_weights(cfg.init_disc_from, "disc", self.disc)
        self.disc = self.disc.to(env.device)
        self.mel_loss = MultiScaleMelLoss(self.codec.sample_rate).to(env.device)
        self.perceptual_loss = (PesqLikeLoss(self.codec.sample_rate, filtering_db=cfg.perceptual_filtering_db).to(env.device)
                                if cfg.weights.perceptual else None)
        self.aux = nn.ModuleDict(self.build_aux()).to(env.device)
        self.gen_params = [p for p in (*self.codec.parameters(), *self.aux.parameters()) if p.requires_grad]
        self.opt_g = torch.optim.AdamW(self.gen_params, cfg.lr, cfg.betas, weight_decay=cfg.weight_decay)
        self.opt_d = torch.optim.AdamW(self.disc.parameters(), cfg.lr_disc, cfg.betas, weight_decay=cfg.weight_decay)
        self.gen, self.dis, self.aux_fwd = self.codec, self.disc, dict(self.aux.items())
        if env.world_size > 1:
            ids = [env.device.index] if env.device.type == "cuda" else None
            self.gen = DDP(self.codec, ids, broadcast_buffers=False, find_unused_parameters=True)
            self.dis = DDP(self.disc, ids, broadcast_buffers=False)
            self.aux_fwd = {name: DDP(m, ids, broadcast_buffers=False) for name, m in self.aux.items()}
        self.step = 0
        self.fitted_max_steps: int | None = None  # set by a time budget; checkpointed so --resume keeps it
        self.logger = TrainLogger(self.out / "tensorboard", enabled=env.main)

    def build_codec(self) -> Codec:
        if self.cfg.init_from:
            codec = Codec.from_pretrained(self.cfg.init_from)
            if self.cfg.decoder_layers:
                codec.grow_decoder(self.cfg.decoder_layers)
            return codec.train()
        return Codec(self.cfg.codec_config()).train()

    def build_aux(self) -> dict[str, nn.Module]:
        """Trainable helpers of the generator loss (not part of the codec): trained with the
        generator's optimizer, synchronized under DDP and checkpointed, never published."""
        return {}

    def checkpoint_parts(self) -> tuple[dict[str, nn.Module], dict[str, torch.optim.Optimizer]]:
        modules = {"codec": self.codec, "disc": self.disc, **({"aux": self.aux} if len(self.aux) else {})}
        return modules, {"gen": self.opt_g, "disc": self.opt_d}

    def save(self) -> None:
        if self.env.main:
            modules, opts = self.checkpoint_parts()
            save_checkpoint(self.out / LATEST, self.step, modules, opts, budget_extra(self))
            self.codec.save_pretrained(self.out / "model")

    def resume(self) -> bool:
        path = self.out / LATEST
        if not path.exists():
            return False
        modules, opts = self.checkpoint_parts()
        state = load_checkpoint(path, modules, opts)  # ranks share one RNG stream
        self.step, self.fitted_max_steps = state["step"], state["extra"].get("fitted_max_steps")
        return True

    def autocast(self):
        enabled = self.cfg.amp and self.env.device.type == "cuda"
        return torch.autocast(self.env.device.type, dtype=torch.bfloat16, enabled=enabled)

    def adversarial(self) -> bool:
        return self.step >= self.cfg.adv_start_step and self.cfg.weights.adversarial > 0

    def generator_loss(self, wav: Tensor, out) -> tuple[Tensor, dict[str, float]]:
        """Reconstruction + adversarial + codebook terms; subclasses add distillation."""
        w = self.cfg.weights
        mel = self.mel_loss(out.audio, wav)
        loss = w.mel * mel + w.commitment * out.commit_loss + w.codebook * out.codebook_loss
        logs = {"loss/mel": mel.item(), "loss/commit": out.commit_loss.item()}
        if self.perceptual_loss is not None:
            heard = self.perceptual_loss(out.audio, wav)
            loss = loss + w.perceptual * heard
            logs["loss/perceptual"] = heard.item()
        if self.adversarial():
            real, fake = self.dis(wav), self.dis(out.audio)
            adv, feat = generator_adversarial_loss(fake), feature_matching_loss(real, fake)
            loss = loss + w.adversarial * adv + w.feature * feat
            logs.update({"loss/adv": adv.item(), "loss/feature": feat.item()})
        return loss, logs

    def discriminator_step(self, wav: Tensor, fake: Tensor) -> float:
        with self.autocast():
            loss = discriminator_loss(self.dis(wav), self.dis(fake.detach()))
        self.opt_d.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(self.disc.parameters(), self.cfg.grad_clip)
        self.opt_d.step()
        return loss.item()

    def train_step(self, wav: Tensor) -> dict[str, float]:
        for opt, base in ((self.opt_g, self.cfg.lr), (self.opt_d, self.cfg.lr_disc)):
            for group in opt.param_groups:
                group["lr"] = base * lr_factor(self.step, self.cfg)
        for module in self.frozen:  # eval: a frozen quantizer must not restart codes or move its EMA
            module.eval()
        with self.autocast():
            out = self.gen(wav)
        logs = {"loss/disc": self.discriminator_step(wav, out.audio)} if self.adversarial() else {}
        with self.autocast():
            loss, g_logs = self.generator_loss(wav, out)
        self.opt_g.zero_grad(set_to_none=True)
        loss.backward()
        logs["grad_norm"] = float(nn.utils.clip_grad_norm_(self.gen_params, self.cfg.grad_clip))
        self.opt_g.step()
        logs.update(g_logs, lr=self.opt_g.param_groups[0]["lr"])
        return logs

    def fit(self, stop_after: int | None = None, budget: TimeBudget | None = None) -> None:
        """Train to ``max_steps``; ``stop_after`` ends early (checkpointed) without changing the
        schedule; ``budget`` fits ``max_steps`` to wall-clock time (codec.time_budget)."""
        cfg, env = self.cfg, self.env
        sr = self.codec.sample_rate
        segment = int(cfg.segment_seconds * sr) // self.codec.hop * self.codec.hop
        items = read_manifest(cfg.train_manifest)
        dataset = AudioSegmentDataset(items, segment, sr, seed=cfg.seed)
        sampler = ShardSampler(len(items), rank=env.rank, world_size=env.world_size, seed=cfg.seed)
        stream = batches(dataset, sampler, cfg.batch_size, self.step)
        dev = read_manifest(cfg.dev_manifest)[:4] if cfg.dev_manifest and env.main else []
        for progress in steps(self, stop_after, budget):
            logs = self.train_step(next(stream).to(env.device))
            self.step += 1
            if self.step % cfg.log_every == 0:
                self.logger.scalars(self.step, logs, self.codec.quantizer.stats())
                progress.set_postfix(mel=f"{logs['loss/mel']:.3f}")
            if dev and (self.step % cfg.sample_every == 0 or self.step == cfg.max_steps):
                self.logger.samples(self.step, self.codec, dev)


def steps(trainer, stop_after: int | None, budget: TimeBudget | None) -> Iterator[tqdm]:
    """The step loop both trainers share: yields its progress bar until ``max_steps`` (or
    ``stop_after``), the caller trains one step and advances ``trainer.step``; checkpoints every
    ``ckpt_every`` and at the end, refits ``max_steps`` to ``budget`` and stops, checkpointed,
    at its deadline."""
    cfg = trainer.cfg
    progress = trainer.logger.progress(cfg.max_steps, trainer.step)
    if budget is not None:
        budget.start(trainer.step)
    while trainer.step < (last := min(cfg.max_steps, stop_after or cfg.max_steps)):
        yield progress
        progress.update(1)
        out_of_time = budget is not None and budget.after_step(trainer.step, cfg)
        if budget is not None and budget.fitted == cfg.max_steps != progress.total:
            trainer.fitted_max_steps = progress.total = cfg.max_steps
            last = min(cfg.max_steps, stop_after or cfg.max_steps)
            if trainer.env.main:
                progress.write(budget.describe(), file=sys.stderr)
        if trainer.step % cfg.ckpt_every == 0 or trainer.step == last or out_of_time:
            trainer.save()
        if out_of_time:
            if trainer.env.main:
                progress.write(f"time budget spent: stopped at step {trainer.step} (checkpointed)", file=sys.stderr)
            break
    progress.close()


def budget_extra(trainer) -> dict[str, int]:
    """Checkpoint metadata: the step count a time budget fitted, which ``--resume`` keeps."""
    return {"fitted_max_steps": trainer.fitted_max_steps} if trainer.fitted_max_steps else {}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Train a codec (run under torchrun for DDP)")
    p.add_argument("--config", required=True, help="training YAML")
    p.add_argument("--out-dir", help="override out_dir")
    p.add_argument("--max-steps", type=int, help="override max_steps")
    p.add_argument("--resume", action="store_true", help="continue from out_dir/checkpoint.safetensors")
    p.add_argument("--stop-after", type=int, help="checkpoint and stop at this step (schedule unchanged)")
    p.add_argument("--time-budget", type=float, metavar="SECONDS",
                   help="fit max_steps to this much wall-clock time (the rate measured over steps 50-200) and "
                        "stop, checkpointed, when it is spent; a later --resume keeps the fitted max_steps")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a top-level config field (VALUE parsed as YAML); repeatable")
    return p.parse_args(argv)


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``["lr=1e-4", "codec={preset: x}"]`` -> ``{"lr": 0.0001, "codec": {"preset": "x"}}``."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"--set expects KEY=VALUE, got {item!r}")
        try:
            out[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError:
            raise ConfigError(f"--set {item}: the value is not valid YAML") from None
    return out


def config_from_args(cfg_cls: type[TrainConfig], args: argparse.Namespace) -> TrainConfig:
    """The YAML config with ``--set`` overrides; ``--out-dir`` / ``--max-steps`` win over ``--set``."""
    overrides = parse_overrides(args.overrides)
    overrides.update({k: v for k, v in (("out_dir", args.out_dir), ("max_steps", args.max_steps)) if v is not None})
    return cfg_cls.from_yaml(args.config, **overrides)


def run(trainer_cls: type[Trainer], cfg_cls: type[TrainConfig], argv: list[str] | None = None) -> int:
    """Shared entry for train and distill: config, distributed setup, resume, fit."""
    args = parse_args(argv)
    try:
        cfg = config_from_args(cfg_cls, args)
        check_inputs(cfg)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        env = setup_distributed()
        budget = TimeBudget(args.time_budget) if args.time_budget is not None else None
        trainer = trainer_cls(cfg, env)  # model config, data, init_from: a mistake there is the user's too
    except (ValueError, OSError) as e:  # ConfigError included: one line, not a traceback
        raise SystemExit(f"error: {describe(e)}") from None
    if args.resume and trainer.resume():
        kept = args.max_steps is None and budget is None and trainer.fitted_max_steps
        if kept:  # the schedule the interrupted run fitted to its budget, not the YAML's
            cfg.max_steps = trainer.fitted_max_steps
        if env.main:
            print(f"resumed from step {trainer.step}" + (f" (max_steps {cfg.max_steps}, fitted to its time budget)"
                                                        if kept else ""), file=sys.stderr)
    try:
        trainer.fit(args.stop_after, budget)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    return 0


def main(argv: list[str] | None = None) -> int:
    return run(Trainer, TrainConfig, argv)


if __name__ == "__main__":
    sys.exit(main())
