"""Keep a voice's formants where they were when its pitch is shifted, streaming.

``tts.time_stretch.Reshaper`` shifts pitch by stretching speech (WSOLA, pitch and formants kept)
and resampling it shorter by the shift ``s``: resampling scales every frequency by ``s``, the
pitch and the vocal tract's resonances (formants) alike, so +7 semitones sound like a smaller
person speaking ("chipmunk"), not the same person higher. ``FormantKeeper`` runs on the
stretched speech, before the resampler, and reshapes each short-time spectrum's envelope
``E(f)`` to ``E(s f)``: the resampler then moves it back to ``E(f)`` while the harmonics (the
pitch) move by ``s``. Estimating the envelope there, at the speech's own pitch, keeps the
estimate independent of the shift.

The envelope is the real cepstrum liftered to its first 2.5 ms (resonances, not the pitch's
harmonics: voices up to 400 Hz), per 43 ms Hann frame at a quarter-frame hop (overlap-add, the
phase kept). The gain is bounded (+-``MAX_GAIN_DB``) so silence and the band above the
resampler's cut are not blown up. Chosen on 6 espeak-ng recordings (the envelope distance of
``benchmarks/pitch_formants.py`` at -7 / +7 semitones): lifter 1.5 ms 3.75 / 3.52 dB, 2 ms
3.36 / 2.86, 2.5 ms 3.28 / 2.63 (3 ms: 3.26 / 2.54, too near a high voice's period); a 24 dB
bound 5.88 / 5.32 (the envelope falls further than that between formants), 48 dB as above. Chunks pushed, joined, equal the whole signal pushed at once;
the output is as long as the input, ``latency`` samples behind while streaming.
"""

from __future__ import annotations

import numpy as np

LIFTER_S = 0.0025  # cepstral cutoff: resonances, not the harmonics of voices up to 400 Hz
MAX_GAIN_DB = 48.0


class FormantKeeper:
    """Streaming envelope warp ``E(f) -> E(shift * f)`` (``push``, then ``flush`` once)."""

    def __init__(self, shift: float, sample_rate: int, frame_s: float = 0.04, lifter_s: float = LIFTER_S,
                 max_gain_db: float = MAX_GAIN_DB) -> None:
        self.shift, self.max_gain = shift, max_gain_db * np.log(10.0) / 20.0
        self.n = int(2 ** round(np.log2(frame_s * sample_rate)))  # 1024 at 24 kHz
        self.hop = self.n // 4
        self.window = np.hanning(self.n + 1)[:-1].astype(np.float32)  # periodic: squares at n/4 sum to 1.5
        self.lifter = _lifter(self.n, max(2, int(round(lifter_s * sample_rate))))
        bins = np.arange(self.n // 2 + 1) * shift  # where E(shift * f) is read
        self.lo = np.minimum(bins.astype(np.int64), self.n // 2)
        self.hi = np.minimum(self.lo + 1, self.n // 2)
        self.frac = np.clip(bins - self.lo, 0.0, 1.0).astype(np.float32)
        self.buf = np.zeros(self.latency, np.float32)  # padded input from frame ``frame``'s start on
        self.acc = np.zeros(self.n, np.float32)  # output from frame ``frame``'s start on, being added to
        self.received = self.emitted = self.produced = 0  # produced: padded output
        self.done = False

    @property
    def latency(self) -> int:
        """Samples the output lags the input while streaming (one frame less one hop)."""
        return self.n - self.hop

    def push(self, chunk: np.ndarray) -> np.ndarray:
        """More input; returns the output that is final so far (possibly empty)."""
        if self.done:
            raise RuntimeError("FormantKeeper.push after flush")
        chunk = np.asarray(chunk, np.float32).reshape(-1)
        self.received += len(chunk)
        self.buf = np.concatenate([self.buf, chunk])
        return self._emit(self._run())

    def flush(self) -> np.ndarray:
        """The rest of the output; the keeper is finished after it."""
        if self.done:
            raise RuntimeError("FormantKeeper.flush twice")
        self.done = True
        self.buf = np.concatenate([self.buf, np.zeros(self.n, np.float32)])
        return self._emit(self._run())[: self.received - self.emitted]

    def _run(self) -> np.ndarray:
        """Every whole frame in the buffer, warped and overlap-added; the samples now final."""
        count = (len(self.buf) - self.n) // self.hop + 1
        if count <= 0:
            return np.zeros(0, np.float32)
        frames = np.lib.stride_tricks.sliding_window_view(self.buf, self.n)[:: self.hop][:count]
        warped = self._warp(frames * self.window) * (self.window / 1.5)
        out = np.zeros(count * self.hop + self.n, np.float32)
        out[: self.n] = self.acc
        for k, frame in enumerate(warped):
            out[k * self.hop : k * self.hop + self.n] += frame
        self.acc = out[count * self.hop :]
        self.buf = self.buf[count * self.hop :]
        return out[: count * self.hop]

    def _warp(self, frames: np.ndarray) -> np.ndarray:
        """Windowed frames ``[F, n]`` with each spectrum's envelope moved from ``E(f)`` to ``E(shift f)``."""
        spectra = np.fft.rfft(frames, axis=1)
        log_mag = np.log(np.abs(spectra) + 1e-7)
        envelope = np.fft.rfft(np.fft.irfft(log_mag, n=self.n, axis=1) * self.lifter, axis=1).real
        target = envelope[:, self.lo] * (1.0 - self.frac) + envelope[:, self.hi] * self.frac
        gain = np.exp(np.clip(target - envelope, -self.max_gain, self.max_gain))
        return np.fft.irfft(spectra * gain, n=self.n, axis=1).astype(np.float32)

    def _emit(self, produced: np.ndarray) -> np.ndarray:
        """Drop the ``latency`` samples of padding the output starts with."""
        skip = max(0, self.latency - self.produced)
        self.produced += len(produced)
        produced = produced[skip:]
        self.emitted += len(produced)
        return produced


def _lifter(n: int, cut: int) -> np.ndarray:
    """Cepstral weights keeping quefrencies below ``cut`` (both halves of the real cepstrum)."""
    lifter = np.zeros(n, np.float32)
    lifter[:cut] = 1.0
    lifter[n - cut + 1 :] = 1.0
    return lifter
