"""Train the TTS decoder on cached codec tokens: single process or ``torchrun`` DDP.

    torchrun --nproc_per_node=2 -m tts.train --config recipes/libritts/conf/tts_small.yaml

Shares the codec trainer's machinery: distributed setup, ``--resume`` (bit-exact: batches are
a pure function of seed and step, RNGs restored), ``--stop-after``, ``--set KEY=VALUE``,
atomic safetensors checkpoints, TensorBoard scalars and synthesized audio samples, tqdm.
"""

from __future__ import annotations

import functools
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Iterator

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP

from codec.checkpoint import LATEST, load_checkpoint, save_checkpoint
from codec.time_budget import TimeBudget
from codec.train import Dist, budget_extra, lr_factor, run, steps
from codec.train_logging import TrainLogger
from codec.typed_config import ConfigError, build, coerce_fields, read_yaml_mapping

from .alignment import AlignConfig, Aligner, token_lengths
from .config import TtsConfig, load_preset
from .data import TokenDataset, collate, corrupt_speech, drop_text, length_buckets, read_tokens, speech_ce, text_reliance
from .model import TtsModel
from .self_feed import feed_own_predictions

from .text import TOKENIZER_FILE, TextTokenizer


@dataclass
class TtsTrainConfig:
    train_tokens: str
    tokenizer: str
    out_dir: str
    dev_tokens: str | None = None
    model: dict[str, Any] = field(default_factory=lambda: {"preset": "small"})
    init_from: str | None = None  # warm start from a published TTS directory (weights only)
    init_new_text: bool = False  # init_from with another tokenizer: fresh text embeddings, rest kept
    align: AlignConfig = field(default_factory=AlignConfig)  # guided attention (tts.alignment)
    token_noise: float = 0.0  # share of input speech codes replaced at random (tts.data.corrupt_speech)
    voice_prompts: float = 0.0  # share of items led by another utterance of the speaker (tts.data.TokenDataset)
    text_dropout: float = 0.0  # share of items trained without their text, for classifier-free guidance
    self_feed: float = 0.0  # share of generated input codes replaced by the model's own argmax (tts.self_feed)
    batch_size: int = 16
    max_steps: int = 5000
    lr: float = 1e-3
    min_lr_ratio: float = 0.1
    warmup_steps: int = 200
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.95)
    grad_clip: float = 1.0
    log_every: int = 25
    ckpt_every: int = 250
    sample_every: int = 1000
    seed: int = 0
    amp: bool = True  # bf16 autocast, GPU only
    threads: int = 0

    INPUTS: ClassVar[tuple[str, ...]] = ("train_tokens", "dev_tokens", "tokenizer", "init_from")

    def __post_init__(self) -> None:
        coerce_fields(self)  # also turns an align mapping into AlignConfig
        for name, whole_ok in (("token_noise", False), ("voice_prompts", True), ("self_feed", False), ("text_dropout", False)):
            share = getattr(self, name)
            if not (0 <= share <= 1 if whole_ok else 0 <= share < 1):
                raise ConfigError(f"{name} must be in [0, 1{']' if whole_ok else ')'}, got {share}")
        if float(self.model.get("cfg_scale", 1.0)) > 1 and self.text_dropout <= 0:
            raise ConfigError("model.cfg_scale > 1 needs text_dropout > 0: the model must learn the textless branch")

    def model_config(self, text_vocab: int) -> TtsConfig:
        spec = dict(self.model)
        preset = spec.pop("preset", None)
        spec.setdefault("text_vocab", text_vocab)
        return load_preset(preset, **spec) if preset else TtsConfig.from_dict(spec)

    @classmethod
    def from_yaml(cls, path: str | Path, **overrides: Any) -> "TtsTrainConfig":
        data = read_yaml_mapping(path)
        overrides = {k: v for k, v in overrides.items() if v is not None}
        if isinstance(overrides.get("model"), dict) and isinstance(data.get("model"), dict):
            overrides["model"] = data["model"] | overrides["model"]  # --set model={codec: X} keeps the YAML's keys
        data.update(overrides)
        return build(cls, data, str(path))


