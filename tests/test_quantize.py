"""Quantizer maths: residual refinement, code layout, masks, dropout, STE, EMA, restarts, stats."""

from __future__ import annotations

import math
import os
import socket

import pytest
import torch
import torch.multiprocessing as mp

from codec.config import QuantizerConfig, load_preset
from codec.quantize import (
    GroupResidualVQ,
    MaskedChannelRVQ,
    ResidualVQ,
    SingleCodebookVQ,
    VectorQuantizer,
    build_quantizer,
)


def clustered(batch: int, dim: int, frames: int, n_clusters: int, spread: float = 0.1, seed: int = 0) -> tuple:
    """Latents [B, dim, F] drawn around ``n_clusters`` centers; returns (z, centers)."""
    g = torch.Generator().manual_seed(seed)
    centers = 2 * torch.randn(n_clusters, dim, generator=g)
    idx = torch.randint(n_clusters, (batch, frames), generator=g)
    z = centers[idx] + spread * torch.randn(batch, frames, dim, generator=g)
    return z.transpose(1, 2).contiguous(), centers


def cfg(kind: str = "rvq", **kw) -> QuantizerConfig:
    base = dict(kind=kind, n_q=4, codebook_size=16, dropout=False, kmeans_iters=5)
    base.update(kw)
    return QuantizerConfig(**base)


def mse(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).pow(2).mean())


KINDS = {
    "rvq": {},
    "grvq": {"groups": 2, "n_q": 2},
    "mcrvq": {"n_q": 4, "mcrvq_masked_levels": 2},
    "single": {"n_q": 1},
}


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("param,cdim", [("ema", 0), ("ema", 4), ("simvq", 0), ("simvq", 4)])
def test_codes_in_range_and_encode_decode_matches_forward(kind, param, cdim):
    torch.manual_seed(0)
    q = build_quantizer(8, cfg(kind, parametrization=param, codebook_dim=cdim, **KINDS[kind]))
    z, _ = clustered(2, 8, 40, 6)
    q.train()
    q(z)  # k-means init
    q(z + 0.05 * torch.randn_like(z))  # one EMA / restart step
    q.eval()
    with torch.no_grad():
        out = q(z)
        codes = q.encode(z)
        assert codes.dtype == torch.int64 and codes.shape == (2, q.n_codebooks, 40)
        sizes = torch.tensor(q.codebook_sizes).view(1, -1, 1)
        assert (codes >= 0).all() and (codes < sizes).all()
        assert torch.equal(codes, out.codes)
        assert torch.equal(q.decode(codes), out.quantized)
        step = getattr(q, "groups", 1)
        assert torch.equal(q.encode(z, step), codes[:, :step])  # lower bitrate is a prefix
    assert torch.equal(q(z).codes, codes)  # eval is deterministic (no dropout, no updates)


def test_rvq_residual_error_shrinks_level_by_level():
    torch.manual_seed(0)
    q = ResidualVQ(8, cfg("rvq", n_q=4, codebook_size=16))
    z, _ = clustered(4, 8, 128, 32, spread=0.5)
    q.train()
    q(z)
    q.eval()
    with torch.no_grad():
        codes = q.encode(z)
        errors = [mse(q.decode(codes[:, :k]), z) for k in range(1, 5)]
    assert errors[0] < 0.5 * float(z.var())
    assert all(b < 0.9 * a for a, b in zip(errors, errors[1:])), errors


def test_grvq_group_split_and_level_major_layout():
    torch.manual_seed(0)
    q = GroupResidualVQ(8, cfg("grvq", groups=2, n_q=3))
    z, _ = clustered(2, 8, 30, 8)
    q.train()
    q(z)
    q.eval()
    with torch.no_grad():
        codes = q.encode(z)
        base = q.decode(codes)
        changed = codes.clone()
        changed[:, 1::2] = (changed[:, 1::2] + 1) % 16  # every level of group 1
        diff = (q.decode(changed) - base).abs()
        assert diff[:, :4].max() == 0 and diff[:, 4:].max() > 0
        # level-major: stream 2*l+g is level l of group g
        assert torch.equal(codes[:, 1::2], q.rvqs[1].encode(z[:, 4:]))
        assert q.decode(codes[:, :2]).shape == z.shape
        with pytest.raises(ValueError, match="multiple of 2"):
            q.decode(codes[:, :3])
        with pytest.raises(ValueError, match="multiple of 2"):
            q.encode(z, 3)


