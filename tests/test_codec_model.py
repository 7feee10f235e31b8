"""Codec model: chunked streaming equals offline for every preset, persistence, bitrate."""

from __future__ import annotations

import pytest
import torch

from codec.config import list_presets, load_preset
from codec.model import Codec

TINY = [name for name in list_presets() if name.endswith("-tiny")]


def _tiny_codec(name: str) -> Codec:
    torch.manual_seed(0)
    model = Codec(load_preset(name)).eval()
    model.quantizer.train(False)
    return model


def _chunks(n: int, rng: torch.Generator) -> list[int]:
    sizes, left = [], n
    while left > 0:
        size = min(left, int(torch.randint(1, 700, (1,), generator=rng)))
        sizes.append(size)
        left -= size
    return sizes


def test_tiny_presets_cover_every_quantizer():
    kinds = {load_preset(name).quantizer.kind for name in TINY}
    assert kinds == {"rvq", "grvq", "mcrvq", "single"}


@pytest.mark.parametrize("name", TINY)
def test_streaming_equals_offline(name):
    _assert_streams_as_offline(_tiny_codec(name))


def _assert_streams_as_offline(model: Codec) -> None:
    rng = torch.Generator().manual_seed(7)
    wav = 0.3 * torch.randn(2, 4801, generator=rng)
    codes = model.encode(wav)
    audio = model.decode(codes)

    stream = model.stream(batch=2)
    parts = []
    offset = 0
    for size in _chunks(wav.shape[-1], rng):
        parts.append(stream.encoder.push(wav[:, offset : offset + size]))
        offset += size
    parts.append(stream.encoder.flush())
    streamed_codes = torch.cat(parts, dim=-1)
    assert torch.equal(streamed_codes, codes)

    out, frame = [], 0
    while frame < codes.shape[-1]:
        step = int(torch.randint(1, 4, (1,), generator=rng))
        out.append(stream.decoder.push(codes[..., frame : frame + step]))
        frame += step
    streamed_audio = torch.cat(out, dim=-1)
    assert streamed_audio.shape == audio.shape
    assert torch.allclose(streamed_audio, audio, atol=1e-5)


def test_grown_decoder_decodes_as_before_streams_and_persists(tmp_path):
    """``grow_decoder`` adds identity blocks: the same audio from the same codes, bit for bit,
    until training moves them; streaming and a save/load round trip hold for the deeper decoder."""
    from codec.typed_config import ConfigError

    model = _tiny_codec("distilcodec-tiny")
    wav = 0.3 * torch.randn(1, 4800, generator=torch.Generator().manual_seed(3))
    codes = model.encode(wav)
    before, hash_before, depth = model.decode(codes), model.codes_hash(), model.cfg.n_layers
    model.grow_decoder(depth + 3)
    assert len(model.decoder.layers[0].blocks) == depth + 3 and model.cfg.decoder_layers == depth + 3
    assert torch.equal(model.decode(codes), before) and model.codes_hash() == hash_before
    new = model.decoder.layers[0].blocks[depth:]
    assert all(float(b.gamma.detach().abs().min()) > 0.01 for b in new)  # they learn at once (only their output is zero)
    with torch.no_grad():  # give the new blocks a say, then everything still streams exactly
        for block in new:
            block.pwconv2.weight.normal_(0, 0.05)
    assert not torch.equal(model.decode(codes), before)
    _assert_streams_as_offline(model)
    model.save_pretrained(tmp_path / "m")
    loaded = Codec.from_pretrained(tmp_path / "m")
    assert loaded.cfg.decoder_layers == depth + 3 and torch.equal(loaded.decode(codes), model.decode(codes))
    with pytest.raises(ConfigError, match="can only grow"):
        model.grow_decoder(depth)
    with pytest.raises(ConfigError, match="can only grow"):
        _tiny_codec("encodec-tiny").grow_decoder(4)  # a seanet decoder has no blocks to add


@pytest.mark.parametrize("name", TINY)
def test_save_load_roundtrip(name, tmp_path):
    model = _tiny_codec(name)
    model.save_pretrained(tmp_path / "m")
    loaded = Codec.from_pretrained(tmp_path / "m")
    assert loaded.weights_hash() == model.weights_hash()
    wav = 0.3 * torch.randn(1, 2400, generator=torch.Generator().manual_seed(1))
    assert torch.equal(loaded.encode(wav), model.encode(wav))


def test_decode_rejects_foreign_codes():
    model = _tiny_codec("hificodec-tiny")
    bad = torch.full((1, model.n_codebooks, 3), model.codebook_sizes[0])
    with pytest.raises(Exception, match="out of range"):
        model.decode(bad)


def test_bandwidth_selects_fewer_streams():
    model = _tiny_codec("encodec-tiny")
    full = model.n_q_for_bandwidth(None)
    assert model.n_q_for_bandwidth(model.cfg.bitrate / 2000) < full
    wav = 0.3 * torch.randn(1, 2400, generator=torch.Generator().manual_seed(1))
    codes = model.encode(wav, n_q=2)
    assert codes.shape[1] == 2
    assert model.decode(codes).shape[-1] >= 2400 - model.hop
