"""Preference optimization (tts.preference): pairs are the verifier's best and worst of the
renditions best-of draws, DPO starts at log 2 and moves the model toward the chosen renditions
relative to its frozen start, and --resume restores the policy but never the reference."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from codec.pretrained import load_codec
from codec.train import Dist
from serve.engine import TorchCodecEngine
from tts.config import load_preset
from tts.data import collate, read_tokens, speech_logprobs
from tts.model import TtsModel
from tts.preference import (PairDataset, PreferenceTrainConfig, PreferenceTrainer, draw_pairs, dpo_loss, merge_pairs,
                            write_pairs)
from tts.sampling import SamplingConfig
from tts.sequence import codes_to_frames
from tts.synthesize import Synthesizer, VoicePrompt
from tts.text import TextTokenizer, train_tokenizer
from tts.verify import load_verifier

TEXTS = ["red cat", "big dog ran", "old owl", "wet elk sat", "tall oak", "grey fox hid"]


@pytest.fixture
def pairs_setup(tmp_path):
    """A tiny starting model and six pairs: chosen codes count up, rejected ones are noise."""
    tok = TextTokenizer(train_tokenizer(TEXTS * 3, vocab_size=262))
    tok.save(tmp_path / "tokenizer.json")
    torch.manual_seed(0)
    TtsModel(load_preset("tiny", text_vocab=tok.vocab_size)).save_pretrained(tmp_path / "init")
    g = torch.Generator().manual_seed(1)
    rows, tensors = [], {}
    for i, text in enumerate(TEXTS):
        key = f"p{i}"
        rows.append({"id": key, "text": text, "prompt_text": TEXTS[(i + 1) % len(TEXTS)]})
        tensors[f"{key}.chosen"] = (torch.arange(12, dtype=torch.int32)[None] * 3 + i) % 256
        tensors[f"{key}.rejected"] = torch.randint(256, (1, 12), generator=g, dtype=torch.int32)
        tensors[f"{key}.prompt"] = torch.randint(256, (1, 8), generator=g, dtype=torch.int32)
    write_pairs(tmp_path / "pairs.safetensors", rows, tensors, "x", "")
    return tmp_path


def _config(root, **overrides) -> PreferenceTrainConfig:
    settings = dict(train_tokens=str(root / "pairs.safetensors"), tokenizer=str(root / "tokenizer.json"),
                    out_dir=str(root / "run"), init_from=str(root / "init"), model={"preset": "tiny"}, batch_size=3,
                    max_steps=40, lr=3e-3, warmup_steps=1, beta=0.5, ckpt_every=10, log_every=1000)
    return PreferenceTrainConfig(**(settings | overrides))


def _margins(trainer: PreferenceTrainer) -> torch.Tensor:
    """Per pair: (log p - log p_ref)(chosen) - (log p - log p_ref)(rejected)."""
    pairs = trainer.data.items
    ids, labels, mask = collate([c for c, _ in pairs] + [r for _, r in pairs], trainer.model.cfg.special("<pad>"))
    with torch.no_grad():
        policy, ref = (speech_logprobs(m.eval()(ids, key_mask=mask)[0], labels, trainer.model.cfg).flatten(1).sum(1)
                       for m in (trainer.model, trainer.reference))
    chosen, rejected = (policy - ref).chunk(2)
    return chosen - rejected


def test_dpo_starts_at_log_two_and_learns_the_chosen_side(pairs_setup):
    trainer = PreferenceTrainer(_config(pairs_setup), Dist())
    assert len(trainer.data) == len(TEXTS)
    ids, labels, mask = next(trainer.batches())
    assert ids.shape[0] == 6  # three chosen items, then their three rejected ones
    first = trainer.train_step(ids, labels, mask)
    assert first["loss/dpo"] == pytest.approx(math.log(2), abs=1e-6)  # policy == reference before any step
    trainer.model.train()
    trainer.step = 1
    trainer.fit()
    margins = _margins(trainer)
    assert bool((margins > 0).all()), margins
    assert trainer.reference.weights_hash() == TtsModel.from_pretrained(pairs_setup / "init").weights_hash()


def test_pairs_may_share_a_prompt(tmp_path):
    prompt = torch.arange(6, dtype=torch.int32)[None]
    tensors = {f"p{i}.{part}": prompt if part == "prompt" else prompt + i for i in range(2)
               for part in ("prompt", "chosen", "rejected")}
    rows = [{"id": f"p{i}", "text": "red cat", "prompt_text": "big dog"} for i in range(2)]
    write_pairs(tmp_path / "pairs.safetensors", rows, tensors, "x", "")
    assert torch.equal(read_tokens(tmp_path / "pairs.safetensors")[1]["p1.prompt"], prompt)


def test_a_pair_too_long_with_its_prompt_is_read_without_it(pairs_setup):
    """Generation may run past the model's positions with a long voice prompt: such a pair is
    kept without the prompt, and dropped only when its renditions alone do not fit."""
    from tts.data import training_sequence

    model = TtsModel.from_pretrained(pairs_setup / "init")
    tok = TextTokenizer.from_file(pairs_setup / "tokenizer.json")
    limit, short = model.cfg.max_seq_len, torch.arange(12, dtype=torch.int32)[None]
    sides = {"fits": (short, torch.arange(8, dtype=torch.int32)[None]),
             "long prompt": (short, torch.zeros(1, limit - 20, dtype=torch.int32)),
             "long rendition": (torch.zeros(1, limit, dtype=torch.int32), torch.arange(8, dtype=torch.int32)[None])}
    rows = [{"id": f"p{i}", "text": "red cat", "prompt_text": "big dog"} for i in range(len(sides))]
    tensors = {f"p{i}.{part}": t for i, (codes, prompt) in enumerate(sides.values())
               for part, t in (("chosen", codes), ("rejected", codes.flip(1)), ("prompt", prompt))}
    write_pairs(pairs_setup / "long.safetensors", rows, tensors, "x", "")
    data = PairDataset(pairs_setup / "long.safetensors", model, tok)
    assert len(data) == 2  # the rendition longer than every position is dropped
    (fits, _), (unprompted, _) = data.items
    text, prompt_text = tok.encode_spoken(["red cat", "big dog"])
    assert torch.equal(fits[0], training_sequence(model, text, short.numpy(), prompt_text, np.arange(8)[None])[0])
    assert torch.equal(unprompted[0], training_sequence(model, text, short.numpy())[0])


def test_dpo_loss_rewards_the_chosen_margin():
    policy, reference = torch.tensor([-10.0, -12.0, -30.0, -28.0]), torch.tensor([-11.0, -11.0, -29.0, -29.0])
    loss, logs = dpo_loss(policy, reference, beta=0.5)
    # chosen: +1, -1 against the reference; rejected: -1, +1 -> margins 0.5 * (2, -2)
    assert loss.item() == pytest.approx(float(-(torch.nn.functional.logsigmoid(torch.tensor([1.0, -1.0]))).mean()))
    assert logs["dpo/accuracy"] == 0.5 and logs["dpo/margin"] == pytest.approx(0.0)


def test_resume_restores_the_policy_and_keeps_the_reference(pairs_setup):
    whole = PreferenceTrainer(_config(pairs_setup, out_dir=str(pairs_setup / "whole"), max_steps=20), Dist())
    whole.fit()
    cut = PreferenceTrainer(_config(pairs_setup, max_steps=20), Dist())
    cut.fit(stop_after=10)
    resumed = PreferenceTrainer(_config(pairs_setup, max_steps=20), Dist())
    assert resumed.resume() and resumed.step == 10
    assert resumed.reference.weights_hash() == TtsModel.from_pretrained(pairs_setup / "init").weights_hash()
    resumed.fit()
    assert resumed.model.weights_hash() == whole.model.weights_hash()  # bit for bit


def test_the_entry_point_trains_from_a_yaml(pairs_setup, capsys):
    import yaml

    from tts.preference import main

    cfg = {k: v for k, v in vars(_config(pairs_setup)).items() if k not in ("align",)}
    (pairs_setup / "dpo.yaml").write_text(yaml.safe_dump(cfg | {"betas": list(cfg["betas"])}))
    assert main(["--config", str(pairs_setup / "dpo.yaml"), "--max-steps", "3"]) == 0
    trained = TtsModel.from_pretrained(pairs_setup / "run" / "model")
    assert trained.weights_hash() != TtsModel.from_pretrained(pairs_setup / "init").weights_hash()
    assert (pairs_setup / "run" / "model" / "tokenizer.json").is_file()


def test_preference_training_refuses_what_it_cannot_use(pairs_setup):
    from codec.typed_config import ConfigError

    with pytest.raises(ConfigError, match="init_from"):
        _config(pairs_setup, init_from=None)
    with pytest.raises(ConfigError, match="beta"):
        _config(pairs_setup, beta=0)
    with pytest.raises(ConfigError, match="does not use self_feed, align"):
        _config(pairs_setup, self_feed=0.3, align={"weight": 1.0, "layers": [0]})
    tokens = pairs_setup / "tokens.safetensors"
    from safetensors.torch import save_file

    save_file({"u0": torch.zeros(1, 4, dtype=torch.int32)}, str(tokens),
              metadata={"rows": json.dumps([{"id": "u0", "text": "red cat"}])})
    with pytest.raises(ValueError, match="not a preference pairs file"):
        PreferenceTrainer(_config(pairs_setup, train_tokens=str(tokens)), Dist())


@pytest.fixture
def draw_setup(tmp_path, asr_dir):
    """A tiny TTS over the tiny distilcodec, a verifier, and a token file of four utterances by
    two speakers: (tokens, rows, codes, synth, verifier)."""
    from safetensors.torch import save_file

    torch.manual_seed(0)
    texts = ["The old mill stood by the river.", "A quiet bridge.", "The river ran.", "A mill."]
    tokenizer = TextTokenizer(train_tokenizer(texts * 2, vocab_size=300))
    model = TtsModel(load_preset("tiny", codec="distilcodec-tiny")).eval()
    codec = TorchCodecEngine(load_codec("distilcodec-tiny"))
    synth = Synthesizer(model, tokenizer, codec=codec)
    verifier = load_verifier(str(asr_dir), backend="torch")
    g = torch.Generator().manual_seed(2)
    rows = [{"id": f"u{i}", "text": t, "speaker": f"s{i % 2}"} for i, t in enumerate(texts)]
    codes = {r["id"]: torch.randint(codec.codebook_sizes[0], (1, 20), generator=g, dtype=torch.int32) for r in rows}
    tokens = tmp_path / "tokens.safetensors"
    save_file(codes, str(tokens), metadata={"codec": "distilcodec-tiny", "codec_hash": codec.codes_hash(),
                                            "rows": json.dumps(rows)})
    return tokens, rows, codes, synth, verifier


def test_draw_keeps_the_verifiers_best_and_worst(tmp_path, draw_setup):
    """Each pair is the lowest- and highest-scoring of the renditions ``Synthesizer.candidates``
    draws for that utterance, voice-prompted by another utterance of its speaker."""
    tokens, rows, codes, synth, verifier = draw_setup
    model, tokenizer, codec, sampling = synth.model, synth.tokenizer, synth.codec, SamplingConfig(max_frames=30)
    counts = draw_pairs(tokens, tmp_path / "pairs.safetensors", synth, verifier, candidates=3, seed=4, min_gap=0.0,
                        sampling=sampling)
    assert counts["pairs"] >= 2 and counts["pairs"] + counts["close"] == 4 and counts["skipped"] == 0
    kept, tensors, meta = read_tokens(tmp_path / "pairs.safetensors")
    assert meta["codec_hash"] == codec.codes_hash() and meta["candidates"] == "3"
    assert meta["tts_weights_hash"] == model.weights_hash()  # which model drew them
    order = np.random.default_rng(4).permutation(len(rows)).tolist()
    assert len(kept) == counts["pairs"]
    for row in kept:
        n = next(k for k, i in enumerate(order) if rows[i]["id"] == row["source"])  # its draw's seed is 4 + n
        source = rows[order[n]]
        assert row["prompt_text"] != source["text"]
        prompt = next(r for r in rows if r["text"] == row["prompt_text"])
        assert prompt["speaker"] == source["speaker"]
        assert torch.equal(tensors[f"{row['id']}.prompt"], codes[prompt["id"]])
        voice = VoicePrompt(codes_to_frames(codes[prompt["id"]].numpy()), prompt["text"])
        (sentence, runs, wavs), = synth.candidates(source["text"], voice, SamplingConfig(max_frames=30, best_of=3, seed=4 + n))
        scores = [verifier.score(w, synth.sample_rate, sentence) for w in wavs]
        assert tensors[f"{row['id']}.chosen"][0].tolist() == runs[int(np.argmin(scores))]
        assert tensors[f"{row['id']}.rejected"][0].tolist() == runs[int(np.argmax(scores))]
        assert row["chosen_score"] == pytest.approx(min(scores))
    cut = tmp_path / "cut.safetensors"  # an interrupted draw goes on where it stopped: the same pairs
    draw_pairs(tokens, cut, synth, verifier, candidates=3, limit=2, seed=4, min_gap=0.0, sampling=sampling, save_every=1)
    first, first_tensors, first_meta = read_tokens(cut)
    assert int(first_meta["drawn"]) == 2
    first[0]["source"] = "marked"  # what is already drawn is kept, not drawn again
    write_pairs(cut, first, dict(first_tensors), **{k: v for k, v in first_meta.items() if k not in ("kind", "rows")})
    assert draw_pairs(tokens, cut, synth, verifier, candidates=3, seed=4, min_gap=0.0, sampling=sampling) == counts
    again, again_tensors, _ = read_tokens(cut)
    assert again[0]["source"] == "marked" and again[1:] == kept[1:]
    assert all(torch.equal(again_tensors[k], v) for k, v in tensors.items())
    with pytest.raises(ValueError, match="other settings"):
        draw_pairs(tokens, cut, synth, verifier, candidates=2, seed=4, min_gap=0.0, sampling=sampling)
    torch.manual_seed(1)
    other = Synthesizer(TtsModel(load_preset("tiny", codec="distilcodec-tiny")).eval(), tokenizer, codec=codec)
    with pytest.raises(ValueError, match="drawn by another model"):  # one file, one policy
        draw_pairs(tokens, cut, other, verifier, candidates=3, seed=4, min_gap=0.0, sampling=sampling)
    data = PairDataset(tmp_path / "pairs.safetensors", model, tokenizer)
    assert len(data) == len(kept)  # every pair reads back as two training items
    with pytest.raises(ValueError, match="no pair whose renditions differ"):  # nothing to learn from pairs the verifier cannot tell apart
        draw_pairs(tokens, tmp_path / "none.safetensors", synth, verifier, candidates=3, seed=4, min_gap=1e9,
                   sampling=sampling)


def test_shards_drawn_apart_and_merged_are_the_whole_draw(tmp_path, draw_setup):
    """n processes may draw at once: shard k/n takes every n-th utterance of the whole draw's
    order with the seed the whole draw gives it, so the merged shards hold the same pairs."""
    tokens, rows, codes, synth, verifier = draw_setup
    args = dict(candidates=3, seed=4, min_gap=0.0, sampling=SamplingConfig(max_frames=30))
    counts = draw_pairs(tokens, tmp_path / "whole.safetensors", synth, verifier, **args)
    shards = [tmp_path / f"shard{k}.safetensors" for k in range(2)]
    for k, path in enumerate(shards):
        draw_pairs(tokens, path, synth, verifier, shard=(k, 2), **args)
    assert json.loads(read_tokens(shards[1])[2]["settings"])["shard"] == "1/2"
    assert merge_pairs(tmp_path / "merged.safetensors", shards) == counts["pairs"]
    whole, whole_codes, _ = read_tokens(tmp_path / "whole.safetensors")
    merged, merged_codes, meta = read_tokens(tmp_path / "merged.safetensors")
    assert json.loads(meta["counts"]) == counts and meta["drawn"] == "4"
    assert meta["tts_weights_hash"] == synth.model.weights_hash()  # one model drew every shard
    by_source = {r["source"]: r for r in merged}
    assert sorted(by_source) == sorted(r["source"] for r in whole) and len(merged) == len(whole)
    for row in whole:
        other = by_source[row["source"]]
        assert other["chosen_score"] == row["chosen_score"] and other["prompt_id"] == row["prompt_id"]
        for part in ("chosen", "rejected", "prompt"):
            assert torch.equal(merged_codes[f"{other['id']}.{part}"], whole_codes[f"{row['id']}.{part}"])
    with pytest.raises(ValueError, match="other settings"):  # a merged file is not a draw to continue
        draw_pairs(tokens, tmp_path / "merged.safetensors", synth, verifier, **args)
    empty = [tmp_path / f"empty{k}.safetensors" for k in range(2)]  # no pair in a shard is no error ...
    for k, path in enumerate(empty):
        assert draw_pairs(tokens, path, synth, verifier, shard=(k, 2), **(args | {"min_gap": 1e9}))["pairs"] == 0
    with pytest.raises(ValueError, match="no pairs in"):  # ... but none in the whole draw is
        merge_pairs(tmp_path / "none.safetensors", empty)
    with pytest.raises(ValueError, match="shard must be"):
        draw_pairs(tokens, tmp_path / "bad.safetensors", synth, verifier, shard=(2, 2), **args)


def test_merged_rows_keep_the_model_that_drew_them(pairs_setup):
    """Pairs of two rounds (two models) merge into one file that says, row by row, which model
    drew each; a file of another codec is refused."""
    rows, tensors, meta = read_tokens(pairs_setup / "pairs.safetensors")
    write_pairs(pairs_setup / "a.safetensors", rows[:2], dict(tensors), "x", "c1", tts_weights_hash="aaa")
    write_pairs(pairs_setup / "b.safetensors", rows[2:], dict(tensors), "x", "c1", tts_weights_hash="bbb")
    assert merge_pairs(pairs_setup / "ab.safetensors", [pairs_setup / "a.safetensors", pairs_setup / "b.safetensors"]) == 6
    merged, codes, meta = read_tokens(pairs_setup / "ab.safetensors")
    assert [r["tts_weights_hash"] for r in merged] == ["aaa"] * 2 + ["bbb"] * 4
    assert meta["tts_weights_hash"] == "mixed" and meta["codec_hash"] == "c1"
    assert [r["id"] for r in merged] == [f"p{i}" for i in range(6)] and [r["text"] for r in merged] == TEXTS
    assert torch.equal(codes["p3.rejected"], tensors["p3.rejected"])
    write_pairs(pairs_setup / "c.safetensors", rows, dict(tensors), "y", "c2")
    with pytest.raises(ValueError, match="pairs of codec y c2"):
        merge_pairs(pairs_setup / "bad.safetensors", [pairs_setup / "a.safetensors", pairs_setup / "c.safetensors"])
    model = TtsModel.from_pretrained(pairs_setup / "init")
    assert len(PairDataset(pairs_setup / "ab.safetensors", model, TextTokenizer.from_file(pairs_setup / "tokenizer.json"))) == 6
    from tts.cli import main

    assert main(["merge-pairs", str(pairs_setup / "cli.safetensors"), str(pairs_setup / "a.safetensors"),
                 str(pairs_setup / "b.safetensors")]) == 0
    assert read_tokens(pairs_setup / "cli.safetensors")[0] == merged
    assert main(["merge-pairs", str(pairs_setup / "bad.safetensors"), str(pairs_setup / "tokenizer.json")]) == 1
    assert not (pairs_setup / "bad.safetensors").exists()  # nothing half-written


def test_the_recipe_config_loads():
    from pathlib import Path

    cfg = PreferenceTrainConfig.from_yaml(Path(__file__).resolve().parents[1] / "recipes/libritts/conf/tts_small_dpo.yaml")
    assert isinstance(cfg, PreferenceTrainConfig) and cfg.init_from and cfg.beta > 0 and cfg.self_feed == 0
