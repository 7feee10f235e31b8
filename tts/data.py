"""TTS training data: the corpus encoded once to codec tokens, cached, then batched.

``encode_corpus`` writes ``<out>/<split>.safetensors`` (one int16 tensor of codes per
utterance, int32 beyond 32768 codes; optionally speed-perturbed copies too) with the rows
(id, text, speaker) and the codec's name, codes hash and speeds in its metadata; a later call
with the same codes and speeds reuses the file. ``TokenDataset`` turns rows into
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
from codec.audio import load, resample
from codec.data import read_manifest
from codec.identity import speaks_codes

from .sequence import EMPTY, IGNORE, build_prompt, speech_rows, without_text
from .text import normalize

if TYPE_CHECKING:
    from .model import TtsModel


def encode_corpus(manifest: str | Path, codec, out: str | Path, max_seconds: float = 20.0,
                  speeds: tuple[float, ...] = (1.0,)) -> Path:
    """Encode every utterance of ``manifest`` (skipping longer ones) into a cached token file.

    ``speeds`` other than 1 add speed-perturbed copies (``speed_perturb``) as voices of their
    own: utterance ``<id>_sp<s>`` of speaker ``<speaker>_sp<s>``, so a voice prompt always
    comes from the same speaker at the same speed. Each espeak voice of the mini corpus speaks
    at one fixed rate; copies at other rates keep a model from tying pace to timbre instead of
    reading it off the voice prompt. The cache is reused only for the same codes and speeds."""
    from tqdm import tqdm

    out, speeds = Path(out), tuple(sorted({float(s) for s in speeds}))
    if not speeds or min(speeds) <= 0:
        raise ValueError(f"speed factors must be positive, got {speeds}")
    if out.is_file():
        with safe_open(out, "pt") as f:
            meta = f.metadata() or {}
            if speaks_codes(codec, meta.get("codec_hash", "")) and json.loads(meta.get("speeds", "[1.0]")) == list(speeds):
                return out
    # the manifest's duration spares reading files too long at every speed
    rows = [r for r in read_manifest(manifest) if r.get("text") and r.get("duration", 0) / max(speeds) <= max_seconds]
    dtype = code_dtype(codec.codebook_sizes)
    tensors, kept = {}, []
    with torch.inference_mode():
        for row in tqdm(rows, desc=f"encode {Path(manifest).name}", unit="utt", file=sys.stderr):
            audio = load(row["path"], codec.sample_rate)
            for speed in speeds:
                if len(audio) / codec.sample_rate / speed > max_seconds:
                    continue
                suffix = "" if speed == 1 else f"_sp{speed:g}"
                wav = torch.from_numpy(speed_perturb(audio, speed, codec.sample_rate))[None]
                tensors[row["id"] + suffix] = codec.encode(wav)[0].to(dtype).contiguous()
                kept.append({"id": row["id"] + suffix, "text": row["text"], "speaker": row.get("speaker", "") + suffix})
    meta = {"codec": codec.cfg.name, "codec_hash": codec.codes_hash(), "rows": json.dumps(kept),
            "speeds": json.dumps(list(speeds))}
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, lambda tmp: save_file(tensors, tmp, metadata=meta))
    return out


def code_dtype(codebook_sizes: list[int]) -> torch.dtype:
    """The narrowest integer type that holds every code: int16 for codebooks of up to 32768
    entries, which halves token files (and what a training machine must be sent)."""
    return torch.int16 if max(codebook_sizes) <= 1 << 15 else torch.int32


def speed_perturb(wav: np.ndarray, factor: float, sample_rate: int) -> np.ndarray:
    """Kaldi-style speed perturbation: ``wav`` played ``factor`` times as fast (duration / factor,
    pitch x factor), by resampling from ``factor * sample_rate`` to ``sample_rate``."""
    return wav if factor == 1 else resample(wav, round(factor * sample_rate), sample_rate)


def sample_tokens(src: str | Path, out: str | Path, fraction: float, seed: int = 0) -> int:
    """A seeded share of a token file's utterances, as a token file of its own -> how many kept.

    A training machine may take only so many bytes (the bundled TTS's last phase trained on a
    half of the speed-perturbed corpus, ``fraction=0.5, seed=7``, because the whole did not fit
    what a lease is sent). Each utterance is kept with probability ``fraction``, drawn in file
    order from ``random.Random(seed)``: the same arguments keep the same utterances."""
    import random

    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction:g}")
    rows, codes, meta = read_tokens(src)
    rng = random.Random(seed)
    kept = [row for row in rows if rng.random() < fraction]
    if not kept:
        raise ValueError(f"{src}: a fraction of {fraction:g} kept none of its {len(rows)} utterances")
    sampled = {"from": Path(src).name, "fraction": fraction, "seed": seed}
    meta = meta | {"rows": json.dumps(kept), "sampled": json.dumps(sampled)}
    tensors = {row["id"]: codes[row["id"]] for row in kept}
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    atomic_write(Path(out), lambda tmp: save_file(tensors, tmp, metadata=meta))
    return len(kept)


def read_tokens(path: str | Path) -> tuple[list[dict], dict[str, Tensor], dict[str, str]]:
    """(rows, codes by id [Q, F], metadata) of an ``encode_corpus`` file."""
    from safetensors import SafetensorError

    try:
        with safe_open(path, "pt") as f:
            meta = f.metadata() or {}
    except SafetensorError as e:
        raise ValueError(f"{path}: not a token file (tts-cli encode-corpus writes them): {e}") from None
    if "rows" not in meta:
        raise ValueError(f"{path}: a safetensors file without token rows (tts-cli encode-corpus writes token files)")
    return json.loads(meta["rows"]), load_file(path), meta


class TokenDataset:
    """Items (input_ids, labels) in the model's layout; long items are dropped.

    ``voice_prompts``: the share of items that start with another utterance of the same
    speaker as a voice prompt (chosen once, seeded). Trained only on single utterances, a model
    has never crossed the seam between a prompt and new speech, which is what voice-prompted
    generation asks of it (VALL-E trains on such pairs)."""

    def __init__(self, path: str | Path, model, tokenizer, max_len: int | None = None,
                 voice_prompts: float = 0.0, seed: int = 0) -> None:
        rows, codes, meta = read_tokens(path)
        self.codec_name, self.codec_hash = meta.get("codec", ""), meta.get("codec_hash", "")
        max_len = max_len or model.cfg.max_seq_len
        for row in rows:
            if codes[row["id"]].shape[0] != model.cfg.n_codebooks:
                raise ValueError(f"{path}: {codes[row['id']].shape[0]} codebooks, the model reads {model.cfg.n_codebooks}")
        partners = voice_partners(rows, voice_prompts, seed)
        spoken = {text: normalize(text) for text in dict.fromkeys(row["text"] for row in rows)}  # each text once
        ids_of = dict(zip(spoken, tokenizer.encode_spoken(list(spoken.values()))))
        self.items: list[tuple[Tensor, Tensor]] = []
        self.texts: list[str] = []
        rates: list[float] = []  # normalized characters per second of each kept utterance
        for row, partner in zip(rows, partners):
            text_ids, c = ids_of[row["text"]], codes[row["id"]].numpy()
            prompt = () if partner is None else (ids_of[partner["text"]], codes[partner["id"]].numpy())
            fitted = fitting_sequences(model, text_ids, [c], prompt, max_len)
            if fitted is not None:
                self.items.append(fitted[0])
                self.texts.append(row["text"])
                rates.append(len(spoken[row["text"]]) * model.cfg.codec_frame_rate / max(1, c.shape[-1]))
        self.chars_per_second = float(np.median(rates)) if rates else 0.0  # the pace the model learns

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        return self.items[i]

    def lengths(self) -> list[int]:
        """Each item's sequence length, for batching items of a like length together."""
        return [len(ids) for ids, _ in self.items]


