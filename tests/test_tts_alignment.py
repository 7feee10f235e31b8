"""Guided attention (tts.alignment): the attention probe, the diagonal prior, training with it
turns the guided head into one that reads the text in order, and reading positions back from it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from codec.typed_config import ConfigError
from tts.alignment import AlignConfig, Aligner, diagonality, reading_positions, token_lengths
from tts.config import load_preset
from tts.data import collate, speech_ce, training_sequence
from tts.model import TtsModel
from tts.synthesize import Spoken
from tts.text import TextTokenizer, train_tokenizer


def tiny(seed: int = 0) -> TtsModel:
    torch.manual_seed(seed)
    return TtsModel(load_preset("tiny"))


def batch(model: TtsModel, n: int = 4, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    items = []
    for i in range(n):
        text = torch.randint(0, 500, (6 + i,), generator=g).tolist()
        codes = torch.randint(0, model.cfg.codebook_size, (24 + 4 * i,), generator=g).tolist()
        items.append(training_sequence(model, text, codes))
    return collate(items, model.cfg.special("<pad>"))


def test_probe_returns_the_attention_the_model_uses():
    model = tiny().eval()
    ids, labels, mask = batch(model)
    with torch.no_grad():
        plain, _ = model(ids, key_mask=mask)
        logits, _, probs = model(ids, key_mask=mask, probe=((1,), 2))
    assert torch.equal(plain, logits) and len(probs) == 1 and probs[0].shape == (4, 2, ids.shape[1], ids.shape[1])
    p = probs[0]
    assert torch.allclose(p.sum(-1), torch.ones(()), atol=1e-5)
    assert float(p.triu(1).abs().max()) == 0  # causal
    real = mask[0]
    assert float(p[0][:, real][..., ~real].abs().max()) == 0  # no real query looks at padding


def test_prior_follows_the_text_in_character_order():
    model = tiny()
    lengths = torch.ones(model.cfg.text_vocab)
    lengths[7] = 9.0  # one long word
    aligner = Aligner(AlignConfig(weight=1, layers=(1,)), model.cfg, lengths)
    text, codes = [3, 7, 4, 5], list(range(40))
    ids, labels, _ = collate([training_sequence(model, text, codes)], model.cfg.special("<pad>"))
    prior, queries = aligner.prior(ids, labels)
    q = queries[0].nonzero()[:, 0]
    assert len(q) == len(codes) + 1 and int(q[0]) == len(text) + 3  # from <speech> on
    lo = 2  # first text token; keys lo .. lo + len(text) (</text>)
    assert float(prior[0][~queries[0]].abs().max()) == 0
    outside = torch.ones(ids.shape[1], dtype=torch.bool)
    outside[lo : lo + len(text) + 1] = False
    assert float(prior[0][:, outside].abs().max()) == 0
    inside = prior[0, q][:, lo : lo + len(text) + 1] == 1  # [query, key]: within the key's share
    assert bool(inside.any(-1).all())  # every query has a key to read
    first = inside.float().argmax(-1)
    assert first[0] == 0 and first[-1] == len(text) and bool((first.diff() >= 0).all())  # in order
    assert abs(float(inside[:, 1].float().mean()) - 9 / 13) < 0.05  # the long word: 9 of 13 characters


def test_a_voice_prompted_item_reads_its_whole_text_across_the_prompt():
    """The prompt's codes have no targets but still voice the prompt's transcript: the band
    spans prompt and target speech over both texts, as for the same tokens in one utterance."""
    model = tiny()
    aligner = Aligner(AlignConfig(weight=1, layers=(1,)), model.cfg, torch.ones(model.cfg.text_vocab))
    prompted = training_sequence(model, [7, 8], list(range(30)), [3, 4, 5], list(range(40, 60)))
    alone = training_sequence(model, [3, 4, 5, 7, 8], list(range(40, 60)) + list(range(30)))
    assert torch.equal(prompted[0], alone[0]) and not torch.equal(prompted[1], alone[1])
    pad = model.cfg.special("<pad>")
    got, want = (aligner.prior(*collate([item], pad)[:2]) for item in (prompted, alone))
    assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])


def guided(weight: float) -> tuple[TtsModel, Aligner, tuple]:
    """A tiny model trained 60 steps on ``batch`` with (weight 1) or without (0) the loss on head 0 of block 1."""
    model = tiny().train()
    aligner = Aligner(AlignConfig(weight=max(weight, 1e-9), layers=(1,), heads=1, sigma=0.1), model.cfg,
                      torch.ones(model.cfg.text_vocab))
    ids, labels, mask = batch(model, n=4)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(60):
        logits, _, probs = model(ids, key_mask=mask, probe=aligner.probe)
        loss = speech_ce(logits, labels, model.cfg) + weight * aligner.loss(probs, ids, labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval(), aligner, (ids, labels, mask)


def test_guided_head_learns_to_read_in_order():
    """The same training with and without the loss: only the guided head turns diagonal."""
    scores = {}
    for weight in (0.0, 1.0):
        model, aligner, (ids, labels, mask) = guided(weight)
        with torch.no_grad():
            _, _, probs = model(ids, key_mask=mask, probe=aligner.probe)
        prior, queries = aligner.prior(ids, labels)
        scores[weight] = float(diagonality(probs[0], prior, queries)[0])
    assert scores[1.0] > 0.8 and scores[0.0] < 0.4, scores


def test_reading_positions_follow_the_text_of_the_guided_heads():
    """Read back from the heads the config names: the trained head walks the text from its first
    token to ``</text>``; a voice prompt's transcript moves the origin to the sentence's start."""
    model, _, (ids, _, mask) = guided(1.0)
    row = ids[3][mask[3]].tolist()  # 9 text tokens, 36 codes
    cut = row.index(model.cfg.special("<speech>")) + 1
    frames = [t - model.cfg.speech_offset for t in row[cut:]]
    spoken = Spoken("", row[:cut], 0, frames)
    with pytest.raises(ValueError, match="align_layers"):
        reading_positions(model, spoken)
    model.cfg.align_layers, model.cfg.align_heads = (1,), 1
    pos = reading_positions(model, spoken)
    assert pos.shape == (36,) and pos.min() >= 0 and pos.max() <= 9
    assert pos[:3].mean() <= 1.5 and pos[-3:].mean() >= 7.5 and (np.diff(pos) >= 0).mean() >= 0.9, pos
    prompted = reading_positions(model, Spoken("", row[:cut], 4, frames))  # the first 4 tokens as a transcript
    assert np.array_equal(prompted, pos - 4)


def test_token_lengths_count_characters(tmp_path):
    tok = TextTokenizer(train_tokenizer(["the extraordinary river", "the river"] * 4, vocab_size=300))
    lengths = token_lengths(tok, 320)
    the = tok.encode("the")
    assert lengths.shape == (320,) and float(lengths.min()) >= 1 and float(lengths[the[0]]) == 3
    assert float(lengths[310]) == 1  # ids past the tokenizer's vocabulary


@pytest.mark.parametrize("cfg, why", [(dict(weight=1, layers=()), "align.layers"),
                                      (dict(weight=1, layers=(2,)), "align.layers"),
                                      (dict(weight=1, layers=(0,), heads=5), "align.heads"),
                                      (dict(weight=1, layers=(0,), sigma=0), "align.sigma")])
def test_bad_alignment_settings_are_rejected(cfg, why):
    with pytest.raises(ValueError, match=why):
        Aligner(AlignConfig(**cfg), load_preset("tiny"), torch.ones(512))


@pytest.mark.parametrize("heads", [dict(align_layers=(2,), align_heads=1), dict(align_layers=(0,), align_heads=5)])
def test_a_model_config_names_only_heads_it_has(heads):
    with pytest.raises(ConfigError, match="align_layers"):
        load_preset("tiny", **heads)  # 2 blocks of 4 heads


def test_align_settings_come_from_yaml_and_set(tmp_path):
    from codec.train import config_from_args, parse_args
    from tts.train import TtsTrainConfig

    (tmp_path / "c.yaml").write_text("train_tokens: t\ntokenizer: k\nout_dir: yaml_out\n"
                                     "align: {weight: 1.0, layers: [2, 3], heads: 2}\n")
    args = parse_args(["--config", str(tmp_path / "c.yaml"), "--set", "out_dir=set_out", "--set",
                       "align={weight: 0.5, layers: [1]}", "--set", "max_steps=7"])
    cfg = config_from_args(TtsTrainConfig, args)
    assert (cfg.out_dir, cfg.max_steps) == ("set_out", 7)
    assert cfg.align == AlignConfig(weight=0.5, layers=(1,), heads=1)
    args = parse_args(["--config", str(tmp_path / "c.yaml"), "--set", "out_dir=set_out", "--out-dir", "flag_out"])
    cfg = config_from_args(TtsTrainConfig, args)
    assert cfg.out_dir == "flag_out" and cfg.align == AlignConfig(weight=1.0, layers=(2, 3), heads=2)
