"""Preference optimization (DPO) of the TTS toward renditions a recognizer hears right.

Best-of-N picks, among N samples, the one a verifier hears best; it cannot make the samples
better. Here the model learns from its own choices: for training sentences, N renditions are
drawn (voice-prompted, as served) and scored by the verifier (``tts.verify``); the best and
the worst of each become a (chosen, rejected) pair (``draw_pairs``, ``tts-cli
draw-preferences``). Training then raises the chosen rendition's likelihood against the
rejected one's, relative to the starting model (Direct Preference Optimization, Rafailov et al.
2023; for codec-LM TTS: SpeechAlign, Zhang et al. 2024; Koel-TTS, Hussain et al. 2025):

    loss = -log sigmoid(beta * ((log p(chosen) - log p_ref(chosen)) - (log p(rejected) - log p_ref(rejected))))

plus, optionally, ``sft_weight`` x the chosen codes' cross-entropy (RPO), which keeps the
chosen renditions likely in absolute terms. ``p_ref`` is the frozen ``init_from`` model.
Log-probabilities are those of the generated codes and ``</speech>`` given the text and the
voice prompt, under the conditional (text-reading) model; guidance stays an inference matter.

    tts-cli draw-preferences exp/tts/tokens/train.safetensors exp/tts/pairs.safetensors --tts models/tts \\
        --verifier models/asr_verifier --candidates 8 --limit 2000
    python -m tts.preference --config recipes/libritts/conf/tts_small_dpo.yaml
"""

from __future__ import annotations

import copy
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from codec.checkpoint import atomic_write

from .data import collate, fitting_sequences, read_tokens, speech_logprobs, voice_partners
from .sequence import IGNORE, codes_to_frames
from .text import normalize
from .train import TtsTrainConfig, TtsTrainer

PAIRS_KIND = "tts preference pairs"


def draw_pairs(tokens: str | Path, out: str | Path, synth, verifier, candidates: int = 8, limit: int | None = None,
               seed: int = 0, min_gap: float = 0.05, sampling=None, save_every: int = 25,
               shard: tuple[int, int] = (0, 1)) -> dict[str, int]:
    """Draw ``candidates`` renditions of the first ``limit`` utterances of a token file (in a
    seeded order), each voice-prompted by another utterance of its speaker, and keep the
    verifier's best and worst as a pair where their scores (nats per character) differ by at
    least ``min_gap``. Writes the pairs file every ``save_every`` utterances and at the end; an
    existing one drawn with the same settings by the same model is continued where it stopped
    (the same pairs as one uninterrupted draw); one by another model is refused. ``shard`` (k,
    n) draws every n-th of those utterances from the k-th on, with the seeds the whole draw gives
    them: n processes draw disjoint shards at once and ``merge_pairs`` joins them into the pairs
    of one draw. Returns counts (``pairs``; ``close``: too close to tell apart; ``skipped``: no
    other utterance of the speaker, or more than one sentence)."""
    from dataclasses import replace

    from tqdm import tqdm

    from .sampling import SamplingConfig

    rows, codes, meta = read_tokens(tokens)
    index, shards = shard
    if not 0 <= index < shards:
        raise ValueError(f"shard must be k/n with 0 <= k < n, got {index}/{shards}")
    order = np.random.default_rng(seed).permutation(len(rows))[: limit or len(rows)].tolist()
    mine = list(range(index, len(order), shards))  # positions in the whole draw's order: they seed the draws
    partners = voice_partners(rows, 1.0, seed)
    settings = {"source": Path(tokens).name, "seed": seed, "candidates": candidates, "min_gap": min_gap}
    settings |= {"shard": f"{index}/{shards}"} if shards > 1 else {}
    weights = _weights_hash(synth.model)  # hashing a torch model reads every weight: once per draw
    kept, tensors, counts, done = _drawn_so_far(out, settings, weights)
    sampling = replace(sampling or SamplingConfig(), best_of=candidates)
    for m in tqdm(range(done, len(mine)), desc="preference pairs", unit="utt", file=sys.stderr, initial=done,
                  total=len(mine)):
        n = mine[m]
        i = order[n]
        drawn = _draw_one(synth, verifier, rows[i], partners[i], codes, replace(sampling, seed=seed + n), min_gap)
        if isinstance(drawn, str):
            counts[drawn] += 1
        else:
            key, (row, chosen, rejected) = f"p{len(kept)}", drawn
            tensors |= {f"{key}.chosen": chosen, f"{key}.rejected": rejected, f"{key}.prompt": codes[row["prompt_id"]]}
            kept.append({"id": key, **row})
            counts["pairs"] += 1
        if (m + 1) % save_every == 0 and kept:  # drawing is slow: an interrupted run keeps what it drew
            _write_drawn(out, kept, tensors, meta, weights, settings, counts, m + 1)
    if not kept and shards == 1:  # a shard may come up empty: merge_pairs refuses only an empty whole
        raise ValueError(f"{tokens}: no pair whose renditions differ by {min_gap} nats per character ({counts})")
    _write_drawn(out, kept, tensors, meta, weights, settings, counts, len(mine))
    return counts


