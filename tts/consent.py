"""A voice is made only with its speaker's consent (as Azure's personal voice asks): besides the
recording to clone, the speaker records themself saying the server's consent statement, and
the server checks both before it keeps the voice.

- The statement was said: the verifier's forced alignment of the statement to the consent
  recording (``tts.verify``, nats per character). espeak-ng voices saying it score 1.8-2.3,
  saying other sentences 9.0-10.3 (10 voices, README "Consent"); more than ``MAX_SCORE`` is
  refused.
- By the same voice as the recording: the cosine of the speaker encoder's embeddings of the two
  (``serve.speaker_runtime``) must reach ``min_similarity``. The bundled encoder (48 espeak-ng
  training voices) tells voices apart far less well than it does a voice's own sentences
  (README "Consent": at 0.6, 15% of same-voice pairs refused and 24% of other-voice pairs let
  through): an encoder trained on real speech (the recipe on LibriTTS) is what a deployment
  should run.

With consent asked for, a request's own recording (zero-shot ``voice_audio``) is refused too:
it would make a voice without it. What was checked is kept with the voice (``consent.wav``
and ``voice.json``'s ``consent``), for whoever has to show it later.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np

from codec.errors import CodecError

from .text import InvalidText, normalize

MAX_SCORE = 4.0  # nats per character of the statement
MIN_SIMILARITY = 0.6


class NoConsent(CodecError):
    """A voice the server may not make: no consent recording, or one that does not show consent."""


@dataclass(frozen=True)
class ConsentSettings:
    statement: str  # what the speaker must say, e.g. "I agree that my voice may be used to make a synthetic voice."
    speaker_encoder: str = "speaker"  # a directory or bundled name (``speaker.onnx``: python -m tts.speaker export-onnx)
    min_similarity: float = MIN_SIMILARITY

    def __post_init__(self) -> None:
        try:
            normalize(self.statement)
        except InvalidText as err:
            raise ValueError(f"the consent statement: {err}") from None
        if not -1.0 <= self.min_similarity <= 1.0:
            raise ValueError(f"the consent's minimum similarity is a cosine, -1 to 1; got {self.min_similarity:g}")


@dataclass(frozen=True)
class Consent:
    """What was checked: kept with the voice."""

    statement: str
    score: float  # nats per character (at most MAX_SCORE)
    heard: str  # the recognizer's transcript of the consent recording
    similarity: float  # cosine to the voice's recording
    checked_at: float  # seconds since the epoch

    def record(self) -> dict:
        return asdict(self)


class ConsentCheck:
    """``check(consent, recording, sample_rate)`` -> ``Consent``, or ``NoConsent`` saying why.
    ``verifier``: a ``tts.verify.CtcVerifier``; ``speaker``: anything with ``similarity(a, b, sr)``."""

    def __init__(self, settings: ConsentSettings, verifier, speaker) -> None:
        self.settings, self.verifier, self.speaker = settings, verifier, speaker
        self.said = normalize(settings.statement)

    def check(self, consent: np.ndarray | None, recording: np.ndarray, sample_rate: int) -> Consent:
        statement = self.settings.statement
        if consent is None or not len(consent):
            raise NoConsent(f"this server makes a voice only with its speaker's consent: send consent, a recording of "
                            f"the speaker saying {statement!r}")
        score, heard = self.verifier.hear(consent, sample_rate, self.said)
        if not score <= MAX_SCORE:
            raise NoConsent(f"the consent recording does not say the statement (heard {heard!r}); it must say "
                            f"{statement!r}")
        similarity = self.speaker.similarity(consent, recording, sample_rate)
        if similarity < self.settings.min_similarity:
            raise NoConsent(f"the consent recording is not in the recording's voice (similarity {similarity:.2f}, "
                            f"at least {self.settings.min_similarity:.2f} needed): the speaker must give it")
        return Consent(statement, round(score, 3), heard, round(similarity, 3), time.time())


def load_consent_check(settings: ConsentSettings, verifier, threads: int | None = None) -> ConsentCheck:
    """The check with the speaker encoder ``settings`` names, on ONNX Runtime."""
    from codec.pretrained import resolve_model_dir
    from serve.speaker_runtime import OnnxSpeakerEncoder

    directory = resolve_model_dir(settings.speaker_encoder)
    if directory is None:
        raise CodecError(f"{settings.speaker_encoder}: no speaker encoder there (train one: python -m tts.speaker train)")
    return ConsentCheck(settings, verifier, OnnxSpeakerEncoder(directory, threads))
