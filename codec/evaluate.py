"""Evaluate neural codecs and classical baselines on the same audio, as one markdown table.

Used by ``codec-cli eval`` and ``recipes/libritts/evaluate.py``. Every system round-trips
every utterance; metrics are averaged over utterances (NaN PESQ scores, from silent inputs,
are skipped). Codebook use pools the codes of all utterances per codebook.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from typing import Callable, Iterable, Protocol

import numpy as np
import torch

from . import metrics
from .model import Codec

METRICS = ("pesq", "stoi", "si_sdr", "mel")


class System(Protocol):
    name: str
    kbps: float

    def roundtrip(self, wav: np.ndarray, sample_rate: int) -> np.ndarray: ...


class CodecSystem:
    """A neural codec at a given number of codebooks; remembers its codes for usage stats."""

    def __init__(self, codec: Codec, label: str | None = None, n_q: int | None = None) -> None:
        self.codec = codec.eval()
        self.n_q = n_q or codec.n_codebooks
        self.kbps = codec.cfg.kbps(self.n_q)
        self.name = label or codec.cfg.name
        self._codes: list[np.ndarray] = []

    @torch.inference_mode()
    def roundtrip(self, wav: np.ndarray, sample_rate: int) -> np.ndarray:
        if sample_rate != self.codec.sample_rate:
            raise ValueError(f"{self.name} runs at {self.codec.sample_rate} Hz, got {sample_rate} Hz audio")
        x = torch.from_numpy(np.ascontiguousarray(wav, dtype=np.float32))[None]
        codes = self.codec.encode(x, self.n_q)
        self._codes.append(codes[0].numpy())
        return self.codec.decode(codes, n_samples=x.shape[-1])[0].numpy()

    @torch.inference_mode()
    def observe(self, wav: np.ndarray) -> None:
        """Encode only (no metrics): more audio for the codebook-usage statistics."""
        x = torch.from_numpy(np.ascontiguousarray(wav, dtype=np.float32))[None]
        self._codes.append(self.codec.encode(x, self.n_q)[0].numpy())

    @property
    def frames_seen(self) -> int:
        return int(sum(c.shape[1] for c in self._codes))

    def usage(self) -> tuple[list[float], list[float]]:
        pooled = np.concatenate(self._codes, axis=1)
        return metrics.codebook_usage(pooled, self.codec.codebook_sizes[: self.n_q])


@dataclass
class SystemScores:
    name: str
    kbps: float
    scores: dict[str, list[float]] = field(default_factory=lambda: {m: [] for m in METRICS})
    usage: list[float] | None = None
    perplexity: list[float] | None = None
    usage_frames: int = 0
    heard: list[str] = field(default_factory=list)  # transcripts of the round trips (with ``listen``)
    wer: float | None = None  # filled by the caller, who knows the reference texts
    similarity: list[float] = field(default_factory=list)  # speaker similarity to the input (with ``compare``)

    def mean(self, metric: str) -> float:
        values = [v for v in self.scores[metric] if not math.isnan(v)]
        return float(np.mean(values)) if values else float("nan")

    def as_dict(self) -> dict:
        out = {"system": self.name, "kbps": self.kbps, "n": len(self.scores["stoi"])}
        out.update({m: self.mean(m) for m in METRICS})
        out.update({"codebook_usage": self.usage, "perplexity": self.perplexity, "usage_frames": self.usage_frames})
        if self.heard:
            out.update(wer=self.wer, heard=self.heard)
        if self.similarity:
            out.update(speaker_similarity=float(np.mean(self.similarity)))
        return out


def score(ref: np.ndarray, deg: np.ndarray, sample_rate: int) -> dict[str, float]:
    return {
        "pesq": metrics.pesq_wb(ref, deg, sample_rate),
        "stoi": metrics.stoi(ref, deg, sample_rate),
        "si_sdr": metrics.si_sdr(ref, deg),
        "mel": metrics.log_mel_distance(ref, deg, sample_rate),
    }


def evaluate(systems: list[System], utterances: Iterable[np.ndarray], sample_rate: int,
             progress: bool = True, total: int | None = None, usage_only: Iterable[np.ndarray] = (),
             listen: Callable[[np.ndarray], str] | None = None,
             compare: Callable[[np.ndarray, np.ndarray], float] | None = None) -> list[SystemScores]:
    """Round-trip each utterance through each system and score it against the input.

    ``usage_only`` utterances are only encoded, to widen the codebook-usage statistics (a
    16384-entry codebook needs far more frames than the scored subset has). ``listen``
    (a recognizer) transcribes every round trip into ``heard``, for word error rates;
    ``compare(input, output)`` (a speaker encoder's cosine) fills ``similarity``."""
    from tqdm import tqdm

    results = [SystemScores(s.name, s.kbps) for s in systems]
    for wav in tqdm(utterances, desc="evaluate", unit="utt", total=total, disable=not progress, file=sys.stderr):
        for system, result in zip(systems, results):
            out = system.roundtrip(wav, sample_rate)
            for k, v in score(wav, out, sample_rate).items():
                result.scores[k].append(v)
            if listen is not None:
                result.heard.append(listen(out))
            if compare is not None:
                result.similarity.append(compare(wav, out))
    codecs = [s for s in systems if isinstance(s, CodecSystem)]
    for wav in usage_only:
        for system in codecs:
            system.observe(wav)
    for system, result in zip(systems, results):
        if isinstance(system, CodecSystem):
            result.usage, result.perplexity = system.usage()
            result.usage_frames = system.frames_seen
    return results


def markdown_table(results: list[SystemScores]) -> str:
    """One row per system: bitrate, PESQ-WB, STOI, SI-SDR, log-mel distance, codebook use, and
    the word error rate and speaker similarity where they were measured."""
    with_wer = any(r.wer is not None for r in results)
    with_sim = any(r.similarity for r in results)
    lines = [
        "| system | kbit/s | PESQ-WB ↑ | STOI ↑ | SI-SDR dB ↑ | log-mel dist ↓ | codebook use | perplexity |"
        + (" WER ↓ |" if with_wer else "") + (" speaker similarity ↑ |" if with_sim else ""),
        "|---|---|---|---|---|---|---|---|" + ("---|" if with_wer else "") + ("---|" if with_sim else ""),
    ]
    for r in results:
        use = f"{100 * min(r.usage):.1f}% (min of {len(r.usage)})" if r.usage and len(r.usage) > 1 else (
            f"{100 * r.usage[0]:.1f}%" if r.usage else "-")
        ppl = f"{np.mean(r.perplexity):.0f}" if r.perplexity else "-"
        lines.append(
            f"| {r.name} | {r.kbps:.2f} | {r.mean('pesq'):.3f} | {r.mean('stoi'):.3f} | "
            f"{r.mean('si_sdr'):.2f} | {r.mean('mel'):.3f} | {use} | {ppl} |"
            + (f" {100 * r.wer:.1f}% |" if r.wer is not None else " - |" if with_wer else "")
            + (f" {np.mean(r.similarity):.3f} |" if r.similarity else " - |" if with_sim else "")
        )
    return "\n".join(lines) + "\n"


def build_systems(models: list[str], baselines: list[str]) -> list[System]:
    """Models as ``SPEC[@KBPS]`` (directory, bundled name or preset), baselines as ``opus:6``
    or ``codec2:3200``; a baseline whose tools are not installed is skipped with a warning."""
    from .baselines import baseline_from_spec
    from .pretrained import load_codec

    systems: list[System] = []
    for spec in models:
        name, _, kbps = spec.partition("@")
        codec = load_codec(name)
        if not codec.pretrained:
            print(f"warning: {name!r} has no trained weights: evaluating a random initialization", file=sys.stderr)
        n_q = codec.n_q_for_bandwidth(float(kbps)) if kbps else None
        label = codec.cfg.name + (f" @{kbps} kbit/s" if kbps else "")
        systems.append(CodecSystem(codec, label, n_q))
    for spec in baselines:
        baseline = baseline_from_spec(spec)
        if baseline.available():
            systems.append(baseline)
        else:
            print(f"warning: {baseline.name}: tools not installed, skipped", file=sys.stderr)
    return systems
