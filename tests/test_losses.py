"""Discriminators, GAN/reconstruction losses and evaluation metrics."""

import math

import numpy as np
import pytest
import torch

from codec.discriminators import (
    DISCRIMINATOR_PRESETS,
    DiscOutput,
    DiscriminatorConfig,
    Discriminators,
)
from codec.losses import (
    LossWeights,
    MultiScaleMelLoss,
    discriminator_loss,
    feature_matching_loss,
    generator_adversarial_loss,
    log_mel_distance,
    log_mel_spectrogram,
    si_sdr,
)

SR = 24000


def sine(n: int, batch: int = 1, sr: int = SR) -> torch.Tensor:
    """[batch, n] sines at random pitches in [150, 400) Hz with random phase."""
    t = torch.arange(n) / sr
    f0 = 150 + 250 * torch.rand(batch, 1)
    return 0.5 * torch.sin(2 * math.pi * f0 * t + 2 * math.pi * torch.rand(batch, 1))


@pytest.fixture(scope="module")
def tiny_disc() -> Discriminators:
    torch.manual_seed(0)
    return Discriminators(DiscriminatorConfig.tiny())


def test_discriminator_output_shapes(tiny_disc):
    cfg = tiny_disc.cfg
    wav = torch.randn(2, SR) * 0.1
    outs = tiny_disc(wav)
    assert len(outs) == len(cfg.periods) + len(cfg.resolutions)
    for out in outs:
        assert isinstance(out, DiscOutput)
        assert out.logits.dim() == 2 and out.logits.shape[0] == 2 and out.logits.shape[1] > 0
        assert len(out.features) == 5
        assert all(f.shape[0] == 2 and torch.isfinite(f).all() for f in out.features)
    # period discriminators fold the waveform: last feature axis is the period
    for p, out in zip(cfg.periods, outs):
        assert out.features[0].shape[-1] == p
    # STFT discriminators: frames along dim 2 (centred STFT: T // hop + 1)
    for (n_fft, hop), out in zip(cfg.resolutions, outs[len(cfg.periods):]):
        assert out.features[0].shape[2] == SR // hop + 1
    # [B, 1, T] and an odd length are accepted too
    assert len(tiny_disc(wav[:, None, : SR - 7])) == len(outs)


def test_presets_and_config_from_lists():
    assert {"default", "tiny"} <= set(DISCRIMINATOR_PRESETS)
    cfg = DiscriminatorConfig(periods=[2, 3], resolutions=[[256, 64]])
    assert cfg.periods == (2, 3) and cfg.resolutions == ((256, 64),)
    with pytest.raises(KeyError):
        Discriminators.from_preset("nope")


def test_mel_loss_zero_for_identical_and_monotonic_in_noise():
    loss_fn = MultiScaleMelLoss(SR)
    ref = sine(SR // 2, batch=2)
    assert loss_fn(ref, ref).item() == pytest.approx(0.0, abs=1e-7)
    noise = torch.randn_like(ref)
    losses = [loss_fn(ref + level * noise, ref).item() for level in (0.001, 0.01, 0.05, 0.2)]
    assert all(a < b for a, b in zip(losses, losses[1:])), losses
    assert loss_fn.state_dict() == {}  # buffers stay out of checkpoints


def test_mel_loss_magnitude_term_and_gradient():
    ref = sine(SR // 4)
    est = (ref + 0.05 * torch.randn_like(ref)).requires_grad_()
    plain = MultiScaleMelLoss(SR)(est, ref)
    with_mag = MultiScaleMelLoss(SR, mag_weight=1.0)(est, ref)
    assert with_mag.item() > plain.item()
    with_mag.backward()
    assert est.grad is not None and est.grad.abs().sum() > 0


def test_generator_loss_gradients_reach_fake_audio(tiny_disc):
    fake = (torch.randn(2, SR // 4) * 0.1).requires_grad_()
    real = sine(SR // 4, batch=2)
    fake_out, real_out = tiny_disc(fake), tiny_disc(real)
    loss = generator_adversarial_loss(fake_out) + feature_matching_loss(real_out, fake_out)
    loss.backward()
    assert fake.grad is not None and torch.isfinite(fake.grad).all() and fake.grad.abs().sum() > 0


def test_feature_matching_zero_for_identical(tiny_disc):
    wav = sine(SR // 4, batch=2)
    outs = tiny_disc(wav)
    assert feature_matching_loss(outs, outs).item() == pytest.approx(0.0, abs=1e-7)
    assert feature_matching_loss(outs, tiny_disc(wav + 0.1 * torch.randn_like(wav))).item() > 0


def test_discriminator_learns_sine_vs_noise():
    torch.manual_seed(0)
    disc = Discriminators(DiscriminatorConfig.tiny())
    opt = torch.optim.Adam(disc.parameters(), lr=5e-3, betas=(0.8, 0.99))
    n = SR // 4

    def batch_loss() -> torch.Tensor:
        return discriminator_loss(disc(sine(n, batch=4)), disc(0.3 * torch.randn(4, n)))

    with torch.no_grad():
        initial = batch_loss().item()
    for _ in range(30):
        loss = batch_loss()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        final = batch_loss().item()
        real = torch.cat([o.logits.mean(1, keepdim=True) for o in disc(sine(n, batch=4))], 1).mean()
        fake = torch.cat([o.logits.mean(1, keepdim=True) for o in disc(0.3 * torch.randn(4, n))], 1).mean()
    # 0.5 is the LSGAN optimum when real and fake cannot be told apart
    assert initial > 0.5 and final < 0.3, (initial, final)
    assert real > fake + 0.3, (real, fake)


def test_lsgan_values_at_targets():
    ones = [DiscOutput(torch.ones(2, 5), [])]
    zeros = [DiscOutput(torch.zeros(2, 5), [])]
    assert discriminator_loss(ones, zeros).item() == 0.0
    assert discriminator_loss(zeros, ones).item() == 2.0
    assert generator_adversarial_loss(ones).item() == 0.0


def test_si_sdr_properties():
    x = sine(SR // 2, batch=3)
    noisy = x + 1e-3 * torch.randn_like(x)
    high = si_sdr(x, noisy)
    assert high.shape == (3,) and (high > 40).all()
    assert torch.allclose(si_sdr(x, 0.25 * noisy), high, atol=1e-3)  # scale invariance
    assert (si_sdr(x, -3.0 * x) > 100).all() and (si_sdr(x, x) > 100).all()
    assert (si_sdr(x, x + 0.3 * torch.randn_like(x)) < high).all()
    assert si_sdr(x[0].numpy(), noisy[0].numpy()).dim() == 0


def test_log_mel_distance_numpy(np_rng):
    t = np.arange(SR // 2) / SR
    ref = (0.5 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    near = ref + 0.001 * np_rng.standard_normal(ref.shape).astype(np.float32)
    far = ref + 0.1 * np_rng.standard_normal(ref.shape).astype(np.float32)
    assert log_mel_distance(ref, ref, SR) == 0.0
    d_near, d_far = log_mel_distance(ref, near, SR), log_mel_distance(ref, far[:-100], SR)
    assert isinstance(d_near, float) and 0 < d_near < d_far
    assert log_mel_spectrogram(torch.from_numpy(ref)[None], SR).shape[:2] == (1, 80)


def test_loss_weights_defaults():
    w = LossWeights()
    assert w.mel > w.feature > 0 and w.adversarial > 0 and w.commitment > 0
