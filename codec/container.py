"""The ``.codes`` file: a self-describing, checksummed, bit-packed stream of codec codes.

Layout (little-endian)::

    MAGIC (8 bytes) | uint16 version | uint32 header length | UTF-8 JSON header
    | bit-packed codes | uint32 CRC32 of everything before it

Code stream q uses ceil(log2 K_q) bits per code, so the payload is exactly the nominal
bitrate times the duration; the JSON header names the model, its weights and (since version 2)
its ``codes_hash``, so a decoder can refuse codes that belong to another model yet accept those
of a decoder-only fine-tune of its own. No torch here (used by the ORT server).
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np

from .errors import CodecError, InvalidCodesFile

MAGIC = b"SPCODES\x00"
VERSION = 2
READABLE = (1, 2)  # version 1 headers carry no codes_hash
_PREFIX = struct.Struct("<8sHI")  # magic, version, header length
_CRC = struct.Struct("<I")

PathLike = Union[str, os.PathLike]


@dataclass
class CodesHeader:
    """What a decoder needs to know, and check, before it touches the codes."""

    model: str
    weights_hash: str
    sample_rate: int
    frame_rate: float
    hop: int
    codebook_sizes: list[int]
    n_frames: int
    n_samples: int
    codes_hash: str = ""  # what the codes mean (encoder + quantizer); "" in version 1 files
    version: int = VERSION
    _types = {"model": str, "weights_hash": str, "sample_rate": int, "frame_rate": float, "hop": int,
              "codebook_sizes": list, "n_frames": int, "n_samples": int, "codes_hash": str, "version": int}

    @classmethod
    def _keys(cls, version: object) -> set[str]:
        return set(cls._types) - ({"codes_hash"} if version == 1 else set())

    def to_json(self) -> bytes:
        """Compact, key-sorted UTF-8 JSON: deterministic bytes for identical headers."""
        d = {k: v for k, v in dataclasses.asdict(self).items() if k in self._keys(self.version)}
        d["codebook_sizes"] = [int(k) for k in d["codebook_sizes"]]
        return json.dumps(d, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()

    @classmethod
    def from_json(cls, raw: bytes, name: str = "<codes>") -> "CodesHeader":
        """Parse and validate; any missing, extra or ill-typed key is an InvalidCodesFile."""
        try:
            d = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise InvalidCodesFile(f"{name}: header is not valid JSON ({e})") from None
        if not isinstance(d, dict):
            raise InvalidCodesFile(f"{name}: header is not a JSON object")
        keys = cls._keys(d.get("version"))
        missing, extra = keys - d.keys(), d.keys() - keys
        if missing or extra:
            raise InvalidCodesFile(f"{name}: header keys wrong (missing {sorted(missing)}, unexpected {sorted(extra)})")
        header = cls(**d)
        header.validate(name)
        return header

    def validate(self, name: str = "<codes>") -> None:
        """Types and ranges; shared by reading and writing so both reject the same headers."""
        for key, typ in self._types.items():
            value = getattr(self, key)
            ok = isinstance(value, (int, float) if typ is float else typ) and not isinstance(value, bool)
            if not ok:
                raise InvalidCodesFile(f"{name}: header field {key!r} must be {typ.__name__}, got {value!r}")
        sizes = self.codebook_sizes
        if not sizes or not all(isinstance(k, int) and not isinstance(k, bool) and k >= 1 for k in sizes):
            raise InvalidCodesFile(f"{name}: codebook_sizes must be a non-empty list of positive ints, got {sizes!r}")
        if min(self.sample_rate, self.hop) <= 0 or not self.frame_rate > 0:
            raise InvalidCodesFile(f"{name}: sample_rate, frame_rate and hop must be positive")
        if min(self.n_frames, self.n_samples) < 0:
            raise InvalidCodesFile(f"{name}: n_frames and n_samples must be >= 0")
        if self.version not in READABLE:
            raise InvalidCodesFile(f"{name}: unsupported header version {self.version} (this reader knows {_known()})")
        if self.version == 1 and self.codes_hash:
            raise InvalidCodesFile(f"{name}: a version 1 header carries no codes_hash")


def _known() -> str:
    return " and ".join(map(str, READABLE))


def bits_per_code(k: int) -> int:
    """ceil(log2 K), at least 1: the bits one code of a K-entry codebook occupies."""
    return max(1, (int(k) - 1).bit_length())


def payload_bytes(codebook_sizes: list[int], n_frames: int) -> int:
    """Bytes of the packed codes: F * sum_q ceil(log2 K_q) bits, rounded up to a byte."""
    return (n_frames * sum(bits_per_code(k) for k in codebook_sizes) + 7) // 8


def _check_codes(codes: np.ndarray, codebook_sizes: list[int], name: str) -> np.ndarray:
    """Refuse codes that would not survive packing (wrong shape/dtype, out of range)."""
    codes = np.asarray(codes)
    if codes.ndim != 2 or codes.shape[0] != len(codebook_sizes):
        raise InvalidCodesFile(f"{name}: codes shaped {codes.shape}, expected [{len(codebook_sizes)}, n_frames]")
    if codes.size and not np.issubdtype(codes.dtype, np.integer):
        raise InvalidCodesFile(f"{name}: codes must be integers, got {codes.dtype}")
    codes = codes.astype(np.int64, copy=False)
    for q, k in enumerate(codebook_sizes):
        bad = (codes[q] < 0) | (codes[q] >= k)
        if bad.any():
            f = int(np.argmax(bad))
            raise InvalidCodesFile(f"{name}: code {int(codes[q, f])} at stream {q}, frame {f} is outside codebook of size {k}")
    return codes


def pack_codes(codes: np.ndarray, codebook_sizes: list[int], name: str = "<codes>") -> bytes:
    """Bit-pack [Q, F] codes stream by stream, MSB first, padded to a whole byte at the end."""
    codes = _check_codes(codes, codebook_sizes, name)
    chunks = []
    for q, k in enumerate(codebook_sizes):
        shifts = np.arange(bits_per_code(k) - 1, -1, -1, dtype=np.int64)
        chunks.append(((codes[q][:, None] >> shifts) & 1).astype(np.uint8).ravel())
    bits = np.concatenate(chunks) if chunks else np.zeros(0, np.uint8)
    return np.packbits(bits).tobytes()


def unpack_codes(data: bytes, codebook_sizes: list[int], n_frames: int) -> np.ndarray:
    """Inverse of ``pack_codes``: int64 [Q, n_frames]; the caller checks the size first."""
    total = n_frames * sum(bits_per_code(k) for k in codebook_sizes)
    if len(data) * 8 < total:
        raise ValueError(f"payload has {len(data)} bytes, need {(total + 7) // 8}")
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8), count=total)
    out = np.empty((len(codebook_sizes), n_frames), dtype=np.int64)
    offset = 0
    for q, k in enumerate(codebook_sizes):
        b = bits_per_code(k)
        weights = np.int64(1) << np.arange(b - 1, -1, -1, dtype=np.int64)
        out[q] = bits[offset : offset + n_frames * b].reshape(n_frames, b).astype(np.int64) @ weights
        offset += n_frames * b
    return out


def dumps(header: CodesHeader, codes: np.ndarray, name: str = "<codes>") -> bytes:
    """Serialise a header and its [Q, F] codes into the complete file bytes."""
    header.validate(name)
    codes = np.asarray(codes)
    if codes.ndim == 2 and codes.shape[1] != header.n_frames:
        raise InvalidCodesFile(f"{name}: codes have {codes.shape[1]} frames but header says n_frames={header.n_frames}")
    payload = pack_codes(codes, header.codebook_sizes, name)
    raw = header.to_json()
    body = _PREFIX.pack(MAGIC, header.version, len(raw)) + raw + payload
    return body + _CRC.pack(zlib.crc32(body))


def _foreign_or_truncated(data: bytes, name: str) -> None:
    """Reject files that are not ours, or too short to even hold the fixed fields."""
    if data[: len(MAGIC)] != MAGIC[: len(data)]:
        raise InvalidCodesFile(f"{name}: not a .codes file (bad magic {data[:8]!r})")
    if len(data) < _PREFIX.size + _CRC.size:
        raise InvalidCodesFile(f"{name}: truncated ({len(data)} bytes)")


def loads(data: bytes, name: str = "<codes>") -> tuple[CodesHeader, np.ndarray]:
    """Parse and verify file bytes; every failure is a one-line InvalidCodesFile."""
    data = bytes(data)
    _foreign_or_truncated(data, name)
    _, version, hlen = _PREFIX.unpack_from(data)
    if version not in READABLE:
        raise InvalidCodesFile(f"{name}: unsupported .codes version {version} (this reader knows {_known()})")
    crc_ok = zlib.crc32(data[: -_CRC.size]) == _CRC.unpack_from(data, len(data) - _CRC.size)[0]
    fits = _PREFIX.size + hlen + _CRC.size <= len(data)
    header, err = None, None
    try:
        header = CodesHeader.from_json(data[_PREFIX.size : _PREFIX.size + hlen], name) if fits else None
    except InvalidCodesFile as e:
        err = e
    expected = _PREFIX.size + hlen + payload_bytes(header.codebook_sizes, header.n_frames) + _CRC.size if header else None
    if not fits or (not crc_ok and expected is not None and len(data) < expected):
        raise InvalidCodesFile(f"{name}: truncated ({len(data)} bytes, expected {expected or 'more'})")
    if not crc_ok:
        raise InvalidCodesFile(f"{name}: corrupt (CRC32 mismatch)")
    if err is not None:
        raise err
    if header.version != version:
        raise InvalidCodesFile(f"{name}: header version {header.version} disagrees with the file's {version}")
    if len(data) != expected:
        raise InvalidCodesFile(f"{name}: payload size disagrees with header ({len(data)} bytes, expected {expected})")
    codes = unpack_codes(data[_PREFIX.size + hlen : -_CRC.size], header.codebook_sizes, header.n_frames)
    _check_codes(codes, header.codebook_sizes, name)  # non-power-of-two codebooks can overflow
    return header, codes


def read(path: PathLike) -> tuple[CodesHeader, np.ndarray]:
    """Read and verify a .codes file."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InvalidCodesFile(f"{path}: no such file") from None
    except OSError as e:
        raise InvalidCodesFile(f"{path}: cannot read ({e.strerror or e})") from None
    return loads(data, str(path))


def write(path: PathLike, header: CodesHeader, codes: np.ndarray) -> None:
    """Write atomically: validate and serialise first, then temp file + fsync + os.replace."""
    path = Path(path)
    data = dumps(header, codes, str(path))
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        raise CodecError(f"{path}: cannot write ({e.strerror or e})") from None
    finally:
        tmp.unlink(missing_ok=True)
