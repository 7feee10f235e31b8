"""TTS training data: the corpus encoded once to codec tokens, cached, then batched.

``encode_corpus`` writes ``<out>/<split>.safetensors`` (one int32 tensor of codes per
utterance) with the manifest rows (id, text) and the codec's name and weights hash in its
metadata; a later call with the same codec reuses the file. ``TokenDataset`` turns rows into
(input_ids, labels) with the tokenizer; ``collate`` right-pads a batch.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from safetensors.torch import load_file, safe_open, save_file
from torch import Tensor

from codec.atomic import atomic_write
from codec.audio import load
from codec.data import read_manifest

from .sequence import EMPTY, IGNORE, build_prompt, speech_rows

if TYPE_CHECKING:
    from .model import TtsModel


def encode_corpus(manifest: str | Path, codec, out: str | Path, max_seconds: float = 20.0) -> Path:
    """Encode every utterance of ``manifest`` (skipping longer ones) into a cached token file."""
    from tqdm import tqdm

    out = Path(out)
    if out.is_file():
        with safe_open(out, "pt") as f:
            if (f.metadata() or {}).get("codec_hash") == codec.weights_hash():
                return out
    rows = [r for r in read_manifest(manifest) if r.get("duration", 0) <= max_seconds and r.get("text")]
    tensors, kept = {}, []
    with torch.inference_mode():
        for row in tqdm(rows, desc=f"encode {Path(manifest).name}", unit="utt", file=sys.stderr):
            wav = torch.from_numpy(load(row["path"], codec.sample_rate))[None]
            tensors[row["id"]] = codec.encode(wav)[0].to(torch.int32).contiguous()
            kept.append({"id": row["id"], "text": row["text"], "speaker": row.get("speaker", "")})
    meta = {"codec": codec.cfg.name, "codec_hash": codec.weights_hash(), "rows": json.dumps(kept)}
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, lambda tmp: save_file(tensors, tmp, metadata=meta))
    return out


def read_tokens(path: str | Path) -> tuple[list[dict], dict[str, Tensor], dict[str, str]]:
    """(rows, codes by id [Q, F], metadata) of an ``encode_corpus`` file."""
    with safe_open(path, "pt") as f:
        meta = f.metadata() or {}
    return json.loads(meta["rows"]), load_file(path), meta


class TokenDataset:
    """Items (input_ids, labels) in the model's layout; long items are dropped."""

    def __init__(self, path: str | Path, model, tokenizer, max_len: int | None = None) -> None:
        rows, codes, meta = read_tokens(path)
        self.codec_name, self.codec_hash = meta.get("codec", ""), meta.get("codec_hash", "")
        max_len = max_len or model.cfg.max_seq_len
        self.items: list[tuple[Tensor, Tensor]] = []
        self.texts: list[str] = []
        for row in rows:
            c = codes[row["id"]]
            if c.shape[0] != model.cfg.n_codebooks:
                raise ValueError(f"{path}: {c.shape[0]} codebooks, the model reads {model.cfg.n_codebooks}")
            ids, labels = training_sequence(model, tokenizer.encode(row["text"]), c.numpy())
            if len(ids) <= max_len:
                self.items.append((ids, labels))
                self.texts.append(row["text"])

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        return self.items[i]


def collate(items: list[tuple[Tensor, Tensor]], pad_id: int) -> tuple[Tensor, Tensor, Tensor]:
    """Right-pad to the longest: (input_ids [B, L(, Q)], labels [B, L(, Q)], key_mask [B, L])."""
    width, rest = max(len(ids) for ids, _ in items), tuple(items[0][0].shape[1:])
    ids = torch.full((len(items), width, *rest), pad_id, dtype=torch.long)
    labels = torch.full((len(items), width, *rest), IGNORE, dtype=torch.long)
    mask = torch.zeros(len(items), width, dtype=torch.bool)
    for i, (x, y) in enumerate(items):
        ids[i, : len(x)], labels[i, : len(y)], mask[i, : len(x)] = x, y, True
    return ids, labels, mask


def length_buckets(lengths: list[int], batch_size: int, seed: int) -> list[list[int]]:
    """Batches of similar length (less padding), in a seeded random order."""
    rng = np.random.default_rng(seed)
    order = np.argsort(np.asarray(lengths) + rng.random(len(lengths)))  # ties broken randomly
    batches = [order[i : i + batch_size].tolist() for i in range(0, len(order), batch_size)]
    rng.shuffle(batches)
    return batches


