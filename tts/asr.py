"""A small CTC speech recognizer, trained by the recipe, to measure intelligibility.

Pocketsphinx's en-us model hears the generated corpus' synthetic voices badly (~80% WER on
the ground truth), so it cannot tell a good TTS from a bad one. This recognizer learns the
corpus' own voices (characters, CTC, log-mel at 50 Hz: conv front end + BiGRU) and is
scored on held-out voices; WER compares ground truth, codec resynthesis and TTS output on
the same sentences, so its absolute level matters less than the gaps.

    python -m tts.asr train data/mini/manifests/train.jsonl exp/asr --dev data/mini/manifests/dev.jsonl
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch
from torch import Tensor, nn

from codec.audio import load
from codec.data import read_manifest
from codec.errors import run_cli
from codec.model_dir import PretrainedDir

from .ctc import ALPHABET, encode_text, greedy_text
from .judge_training import finished, fit
from .wer import edit_distance, word_error_rate, words


@dataclass
class AsrConfig:
    sample_rate: int = 24000
    n_mels: int = 80
    hop: int = 480  # 50 frames/s
    n_fft: int = 1024
    dim: int = 192
    n_conv: int = 3
    n_rnn: int = 2


class LogMel(nn.Module):
    def __init__(self, cfg: AsrConfig) -> None:
        super().__init__()
        import torchaudio

        self.cfg = cfg
        self.mel = torchaudio.transforms.MelSpectrogram(cfg.sample_rate, n_fft=cfg.n_fft, hop_length=cfg.hop,
                                                        n_mels=cfg.n_mels, center=True, power=2.0)

    def forward(self, wav: Tensor) -> Tensor:
        """wav [B, T] -> per-utterance normalized log-mel [B, F, n_mels] (loudness-invariant)."""
        x = torch.log(self.mel(wav) + 1e-6).transpose(1, 2)
        return (x - x.mean((1, 2), keepdim=True)) / (x.std((1, 2), keepdim=True) + 1e-5)


class CtcRecognizer(PretrainedDir, nn.Module):
    KIND, CONFIG = "asr", AsrConfig  # config.json + model.safetensors (codec.model_dir)

    def __init__(self, cfg: AsrConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.features = LogMel(cfg)
        self.inp = nn.Linear(cfg.n_mels, cfg.dim)
        self.convs = nn.ModuleList(nn.Sequential(nn.Conv1d(cfg.dim, cfg.dim, 5, padding=2), nn.GELU(), nn.GroupNorm(1, cfg.dim))
                                   for _ in range(cfg.n_conv))
        self.rnn = nn.GRU(cfg.dim, cfg.dim, cfg.n_rnn, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * cfg.dim, len(ALPHABET) + 1)

    @property
    def feature_dim(self) -> int:
        return 2 * self.cfg.dim

    def encode(self, mels: Tensor) -> Tensor:
        """mels [B, F, n_mels] -> contextual frame features [B, F, feature_dim]: what the CTC
        layer reads, and the phonetic target a codec is distilled toward (codec.phonetic)."""
        x = self.inp(mels).transpose(1, 2)
        for conv in self.convs:
            x = x + conv(x)
        return self.rnn(x.transpose(1, 2))[0]

    def forward(self, mels: Tensor) -> Tensor:
        """mels [B, F, n_mels] -> log-probabilities [B, F, classes]."""
        return self.out(self.encode(mels)).log_softmax(-1)

    # -- recognition ------------------------------------------------------------------
    @property
    def sample_rate(self) -> int:
        return self.cfg.sample_rate

    @property
    def frame_rate(self) -> float:
        return self.cfg.sample_rate / self.cfg.hop

    def log_probs(self, wav: np.ndarray) -> np.ndarray:
        """Mono float32 audio at ``sample_rate`` -> CTC log-probabilities [frames, classes]."""
        return self.log_probs_batch(np.asarray(wav, np.float32)[None])[0]

    @torch.inference_mode()
    def log_probs_batch(self, wavs: np.ndarray) -> np.ndarray:
        """Clips of one length [B, samples] -> [B, frames, classes], in one batch."""
        wavs = np.pad(wavs, ((0, 0), (0, max(0, self.cfg.n_fft - wavs.shape[1]))))  # a few ms of output still scores
        return self(self.features(torch.from_numpy(wavs))).numpy()

    def transcribe(self, wav: np.ndarray, sample_rate: int) -> str:
        from codec.audio import resample

        return greedy_text(self.log_probs(resample(wav, sample_rate, self.cfg.sample_rate).astype(np.float32)).argmax(-1).tolist())


class Lexicon:
    """Snaps each recognized word to the nearest (character edit distance, then most frequent)
    word of the training transcripts: a vocabulary constraint without any grammar, which
    removes the spelling noise of a character recognizer but cannot supply a missing word."""

    def __init__(self, texts: list[str]) -> None:
        from collections import Counter

        counts = Counter(w for t in texts for w in words(t))
        self.vocabulary = sorted(counts, key=lambda w: (-counts[w], w))
        self._known = set(counts)

    def snap(self, text: str) -> str:
        return " ".join(w if w in self._known else min(self.vocabulary, key=lambda v: edit_distance(w, v))
                        for w in words(text))


class SnappedRecognizer:
    """The CTC recognizer with its words snapped to the training vocabulary."""

    def __init__(self, recognizer, lexicon) -> None:
        self.recognizer, self.lexicon = recognizer, lexicon

    def transcribe(self, wav: np.ndarray, sample_rate: int) -> str:
        return self.lexicon.snap(self.recognizer.transcribe(wav, sample_rate))


def _featurize(model: CtcRecognizer, rows: list[dict]) -> list[tuple[Tensor, Tensor]]:
    items = []
    for row, mel in log_mels(model, rows):
        target = torch.tensor(encode_text(row["text"]))
        if len(target) and mel.shape[0] >= len(target) * 1.2:  # CTC needs room for repeats
            items.append((mel, target))
    return items


def log_mels(model: nn.Module, rows: list[dict]) -> Iterator[tuple[dict, Tensor]]:
    """(row, its log-mel [F, n_mels] by ``model.features``) for every manifest row, with progress."""
    from tqdm import tqdm

    with torch.inference_mode():
        for row in tqdm(rows, desc="features", unit="utt", file=sys.stderr, mininterval=5):
            yield row, model.features(torch.from_numpy(load(row["path"], model.cfg.sample_rate))[None])[0]


def _batch(items: list[tuple[Tensor, Tensor]]) -> tuple[Tensor, ...]:
    mels = nn.utils.rnn.pad_sequence([m for m, _ in items], batch_first=True)
    targets = torch.cat([t for _, t in items])
    return mels, torch.tensor([len(m) for m, _ in items]), targets, torch.tensor([len(t) for _, t in items])


def evaluate(model: CtcRecognizer, rows: list[dict]) -> float:
    model.eval()
    hyps = [model.transcribe(load(r["path"], model.cfg.sample_rate), model.cfg.sample_rate) for r in rows]
    model.train()
    return word_error_rate([r["text"] for r in rows], hyps)


def train(manifest: str, out: str, dev: str | None, steps: int, batch_size: int = 16, lr: float = 2e-3,
          seed: int = 0, dim: int = 192, stop_after: int | None = None) -> float | None:
    """Train ``steps`` steps (length-bucketed batches, seeded order); returns dev WER (None when
    the run had already finished).
    ``stop_after``: checkpoint and stop early (a later call resumes bit-exactly)."""
    if finished(out, steps):
        return None
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = CtcRecognizer(AsrConfig(dim=dim))
    items = _featurize(model, list(read_manifest(manifest)))
    order = np.argsort([len(m) for m, _ in items])
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    ctc = nn.CTCLoss(zero_infinity=True)
    plan = np.concatenate([rng.permutation(len(batches)) for _ in range(steps // len(batches) + 1)])[:steps]

    def loss_at(step: int) -> Tensor:
        mels, lengths, targets, target_lengths = _batch([items[i] for i in batches[plan[step]]])
        mels = mels + 0.1 * torch.randn_like(mels)  # light feature noise against over-fitting the voices
        return ctc(model(mels).transpose(0, 1), targets, lengths, target_lengths)

    if not fit(model, out, steps, loss_at, lr, "asr", stop_after, clip=1.0):
        return None
    return evaluate(model, list(read_manifest(dev))[:100]) if dev else None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tts.asr", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="train the recognizer on a manifest for a time budget")
    t.add_argument("manifest")
    t.add_argument("out")
    t.add_argument("--dev")
    t.add_argument("--steps", type=int, default=1200)
    t.add_argument("--dim", type=int, default=192)
    t.add_argument("--seed", type=int, default=0, help="another seed gives an independent recognizer (the codec's phonetic teacher)")
    t.add_argument("--stop-after", type=int, help="checkpoint and stop after this step (resume by running again)")
    t.add_argument("--threads", type=int, default=0)
    e = sub.add_parser("export-onnx", help="write DIR/asr.onnx (audio -> CTC log-probabilities) for torch-free serving")
    e.add_argument("model_dir")
    args = p.parse_args(argv)
    if args.cmd == "export-onnx":
        from .asr_onnx import export_asr

        print(export_asr(CtcRecognizer.from_pretrained(args.model_dir), args.model_dir))
        return 0
    if args.threads:
        torch.set_num_threads(args.threads)
    wer = train(args.manifest, args.out, args.dev, args.steps, seed=args.seed, dim=args.dim, stop_after=args.stop_after)
    if wer is not None:
        print(f"dev WER {100 * wer:.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli("python -m tts.asr", main))
