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
    subtype = _file_subtype(fmt, sample_rate)
    buf = io.BytesIO()
    sf.write(buf, _prepare(wav, subtype), sample_rate, subtype=subtype, format=fmt)
    return buf.getvalue()


def _file_subtype(fmt: str, sample_rate: int) -> str:
    subtype, rates = _FILE_KINDS[fmt]
    if rates and sample_rate not in rates:
        name = "OGG (Opus)" if fmt == "OGG" else fmt
        raise InvalidAudio(f"{name} audio can be {', '.join(map(str, rates))} Hz, not {sample_rate}")
    return subtype


STREAMED_FORMATS = ("MP3", "OGG")
STREAMED_MP3_LEVEL = 0.6  # libsndfile's compression level: 64 kbit/s constant at 24 kHz
OGG_PAGE_MS = 50.0  # an Ogg page goes out once it holds this much audio (libsndfile's least; its default: 1 s)
_SFC_SET_OGG_PAGE_LATENCY_MS = 0x1302  # sndfile.h


class StreamedFile:
    """An MP3 or Ogg Opus file made as its audio comes, for answers that go out while the audio
    is still being made: ``push(wav)`` gives the file's next bytes (maybe none yet: encoders fill
    whole frames and Ogg pages first), ``close()`` the rest. The MP3 is constant-bitrate, so a
    reader finds its length from its size: the encoder's gapless tag, which it writes into the
    file's first frame at close, has gone out by then as an empty frame, and is left out (a reader
    so keeps the encoder's delay, ~46 ms at 24 kHz, as with any MP3 stream). FLAC is not made so:
    its header would keep "unknown" for the length, which python-soundfile cannot read to the end."""

    def __init__(self, sample_rate: int, fmt: str) -> None:
        if fmt not in STREAMED_FORMATS:
            raise ValueError(f"{fmt} is not made as a stream (one of {', '.join(STREAMED_FORMATS)})")
        subtype = _file_subtype(fmt, sample_rate)
        self._subtype, self._mp3 = subtype, fmt == "MP3"
        self._out = _Tail()
        mp3 = {"bitrate_mode": "CONSTANT", "compression_level": STREAMED_MP3_LEVEL} if self._mp3 else {}
        self._file = sf.SoundFile(self._out, "w", sample_rate, 1, subtype=subtype, format=fmt, **mp3)
        if fmt == "OGG":
            _ogg_page_latency(self._file, OGG_PAGE_MS)
        self._head = b""  # an MP3's bytes until its first frame is whole (the tag's frame, dropped)

    def push(self, wav: np.ndarray) -> bytes:
        if len(wav):
            self._file.write(_prepare(wav, self._subtype))
        return self._taken()

    def close(self) -> bytes:
        if self._file.closed:
            return b""
        self._file.close()
        return self._taken() + (self._head or b"")  # an MP3 too short for a whole frame keeps what it has

    def _taken(self) -> bytes:
        """What the encoder wrote since; an MP3's first frame held until whole, and dropped if it
        is the tag's empty frame."""
        data = self._out.take()
        if not self._mp3 or self._head is None:
            return data
        self._head += data
        if len(self._head) < 4 or len(self._head) < (length := _mp3_frame_length(self._head)):
            return b""
        head, self._head = self._head, None
        return head[length:] if not any(head[4:length]) else head  # the tag's frame: a header, then zeros


def _ogg_page_latency(file: sf.SoundFile, ms: float) -> None:
    """libsndfile's SFC_SET_OGG_PAGE_LATENCY_MS, through python-soundfile's cffi handles (it has
    no call of its own for it); were it refused, pages would just come later."""
    value = sf._ffi.new("double*", ms)
    sf._snd.sf_command(file._file, _SFC_SET_OGG_PAGE_LATENCY_MS, value, sf._ffi.sizeof("double"))


_MP3_KBPS = {True: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),  # MPEG-1 layer III
             False: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)}  # MPEG-2 and 2.5
_MP3_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def _mp3_frame_length(header: bytes) -> int:
    """Bytes of the layer III frame whose 4-byte header starts ``header``."""
    version = (header[1] >> 3) & 3  # 3: MPEG-1, 2: MPEG-2, 0: MPEG-2.5
    kbps = _MP3_KBPS[version == 3][header[2] >> 4]
    rate = _MP3_RATES[version][(header[2] >> 2) & 3]
    return (144 if version == 3 else 72) * kbps * 1000 // rate + ((header[2] >> 1) & 1)


class _Tail(io.RawIOBase):
    """A seekable file in memory that hands out (``take``) what was written since the last
    hand-out; what is later written behind that point (a header filled in at close) is dropped."""

    def __init__(self) -> None:
        super().__init__()
        self.data, self.base, self.pos = bytearray(), 0, 0

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        return 0  # the writers never read back what they wrote

    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        n, at = len(view), self.pos - self.base
        if at < 0:  # behind what went out
            view, at = view[min(n, -at):], 0
        if at > len(self.data):
            self.data.extend(bytes(at - len(self.data)))
        self.data[at : at + len(view)] = view
        self.pos += n
        return n

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self.pos = offset + (0, self.pos, self.base + len(self.data))[whence]
        return self.pos

    def tell(self) -> int:
        return self.pos

    def take(self) -> bytes:
        out = bytes(self.data)
        self.base += len(out)
        self.data.clear()
        return out
