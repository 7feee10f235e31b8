"""A pitch shift with the formants kept (``tts.formants``, ``Reshaper``'s default) against the
tape-like one it replaced (resampling moves the formants with the pitch), in the same run.

    python benchmarks/pitch_formants.py [--shifts -12 -7 -4 4 7 12] [--limit 12]

Speech: espeak-ng reading the mini corpus's public-domain sentences in several voices (the
recipe's corpus engine), 24 kHz. Per shift and method:
- envelope distance: the log-spectral distance (dB, 100 Hz-5 kHz) between each frame's LPC
  envelope (order 24, an estimate independent of the keeper's cepstrum) before and after the
  shift, over frames with speech energy; formants kept should stay close to 0 shift's floor;
- pitch: the median F0 ratio after/before (autocorrelation), in cents off the shift asked for;
- speaker: cosine similarity to the unshifted recording (the recipe's speaker encoder,
  ``models/speaker``); character error rate of the recipe's recognizer (``models/asr``);
- cost: milliseconds per second of audio.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from codec import audio  # noqa: E402
from codec.errors import run_cli  # noqa: E402
from tts.time_stretch import Reshaper  # noqa: E402
from tts.wer import edit_distance, words  # noqa: E402

SR = 24000
VOICES = ["en-us", "en-gb", "en-us+f3", "en-gb-scotland+m3", "en-us+f4", "en-gb-x-rp"]


def espeak(text: str, voice: str) -> np.ndarray:
    """espeak-ng's default speed, pitch and loudness, as the mini corpus's engine runs it, at SR."""
    from recipes.libritts.espeak import EspeakProgram

    wav, rate = EspeakProgram().speak(text, voice, speed=175, pitch=50, amplitude=100)
    return audio.resample(wav, rate, SR)


def frames(wav: np.ndarray, n: int = 1024, hop: int = 240) -> np.ndarray:
    count = max(0, (len(wav) - n) // hop + 1)
    return np.lib.stride_tricks.sliding_window_view(wav, n)[::hop][:count]


def lpc_envelopes(wav: np.ndarray, order: int = 24, bins: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """(dB envelopes [F, bins] over 0..SR/2, frame energies [F])."""
    emph = np.append(wav[0], wav[1:] - 0.9 * wav[:-1]).astype(np.float64)
    fr = frames(emph) * np.hanning(1024)
    energy = (fr**2).mean(axis=1)
    out = np.zeros((len(fr), bins))
    for i, x in enumerate(fr):
        r = np.correlate(x, x, "full")[len(x) - 1 : len(x) + order]
        if r[0] <= 1e-10:
            continue
        r[0] *= 1.0 + 1e-6
        toeplitz = r[np.abs(np.subtract.outer(np.arange(order), np.arange(order)))]
        a = np.concatenate([[1.0], -np.linalg.solve(toeplitz, r[1:])])
        out[i] = -20 * np.log10(np.abs(np.fft.rfft(a, 2 * bins - 1)) + 1e-12)
    return out, energy


def envelope_distance(before: np.ndarray, after: np.ndarray) -> float:
    (ea, wa), (eb, wb) = lpc_envelopes(before), lpc_envelopes(after)
    count = min(len(ea), len(eb))
    keep = (wa[:count] > 0.05 * wa.max()) & (wb[:count] > 0.01 * wb.max())
    band = slice(int(100 / (SR / 2) * ea.shape[1]), int(5000 / (SR / 2) * ea.shape[1]))
    d = ea[:count][keep][:, band] - eb[:count][keep][:, band]
    d -= d.mean(axis=1, keepdims=True)  # loudness is not the envelope's shape
    return float(np.sqrt((d**2).mean(axis=1)).mean())


def median_f0(wav: np.ndarray) -> float:
    lo, hi, f0s = SR // 500, SR // 40, []
    fr = frames(wav, n=2048)
    energy = (fr**2).mean(axis=1)
    for x in fr[energy > 0.1 * energy.max()]:
        x = x - x.mean()
        ac = np.correlate(x, x, "full")[len(x) - 1 :]
        lag = lo + int(np.argmax(ac[lo:hi]))
        if ac[lag] > 0.5 * ac[0]:
            f0s.append(SR / lag)
    return float(np.median(f0s)) if f0s else float("nan")


def reshape(wav: np.ndarray, semitones: float, keep: bool) -> tuple[np.ndarray, float]:
    start = time.perf_counter()
    r = Reshaper(1.0, semitones, SR, keep_formants=keep)
    out = np.concatenate([r.push(wav), r.flush()])
    return out, time.perf_counter() - start


def main() -> None:
    from recipes.libritts.make_mini_corpus import PUBLIC_DOMAIN
    from tts.asr import CtcRecognizer
    from tts.speaker import SpeakerEncoder

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shifts", nargs="+", type=float, default=[-12, -7, -4, 4, 7, 12])
    p.add_argument("--limit", type=int, default=12, help="recordings (sentences x voices)")
    p.add_argument("--asr", default="models/asr")
    p.add_argument("--speaker", default="models/speaker")
    args = p.parse_args()
    asr, speaker = CtcRecognizer.from_pretrained(args.asr), SpeakerEncoder.from_pretrained(args.speaker)
    items = [(s, VOICES[i % len(VOICES)]) for i, s in enumerate(PUBLIC_DOMAIN[: args.limit])]
    wavs = [espeak(s, v) for s, v in items]
    texts = [s for s, _ in items]
    seconds = sum(len(w) for w in wavs) / SR

    def cer(outs: list[np.ndarray]) -> float:
        refs = [" ".join(words(t)) for t in texts]
        errs = sum(edit_distance(list(r), list(" ".join(words(asr.transcribe(w, SR))))) for r, w in zip(refs, outs))
        return 100.0 * errs / sum(len(r) for r in refs)

    print(f"{len(wavs)} espeak-ng recordings ({seconds:.1f} s), voices {', '.join(sorted({v for _, v in items}))}")
    print(f"unshifted: CER {cer(wavs):.1f}%")
    print("| shift (st) | method | envelope distance (dB) | F0 off target (cents) | speaker cosine | CER | ms per s of audio |")
    print("|---|---|---|---|---|---|---|")
    for st in args.shifts:
        for keep, name in ((False, "tape (resampled)"), (True, "formants kept")):
            outs, cost = zip(*(reshape(w, st, keep) for w in wavs))
            dist = np.mean([envelope_distance(a, b) for a, b in zip(wavs, outs)])
            cents = np.median([1200 * np.log2(median_f0(b) / median_f0(a)) - 100 * st for a, b in zip(wavs, outs)])
            cos = np.mean([speaker.similarity(a, b, SR) for a, b in zip(wavs, outs)])
            print(f"| {st:+g} | {name} | {dist:.2f} | {cents:+.0f} | {cos:.3f} | {cer(list(outs)):.1f}% "
                  f"| {1000 * sum(cost) / seconds:.1f} |")


if __name__ == "__main__":
    sys.exit(run_cli("pitch_formants", main))
