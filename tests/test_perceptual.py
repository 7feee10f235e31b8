"""codec.perceptual: a loss that orders degradations as PESQ-WB does, with usable gradients,
and its place in codec training (``weights.perceptual``)."""

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from codec import audio
from codec.metrics import pesq_wb
from codec.perceptual import PesqLikeLoss, bark_bands

RATE = 24000


@pytest.fixture(scope="module")
def voice(speech) -> np.ndarray:
    return audio.load(speech, RATE)


def _loss(loss: PesqLikeLoss, deg: np.ndarray, ref: np.ndarray) -> float:
    with torch.no_grad():
        return float(loss(torch.from_numpy(deg.astype(np.float32))[None], torch.from_numpy(ref)[None]))


def _degradations(ref: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    noise = rng.standard_normal(ref.size)
    out = {f"noise {snr} dB": ref + noise * np.sqrt((ref ** 2).mean() / 10 ** (snr / 10)) for snr in (35, 25, 15, 5)}
    spec = np.fft.rfft(ref)
    freqs = np.fft.rfftfreq(ref.size, 1 / RATE)
    out["low-passed at 1 kHz"] = np.fft.irfft(spec * (freqs < 1000), ref.size)
    out["smeared magnitude"] = np.fft.irfft(np.abs(spec) * np.exp(1j * rng.uniform(-np.pi, np.pi, spec.size)) * 0.3
                                            + spec * 0.7, ref.size)
    return out


def test_ranks_degradations_as_pesq_does(voice, np_rng):
    loss = PesqLikeLoss(RATE)
    degs = _degradations(voice, np_rng)
    ours = [_loss(loss, d, voice) for d in degs.values()]
    pesq = [pesq_wb(voice, d, RATE) for d in degs.values()]
    assert spearmanr(ours, pesq)[0] < -0.85, dict(zip(degs, zip(ours, pesq)))
    noise = ours[:4]
    assert noise == sorted(noise), "more noise must cost more"


def test_zero_for_the_same_signal_at_any_level(voice):
    loss = PesqLikeLoss(RATE)
    assert _loss(loss, voice, voice) < 1e-3
    assert _loss(loss, 0.3 * voice, voice) < 1e-3  # PESQ aligns levels: loudness is not the codec's fault
    assert _loss(loss, voice + 1e-2 * np.random.default_rng(0).standard_normal(voice.size), voice) > 0.1


def test_added_noise_costs_more_than_the_same_energy_taken_away(voice, np_rng):
    """The asymmetry PESQ models: energy added where the reference is quiet is heard more."""
    loss = PesqLikeLoss(RATE)
    spec, freqs = np.fft.rfft(voice), np.fft.rfftfreq(voice.size, 1 / RATE)
    band = (freqs > 2000) & (freqs < 4000)
    removed = np.fft.irfft(np.where(band, 0, spec), voice.size)
    taken = voice - removed  # the band's waveform
    noise = np.fft.irfft(np.where(band, np.fft.rfft(np_rng.standard_normal(voice.size)), 0), voice.size)
    added = voice + noise * np.sqrt((taken ** 2).sum() / (noise ** 2).sum())  # same energy, spread in time
    assert _loss(loss, added, voice) > _loss(loss, removed, voice)
    as_tensor = lambda x: torch.from_numpy(x.astype(np.float32))[None]  # noqa: E731
    _, asym_added = loss.disturbances(as_tensor(added), as_tensor(voice))
    _, asym_removed = loss.disturbances(as_tensor(removed), as_tensor(voice))
    assert asym_added > 5 * asym_removed  # the asymmetric term counts what was added


def test_band_cuts_cost_unless_filtering_is_forgiven(voice):
    """PESQ forgives up to 20 dB of colouring per band; a decoder trained against that cuts
    bands instead of rendering them, so the default forgives none."""
    spec, freqs = np.fft.rfft(voice), np.fft.rfftfreq(voice.size, 1 / RATE)
    cut = np.fft.irfft(np.where((freqs > 1000) & (freqs < 6000), 0.1 * spec, spec), voice.size)
    strict, like_pesq = _loss(PesqLikeLoss(RATE), cut, voice), _loss(PesqLikeLoss(RATE, filtering_db=20), cut, voice)
    assert strict > 3 * like_pesq and strict > 0.5


def test_gradients_are_finite_through_silence_and_batches():
    loss = PesqLikeLoss(RATE)
    torch.manual_seed(0)
    ref = torch.randn(2, RATE // 2) * 0.1
    ref[1, : RATE // 4] = 0  # a silent half
    est = (ref + 0.01 * torch.randn_like(ref)).requires_grad_(True)
    value = loss(est, ref)
    value.backward()
    assert torch.isfinite(value) and value > 0 and torch.isfinite(est.grad).all() and est.grad.abs().sum() > 0
    short = torch.randn(1, 3200) * 0.1  # 0.13 s: fewer frames than one pooling window
    assert torch.isfinite(loss(short + 0.01, short))


def test_bark_bands_cover_the_wideband_range():
    member, width, centre = bark_bands(49)
    assert member.shape == (257, 49) and (member.sum(0) >= 1).all()
    assert torch.all(centre[1:] > centre[:-1]) and 80 < centre[0] < 200 and 7000 < centre[-1] < 8000
    assert torch.allclose(width, width[0].expand_as(width))
