"""The one place that reads and writes audio: files, in-memory bytes and raw PCM16.

Everything returns float32 mono numpy arrays at the sample rate the caller asks for, and
every bad input becomes an ``InvalidAudio`` with one line naming the source. No torch here:
the ONNX Runtime server imports this module without torch installed.
"""

from __future__ import annotations

import contextlib
import io
import os
import secrets
from pathlib import Path
from typing import BinaryIO, Callable, Iterator, Union

import numpy as np
import soundfile as sf
import soxr

from .errors import CodecError, InvalidAudio

PathLike = Union[str, os.PathLike]

_READ_ERRORS = (sf.SoundFileError, RuntimeError, ValueError, TypeError, OSError, EOFError)
_FLOAT_SUBTYPES = {"FLOAT", "DOUBLE", "VORBIS", "OPUS", "MPEG_LAYER_III"}


def load(path: PathLike, sample_rate: int) -> np.ndarray:
    """Read an audio file as float32 mono [T] at ``sample_rate``; raise InvalidAudio otherwise."""
    return _whole(read_blocks(path, sample_rate, None))


def decode_bytes(data: bytes, sample_rate: int, name: str = "<bytes>") -> np.ndarray:
    """Same as ``load`` for an in-memory WAV/FLAC/OGG file (e.g. a gRPC request body)."""
    if not data:
        raise InvalidAudio(f"{name}: empty input, expected WAV/FLAC/OGG bytes")
    return _whole(_blocks(io.BytesIO(data), sample_rate, None, name))


def read_blocks(path: PathLike, sample_rate: int, block_seconds: float | None) -> Iterator[np.ndarray]:
    """``load`` a block at a time: float32 mono blocks at ``sample_rate`` whose concatenation
    is exactly what ``load`` returns, holding about ``block_seconds`` of audio at once (None:
    the whole file), so recordings of any length fit in memory."""
    path = Path(path)
    if not path.exists():
        raise InvalidAudio(f"{path}: no such file")
    if path.is_dir():
        raise InvalidAudio(f"{path}: is a directory, not an audio file")
    if block_seconds is not None and not block_seconds > 0:
        raise ValueError(f"block_seconds must be positive, got {block_seconds}")
    return _blocks(path, sample_rate, block_seconds, str(path))


def _whole(blocks: Iterator[np.ndarray]) -> np.ndarray:
    parts = list(blocks)
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _blocks(source: Union[Path, BinaryIO], sample_rate: int, block_seconds: float | None,
            name: str) -> Iterator[np.ndarray]:
    """Read, validate, mix down and resample block by block (soxr's stream resampler gives
    the same samples however the signal is cut); shared by files and bytes."""
    with _one_line_errors(InvalidAudio, f"{name}: not a readable audio file"):
        snd = sf.SoundFile(source)
    with snd:
        if snd.channels == 0:
            raise InvalidAudio(f"{name}: no audio frames")
        rate = int(snd.samplerate)
        if rate <= 0 or sample_rate <= 0:
            raise ValueError(f"sample rates must be positive, got {rate} -> {sample_rate}")
        frames = -1 if block_seconds is None else max(1, int(block_seconds * rate))
        resample = StreamResampler(rate, sample_rate)
        seen = 0
        while True:
            with _one_line_errors(InvalidAudio, f"{name}: not a readable audio file"):
                wav = snd.read(frames, dtype="float32", always_2d=True)
            if not np.isfinite(wav).all():
                raise InvalidAudio(f"{name}: contains NaN or infinite samples")
            seen += wav.shape[0]
            last = frames < 0 or wav.shape[0] < frames
            if seen == 0:
                raise InvalidAudio(f"{name}: no audio frames")
            mono = wav.mean(axis=1, dtype=np.float32) if wav.shape[1] > 1 else wav[:, 0]
            yield np.ascontiguousarray(resample(mono, last), dtype=np.float32)
            if last:
                return


@contextlib.contextmanager
def _one_line_errors(error: type[CodecError], what: str) -> Iterator[None]:
    """libsndfile's and the file system's failures as ``error("<what> (<reason>)")``, one line;
    any other exception (a caller's own, inside a ``writer`` block) passes through."""
    try:
        yield
    except _READ_ERRORS as e:
        raise error(f"{what} ({_one_line(e)})") from None


def _one_line(e: BaseException) -> str:
    """libsndfile messages can span lines; keep the CLI/gRPC error to one."""
    text = " ".join(str(getattr(e, "error_string", None) or e).split())
    return text[:200] or type(e).__name__


def resample(wav: np.ndarray, orig_sr: int, new_sr: int) -> np.ndarray:
    """Band-limited resampling (soxr HQ) of a 1-D signal; identity when the rates match."""
    wav = np.ascontiguousarray(wav, dtype=np.float32)
    if orig_sr <= 0 or new_sr <= 0:
        raise ValueError(f"sample rates must be positive, got {orig_sr} -> {new_sr}")
    if orig_sr == new_sr or wav.size == 0:
        return wav
    return np.ascontiguousarray(soxr.resample(wav, orig_sr, new_sr, quality="HQ"), dtype=np.float32)


