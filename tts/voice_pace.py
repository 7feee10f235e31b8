"""Bring a voice prompt to the speaking rate the TTS model learned.

The model takes a voice's pace from its timbre, not from the prompt (each training voice
spoke at one rate), and it judges how far into the prompt's transcript the recording has got
by that pace. A new voice that speaks faster than the training voices (the 12 held-out espeak
voices: median 18.4 characters/s, against 16.1 in training) leaves it believing the recording
stopped earlier in its transcript, so it starts reading there and says the prompt's last words
again (README). Stretching the prompt in time, pitch unchanged (``tts.time_stretch``), to the
training rate removes that mismatch before the model sees it.

Measured on the phase-2 model (README): on unseen voices the reading start moves from a median
of 7 characters back to 0, while WER scatters within its noise (from 1.2 points better to 4
worse than the prompt as recorded); on training voices, whose pace the model knows, WER rises
by 5-6 points. So it is opt-in: ``tts-cli --voice-pace model``, ``speech-server
--voice-prompt-pace``.
"""

from __future__ import annotations

import numpy as np

from .text import normalize
from .time_stretch import time_stretch

MAX_CHANGE = 1.3  # never stretch or squeeze by more than this: past it the audio itself suffers


def speaking_rate(transcript: str, seconds: float) -> float:
    """Characters of the normalized transcript (what the model reads) per second of audio."""
    if seconds <= 0:
        raise ValueError("a voice prompt needs audio to have a speaking rate")
    return len(normalize(transcript)) / seconds


def pace_factor(rate: float, target: float, max_change: float = MAX_CHANGE) -> float:
    """How many times longer the prompt must play to speak at ``target`` (clamped)."""
    return float(np.clip(rate / target, 1 / max_change, max_change))


def match_pace(wav: np.ndarray, sample_rate: int, transcript: str, target: float) -> tuple[np.ndarray, float]:
    """The prompt's audio at ``target`` characters per second, and the factor it was stretched by."""
    factor = pace_factor(speaking_rate(transcript, len(wav) / sample_rate), target)
    return time_stretch(wav, factor, sample_rate), factor