def _drawn_so_far(out: str | Path, settings: dict, weights: str) -> tuple[list[dict], dict[str, Tensor], dict[str, int], int]:
    """(pairs, their codes, counts, utterances drawn) of an earlier draw into ``out`` with the
    same ``settings`` by the model of hash ``weights``; nothing where there is none."""
    if not Path(out).exists():
        return [], {}, {"pairs": 0, "close": 0, "skipped": 0}, 0
    rows, tensors, meta = read_tokens(out)
    if meta.get("kind") != PAIRS_KIND or json.loads(meta.get("settings", "{}")) != settings:
        raise ValueError(f"{out}: exists, drawn with other settings ({meta.get('settings', 'unknown')}): "
                         "remove it or write elsewhere")
    if meta.get("tts_weights_hash") != weights:  # pairs of two policies would be one file, labelled as the last
        raise ValueError(f"{out}: exists, drawn by another model (weights {meta.get('tts_weights_hash')}, "
                         f"this one {weights}): remove it or write elsewhere")
    return rows, dict(tensors), json.loads(meta["counts"]), int(meta["drawn"])


def _draw_one(synth, verifier, row: dict, partner: dict | None, codes: dict[str, Tensor], sampling, min_gap: float):
    """(pair row, chosen codes, rejected codes) for one utterance, or why there is none
    (``skipped`` / ``close``)."""
    from .synthesize import VoicePrompt

    if partner is None:
        return "skipped"
    voice = VoicePrompt(codes_to_frames(codes[partner["id"]].numpy()), partner["text"])
    found = synth.candidates(row["text"], voice, sampling)
    if len(found) != 1:
        return "skipped"
    sentence, runs, wavs = found[0]
    scores = [verifier.score(w, synth.sample_rate, sentence) for w in wavs]
    best, worst = int(np.argmin(scores)), int(np.argmax(scores))
    if not runs[best] or not scores[worst] - scores[best] >= min_gap:  # inf - inf is nan: not a pair either
        return "close"
    q = synth.model.cfg.n_codebooks
    pair = {"source": row["id"], "text": sentence, "prompt_id": partner["id"], "prompt_text": partner["text"],
            "speaker": row.get("speaker", ""), "chosen_score": scores[best], "rejected_score": min(scores[worst], 1e9)}
    return pair, _frames_tensor(runs[best], q), _frames_tensor(runs[worst], q)


def _write_drawn(out, kept: list[dict], tensors: dict[str, Tensor], meta: dict, weights: str, settings: dict,
                 counts: dict[str, int], drawn: int) -> None:
    write_pairs(out, kept, tensors, meta.get("codec", ""), meta.get("codec_hash", ""), candidates=str(settings["candidates"]),
                tts_weights_hash=weights, settings=json.dumps(settings),
                counts=json.dumps(counts), drawn=str(drawn))


def _weights_hash(model) -> str:
    weights = getattr(model, "weights_hash", "")  # torch models compute it, ONNX graphs carry it
    return weights() if callable(weights) else weights