def test_mcrvq_masked_levels_stay_in_their_channel_block():
    torch.manual_seed(0)
    m, dim = 3, 12
    q = MaskedChannelRVQ(dim, cfg("mcrvq", n_q=5, mcrvq_masked_levels=m))
    z, _ = clustered(2, dim, 30, 8)
    q.train()
    q(z)
    q.eval()
    seen = {}
    q.layers[m].register_forward_pre_hook(lambda mod, args: seen.update(x=args[0]))
    with torch.no_grad():
        codes = q(z).codes
        block = dim // m
        for i in range(m):
            level = q.decode(codes[:, : i + 1]) - (q.decode(codes[:, :i]) if i else 0)
            outside = torch.cat([level[:, : i * block], level[:, (i + 1) * block :]], 1)
            assert outside.abs().max() == 0
            assert level[:, i * block : (i + 1) * block].abs().max() > 0
        # level m sees the residual after all masked levels
        assert torch.allclose(seen["x"], z - q.decode(codes[:, :m]))


def test_dropout_varies_levels_in_training_and_truncation_is_valid():
    torch.manual_seed(0)
    q = ResidualVQ(8, cfg("rvq", n_q=4, dropout=True))
    z, _ = clustered(2, 8, 64, 16, spread=0.5)
    q.train()
    with torch.no_grad():
        q(z, 4)  # initialise every level
        used = {q(z).codes.shape[1] for _ in range(20)}
    assert len(used) > 1 and used <= {1, 2, 3, 4}
    q.eval()
    with torch.no_grad():
        assert {q(z).codes.shape[1] for _ in range(5)} == {4}  # no dropout in eval
        full, low = q.encode(z), q.encode(z, 2)
        assert torch.equal(low, full[:, :2])
        assert mse(q.decode(low), z) > mse(q.decode(full), z)
    with pytest.raises(ValueError, match="n_q=5"):
        q.encode(z, 5)


def test_straight_through_gradient_reaches_input():
    torch.manual_seed(0)
    q = ResidualVQ(8, cfg("rvq", n_q=3))
    z, _ = clustered(2, 8, 20, 4)
    q.train()
    q(z)
    z = z.clone().requires_grad_(True)
    g = torch.randn_like(z)
    q(z).quantized.backward(g)
    assert torch.allclose(z.grad, g)  # full-dim STE is the identity
    # factorized SimVQ: gradient through the projections, codebook loss trains W only
    q = ResidualVQ(8, cfg("rvq", n_q=2, codebook_dim=4, parametrization="simvq"))
    q.train()
    out = q(z)
    (gz,) = torch.autograd.grad(out.quantized.pow(2).sum() + out.commit_loss, z, retain_graph=True)
    assert torch.isfinite(gz).all() and gz.abs().sum() > 0
    w = q.layers[0].proj.weight
    assert torch.autograd.grad(out.codebook_loss, w, retain_graph=True)[0].abs().sum() > 0
    assert torch.autograd.grad(out.codebook_loss, z, allow_unused=True)[0] is None


@pytest.mark.parametrize("param", ["ema", "simvq"])
def test_factorized_lookup_is_nearest_by_cosine(param):
    torch.manual_seed(0)
    vq = VectorQuantizer(8, 16, codebook_dim=4, parametrization=param)
    z, _ = clustered(2, 8, 64, 8)
    vq.train()
    vq(z)
    with torch.no_grad():  # raw codebook rows of unequal norms: only their directions may count
        if param == "simvq":
            vq.proj.weight.add_(0.3 * torch.randn(4, 4))
        else:
            vq.embed.mul_(0.5 + 1.5 * torch.rand(16, 1))
        raw = vq.embed if param == "ema" else vq.proj(vq.base)
        assert raw.norm(dim=-1).std() > 1e-3
        vq.eval()
        h = vq.in_proj(z).transpose(1, 2)
        cosine = torch.nn.functional.normalize(h, dim=-1) @ torch.nn.functional.normalize(raw, dim=-1).t()
        assert torch.equal(vq.encode(z), cosine.argmax(-1))


