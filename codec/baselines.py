"""Classical codecs run through their command-line tools, for side-by-side evaluation.

Opus (libopus via ``opusenc``/``opusdec``, or ``ffmpeg`` with libopus) and Codec2 (``c2enc``/
``c2dec``). Each baseline round-trips float32 mono audio and reports its nominal bitrate, so
the evaluation table can put neural and classical codecs in the same rows.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from .audio import resample
from .errors import CodecError

CODEC2_RATE = 8000
CODEC2_MODES = ("3200", "2400", "1600", "1400", "1300", "1200", "700C", "450")


def _run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise CodecError(f"{cmd[0]} failed ({proc.returncode}): {proc.stderr.strip().splitlines()[-1:] or ''}")


def _fit(x: np.ndarray, n: int) -> np.ndarray:
    """Trim or zero-pad a decoded signal to the input length (tools pad to whole frames)."""
    return x[:n] if len(x) >= n else np.pad(x, (0, n - len(x)))


@dataclass
class OpusBaseline:
    """Opus at a fixed bitrate (hard CBR, 20 ms frames); the decoder removes its pre-skip."""

    kbps: float = 6.0

    @property
    def name(self) -> str:
        return f"Opus {self.kbps:g} kbit/s"

    @staticmethod
    def available() -> bool:
        return bool(shutil.which("opusenc") and shutil.which("opusdec")) or _ffmpeg_has_libopus()

    def roundtrip(self, wav: np.ndarray, sample_rate: int) -> np.ndarray:
        with tempfile.TemporaryDirectory() as tmp:
            src, enc, dst = Path(tmp, "in.wav"), Path(tmp, "x.opus"), Path(tmp, "out.wav")
            sf.write(src, wav, sample_rate, subtype="PCM_16")
            if shutil.which("opusenc") and shutil.which("opusdec"):
                _run(["opusenc", "--quiet", "--hard-cbr", "--framesize", "20", "--bitrate", f"{self.kbps:g}", str(src), str(enc)])
                _run(["opusdec", "--quiet", "--rate", "48000", str(enc), str(dst)])
            else:
                ffmpeg = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y"]
                _run(ffmpeg + ["-i", str(src), "-c:a", "libopus", "-b:a", f"{self.kbps:g}k", "-vbr", "off", str(enc)])
                _run(ffmpeg + ["-i", str(enc), "-ar", "48000", str(dst)])
            out, sr = sf.read(dst, dtype="float32", always_2d=True)
        return _fit(resample(out.mean(axis=1), sr, sample_rate), len(wav))


def _ffmpeg_has_libopus() -> bool:
    if not shutil.which("ffmpeg"):
        return False
    proc = subprocess.run(["ffmpeg", "-hide_banner", "-encoders"], capture_output=True, text=True)
    return "libopus" in proc.stdout


@dataclass
class Codec2Baseline:
    """Codec2 (8 kHz narrow-band vocoder) in one of its modes, headerless bit stream."""

    mode: str = "3200"

    def __post_init__(self) -> None:
        if self.mode not in CODEC2_MODES:
            raise ValueError(f"codec2 mode {self.mode!r}: expected one of {', '.join(CODEC2_MODES)}")

    @property
    def kbps(self) -> float:
        return {"700C": 0.7, "450": 0.45}.get(self.mode, int(self.mode) / 1000 if self.mode.isdigit() else 0.0)

    @property
    def name(self) -> str:
        return f"Codec2 {self.kbps:g} kbit/s"

    @staticmethod
    def available() -> bool:
        return bool(shutil.which("c2enc") and shutil.which("c2dec"))

    def roundtrip(self, wav: np.ndarray, sample_rate: int) -> np.ndarray:
        pcm = np.clip(resample(wav, sample_rate, CODEC2_RATE) * 32767, -32768, 32767).astype("<i2")
        with tempfile.TemporaryDirectory() as tmp:
            raw, bits, out = Path(tmp, "in.raw"), Path(tmp, "x.bit"), Path(tmp, "out.raw")
            raw.write_bytes(pcm.tobytes())
            _run(["c2enc", self.mode, str(raw), str(bits)])
            _run(["c2dec", self.mode, str(bits), str(out)])
            decoded = np.frombuffer(out.read_bytes(), dtype="<i2").astype(np.float32) / 32768
        return _fit(resample(decoded, CODEC2_RATE, sample_rate), len(wav))


def baseline_from_spec(spec: str) -> OpusBaseline | Codec2Baseline:
    """``opus:6`` (kbit/s) or ``codec2:3200`` (mode) -> a baseline."""
    kind, _, arg = spec.partition(":")
    if kind == "opus":
        return OpusBaseline(float(arg or 6))
    if kind == "codec2":
        return Codec2Baseline(arg or "3200")
    raise ValueError(f"baseline {spec!r}: expected opus[:KBPS] or codec2[:MODE]")
