"""Every streaming layer: causal, and chunked == offline over kernel/stride/chunk grids."""

import itertools

import pytest
import torch

from codec.modules.conv import CausalConv1d, CausalConvTranspose1d
from codec.modules.convnext import ConvNeXtStack
from codec.modules.seanet import seanet_decoder, seanet_encoder
from codec.modules.spectral import CausalSTFT, ISTFTHead
from codec.modules.streaming import flatten_state, reset_state, unflatten_state


def run_chunked(module, x, chunk_frames, unit, rng):
    """Feed ``x`` [B, C, T] in random whole-unit chunks of 1..chunk_frames units."""
    state = module.initial_state(x.shape[0])
    outs, pos = [], 0
    while pos < x.shape[-1]:
        n = int(rng.integers(1, chunk_frames + 1)) * unit
        y, state = module.step(x[..., pos : pos + n], state)
        outs.append(y)
        pos += n
    return torch.cat(outs, dim=-1)


GRID = [(k, s, d) for k, s, d in itertools.product([1, 3, 4, 7], [1, 2, 3], [1, 2]) if (k - 1) * d + 1 >= s]


@pytest.mark.parametrize("kernel,stride,dilation", GRID)
def test_causal_conv_chunked_equals_offline(kernel, stride, dilation, np_rng):
    torch.manual_seed(0)
    conv = CausalConv1d(3, 5, kernel, stride, dilation)
    x = torch.randn(2, 3, stride * 40)
    full = conv(x)
    assert full.shape == (2, 5, 40)
    assert torch.allclose(run_chunked(conv, x, 5, stride, np_rng), full, atol=1e-6)


@pytest.mark.parametrize("kernel,stride", [(2, 1), (4, 2), (6, 3), (8, 4), (5, 2)])
def test_causal_conv_transpose_chunked_equals_offline(kernel, stride, np_rng):
    torch.manual_seed(0)
    conv = CausalConvTranspose1d(4, 3, kernel, stride)
    x = torch.randn(2, 4, 30)
    full = conv(x)
    assert full.shape == (2, 3, 30 * stride)
    assert torch.allclose(run_chunked(conv, x, 4, 1, np_rng), full, atol=1e-6)


def test_conv_is_causal():
    torch.manual_seed(0)
    conv = CausalConv1d(1, 1, 5, stride=2, dilation=2)
    x = torch.randn(1, 1, 64)
    y1 = conv(x)
    x2 = x.clone()
    x2[..., 40:] += 1.0  # changing the future
    y2 = conv(x2)
    assert torch.equal(y1[..., :20], y2[..., :20])  # frames ending before sample 40 unchanged
    assert not torch.equal(y1[..., 20:], y2[..., 20:])


def test_chunk_must_be_whole_frames():
    conv = CausalConv1d(1, 1, 4, stride=2)
    with pytest.raises(ValueError, match="buffer the rest"):
        conv.step(torch.randn(1, 1, 3), conv.initial_state(1))


def test_istft_head_inverts_its_alignment():
    """Spectra of windowed frames at [i*hop, i*hop+n_fft) overlap-add back to the signal."""
    n_fft, hop = 64, 16
    head = ISTFTHead(n_fft, hop)
    x = torch.randn(1, hop * 50, dtype=torch.float64)
    padded = torch.nn.functional.pad(x, (0, n_fft))
    frames = padded.unfold(-1, n_fft, hop)[:, :50]  # [1, F, n_fft]
    spec = torch.fft.rfft(frames * torch.hann_window(n_fft, periodic=True, dtype=torch.float64), dim=-1)
    feats = torch.cat([spec.abs().clamp_min(1e-9).log(), spec.angle()], dim=-1).transpose(1, 2).float()
    y = head(feats)[0, 0]
    steady = slice(n_fft, hop * 50 - n_fft)  # frames before 0 are missing at the start
    assert torch.allclose(y[steady], x[0, steady].float(), atol=1e-4)


def test_stft_features_are_causal_and_streamable(np_rng):
    stft = CausalSTFT(n_fft=64, hop=16)
    x = torch.randn(2, 1, 16 * 30)
    full = stft(x)
    assert full.shape == (2, stft.out_channels, 30)
    assert torch.allclose(run_chunked(stft, x, 4, 16, np_rng), full, atol=1e-5)
    x2 = x.clone()
    x2[..., 16 * 10 :] = 0
    assert torch.equal(stft(x2)[..., :10], full[..., :10])


def test_convnext_stack_chunked_equals_offline(np_rng):
    torch.manual_seed(0)
    stack = ConvNeXtStack(6, 16, 4, n_layers=3, kernel_size=5)
    x = torch.randn(2, 6, 37)
    assert torch.allclose(run_chunked(stack, x, 6, 1, np_rng), stack(x), atol=1e-5)


def test_seanet_chunked_equals_offline(np_rng):
    torch.manual_seed(0)
    enc = seanet_encoder(4, [2, 3], 8, 1)
    dec = seanet_decoder(4, [2, 3], 8, 1)
    x = torch.randn(2, 1, 6 * 25)
    z = enc(x)
    assert z.shape == (2, 8, 25)
    assert torch.allclose(run_chunked(enc, x, 4, 6, np_rng), z, atol=1e-5)
    assert torch.allclose(run_chunked(dec, z, 4, 1, np_rng), dec(z), atol=1e-5)


def test_state_flatten_roundtrip_and_reset():
    torch.manual_seed(0)
    enc = seanet_encoder(4, [2, 3], 8, 1)
    _, state = enc.step(torch.randn(2, 1, 12), enc.initial_state(2))
    flat = flatten_state(state)
    assert len(flat) > 3 and all(t.shape[0] == 2 for t in flat)
    rebuilt = unflatten_state(enc.initial_state(2), flat)
    assert all(torch.equal(a, b) for a, b in zip(flatten_state(rebuilt), flat))
    cleared = flatten_state(reset_state(state, torch.tensor([True, False])))
    assert all(t[0].abs().sum() == 0 and torch.equal(t[1], f[1]) for t, f in zip(cleared, flat))
