"""Audio files through a codec engine a block at a time, so a recording of any length fits in memory.

Offline encoding holds every layer's activations for the whole signal (1.2 GB for 10 minutes
of speech with the bundled hificodec, 7 GB for an hour), more memory than many machines have for
one recording. The codec is causal and its streaming path equals the offline graphs (codes bit
for bit, audio to float rounding; tests hold both), so feeding the engine's stream blocks of
``block_seconds`` gives the offline result with memory bounded by the block. Both backends'
step graphs take blocks of any length, and long blocks run as fast as one offline call.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from . import audio, container

DEFAULT_BLOCK_SECONDS = 30.0


def encode_file(codec, src: Path, dst: Path, n_q: int | None,
                block_seconds: float | None = None) -> float:
    """Encode one audio file into a .codes container; return its bitrate in bit/s."""
    block_seconds = block_seconds or DEFAULT_BLOCK_SECONDS
    stream = codec.stream(1, n_q).encoder
    parts, n_samples = [], 0
    for block in audio.read_blocks(src, codec.sample_rate, block_seconds):
        n_samples += block.shape[0]
        parts.append(stream.push(block[None]))
    parts.append(stream.flush())
    codes = np.concatenate(parts, axis=2)[0]
    header = container.CodesHeader(
        model=codec.name, weights_hash=codec.weights_hash(), codes_hash=codec.codes_hash(), sample_rate=codec.sample_rate,
        frame_rate=codec.cfg.frame_rate, hop=codec.hop, codebook_sizes=codec.codebook_sizes[: codes.shape[0]],
        n_frames=int(codes.shape[1]), n_samples=n_samples,
    )
    container.write(dst, header, codes)
    return dst.stat().st_size * 8 / (n_samples / codec.sample_rate)


def decode_codes(codec, codes: np.ndarray, n_samples: int, dst: Path,
                 block_seconds: float | None = None) -> None:
    """codes [Q, F] -> an audio file of (at most) ``n_samples`` samples, decoded and written per block."""
    block_seconds = block_seconds or DEFAULT_BLOCK_SECONDS
    decoder, frames = codec.stream(1).decoder, max(1, int(block_seconds * codec.cfg.frame_rate))
    with audio.writer(dst, codec.sample_rate) as write:
        written = 0
        for i in range(0, codes.shape[1], frames):
            wav = decoder.push(codes[None, :, i : i + frames].astype(np.int64))[0][: n_samples - written]
            write(wav)
            written += wav.shape[0]


def roundtrip_file(codec, src: Path, dst: Path, n_q: int | None,
                   block_seconds: float | None = None) -> float:
    """Encode and decode in one pass, block by block; return the input's length in seconds.

    The causal decoder never runs ahead of the audio read so far, except on the padded last
    frame, so cutting the output to the samples read so far gives offline's length."""
    block_seconds = block_seconds or DEFAULT_BLOCK_SECONDS
    stream = codec.stream(1, n_q)
    read = written = 0
    with audio.writer(dst, codec.sample_rate) as write:
        for block in _then_end(audio.read_blocks(src, codec.sample_rate, block_seconds)):
            if block is None:
                codes = stream.encoder.flush()
            else:
                read += block.shape[0]
                codes = stream.encoder.push(block[None])
            wav = stream.decoder.push(codes)[0][: read - written]
            write(wav)
            written += wav.shape[0]
    return read / codec.sample_rate


def _then_end(blocks: Iterator[np.ndarray]) -> Iterator[np.ndarray | None]:
    yield from blocks
    yield None