class TtsTrainer:
    def __init__(self, cfg: TtsTrainConfig, env: Dist) -> None:
        self.cfg, self.env, self.out = cfg, env, Path(cfg.out_dir)
        torch.manual_seed(cfg.seed)
        self.tokenizer = TextTokenizer.from_file(cfg.tokenizer)
        self.model = self.build_model().to(env.device).train()
        self.net = DDP(self.model, [env.device.index] if env.device.type == "cuda" else None) if env.world_size > 1 else self.model
        self.opt = torch.optim.AdamW(self.model.parameters(), cfg.lr, cfg.betas, weight_decay=cfg.weight_decay)
        self.aligner = Aligner(cfg.align, self.model.cfg, token_lengths(self.tokenizer, self.model.cfg.text_vocab))
        if cfg.align.weight > 0:  # the published config says which heads read the text in order
            self.model.cfg.align_layers, self.model.cfg.align_heads = tuple(cfg.align.layers), cfg.align.heads
        self.data = self.build_data()
        self.bind_codec(self.data.codec_hash)
        self.model.cfg.chars_per_second = round(self.data.chars_per_second, 2)  # voice prompts are paced to it
        if len(self.data) < cfg.batch_size * env.world_size:
            raise ValueError(f"{cfg.train_tokens}: {len(self.data)} usable utterances, fewer than one global batch")
        self.step = 0
        self.fitted_max_steps: int | None = None  # set by a time budget; checkpointed so --resume keeps it
        self.logger = TrainLogger(self.out / "tensorboard", enabled=env.main)

    def build_model(self) -> TtsModel:
        """A fresh model from the config, or the weights of ``init_from`` (``--resume`` still wins)."""
        if not self.cfg.init_from:
            return TtsModel(self.cfg.model_config(self.tokenizer.vocab_size))
        model = TtsModel.from_pretrained(self.cfg.init_from)
        if model.cfg.text_vocab == self.tokenizer.vocab_size:
            return model
        if not self.cfg.init_new_text:
            raise ValueError(f"{self.cfg.init_from}: text vocabulary {model.cfg.text_vocab} != tokenizer's "
                             f"{self.tokenizer.vocab_size} (train with that model's tokenizer.json, or set "
                             "init_new_text: true to keep only its speech side)")
        return model.with_text_vocab(self.tokenizer.vocab_size)

    def build_data(self) -> TokenDataset:
        return TokenDataset(self.cfg.train_tokens, self.model, self.tokenizer, voice_prompts=self.cfg.voice_prompts,
                            seed=self.cfg.seed)

    def bind_codec(self, codec_hash: str) -> None:
        """Record which codec made the training codes (its codes_hash; a warm start must share it)."""
        known = self.model.cfg.codec_hash
        if known and codec_hash and known != codec_hash:
            raise ValueError(f"{self.cfg.train_tokens}: codes from codec codes_hash {codec_hash}, but "
                             f"{self.cfg.init_from} was trained on {known}: re-encode the corpus with that codec")
        self.model.cfg.codec_hash = codec_hash or known

    def batches(self) -> Iterator[tuple[torch.Tensor, ...]]:
        """This rank's batches from ``self.step`` on; a pure function of (seed, step)."""
        lengths = self.data.lengths()
        per_epoch = len(lengths) // self.cfg.batch_size // self.env.world_size
        step = self.step
        while True:
            epoch, offset = divmod(step, per_epoch)
            plan = length_buckets(lengths, self.cfg.batch_size, self.cfg.seed + epoch)
            mine = plan[self.env.rank :: self.env.world_size][:per_epoch]
            for batch in mine[offset:]:
                yield self.make_batch(batch, step)
                step += 1

    def make_batch(self, batch: list[int], step: int) -> tuple[torch.Tensor, ...]:
        """(input_ids, labels, key_mask) of the items ``batch`` at ``step``: text dropped and
        codes corrupted as configured."""
        noise = self.step_generator(step, stream=0)
        items = [self.data[i] for i in batch]
        if self.cfg.text_dropout > 0:
            drop = torch.rand(len(items), generator=noise) < self.cfg.text_dropout
            items = [drop_text(self.model.cfg, it) if d else it for it, d in zip(items, drop.tolist())]
        ids, labels, mask = collate(items, self.model.cfg.special("<pad>"))
        return corrupt_speech(ids, self.model.cfg, self.cfg.token_noise, noise), labels, mask

    def step_generator(self, step: int, stream: int) -> torch.Generator:
        """A generator that is a pure function of (seed, step, rank, stream): ``--resume``
        redraws exactly what the interrupted run drew (0: batch noise, 1: self-feed)."""
        return torch.Generator().manual_seed(stream * 2**62 + (self.cfg.seed * 1_000_003 + step) * 64 + self.env.rank)

    def save(self) -> None:
        if not self.env.main:
            return
        save_checkpoint(self.out / LATEST, self.step, {"model": self.model}, {"opt": self.opt}, budget_extra(self))
        model_dir = self.model.save_pretrained(self.out / "model")
        shutil.copyfile(self.cfg.tokenizer, model_dir / TOKENIZER_FILE)

    def resume(self) -> bool:
        path = self.out / LATEST
        if not path.exists():
            return False
        state = load_checkpoint(path, {"model": self.model}, {"opt": self.opt})
        self.step, self.fitted_max_steps = state["step"], state["extra"].get("fitted_max_steps")
        return True

    def schedule_lr(self) -> None:
        for group in self.opt.param_groups:
            group["lr"] = self.cfg.lr * lr_factor(self.step, self.cfg)

    def optimize(self, loss: torch.Tensor) -> float:
        """One optimizer step on ``loss``: the gradient norm before clipping."""
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        norm = float(nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip))
        self.opt.step()
        return norm

    def train_step(self, ids, labels, mask) -> dict[str, float]:
        self.schedule_lr()
        amp = self.cfg.amp and self.env.device.type == "cuda"
        guided = self.cfg.align.weight > 0
        with torch.autocast(self.env.device.type, dtype=torch.bfloat16, enabled=amp):
            if self.cfg.self_feed > 0:  # its own stream: the batch's noise generator stays as it was
                own = self.step_generator(self.step, stream=1)
                ids = feed_own_predictions(self.model, self.model.cfg, ids, labels, mask, self.cfg.self_feed, own)
            out = self.net(ids, key_mask=mask, probe=self.aligner.probe if guided else None)
            ce = speech_ce(out[0], labels, self.model.cfg)
            align = self.aligner.loss(out[2], ids, labels) if guided else ce.new_zeros(())
        norm = self.optimize(ce + self.cfg.align.weight * align)
        logs = {"loss/speech_ce": ce.item(), "grad_norm": norm, "lr": self.opt.param_groups[0]["lr"]}
        return logs | ({"loss/align": align.item()} if guided else {})

    def samples(self) -> None:
        """Dev cross-entropy with right and wrong transcripts, and two dev sentences synthesized
        with the bundled codec, into TensorBoard."""
        if not (self.env.main and self.cfg.dev_tokens and self.logger.writer):
            return
        rows, codes = self._dev
        self.logger.scalars(self.step, text_reliance(self.model.eval(), self.tokenizer, rows, codes))
        for i, row in enumerate(rows[:2]):
            wav = self._synth.synthesize(row["text"])
            self.logger.writer.add_audio(f"sample/{i}", torch.from_numpy(wav)[None], self.step, self._synth.sample_rate)
        self.model.train()

    @functools.cached_property
    def _dev(self) -> tuple[list[dict], dict[str, torch.Tensor]]:
        """The dev token file, read once per run (it does not change while training)."""
        rows, codes, _ = read_tokens(self.cfg.dev_tokens)
        return rows, codes

    @functools.cached_property
    def _synth(self):
        """One synthesizer (and one codec load) for every sample of the run; it shares the model."""
        from .synthesize import Synthesizer

        return Synthesizer(self.model, self.tokenizer, codec_spec=self.model.cfg.codec)

    def fit(self, stop_after: int | None = None, budget: TimeBudget | None = None) -> None:
        cfg = self.cfg
        stream = self.batches()
        for progress in steps(self, stop_after, budget):
            ids, labels, mask = (t.to(self.env.device) for t in next(stream))
            logs = self.train_step(ids, labels, mask)
            self.step += 1
            if self.step % cfg.log_every == 0:
                self.logger.scalars(self.step, logs)
                progress.set_postfix({k[5:]: f"{v:.3f}" for k, v in logs.items() if k.startswith("loss/")})
            if self.step % cfg.sample_every == 0:
                self.samples()


def main(argv: list[str] | None = None) -> int:
    return run(TtsTrainer, TtsTrainConfig, argv)


if __name__ == "__main__":
    sys.exit(main())
