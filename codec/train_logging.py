"""TensorBoard + tqdm for training: scalars, codebook usage, audio samples, spectrograms.

Only rank 0 logs; other ranks get a logger whose methods do nothing.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from . import audio
from .losses import log_mel_spectrogram


class TrainLogger:
    def __init__(self, log_dir: Path, enabled: bool = True) -> None:
        self.enabled = enabled
        self.writer = None
        if enabled:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(log_dir))

    def progress(self, total: int, initial: int) -> tqdm:
        return tqdm(total=total, initial=initial, desc="train", unit="step", disable=not self.enabled, file=sys.stderr)

    def scalars(self, step: int, logs: dict[str, float], stats: dict[str, list[float]] | None = None) -> None:
        if not self.writer:
            return
        for key, value in logs.items():
            self.writer.add_scalar(key, value, step)
        for key, values in (stats or {}).items():
            for i, v in enumerate(values):
                self.writer.add_scalar(f"codebook/{key}_{i}", v, step)
        self.writer.flush()

    @torch.no_grad()
    def samples(self, step: int, codec, items: list[dict], seconds: float = 4.0) -> None:
        """Reconstruct a few dev utterances: audio and log-mel images to TensorBoard."""
        if not self.writer:
            return
        was_training = codec.training
        codec.eval()
        device = next(codec.parameters()).device
        for i, item in enumerate(items):
            wav = audio.load(item["path"], codec.sample_rate)[: int(seconds * codec.sample_rate)]
            x = torch.from_numpy(wav)[None].to(device)
            y = codec.decode(codec.encode(x), n_samples=x.shape[-1])
            self.writer.add_audio(f"sample_{i}/reconstruction", y[0].clamp(-1, 1).cpu(), step, codec.sample_rate)
            if step == 0 or not getattr(self, f"_ref_{i}", False):
                self.writer.add_audio(f"sample_{i}/original", x[0].cpu(), step, codec.sample_rate)
                setattr(self, f"_ref_{i}", True)
            self.writer.add_image(f"sample_{i}/mel", self._mel_image(x, y), step)
        self.writer.flush()
        codec.train(was_training)

    @staticmethod
    def _mel_image(x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
        """Original over reconstruction, log-mel scaled to [0, 1], as a [1, H, W] image."""
        mels = [log_mel_spectrogram(t.cpu(), 24000)[0] for t in (x, y)]
        img = torch.cat([m.flip(0) for m in mels], dim=0)
        img = (img - img.min()) / (img.max() - img.min() + 1e-8)
        return img[None].numpy()