def test_kmeans_init_then_ema_codebook_moves_toward_data():
    torch.manual_seed(0)
    vq = VectorQuantizer(4, 16, ema_decay=0.8, kmeans_iters=10, dead_code_threshold=0)
    z, centers = clustered(2, 4, 256, 4, spread=0.05)
    vq.train()
    vq(z)

    def gap(target):  # distance from each center to its nearest code
        return float(torch.cdist(target, vq.embed).min(1).values.max())

    assert gap(centers) < 0.1  # k-means found the clusters
    shift = torch.tensor([0.5, -0.5, 0.5, -0.5])
    before = gap(centers + shift)
    for _ in range(20):
        vq(z + shift.view(1, 4, 1))
    assert gap(centers + shift) < 0.05 * before


@pytest.mark.parametrize("param", ["ema", "simvq"])
def test_dead_code_restart_revives_unused_codes(param):
    torch.manual_seed(0)
    vq = VectorQuantizer(4, 16, parametrization=param, dead_code_threshold=1.0, kmeans_iters=5)
    z, _ = clustered(2, 4, 128, 16, spread=0.3)
    vq.train()
    vq(z)
    with torch.no_grad():  # exile codes 0..3 far from the data and mark them idle
        book = vq.embed if param == "ema" else vq.base
        book[:4] = 100.0
        if param == "ema":
            vq.embed_sum[:4] = 100.0 * vq.cluster_size[:4, None]
        vq.eval()
        vq.reset_stats()
        vq.encode(z)
        assert (vq.counts[:4] == 0).all()
        vq.cluster_size[:4] = 0.5
        vq.train()
        vq(z)  # restart happens before this step's lookup
        assert vq.codebook()[:4].abs().max() < 20  # back among the data
        vq.eval()
        vq.reset_stats()
        vq.encode(z)
    assert (vq.counts[:4] > 0).sum() >= 3


@pytest.mark.parametrize("param", ["ema", "simvq"])
def test_single_codebook_keeps_high_usage(param):
    torch.manual_seed(0)
    q = SingleCodebookVQ(16, cfg("single", n_q=1, codebook_size=256, codebook_dim=8, parametrization=param))
    z = torch.randn(16, 16, 256)  # 4096 random vectors
    opt = torch.optim.Adam(q.parameters(), lr=1e-3)
    q.train()
    for _ in range(3):
        out = q(z)
        opt.zero_grad()
        (out.commit_loss + out.codebook_loss + out.quantized.pow(2).mean()).backward()
        opt.step()
    q.eval()
    q.reset_stats()
    with torch.no_grad():
        codes = q.encode(z)
    assert codes.shape == (16, 1, 256)
    stats = q.stats()
    assert stats["usage"][0] > 0.9, stats
    assert stats["perplexity"][0] > 0.7 * 256, stats


def test_stats_perplexity_of_uniform_usage_is_codebook_size():
    torch.manual_seed(0)
    vq = VectorQuantizer(4, 16)
    points = 3 * torch.randn(16, 4)
    with torch.no_grad():
        vq.embed.copy_(points)
    vq.eval()
    x = points.t().unsqueeze(0).repeat(3, 1, 1)  # every code 3 times
    assert torch.equal(vq.encode(x)[0], torch.arange(16))
    assert vq.stats()["usage"] == pytest.approx(1.0)
    assert vq.stats()["perplexity"] == pytest.approx(16.0, rel=1e-6)
    vq.reset_stats()
    assert vq.stats() == {"usage": 0.0, "perplexity": 0.0}
    vq.encode(x[:, :, :8])
    assert vq.stats()["usage"] == pytest.approx(0.5)
    assert vq.stats()["perplexity"] == pytest.approx(8.0, rel=1e-6)
    rvq = ResidualVQ(8, cfg("rvq", n_q=3))
    assert {k: len(v) for k, v in rvq.stats().items()} == {"usage": 3, "perplexity": 3}