def voice_partners(rows: list[dict], share: float, seed: int) -> list[dict | None]:
    """For each row, another row of the same speaker to serve as its voice prompt (with
    probability ``share``), else None; a pure function of the rows and the seed."""
    rng = np.random.default_rng(seed)
    by_speaker: dict[str, list[dict]] = {}
    for row in rows:
        by_speaker.setdefault(row.get("speaker", ""), []).append(row)
    place = {id(row): i for group in by_speaker.values() for i, row in enumerate(group)}
    partners: list[dict | None] = []
    for row in rows:
        group = by_speaker[row.get("speaker", "")]
        if share <= 0 or len(group) < 2 or rng.random() >= share:
            partners.append(None)
            continue
        j = int(rng.integers(len(group) - 1))  # any other row of the group: skip over this one
        partners.append(group[j + (j >= place[id(row)])])
    return partners


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


def fitting_sequences(model: "TtsModel", text_ids: list[int], sides: list, prompt: tuple = (),
                      max_len: int | None = None) -> list[tuple[Tensor, Tensor]] | None:
    """``training_sequence`` of each of ``sides`` (codes of one text) with the voice prompt
    ``(prompt_text_ids, prompt_codes)`` where all fit in ``max_len`` positions, else without
    it; None where even that does not fit."""
    max_len = max_len or model.cfg.max_seq_len
    for given in ((prompt, ()) if prompt else ((),)):
        items = [training_sequence(model, text_ids, codes, *given) for codes in sides]
        if max(len(ids) for ids, _ in items) <= max_len:
            return items
    return None


