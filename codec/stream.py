"""Chunked encode/decode with explicit per-stream state.

``EncoderStream.push`` accepts any number of samples, buffers the partial frame and emits
the codes of every whole frame; ``flush`` pads the end exactly as offline ``encode`` does.
``DecoderStream.push`` turns frames of codes into audio, dropping the decoder's leading
delay once.  A batch of B independent streams advances in lockstep; ``reset(mask)``
restarts chosen slots so a server can reuse them.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from .modules.streaming import State, reset_state

if TYPE_CHECKING:
    from .model import Codec


class EncoderStream:
    """Audio chunks [B, n] -> codes [B, Q, f], equal to offline ``Codec.encode``."""

    def __init__(self, codec: "Codec", batch: int, n_q: int | None = None) -> None:
        self.codec, self.n_q = codec, n_q
        p = next(codec.parameters())
        self.state: State = codec.encoder.initial_state(batch, p.device, p.dtype)
        self.pending = torch.zeros(batch, 0, device=p.device, dtype=p.dtype)
        self.n_samples = 0  # samples pushed so far

    @torch.no_grad()
    def push(self, wav: Tensor) -> Tensor:
        """wav [B, n] -> codes of the whole frames now available [B, Q, f] (f may be 0)."""
        if wav.dim() != 2 or wav.shape[0] != self.pending.shape[0]:
            raise ValueError(f"expected wav [{self.pending.shape[0]}, n], got {tuple(wav.shape)}")
        self.n_samples += wav.shape[-1]
        buf = torch.cat([self.pending, wav.to(self.pending.dtype)], dim=-1)
        whole = buf.shape[-1] // self.codec.hop * self.codec.hop
        self.pending = buf[:, whole:]
        return self._encode_frames(buf[:, :whole])

    @torch.no_grad()
    def flush(self) -> Tensor:
        """Pad the tail like offline ``encode`` and return the last codes; the stream ends."""
        total = self.codec.n_frames(self.n_samples) * self.codec.hop
        done = self.n_samples - self.pending.shape[-1]
        pad = torch.zeros(self.pending.shape[0], total - done - self.pending.shape[-1], dtype=self.pending.dtype, device=self.pending.device)
        codes = self._encode_frames(torch.cat([self.pending, pad], dim=-1))
        self.pending = self.pending[:, :0]
        return codes

    def _encode_frames(self, wav: Tensor) -> Tensor:
        if wav.shape[-1] == 0:
            n_q = self.n_q or self.codec.n_codebooks
            return torch.zeros(wav.shape[0], n_q, 0, dtype=torch.long, device=wav.device)
        latent, self.state = self.codec.encoder.step(wav[:, None], self.state)
        return self.codec.quantizer.encode(latent, self.n_q)

    def reset(self, mask: Tensor) -> None:
        """Start fresh streams in the slots where ``mask`` [B] is True (frame-aligned)."""
        self.state = reset_state(self.state, mask)


class DecoderStream:
    """Codes [B, Q, f] -> audio chunks, equal to offline ``Codec.decode``."""

    def __init__(self, codec: "Codec", batch: int) -> None:
        self.codec = codec
        p = next(codec.parameters())
        self.state: State = codec.decoder.initial_state(batch, p.device, p.dtype)
        self.to_skip = codec.cfg.delay_samples

    @torch.no_grad()
    def push(self, codes: Tensor) -> Tensor:
        """codes [B, Q, f] -> wav [B, f * hop] (minus the leading delay at the start)."""
        self.codec.check_codes(codes)
        if codes.shape[-1] == 0:
            return torch.zeros(codes.shape[0], 0, device=codes.device)
        wav, self.state = self.codec.decoder.step(self.codec.quantizer.decode(codes), self.state)
        wav = wav[:, 0]
        skip = min(self.to_skip, wav.shape[-1])
        self.to_skip -= skip
        return wav[:, skip:]

    def reset(self, mask: Tensor) -> None:
        """Start fresh streams in the slots where ``mask`` [B] is True."""
        self.state = reset_state(self.state, mask)

    def fork(self) -> "DecoderStream":
        """An independent stream that goes on from here: decode shared history (a voice prompt)
        once, then several continuations. Steps never change a state in place, so the two share
        it until either pushes."""
        return copy.copy(self)


class CodecStream:
    """An encoder stream and a decoder stream for the same batch of streams."""

    def __init__(self, codec: "Codec", batch: int = 1, n_q: int | None = None) -> None:
        self.encoder = EncoderStream(codec, batch, n_q)
        self.decoder = DecoderStream(codec, batch)
