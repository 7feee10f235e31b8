"""A small speaker encoder, trained by the recipe, to measure whether synthesized speech keeps
the prompted voice (speaker similarity, the SIM column of zero-shot TTS papers).

Papers score SIM with a pretrained WavLM/ECAPA verifier; none can be downloaded here, so the
recipe trains its own on the corpus' training voices: log-mel (``tts.asr.LogMel``) -> dilated
1-d convolutions (an x-vector/TDNN stack) -> mean and standard deviation over time -> a
unit-length embedding, learned as a cosine classifier over the training speakers with an
additive margin (AM-softmax), on random 2 s crops. It is scored on voices it never heard
(equal error rate of same/other-speaker pairs), because every TTS prompt voice it judges is
unseen too. SIM is then the cosine between the embedding of the TTS output and that of a
real recording of the same speaker.

    python -m tts.speaker train data/mini/manifests/train.jsonl exp/speaker --dev data/mini/manifests/test.jsonl
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from codec.audio import load
from codec.data import read_manifest
from codec.errors import run_cli
from codec.model_dir import PretrainedDir

from .asr import AsrConfig, LogMel, log_mels
from .judge_training import finished, fit

MARGIN, SCALE = 0.2, 30.0  # AM-softmax: cos - margin for the true speaker, logits x scale


@dataclass
class SpeakerConfig:
    sample_rate: int = 24000
    n_mels: int = 80
    hop: int = 480
    n_fft: int = 1024
    dim: int = 256
    embed_dim: int = 128
    n_speakers: int = 0  # training speakers (the classifier's rows)


class SpeakerEncoder(PretrainedDir, nn.Module):
    KIND, CONFIG = "speaker", SpeakerConfig  # config.json + model.safetensors (codec.model_dir)

    def __init__(self, cfg: SpeakerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.features = LogMel(AsrConfig(cfg.sample_rate, cfg.n_mels, cfg.hop, cfg.n_fft))
        layers, width = [], cfg.n_mels
        for dilation in (1, 2, 3, 1):
            layers += [nn.Conv1d(width, cfg.dim, 5 if dilation > 1 else 3, dilation=dilation, padding="same"),
                       nn.ReLU(), nn.BatchNorm1d(cfg.dim)]
            width = cfg.dim
        self.frames = nn.Sequential(*layers)
        self.embed = nn.Linear(2 * cfg.dim, cfg.embed_dim)
        self.classes = nn.Parameter(torch.randn(max(cfg.n_speakers, 1), cfg.embed_dim) * 0.01)

    def forward(self, mels: Tensor) -> Tensor:
        """mels [B, F, n_mels] -> unit-length embeddings [B, embed_dim]."""
        x = self.frames(mels.transpose(1, 2))
        stats = torch.cat([x.mean(-1), x.std(-1)], dim=-1)
        return F.normalize(self.embed(stats), dim=-1)

    def logits(self, emb: Tensor, speaker: Tensor | None = None) -> Tensor:
        """Cosine to every training speaker, the true one's lowered by the margin (training)."""
        cos = emb @ F.normalize(self.classes, dim=-1).T
        if speaker is not None:
            cos = cos - MARGIN * F.one_hot(speaker, cos.shape[-1])
        return SCALE * cos

    @torch.inference_mode()
    def embedding(self, wav: np.ndarray, sample_rate: int) -> np.ndarray:
        """Mono float32 audio -> its unit-length speaker embedding."""
        from codec.audio import resample

        wav = resample(np.asarray(wav, np.float32), sample_rate, self.cfg.sample_rate).astype(np.float32)
        wav = np.pad(wav, (0, max(0, self.cfg.n_fft - len(wav))))
        return self(self.features(torch.from_numpy(wav)[None]))[0].numpy()

    def similarity(self, a: np.ndarray, b: np.ndarray, sample_rate: int) -> float:
        """Cosine of two recordings' embeddings: 1 = the same voice as far as this encoder hears."""
        return float(self.embedding(a, sample_rate) @ self.embedding(b, sample_rate))


