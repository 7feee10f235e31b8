"""DistilCodec-style distillation: a single-codebook student from a multi-codebook teacher.

    torchrun --nproc_per_node=2 -m codec.distill --config recipes/libritts/conf/distilcodec.yaml

The student shares the teacher's frame geometry, so it starts from the teacher's encoder
and decoder and only its quantizer is new.  On top of the usual codec losses it matches
the teacher's quantized latent (L2) and the teacher's output (multi-scale mel L1), which
gives the large single codebook a well-clustered target and keeps its usage near 100%.
With ``phonetic_teacher`` (a CTC recognizer directory) the codes are also pulled toward
what the recognizer hears (codec.phonetic), which makes them easier for a TTS to predict.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from .model import Codec
from .phonetic import PhoneticHead, PhoneticTeacher, cosine_distance
from .train import TrainConfig, Trainer, run
from .typed_config import ConfigError


@dataclass
class DistillConfig(TrainConfig):
    teacher: str = ""  # directory of the trained multi-codebook teacher (unused at zero teacher weights)
    init_from_teacher: bool = True  # copy encoder/decoder weights when shapes agree
    latent_weight: float = 5.0
    teacher_mel_weight: float = 0.5  # relative to weights.mel
    phonetic_teacher: str | None = None  # CTC recognizer directory (python -m tts.asr train)
    phonetic_weight: float = 0.0  # quantized latent -> recognizer features of the input
    phonetic_output_weight: float = 0.0  # recognizer features: decoded audio vs input

    INPUTS: ClassVar[tuple[str, ...]] = TrainConfig.INPUTS + ("teacher", "phonetic_teacher")

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.teacher and (self.latent_weight or self.teacher_mel_weight or not self.init_from):
            raise ConfigError("distillation needs 'teacher': a trained codec directory (only a fine-tune from "
                              "'init_from' with latent_weight and teacher_mel_weight 0 goes without one)")
        if (self.phonetic_weight or self.phonetic_output_weight) and not self.phonetic_teacher:
            raise ConfigError("phonetic_weight / phonetic_output_weight need 'phonetic_teacher': a recognizer directory")


def copy_backbone(student: Codec, teacher: Codec) -> list[str]:
    """Copy encoder/decoder tensors whose names and shapes agree; return what was copied."""
    t_state = teacher.state_dict()
    copied = {
        k: t_state[k]
        for k, v in student.state_dict().items()
        if k.startswith(("encoder.", "decoder.")) and k in t_state and t_state[k].shape == v.shape
    }
    student.load_state_dict(copied, strict=False)
    return sorted(copied)


class DistillTrainer(Trainer):
    cfg: DistillConfig

    def build_codec(self) -> Codec:
        self.teacher = None  # a phonetic-only fine-tune learns from the recognizer alone
        if self.cfg.teacher:
            self.teacher = Codec.from_pretrained(self.cfg.teacher).to(self.env.device).eval().requires_grad_(False)
        if self.cfg.init_from:  # a fine-tune of a trained (e.g. refitted) student
            return Codec.from_pretrained(self.cfg.init_from).train()
        student = Codec(self.cfg.codec_config())
        if self.cfg.init_from_teacher:
            copied = copy_backbone(student, self.teacher)
            if self.env.main:
                print(f"student starts from {len(copied)} teacher tensors", file=sys.stderr)
        return student.train()

    def build_aux(self) -> dict[str, torch.nn.Module]:
        cfg = self.cfg
        self.phonetic = None
        if not (cfg.phonetic_weight or cfg.phonetic_output_weight):  # a teacher alone costs time, adds nothing
            return {}
        self.phonetic = PhoneticTeacher(cfg.phonetic_teacher, self.codec.sample_rate, self.env.device)
        return {"phonetic_head": PhoneticHead(self.codec.cfg.latent_dim, self.phonetic.feature_dim)} if cfg.phonetic_weight else {}

    def generator_loss(self, wav: Tensor, out) -> tuple[Tensor, dict[str, float]]:
        cfg = self.cfg
        loss, logs = super().generator_loss(wav, out)
        if self.teacher is not None:
            with torch.no_grad():
                target = self.teacher(wav)
            latent = torch.nn.functional.mse_loss(out.quantized, target.quantized)
            teacher_mel = self.mel_loss(out.audio, target.audio)
            loss = loss + cfg.latent_weight * latent + cfg.teacher_mel_weight * cfg.weights.mel * teacher_mel
            logs.update({"distill/latent": latent.item(), "distill/teacher_mel": teacher_mel.item()})
        if self.phonetic is not None:
            loss = loss + self.phonetic_loss(wav, out, logs)
        return loss, logs

    def phonetic_loss(self, wav: Tensor, out, logs: dict[str, float]) -> Tensor:
        cfg, frames = self.cfg, out.quantized.shape[-1]
        with torch.no_grad():
            heard = self.phonetic.features(wav, frames)
        loss = torch.zeros((), device=wav.device)
        if cfg.phonetic_weight:
            latent = cosine_distance(self.aux_fwd["phonetic_head"](out.quantized), heard)
            loss = loss + cfg.phonetic_weight * latent
            logs["distill/phonetic"] = latent.item()
        if cfg.phonetic_output_weight:
            output = cosine_distance(self.phonetic.features(out.audio, frames), heard)
            loss = loss + cfg.phonetic_output_weight * output
            logs["distill/phonetic_output"] = output.item()
        return loss


def main(argv: list[str] | None = None) -> int:
    return run(DistillTrainer, DistillConfig, argv)


if __name__ == "__main__":
    sys.exit(main())