def merge_pairs(out: str | Path, inputs: list[str | Path]) -> int:
    """Join pairs files of one codec (the shards of a draw, or draws of several rounds) into
    one; each row keeps the weights hash of the model that drew it (``tts_weights_hash``, the
    file's own where all agree). Returns the number of pairs."""
    rows, tensors, infos = [], {}, []
    for path in inputs:
        kept, codes, meta = read_pairs(path)
        if infos and meta.get("codec_hash") != infos[0].get("codec_hash"):
            raise ValueError(f"{path}: pairs of codec {meta.get('codec')} {meta.get('codec_hash')}, "
                             f"but {inputs[0]} has {infos[0].get('codec')} {infos[0].get('codec_hash')}")
        infos.append(meta)
        for row in kept:
            key = f"p{len(rows)}"
            tensors |= {f"{key}.{part}": codes[f"{row['id']}.{part}"] for part in ("chosen", "rejected", "prompt")}
            rows.append(row | {"id": key, "tts_weights_hash": row.get("tts_weights_hash", meta.get("tts_weights_hash", ""))})
    if not rows:
        raise ValueError(f"no pairs in {', '.join(map(str, inputs))}")
    weights = {r["tts_weights_hash"] for r in rows}
    counts = {"pairs": len(rows)} | {k: sum(json.loads(m.get("counts", "{}")).get(k, 0) for m in infos)
                                     for k in ("close", "skipped")}
    write_pairs(out, rows, tensors, infos[0].get("codec", ""), infos[0].get("codec_hash", ""),
                tts_weights_hash=weights.pop() if len(weights) == 1 else "mixed", counts=json.dumps(counts),
                drawn=str(sum(int(m.get("drawn", 0)) for m in infos)),
                merged=json.dumps([{"file": Path(p).name, "settings": json.loads(m.get("settings", "{}"))}
                                   for p, m in zip(inputs, infos)]))
    return len(rows)


def read_pairs(path: str | Path) -> tuple[list[dict], dict[str, Tensor], dict[str, str]]:
    """(rows, codes, metadata) of a pairs file; any other token file is refused."""
    rows, tensors, meta = read_tokens(path)
    if meta.get("kind") != PAIRS_KIND:
        raise ValueError(f"{path}: not a preference pairs file (tts-cli draw-preferences writes them)")
    return rows, tensors, meta


def _frames_tensor(frames: list, n_codebooks: int) -> Tensor:
    return torch.tensor(np.asarray(frames, np.int64).reshape(-1, n_codebooks).T.copy(), dtype=torch.int32)


def write_pairs(out: str | Path, rows: list[dict], tensors: dict[str, Tensor], codec: str, codec_hash: str,
                **extra: str) -> None:
    """A pairs file: ``rows`` (id, text, prompt_text, ...) and, per row id, ``<id>.chosen``,
    ``<id>.rejected`` and ``<id>.prompt`` codes [Q, F] of the codec named (atomically)."""
    from safetensors.torch import save_file

    info = {"kind": PAIRS_KIND, "rows": json.dumps(rows), "codec": codec, "codec_hash": codec_hash, **extra}
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    own = {k: v.clone().contiguous() for k, v in tensors.items()}  # pairs may share one prompt's codes
    atomic_write(Path(out), lambda tmp: save_file(own, tmp, metadata=info))


class PairDataset:
    """(chosen, rejected) training items of a pairs file, each in the layout generation read
    (``training_sequence`` with the pair's voice prompt). A pair that does not fit the model's
    positions with its prompt is read without it (generation may run past them; TokenDataset
    does the same), and dropped only if it does not fit even so."""

    def __init__(self, path: str | Path, model, tokenizer) -> None:
        rows, tensors, meta = read_pairs(path)
        self.codec_hash = meta.get("codec_hash", "")
        self.chars_per_second = model.cfg.chars_per_second  # the pace the model already learned
        texts = list(dict.fromkeys(r[k] for r in rows for k in ("text", "prompt_text")))
        spoken = dict(zip(texts, tokenizer.encode_spoken([normalize(t) for t in texts])))  # as TokenDataset does
        self.items: list[tuple[tuple[Tensor, Tensor], tuple[Tensor, Tensor]]] = []
        for row in rows:
            sides = [tensors[f"{row['id']}.{part}"].numpy() for part in ("chosen", "rejected")]
            prompt = (spoken[row["prompt_text"]], tensors[f"{row['id']}.prompt"].numpy())
            pair = fitting_sequences(model, spoken[row["text"]], sides, prompt)
            if pair is not None:
                self.items.append(tuple(pair))

    def __len__(self) -> int:
        return len(self.items)

    def lengths(self) -> list[int]:
        return [max(len(chosen[0]), len(rejected[0])) for chosen, rejected in self.items]