def equal_error_rate(embeddings: np.ndarray, speakers: list[str]) -> float:
    """The error rate where false accepts equal false rejects, over every pair of recordings."""
    scores = embeddings @ embeddings.T
    same = np.equal.outer(np.asarray(speakers), np.asarray(speakers))
    upper = np.triu_indices(len(speakers), 1)
    scores, same = scores[upper], same[upper]
    order = np.argsort(-scores, kind="stable")
    scores, same = scores[order], same[order]
    ends = np.r_[scores[1:] != scores[:-1], True]  # a threshold accepts all pairs of a score or none
    false_reject = np.r_[1.0, 1 - np.cumsum(same)[ends] / max(same.sum(), 1)]  # accepting none, then down the list
    false_accept = np.r_[0.0, np.cumsum(~same)[ends] / max((~same).sum(), 1)]
    k = int(np.argmin(np.abs(false_reject - false_accept)))
    return float((false_reject[k] + false_accept[k]) / 2)


def evaluate(model: SpeakerEncoder, rows: list[dict]) -> float:
    """EER over ``rows`` (voices the model may never have heard)."""
    model.eval()
    emb = np.stack([model.embedding(load(r["path"], model.cfg.sample_rate), model.cfg.sample_rate) for r in rows])
    model.train()
    return equal_error_rate(emb, [r["speaker"] for r in rows])


def _featurize(model: SpeakerEncoder, rows: list[dict], crop: int) -> list[Tensor]:
    """Log-mels padded to at least one crop."""
    return [F.pad(mel, (0, 0, 0, max(0, crop - len(mel)))) for _, mel in log_mels(model, rows)]


def train(manifest: str, out: str, dev: str | None, steps: int, batch_size: int = 64, lr: float = 2e-3,
          seed: int = 0, per_speaker: int = 120, crop_s: float = 2.0, stop_after: int | None = None) -> float | None:
    """Train on random ``crop_s`` crops of up to ``per_speaker`` recordings of each training
    speaker; returns the EER on ``dev`` (None when the run had already finished).
    ``stop_after``: checkpoint and stop early (a later call resumes bit-exactly)."""
    if finished(out, steps):
        return None
    torch.manual_seed(seed)
    rows = list(read_manifest(manifest))
    names = sorted({r["speaker"] for r in rows})
    chosen = [r for name in names for r in [r for r in rows if r["speaker"] == name][:per_speaker]]
    model = SpeakerEncoder(SpeakerConfig(n_speakers=len(names)))
    crop = int(crop_s * model.cfg.sample_rate / model.cfg.hop)
    mels = _featurize(model, chosen, crop)
    labels = torch.tensor([names.index(r["speaker"]) for r in chosen])

    def loss_at(step: int) -> Tensor:
        rng = np.random.default_rng([seed, step])  # each step's crops: a resumed run draws the same
        picks = rng.integers(0, len(mels), batch_size)
        batch = torch.stack([_crop(mels[i], crop, rng) for i in picks])
        return F.cross_entropy(model.logits(model(batch), labels[picks]), labels[picks])

    if not fit(model, out, steps, loss_at, lr, "speaker", stop_after):
        return None
    return evaluate(model, list(read_manifest(dev))) if dev else None


def _crop(mel: Tensor, crop: int, rng: np.random.Generator) -> Tensor:
    start = int(rng.integers(0, len(mel) - crop + 1))
    return mel[start : start + crop]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tts.speaker", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="train the speaker encoder on a manifest's speakers")
    t.add_argument("manifest")
    t.add_argument("out")
    t.add_argument("--dev", help="a manifest of other voices: the equal error rate is printed")
    t.add_argument("--steps", type=int, default=1000)
    t.add_argument("--per-speaker", type=int, default=120, help="recordings of each training speaker to crop from")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--stop-after", type=int, help="checkpoint and stop after this step (resume by running again)")
    t.add_argument("--threads", type=int, default=0)
    e = sub.add_parser("export-onnx", help="write DIR/speaker.onnx (audio -> embedding) for torch-free serving")
    e.add_argument("model_dir")
    args = p.parse_args(argv)
    if args.cmd == "export-onnx":
        from .speaker_onnx import export_speaker

        print(export_speaker(SpeakerEncoder.from_pretrained(args.model_dir), args.model_dir))
        return 0
    if args.threads:
        torch.set_num_threads(args.threads)
    eer = train(args.manifest, args.out, args.dev, args.steps, seed=args.seed, per_speaker=args.per_speaker,
                stop_after=args.stop_after)
    if eer is not None:
        print(f"equal error rate on {args.dev}: {100 * eer:.2f}%")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli("python -m tts.speaker", main))
