"""When each word of synthesized speech is said: captions, lip-sync, highlighting the word being
read (what Azure's word-boundary events and Polly's speech marks give).

The synthesizer knows which sentence it is reading and where that sentence's audio begins
(``Synthesizer.stream(sentences=...)``); within that stretch of audio each word is found by
forced alignment with a CTC recognizer (the verifier's: ``tts.voice_trim.word_bounds``, the
same alignment that cuts voice prompts). Times are of the audio as played: speaking rate,
SSML pauses and all. A sentence whose audio cannot hold its text (the model stopped early) gets
its words spread evenly over its stretch, marked ``aligned: false``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np

from .text import InvalidText, normalize
from .voice_trim import word_bounds

MARGIN_S = 0.1  # each sentence's stretch widened by this much: the decoder's lag moves its edges a little


@dataclass(frozen=True)
class WordTime:
    word: str  # as read: normalized ("twelve" for "12")
    start: float  # seconds from the start of the audio
    end: float
    sentence: int
    aligned: bool = True

    def to_dict(self) -> dict:
        return {k: round(v, 3) if isinstance(v, float) else v for k, v in asdict(self).items()}


def word_times(wav: np.ndarray, sample_rate: int, sentences: list[tuple[str, int]], recognizer,
               margin_s: float = MARGIN_S) -> list[WordTime]:
    """Every word of ``sentences`` [(sentence, sample where its audio begins)] in ``wav``."""
    wav = np.asarray(wav, np.float32)
    margin, found = int(margin_s * sample_rate), []
    for k, (text, begin) in enumerate(sentences):
        end = sentences[k + 1][1] if k + 1 < len(sentences) else len(wav)
        a, b = max(0, begin - margin), min(len(wav), end + margin)
        found += _sentence(wav[a:b], sample_rate, text, recognizer, a / sample_rate, k)
    return _in_order(found)


def _in_order(words: list[WordTime]) -> list[WordTime]:
    """Neighbouring sentences' stretches overlap by the margins: no word may start before the
    one before it ends."""
    out: list[WordTime] = []
    for w in words:
        start = max(w.start, out[-1].end) if out else w.start
        out.append(replace(w, start=start, end=max(w.end, start)))
    return out


def _sentence(wav: np.ndarray, sample_rate: int, text: str, recognizer, offset: float, k: int) -> list[WordTime]:
    try:
        tokens, owner, bounds = word_bounds(wav, sample_rate, text, recognizer)
    except InvalidText:  # audio too short to hold the words
        tokens = normalize(text).split()
        edges = offset + np.linspace(0.0, len(wav) / sample_rate, len(tokens) + 1)
        return [WordTime(t, float(edges[i]), float(edges[i + 1]), k, False) for i, t in enumerate(tokens)]
    owner, frame = np.asarray(owner), 1.0 / recognizer.frame_rate  # bounds: each word's first and last frame
    last = offset + len(wav) / sample_rate
    return [WordTime(token, offset + float(bounds[owner == i, 0].min()),
                     min(last, offset + float(bounds[owner == i, 1].max()) + frame), k)
            for i, token in enumerate(tokens) if (owner == i).any()]


def write_json(path, words: list[WordTime]) -> None:
    """One JSON object per word, a word a line (``tts-cli`` and ``speech-client --word-times``)."""
    import json

    from codec.atomic import atomic_write_text

    atomic_write_text(path, "[\n" + ",\n".join(json.dumps(w.to_dict()) for w in words) + "\n]\n")