def test_shape_errors_show_actual_shape():
    q = build_quantizer(8, cfg("rvq"))
    with pytest.raises(ValueError, match=r"\(2, 6, 5\)"):
        q(torch.zeros(2, 6, 5))
    with pytest.raises(ValueError, match=r"\(2, 5\)"):
        q.decode(torch.zeros(2, 5, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\(2, 5, 1\)"):
        q.layers[0].decode(torch.zeros(2, 5, 1, dtype=torch.long))


@pytest.mark.parametrize("preset", ["encodec-tiny", "hificodec-tiny", "languagecodec-tiny", "distilcodec-tiny"])
def test_presets_build(preset):
    torch.manual_seed(0)
    c = load_preset(preset)
    q = build_quantizer(c.latent_dim, c.quantizer)
    assert q.n_codebooks == c.quantizer.n_codebooks
    assert q.codebook_sizes == [c.quantizer.codebook_size] * c.quantizer.n_codebooks
    out = q(torch.randn(2, c.latent_dim, 12))
    assert out.quantized.shape == (2, c.latent_dim, 12) and out.codes.shape[0] == 2


def test_encode_exports_with_dynamic_shapes():
    """torch.export (what the ONNX dynamo exporter traces) needs no data-dependent control flow."""
    torch.manual_seed(0)
    q = build_quantizer(12, cfg("mcrvq", n_q=4, mcrvq_masked_levels=2, codebook_dim=4, parametrization="simvq"))
    q.train()
    q(torch.randn(2, 12, 40))
    q.eval()

    class Encode(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.q = q

        def forward(self, z):
            return self.q.encode(z)

    dims = {0: torch.export.Dim("B"), 2: torch.export.Dim("F")}
    program = torch.export.export(Encode(), (torch.randn(2, 12, 10),), dynamic_shapes=(dims,))
    z = torch.randn(3, 12, 7)
    assert torch.equal(program.module()(z), q.encode(z))


def _ddp_worker(rank: int, port: int, results) -> None:
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    torch.manual_seed(0)  # same seed on every rank, as in training
    q = ResidualVQ(4, cfg("rvq", n_q=3, codebook_size=8, dropout=True, dead_code_threshold=5.0, ema_decay=0.5))
    q.train()
    levels = []
    for step in range(4):
        z, _ = clustered(2, 4, 16, 4, seed=10 * rank + step)  # different data per rank
        levels.append(q(z).codes.shape[1])
    results[rank] = ({k: v.clone() for k, v in q.state_dict().items()}, levels)
    dist.destroy_process_group()


def test_ddp_ranks_keep_identical_codebooks():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    with mp.Manager() as manager:
        results = manager.dict()
        mp.spawn(_ddp_worker, args=(port, results), nprocs=2)
        (state0, levels0), (state1, levels1) = results[0], results[1]
    assert levels0 == levels1
    for key in state0:
        assert torch.equal(state0[key], state1[key]), key
    assert not math.isnan(float(state0["layers.0.embed"].sum()))


@pytest.mark.parametrize("parametrization,codebook_dim", [("ema", 0), ("simvq", 0), ("simvq", 4)])
def test_refit_puts_every_code_on_the_data(parametrization, codebook_dim):
    """A codebook initialized on a skewed batch misses most clusters; k-means refit over a
    large sample uses every code there and lowers the lookup error, decode stays consistent."""
    vq = VectorQuantizer(6, 32, codebook_dim, parametrization=parametrization).train()
    skewed, _ = clustered(1, 6, 64, 2, seed=1)
    vq(skewed)  # k-means init on two clusters only
    data, _ = clustered(1, 6, 4000, 32, seed=2)
    flat = data[0].t()
    before_codes = vq.eval().encode(data)[0]
    before_err = (vq.decode(before_codes[None])[0].t() - flat).pow(2).mean()
    vq.refit(flat, iters=15)
    codes = vq.encode(data)[0]
    assert torch.bincount(codes, minlength=32).gt(0).all()
    assert torch.bincount(before_codes, minlength=32).gt(0).sum() < 32
    if not codebook_dim:  # the unfactorized lookup space is the latent itself
        assert (vq.decode(codes[None])[0].t() - flat).pow(2).mean() < 0.5 * before_err
        assert torch.equal(vq.encode(vq.decode(codes[None])), codes[None])


def test_refit_rejects_bad_input():
    vq = VectorQuantizer(6, 32)
    with pytest.raises(ValueError, match="at least 32 frames"):
        vq.refit(torch.randn(10, 6))
    with pytest.raises(ValueError, match=r"\[N, 6\]"):
        vq.refit(torch.randn(100, 5))