def training_sequence(model: "TtsModel", text_ids: list[int], codes) -> tuple[Tensor, Tensor]:
    """(input_ids, labels), [L] or [L, Q] for multi-codebook models: labels are the next token
    on speech positions (per codebook slot), else IGNORE. ``codes``: frames or [Q, F]."""
    cfg = model.cfg
    codes = np.asarray(codes, dtype=np.int64).reshape(cfg.n_codebooks, -1)
    prompt = np.asarray(build_prompt(model, text_ids), dtype=np.int64).reshape(-1, cfg.n_codebooks)
    seq = torch.from_numpy(np.concatenate([prompt, speech_rows(cfg, codes, end=True)]))
    ids, labels = seq[:-1].clone(), seq[1:].clone()
    labels[: len(prompt) - 1] = IGNORE
    labels[labels == EMPTY] = IGNORE
    return (ids[:, 0], labels[:, 0]) if cfg.n_codebooks == 1 else (ids, labels)


@torch.no_grad()
def text_reliance(model: "TtsModel", tokenizer, rows: list[dict], codes: dict[str, Tensor], n: int = 32) -> dict[str, float]:
    """Speech cross-entropy of the first ``n`` utterances of a token file (``read_tokens``), read
    with their own transcripts and with each other's (shifted by one).

    The gap says whether the model reads the text at all: a speech LM that ignores it scores
    both the same, however low its loss. Logged during training (``dev/*``)."""
    rows = rows[:n]
    texts = [r["text"] for r in rows]
    out = {}
    for key, order in (("dev/speech_ce", texts), ("dev/speech_ce_other_text", texts[1:] + texts[:1])):
        items = [training_sequence(model, tokenizer.encode(t), codes[r["id"]].numpy()) for t, r in zip(order, rows)]
        ids, labels, mask = collate(items, model.cfg.special("<pad>"))
        logits, _ = model(ids.to(model.embed.weight.device), key_mask=mask.to(model.embed.weight.device))
        out[key] = float(speech_ce(logits, labels.to(logits.device), model.cfg))
    return out


def lm_loss(model: "TtsModel", input_ids: Tensor, labels: Tensor, key_mask: Tensor | None = None) -> Tensor:
    """Mean cross-entropy over labelled (speech) positions of a right-padded batch."""
    logits, _ = model(input_ids, key_mask=key_mask)
    return speech_ce(logits, labels, getattr(model, "module", model).cfg)  # DDP wraps the model


def corrupt_speech(ids: Tensor, cfg, rate: float, generator: torch.Generator) -> Tensor:
    """Input ids with a ``rate`` share of their speech codes swapped for random codes of the same
    codebook (labels are left alone).

    The token-LM analogue of Tacotron's always-on prenet dropout: when the previous codes can
    be trusted, a small corpus teaches a speech LM that copies them and barely reads the text,
    which babbles once it feeds on its own samples. Text, specials and padding are untouched."""
    if rate <= 0:
        return ids
    grid = ids if ids.dim() == 3 else ids[..., None]
    low = torch.tensor([cfg.codebook_offset(q) for q in range(grid.shape[-1])])
    is_code = (grid >= low) & (grid < low + cfg.codebook_size)
    hit = is_code & (torch.rand(grid.shape, generator=generator) < rate)
    noisy = torch.where(hit, low + torch.randint(cfg.codebook_size, grid.shape, generator=generator), grid)
    return noisy if ids.dim() == 3 else noisy[..., 0]


def speech_ce(logits: Tensor, labels: Tensor, cfg) -> Tensor:
    """Mean cross-entropy of ``logits`` [B, L, V] at the labelled positions.

    Each codebook's head scores its own code range plus ``</speech>``: the classes generation
    samples from, so training and decoding see the same softmax."""
    labels = labels.reshape(*labels.shape[:2], cfg.n_codebooks)
    end, size = cfg.special("</speech>"), cfg.codebook_size
    total = logits.new_zeros((), dtype=torch.float32)
    for q in range(cfg.n_codebooks):
        lo = cfg.codebook_offset(q)
        head = torch.cat([logits[..., lo : lo + size], logits[..., end : end + 1]], -1).float()
        y = labels[..., q]
        local = torch.where(y == end, size, y - lo).masked_fill(y == IGNORE, IGNORE)
        total = total + torch.nn.functional.cross_entropy(head.flatten(0, 1), local.flatten(), ignore_index=IGNORE,
                                                          reduction="sum")
    return total / (labels != IGNORE).sum().clamp(min=1)