def training_sequence(model: "TtsModel", text_ids: list[int], codes, prompt_text_ids: list[int] | None = None,
                      prompt_codes=None) -> tuple[Tensor, Tensor]:
    """(input_ids, labels), [L] or [L, Q] for multi-codebook models: labels are the next token
    on speech positions (per codebook slot), else IGNORE. ``codes``: frames or [Q, F].

    With a voice prompt (another utterance's transcript and codes) the layout is the one
    generation builds (``build_prompt``); the prompt's codes are context, never targets."""
    cfg = model.cfg
    q = cfg.n_codebooks
    codes = np.asarray(codes, dtype=np.int64).reshape(q, -1)
    given = np.zeros((q, 0), np.int64) if prompt_codes is None else np.asarray(prompt_codes, np.int64).reshape(q, -1)
    head = np.asarray(build_prompt(model, text_ids, prompt_text_ids), dtype=np.int64).reshape(-1, q)
    seq = np.concatenate([head, speech_rows(cfg, np.concatenate([given, codes], 1), end=True)])
    ids, labels = seq[:-1].copy(), seq[1:].copy()
    frame = np.arange(len(labels))[:, None] + 1 - len(head) - np.arange(q)[None, :]  # of the delayed grid
    labels[frame < given.shape[1]] = IGNORE  # text, and the prompt's own codes
    labels[labels == EMPTY] = IGNORE
    ids, labels = torch.from_numpy(ids), torch.from_numpy(labels)
    return (ids[:, 0], labels[:, 0]) if q == 1 else (ids, labels)


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


def drop_text(cfg, item: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
    """A training item (``training_sequence``) read without its text (``without_text``): the
    unconditional branch that classifier-free guidance contrasts with at generation."""
    ids, labels = item
    width = ids.shape[1] if ids.dim() == 2 else 1
    both = without_text(cfg, np.concatenate([ids.reshape(len(ids), -1).numpy(), labels.reshape(len(labels), -1).numpy()], 1))
    ids, labels = torch.from_numpy(both[:, :width]), torch.from_numpy(both[:, width:])
    return (ids[:, 0], labels[:, 0]) if item[0].dim() == 1 else (ids, labels)


def speech_logprobs(logits: Tensor, labels: Tensor, cfg) -> Tensor:
    """Log-probability of each label [B, L, Q] under ``logits`` [B, L, V], 0 where unlabelled.

    Each codebook's head scores its own code range plus ``</speech>``: the classes generation
    samples from, so training and decoding see the same softmax."""
    labels = labels.reshape(*labels.shape[:2], cfg.n_codebooks)
    end, size = cfg.special("</speech>"), cfg.codebook_size
    out = []
    for q in range(cfg.n_codebooks):
        lo = cfg.codebook_offset(q)
        head = torch.cat([logits[..., lo : lo + size], logits[..., end : end + 1]], -1).float()
        y = labels[..., q]
        local = torch.where(y == end, size, y - lo).masked_fill(y == IGNORE, 0)
        picked = head.log_softmax(-1).gather(-1, local[..., None])[..., 0]
        out.append(picked.masked_fill(y == IGNORE, 0.0))
    return torch.stack(out, -1)


def speech_ce(logits: Tensor, labels: Tensor, cfg) -> Tensor:
    """Mean cross-entropy of ``logits`` [B, L, V] at the labelled (speech) positions."""
    return -speech_logprobs(logits, labels, cfg).sum() / (labels != IGNORE).sum().clamp(min=1)