class StreamResampler:
    """Chunk-by-chunk resampling with continuity across chunks (soxr stream); identity if equal."""

    def __init__(self, in_rate: int, out_rate: int) -> None:
        self.stream = None if in_rate == out_rate else soxr.ResampleStream(in_rate, out_rate, 1, dtype="float32", quality="HQ")

    def __call__(self, x: np.ndarray, last: bool = False) -> np.ndarray:
        if self.stream is None:
            return x
        return self.stream.resample_chunk(np.ascontiguousarray(x, dtype=np.float32), last=last)


def from_pcm16(data: bytes) -> np.ndarray:
    """Little-endian signed 16-bit PCM (mono) to float32 in [-1, 1)."""
    if len(data) % 2:
        raise InvalidAudio(f"<pcm16>: odd number of bytes ({len(data)}), expected 16-bit samples")
    return np.frombuffer(data, dtype="<i2").astype(np.float32) / np.float32(32768.0)


def pcm16_samples(wav: np.ndarray) -> np.ndarray:
    """Float audio to 16-bit sample values (int16), clipping out-of-range samples instead of wrapping."""
    x = np.nan_to_num(np.asarray(wav, dtype=np.float32).reshape(-1), nan=0.0, posinf=1.0, neginf=-1.0)
    return np.clip(np.round(x * 32768.0), -32768, 32767).astype("<i2")


def to_pcm16(wav: np.ndarray) -> bytes:
    """Float audio to little-endian 16-bit PCM bytes."""
    return pcm16_samples(wav).tobytes()


def _as_mono(wav: np.ndarray) -> np.ndarray:
    """Accept [T] or [1, T] (what a decoder returns for one item) as a finite 1-D float32 array."""
    x = np.asarray(wav, dtype=np.float32)
    if x.ndim == 2 and x.shape[0] == 1:
        x = x[0]
    if x.ndim != 1:
        raise ValueError(f"expected mono audio shaped [T] or [1, T], got {x.shape}")
    return np.nan_to_num(x, nan=0.0, posinf=1.0, neginf=-1.0)


def _prepare(wav: np.ndarray, subtype: str) -> np.ndarray:
    """Clip for integer subtypes: libsndfile would otherwise wrap loud samples around."""
    x = _as_mono(wav)
    return x if subtype in _FLOAT_SUBTYPES else np.clip(x, -1.0, 1.0)


def _format_for(path: Path) -> str:
    """The soundfile container format named by the file extension."""
    fmt = path.suffix.lstrip(".").upper()
    if fmt not in sf.available_formats() or fmt == "RAW":
        raise InvalidAudio(f"{path}: unsupported output format {path.suffix!r} (use .wav, .flac or .ogg)")
    return fmt


def save(path: PathLike, wav: np.ndarray, sample_rate: int, subtype: str = "PCM_16") -> None:
    """Write audio atomically (temp file + os.replace) so readers never see a partial file."""
    with writer(path, sample_rate, subtype) as write:
        write(wav)


@contextlib.contextmanager
def writer(path: PathLike, sample_rate: int, subtype: str = "PCM_16") -> Iterator[Callable[[np.ndarray], None]]:
    """``save`` a block at a time: yields ``write(block)``; the file appears, whole, only when
    the block exits without an error (a temp file is replaced into place, or removed)."""
    path = Path(path)
    fmt = _format_for(path)
    if not sf.check_format(fmt, subtype):
        subtype = sf.default_subtype(fmt)  # e.g. OGG has no PCM_16: Vorbis instead
    tmp, unwritable = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp"), f"{path}: cannot write audio"

    def write(wav: np.ndarray) -> None:
        data = _prepare(wav, subtype)
        with _one_line_errors(CodecError, unwritable):
            out.write(data)

    try:
        with _one_line_errors(CodecError, unwritable):
            out = sf.SoundFile(tmp, "w", sample_rate, 1, subtype=subtype, format=fmt)
        try:
            yield write
        finally:
            with _one_line_errors(CodecError, unwritable):
                out.close()
        with _one_line_errors(CodecError, unwritable):
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


OPUS_RATES = (8000, 12000, 16000, 24000, 48000)  # the only rates an Opus stream can carry
MP3_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
# per container: the subtype a network answer is written in, and the rates it can carry (None: any)
_FILE_KINDS = {"WAV": ("PCM_16", None), "FLAC": ("PCM_16", None), "OGG": ("OPUS", OPUS_RATES),
               "MP3": ("MPEG_LAYER_III", MP3_RATES)}


def to_file_bytes(wav: np.ndarray, sample_rate: int, fmt: str = "WAV") -> bytes:
    """A complete audio file in memory (network answers): WAV and FLAC as 16-bit PCM, OGG as Opus,
    MP3 as MPEG layer III."""
    subtype, rates = _FILE_KINDS[fmt]
    if rates and sample_rate not in rates:
        name = "OGG (Opus)" if fmt == "OGG" else fmt
        raise InvalidAudio(f"{name} audio can be {', '.join(map(str, rates))} Hz, not {sample_rate}")
    buf = io.BytesIO()
    sf.write(buf, _prepare(wav, subtype), sample_rate, subtype=subtype, format=fmt)
    return buf.getvalue()