def dpo_loss(policy: Tensor, reference: Tensor, beta: float) -> tuple[Tensor, dict[str, float]]:
    """``policy``, ``reference``: sequence log-probabilities [2B], the B chosen then the B
    rejected. -> (mean DPO loss, logs: reward margin and how often the chosen one wins)."""
    chosen, rejected = (policy - reference).chunk(2)
    margin = beta * (chosen - rejected)
    seen = margin.detach()
    logs = {"dpo/margin": float(seen.mean()), "dpo/accuracy": float((seen > 0).float().mean()),
            "dpo/chosen_reward": float(beta * chosen.detach().mean()),
            "dpo/rejected_reward": float(beta * rejected.detach().mean())}
    return -F.logsigmoid(margin).mean(), logs


@dataclass
class PreferenceTrainConfig(TtsTrainConfig):
    """``train_tokens`` names a pairs file; ``init_from`` is both the starting and the reference model."""

    beta: float = 0.1  # how far from the reference the policy may move (DPO's temperature)
    sft_weight: float = 0.0  # chosen codes' cross-entropy added to the loss (RPO)

    def __post_init__(self) -> None:
        super().__post_init__()
        from codec.typed_config import ConfigError

        if not self.init_from:
            raise ConfigError("preference training needs init_from: the model to improve, and the reference it is held to")
        if self.beta <= 0 or self.sft_weight < 0:
            raise ConfigError(f"beta must be > 0 and sft_weight >= 0, got {self.beta} and {self.sft_weight}")
        unused = [name for name in ("token_noise", "voice_prompts", "text_dropout", "self_feed") if getattr(self, name)]
        unused += ["align"] if self.align.weight > 0 else []
        if unused:  # pairs are scored as they were drawn: nothing is corrupted, dropped or guided
            raise ConfigError(f"preference training does not use {', '.join(unused)}: remove it from the config")


class PreferenceTrainer(TtsTrainer):
    """The TTS trainer (checkpoints, ``--resume``, DDP, time budget, dev samples) on pairs."""

    def __init__(self, cfg: PreferenceTrainConfig, env) -> None:
        super().__init__(cfg, env)
        self.reference = copy.deepcopy(self.model).eval().requires_grad_(False)  # init_from: --resume restores the policy only

    def build_data(self) -> PairDataset:
        return PairDataset(self.cfg.train_tokens, self.model, self.tokenizer)

    def make_batch(self, batch: list[int], step: int) -> tuple[Tensor, ...]:
        """The batch's chosen items, then its rejected ones, padded together."""
        pairs = [self.data.items[i] for i in batch]
        return collate([c for c, _ in pairs] + [r for _, r in pairs], self.model.cfg.special("<pad>"))

    def train_step(self, ids, labels, mask) -> dict[str, float]:
        self.schedule_lr()
        cfg, amp = self.model.cfg, self.cfg.amp and self.env.device.type == "cuda"
        with torch.autocast(self.env.device.type, dtype=torch.bfloat16, enabled=amp):
            tokens = speech_logprobs(self.net(ids, key_mask=mask)[0], labels, cfg)
            with torch.no_grad():
                reference = speech_logprobs(self.reference(ids, key_mask=mask)[0], labels, cfg).flatten(1).sum(1)
        policy = tokens.flatten(1).sum(1)
        loss, logs = dpo_loss(policy, reference, self.cfg.beta)
        chosen_labels = (labels[: len(labels) // 2] != IGNORE).sum().clamp(min=1)
        sft = -policy[: len(policy) // 2].sum() / chosen_labels
        norm = self.optimize(loss + self.cfg.sft_weight * sft if self.cfg.sft_weight else loss)
        return logs | {"loss/dpo": loss.item(), "loss/chosen_ce": sft.item(), "grad_norm": norm,
                       "lr": self.opt.param_groups[0]["lr"]}


def main(argv: list[str] | None = None) -> int:
    from codec.train import run

    return run(PreferenceTrainer, PreferenceTrainConfig, argv)


if __name__ == "__main__":
    sys.exit(main())
