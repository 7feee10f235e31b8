"""Conversions between ``speech.v1`` messages and numpy audio / codes (no torch, no gRPC).

Every malformed input raises ``InvalidAudio`` / ``CodecError`` with one readable line; the
server maps those to INVALID_ARGUMENT.
"""

from __future__ import annotations

import numpy as np

from codec import audio as audio_io
from codec import container, g711
from codec.errors import CodecError, InvalidAudio
from serve.gen.speech.v1 import speech_pb2 as pb

SAMPLE_BYTES = {pb.LINEAR_PCM: 2, pb.FLOAT32_PCM: 4, pb.MULAW: 1, pb.ALAW: 1}  # raw samples: no header
RAW_ENCODINGS = tuple(SAMPLE_BYTES)
FILE_ENCODINGS = (pb.WAV, pb.FLAC, pb.OGG, pb.ENCODING_UNSPECIFIED)
MAX_CHANNELS = 8
_DECODE = {pb.LINEAR_PCM: audio_io.from_pcm16,
           pb.FLOAT32_PCM: lambda d: np.frombuffer(d, dtype="<f4").astype(np.float32),
           pb.MULAW: g711.mulaw_decode, pb.ALAW: g711.alaw_decode}
_ENCODE = {pb.LINEAR_PCM: audio_io.to_pcm16, pb.FLOAT32_PCM: lambda w: np.ascontiguousarray(w, dtype="<f4").tobytes(),
           pb.MULAW: g711.mulaw_encode, pb.ALAW: g711.alaw_encode}


def raw_to_float(data: bytes, encoding: int, channels: int = 1) -> np.ndarray:
    """Interleaved raw samples (LINEAR_PCM, FLOAT32_PCM, MULAW, ALAW) -> float32 mono."""
    channels = channels or 1
    if not 1 <= channels <= MAX_CHANNELS:
        raise InvalidAudio(f"channels must be 1..{MAX_CHANNELS}, got {channels}")
    width = SAMPLE_BYTES[encoding]
    if len(data) % (width * channels):
        raise InvalidAudio(f"{len(data)} bytes is not a whole number of {channels}-channel {width * 8}-bit samples")
    x = _DECODE[encoding](data)
    if encoding == pb.FLOAT32_PCM and not np.isfinite(x).all():
        raise InvalidAudio("FLOAT32_PCM audio contains NaN or infinite samples")
    return x.reshape(-1, channels).mean(axis=1, dtype=np.float32) if channels > 1 else x


def audio_from_proto(msg: pb.Audio, sample_rate: int, max_seconds: float) -> np.ndarray:
    """An ``Audio`` message -> float32 mono at ``sample_rate``; rejects empty and over-long input."""
    if not msg.data:
        raise InvalidAudio("audio is empty")
    if msg.encoding in RAW_ENCODINGS:
        if msg.sample_rate_hz <= 0:
            raise InvalidAudio("raw PCM audio needs sample_rate_hz > 0")
        _check_length(len(msg.data) / SAMPLE_BYTES[msg.encoding] / max(msg.channels, 1) / msg.sample_rate_hz, max_seconds)
        return audio_io.resample(raw_to_float(msg.data, msg.encoding, msg.channels), msg.sample_rate_hz, sample_rate)
    if msg.encoding not in FILE_ENCODINGS:
        raise InvalidAudio(f"unsupported audio encoding {msg.encoding}")
    wav = audio_io.decode_bytes(msg.data, sample_rate, name="audio")
    _check_length(len(wav) / sample_rate, max_seconds)
    return wav


def _check_length(seconds: float, max_seconds: float) -> None:
    if seconds > max_seconds:
        raise InvalidAudio(f"audio is {seconds:.1f} s long; this server accepts at most {max_seconds:g} s per request")


def stream_encoding(encoding: int) -> int:
    """The raw layout a stream's chunks carry (ENCODING_UNSPECIFIED: LINEAR_PCM); files are refused."""
    if (encoding or pb.LINEAR_PCM) not in RAW_ENCODINGS:
        raise InvalidAudio(f"a stream's audio must be LINEAR_PCM, FLOAT32_PCM, MULAW or ALAW (whole files go by unary "
                           f"calls), got {pb.AudioEncoding.Name(encoding)}")
    return encoding or pb.LINEAR_PCM


def float_to_bytes(wav: np.ndarray, encoding: int) -> bytes:
    """float32 mono -> raw samples (a stream's chunk)."""
    return _ENCODE[stream_encoding(encoding)](wav)


def audio_to_proto(wav: np.ndarray, model_rate: int, encoding: int, out_rate: int) -> pb.Audio:
    """float32 mono at the model rate -> ``Audio`` in the requested layout and rate."""
    out_rate = out_rate or model_rate
    check_rate(out_rate)
    wav = audio_io.resample(wav, model_rate, out_rate)
    if encoding in (pb.WAV, pb.FLAC, pb.OGG):
        data = audio_io.to_file_bytes(wav, out_rate, pb.AudioEncoding.Name(encoding))
        return pb.Audio(data=data, encoding=encoding, sample_rate_hz=out_rate, channels=1)
    encoding = encoding or pb.LINEAR_PCM
    return pb.Audio(data=float_to_bytes(wav, encoding), encoding=encoding, sample_rate_hz=out_rate, channels=1)


def check_rate(rate: int) -> None:
    if not 4000 <= rate <= 192000:
        raise InvalidAudio(f"sample_rate_hz must be within 4000..192000, got {rate}")


def codes_to_proto(codes: np.ndarray, name: str, weights_hash: str, n_samples: int = 0, codes_hash: str = "") -> pb.Codes:
    """codes [Q, F] -> ``Codes``."""
    q, f = codes.shape
    return pb.Codes(model=name, weights_hash=weights_hash, codes_hash=codes_hash, num_codebooks=q, num_frames=f,
                    values=codes.astype(np.int32).reshape(-1).tolist(), num_samples=n_samples)


def engine_codes(codes: np.ndarray, engine, n_samples: int = 0) -> pb.Codes:
    """codes [Q, F] an engine made, labelled with its identity."""
    return codes_to_proto(codes, engine.name, engine.weights_hash(), n_samples, engine.codes_hash())


def codes_from_proto(msg: pb.Codes) -> np.ndarray:
    """``Codes`` -> int64 [1, Q, F], checking the declared shape against the values."""
    q, f = msg.num_codebooks, msg.num_frames
    if q <= 0 or f < 0 or len(msg.values) != q * f:
        raise CodecError(f"codes declare {q} x {f} but carry {len(msg.values)} values")
    return np.asarray(msg.values, dtype=np.int64).reshape(1, q, f)


def codes_file(codes: pb.Codes, info: pb.ModelInfo) -> tuple[container.CodesHeader, np.ndarray]:
    """``Codes`` (and their model's ``ModelInfo``) as a ``.codes`` file's header and [Q, F] codes."""
    header = container.CodesHeader(
        model=codes.model, weights_hash=codes.weights_hash, codes_hash=codes.codes_hash, sample_rate=info.sample_rate_hz,
        frame_rate=info.frame_rate_hz, hop=int(round(info.sample_rate_hz / info.frame_rate_hz)),
        codebook_sizes=list(info.codebook_sizes)[: codes.num_codebooks], n_frames=codes.num_frames,
        n_samples=int(codes.num_samples))
    return header, codes_from_proto(codes)[0]


def codes_from_file(header: container.CodesHeader, codes: np.ndarray) -> pb.Codes:
    """A ``.codes`` file's header and codes as ``Codes``."""
    return codes_to_proto(codes, header.model, header.weights_hash, header.n_samples, header.codes_hash)
