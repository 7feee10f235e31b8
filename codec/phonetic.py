"""Phonetic distillation: a codec whose codes carry what a recognizer hears.

SpeechTokenizer and Mimi distil a self-supervised speech model (HuBERT, WavLM) into their
first codebook, so that a language model over the codes learns text -> speech far sooner.
No such model can be downloaded here; the teacher is the recipe's own CTC recognizer
(``tts.asr``), whose BiGRU features separate phones and ignore voice. Two terms use it:

- latent: a small trainable head reads the quantized latent and predicts the recognizer's
  features of the input (cosine distance), so the codes themselves carry the phones;
- output: the recognizer's features of the decoded audio match those of the input, so
  resynthesis stays intelligible (a perceptual loss in a recognizer's feature space).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class PhoneticHead(nn.Module):
    """Quantized latent [B, D, F] -> predicted recognizer features [B, F, C].

    One frame of look-ahead on each side (kernel 3): the target is bidirectional, the codes
    are causal, so a strictly per-frame head would punish what no causal code can know."""

    def __init__(self, latent_dim: int, feature_dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv1d(latent_dim, feature_dim, 3, padding=1)

    def forward(self, quantized: Tensor) -> Tensor:
        return self.proj(quantized).transpose(1, 2)


class PhoneticTeacher:
    """A frozen recognizer's features at the codec's frame rate (not an nn.Module on purpose:
    its weights stay out of the codec's optimizer and checkpoints)."""

    def __init__(self, directory: str, sample_rate: int, device: torch.device) -> None:
        from tts.asr import CtcRecognizer  # trained by the recipe (stage 3 / 10), lives with the TTS evaluation

        self.model = CtcRecognizer.from_pretrained(directory).to(device).requires_grad_(False)
        if self.model.cfg.sample_rate != sample_rate:
            raise ValueError(f"phonetic teacher {directory} hears {self.model.cfg.sample_rate} Hz audio, "
                             f"the codec makes {sample_rate} Hz")

    @property
    def feature_dim(self) -> int:
        return self.model.feature_dim

    def features(self, wav: Tensor, frames: int) -> Tensor:
        """wav [B, T] -> features [B, frames, C] at the codec's frame rate (linear
        interpolation when the rates differ); gradients flow to ``wav``, not to the teacher."""
        x = self.model.encode(self.model.features(wav))[:, : wav.shape[-1] // self.model.cfg.hop]
        if x.shape[1] != frames:
            x = nn.functional.interpolate(x.transpose(1, 2), size=frames, mode="linear").transpose(1, 2)
        return x


def cosine_distance(pred: Tensor, target: Tensor) -> Tensor:
    """Mean over frames of 1 - cos(pred, target); both [B, F, C], F cut to the shorter."""
    frames = min(pred.shape[1], target.shape[1])
    return (1 - nn.functional.cosine_similarity(pred[:, :frames], target[:, :frames], dim=-1)).mean()
