"""A subset of SSML, as Riva and the cloud TTS services read it: text that starts with
``<speak>`` becomes a plan of things to say (each with its own rate and volume) and pauses.

Supported: ``<speak>``; ``<break time="500ms"|"1.5s" strength="none".."x-strong">``;
``<prosody rate="slow"|"150%"|"1.2" volume="loud"|"-6dB" pitch="+2st"|"high"|"+10%">`` (nested
prosody multiplies the rate and adds the volume and pitch; a pitch is played by stretching and
resampling the speech, ``tts.time_stretch.Reshaper``);
``<sub alias="...">``; ``<phoneme alphabet="ipa"|"x-sampa" ph="...">`` (the phonemes read as
letters that sound like them: ``tts.phonemes``); ``<say-as interpret-as="characters"|"spell-out"|"verbatim"|"digits"|
"cardinal"|"ordinal"|"telephone"|"date" (format="mdy", "dmy", "ymd", ...)|"fraction"|"time"|
"unit"|"currency"|"address"|"name"|"expletive" (a bleep)>``; ``<p>`` and ``<s>`` (a sentence each, a pause after a paragraph); ``<emphasis>``
(read as plain text); ``<voice name="...">`` (its text read in that voice: one of the
model's own or a custom one; a dialogue); ``<mark name="...">`` (a point whose time in the
audio is reported: Google's timepoints, Polly's SSML speech marks; ``tts.mark_times``).
Anything else is refused by name, as is a DOCTYPE or entity declaration (no entity expansion
reaches the parser).
"""

from __future__ import annotations

import functools
import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, replace

from .numbers import year_words
from .phonemes import respelling
from .semiotic import date_words, fraction_words, telephone_words
from .text import MAX_CHARS, InvalidText
from .time_stretch import MAX_FACTOR, MAX_PITCH, MIN_FACTOR, MIN_PITCH

MAX_SSML_CHARS = 4 * MAX_CHARS  # markup included
MAX_BREAK_S = 10.0
MAX_DEPTH = 32  # nested elements
MAX_PAUSES_S = 60.0  # in one document: silence costs memory and stream time like speech does
PARAGRAPH_PAUSE_S = 0.5
STRENGTHS = {"none": 0.0, "x-weak": 0.1, "weak": 0.25, "medium": 0.5, "strong": 0.75, "x-strong": 1.2}
RATES = {"x-slow": 0.5, "slow": 0.75, "medium": 1.0, "fast": 1.25, "x-fast": 1.75, "default": 1.0}
PITCHES = {"x-low": -6.0, "low": -3.0, "medium": 0.0, "high": 3.0, "x-high": 6.0, "default": 0.0}  # semitones
VOLUMES = {"silent": -200.0, "x-soft": -12.0, "soft": -6.0, "medium": 0.0, "loud": 6.0, "x-loud": 12.0, "default": 0.0}
SAY_AS = ("characters", "spell-out", "verbatim", "digits", "cardinal", "number", "ordinal", "telephone", "date",
          "fraction", "time", "unit", "currency", "address", "name", "expletive")
BLEEP_HZ = 1000.0  # say-as expletive: a tone as long as the word would take, 0.25-1.5 s
BLEEP_S_PER_LETTER = 0.07
DATE_FORMATS = ("mdy", "dmy", "ymd", "md", "dm", "ym", "my", "y")


@dataclass(frozen=True)
class Say:
    """Text read at ``rate`` times the model's pace, ``volume_db`` louder (or softer), in the
    voice named ``voice`` (None: the request's); ``marks``: (character of ``text`` the mark
    stands before, its name) for marks inside the text."""

    text: str
    rate: float = 1.0
    volume_db: float = 0.0
    marks: tuple[tuple[int, str], ...] = ()
    voice: str | None = None
    pitch: float = 0.0  # semitones above the voice's

    def reads_as(self, other: "Say") -> bool:
        """Read the same way (one piece if side by side)."""
        return (self.rate, self.volume_db, self.voice, self.pitch) == (other.rate, other.volume_db, other.voice, other.pitch)


@dataclass(frozen=True)
class Pause:
    """Silence; with ``bleep``, a tone in place of a word not to be said (say-as expletive)."""

    seconds: float
    bleep: bool = False


@dataclass(frozen=True)
class Mark:
    """An SSML ``<mark>`` between things said or pauses: reached where the audio before it ends."""

    name: str


def is_ssml(text: str) -> bool:
    return isinstance(text, str) and text.lstrip().startswith("<speak")


def parse_ssml(text: str) -> list[Say | Pause | Mark]:
    """The plan of an SSML document; ``InvalidText`` with one readable line for anything wrong.
    Cached: a server looks at a request's document more than once (its voices, its marks, then
    the synthesizer's plan; 2.8 ms each for 6 KB)."""
    if not isinstance(text, str):
        raise InvalidText(f"SSML must be a string, got {type(text).__name__}")
    return list(_parsed(text))


@functools.lru_cache(maxsize=64)
def _parsed(text: str) -> tuple[Say | Pause | Mark, ...]:
    if len(text) > MAX_SSML_CHARS:
        raise InvalidText(f"SSML is {len(text)} characters; at most {MAX_SSML_CHARS} per request")
    if re.search(r"<!(DOCTYPE|ENTITY)", text, re.IGNORECASE):
        raise InvalidText("SSML may not declare a DOCTYPE or entities")
    try:
        root = ET.fromstring(text.strip())
    except ET.ParseError as err:
        raise InvalidText(f"SSML is not well-formed XML: {err}") from None
    if _tag(root) != "speak":
        raise InvalidText(f"SSML must have <speak> as its root, not <{_tag(root)}>")
    plan: list[Say | Pause | Mark] = []
    _walk(root, Say(""), plan, 1)
    plan = _merged(plan)
    paused = sum(item.seconds for item in plan if isinstance(item, Pause))
    if paused > MAX_PAUSES_S:
        raise InvalidText(f"SSML pauses add up to {paused:g} s; at most {MAX_PAUSES_S:g} s per request")
    said = sum(len(item.text) for item in plan if isinstance(item, Say))
    if not said:
        raise InvalidText("SSML has nothing to say")
    if said > MAX_CHARS:
        raise InvalidText(f"SSML says {said} characters; at most {MAX_CHARS} per request (split it)")
    return tuple(plan)


def _tag(element: ET.Element) -> str:
    return element.tag.rsplit("}", 1)[-1]  # a namespaced <speak xmlns=...> is still speak


def _add(plan: list, text: str | None, how: Say) -> None:
    """``text`` read as ``how`` (a Say without text: the prosody and voice in force)."""
    text = " ".join((text or "").split())
    k = _last_said(plan)
    if any(ch.isalnum() for ch in text):
        plan.append(replace(how, text=text))
    elif text and k >= 0 and isinstance(plan[k], Say) and plan[k].reads_as(how):
        plan[k] = replace(plan[k], text=plan[k].text + text)  # punctuation after a tag belongs to what came before


def _walk(element: ET.Element, how: Say, plan: list, depth: int) -> None:
    """Append ``element``'s content (not its tail) to ``plan`` under the inherited prosody and
    voice (``how``)."""
    if depth > MAX_DEPTH:
        raise InvalidText(f"SSML nests more than {MAX_DEPTH} elements deep")
    tag = _tag(element)
    if tag == "break":
        plan.append(Pause(_break_seconds(element)))
        return
    if tag == "mark":
        name = _required(element, "name")  # marks are as many as MAX_SSML_CHARS holds
        if not name.strip():
            raise InvalidText("SSML <mark name> is empty: give each mark a name")
        plan.append(Mark(name))
        return
    if tag == "prosody":
        rate, volume = _prosody(element, how.rate, how.volume_db)
        how = replace(how, rate=rate, volume_db=volume, pitch=how.pitch + _pitch(element))
        if not MIN_PITCH <= how.pitch <= MAX_PITCH:
            raise InvalidText(f"SSML <prosody pitch>: the pitch comes to {how.pitch:+.3g} semitones; it must be "
                              f"{MIN_PITCH:g} to {MAX_PITCH:+g}")
    elif tag == "voice":
        how = replace(how, voice=_voice(element))
    elif tag == "sub":
        _add(plan, _required(element, "alias"), how)
        return
    elif tag == "phoneme":  # the model reads letters: the phonemes respelled (tts.phonemes)
        _add(plan, respelling(_required(element, "ph"), element.get("alphabet", "ipa").lower()), how)
        return
    elif tag == "say-as":
        if element.get("interpret-as") == "expletive":
            letters = sum(ch.isalnum() for ch in "".join(element.itertext()))
            plan.append(Pause(min(1.5, max(0.25, BLEEP_S_PER_LETTER * letters)), bleep=True))
            return
        _add(plan, _say_as(element), how)
        return
    elif tag not in ("speak", "p", "s", "emphasis"):
        raise InvalidText(f"SSML tag <{tag}> is not supported (speak, break, prosody, sub, phoneme, say-as, p, s, emphasis, "
                          "mark, voice)")
    _add(plan, element.text, how)
    for child in element:
        _walk(child, how, plan, depth + 1)
        _add(plan, child.tail, how)
    if tag == "s" or tag == "p":
        _end_sentence(plan)
    if tag == "p":
        plan.append(Pause(PARAGRAPH_PAUSE_S))


def _last_said(plan: list) -> int:
    """Where in ``plan`` the last thing said or paused is (-1: nowhere): marks after it stay put."""
    k = len(plan) - 1
    while k >= 0 and isinstance(plan[k], Mark):
        k -= 1
    return k


def _end_sentence(plan: list) -> None:
    """Close the last thing said with a full stop unless it has its own punctuation."""
    k = _last_said(plan)
    if k >= 0 and isinstance(plan[k], Say) and plan[k].text[-1] not in ".!?;:":
        plan[k] = replace(plan[k], text=plan[k].text + ".")


def _voice(element: ET.Element) -> str:
    """A ``<voice>``'s name: one of the model's voices or a custom one (the reader checks)."""
    others = sorted(set(element.attrib) - {"name"})
    if others:
        raise InvalidText(f"SSML <voice {others[0]}> is not supported: name the voice (<voice name=\"...\">), one "
                          "of the model's own or a custom one")
    name = _required(element, "name").strip()
    if not name:
        raise InvalidText("SSML <voice name> is empty")
    return name


def _required(element: ET.Element, name: str) -> str:
    value = element.get(name)
    if value is None:
        raise InvalidText(f"SSML <{_tag(element)}> needs a {name} attribute")
    return value


def _break_seconds(element: ET.Element) -> float:
    time, strength = element.get("time"), element.get("strength")
    if time is not None:
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s)\s*", time)
        if not match:
            raise InvalidText(f"SSML <break time={time!r}>: give milliseconds or seconds, e.g. 500ms or 1.5s")
        seconds = float(match.group(1)) / (1000 if match.group(2) == "ms" else 1)
    elif strength is not None:
        if strength not in STRENGTHS:
            raise InvalidText(f"SSML <break strength={strength!r}>: one of {', '.join(STRENGTHS)}")
        seconds = STRENGTHS[strength]
    else:
        seconds = STRENGTHS["medium"]
    if seconds > MAX_BREAK_S:
        raise InvalidText(f"SSML <break> of {seconds:g} s: at most {MAX_BREAK_S:g} s")
    return seconds


def _pitch(element: ET.Element) -> float:
    """``<prosody pitch>`` in semitones: "+2st", a keyword, or a relative "+10%" (its frequency
    that much higher); nested ones add up (``tts.time_stretch.Reshaper`` plays them)."""
    if element.get("contour") is not None:
        raise InvalidText("SSML <prosody contour> is not supported: give a pitch for the whole element")
    value = element.get("pitch")
    if value is None:
        return 0.0
    if value in PITCHES:
        return PITCHES[value]
    if match := re.fullmatch(r"\s*([+-]?\d+(?:\.\d+)?)\s*st\s*", value):
        return float(match.group(1))
    if (match := re.fullmatch(r"\s*([+-]?\d+(?:\.\d+)?)\s*%\s*", value)) and float(match.group(1)) > -100:
        return 12 * math.log2(1 + float(match.group(1)) / 100)
    raise InvalidText(f"SSML <prosody pitch={value!r}>: semitones (+2st, -3st), a percentage (+10%) or one of "
                      f"{', '.join(PITCHES)} (not Hz: the voice's own pitch is not known)")


def _prosody(element: ET.Element, rate: float, volume: float) -> tuple[float, float]:
    value = element.get("rate")
    if value is not None:
        if value in RATES:
            factor = RATES[value]
        elif match := re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(%?)\s*", value):
            factor = float(match.group(1)) / (100 if match.group(2) else 1)
        else:
            raise InvalidText(f"SSML <prosody rate={value!r}>: a percentage (150%), a multiplier or one of "
                              f"{', '.join(RATES)}")
        rate *= factor
        if not MIN_FACTOR <= rate <= MAX_FACTOR:
            raise InvalidText(f"SSML <prosody rate>: the rate comes to {rate:g}; it must be {MIN_FACTOR:g} to {MAX_FACTOR:g}")
    value = element.get("volume")
    if value is not None:
        if value in VOLUMES:
            volume += VOLUMES[value]
        elif match := re.fullmatch(r"\s*([+-]?\d+(?:\.\d+)?)\s*dB\s*", value):
            volume += float(match.group(1))
        else:
            raise InvalidText(f"SSML <prosody volume={value!r}>: decibels (+6dB, -3dB) or one of {', '.join(VOLUMES)}")
    return rate, volume


def _say_as(element: ET.Element) -> str:
    kind = _required(element, "interpret-as")
    text = "".join(element.itertext()).strip()
    if kind not in SAY_AS:
        raise InvalidText(f"SSML <say-as interpret-as={kind!r}>: one of {', '.join(SAY_AS)}")
    if kind in ("characters", "spell-out", "verbatim"):
        return " ".join(ch for ch in text if not ch.isspace())
    if kind == "telephone":
        if not any(ch.isdigit() for ch in text):
            raise InvalidText(f"SSML <say-as interpret-as='telephone'>: {text!r} has no digits")
        return ("plus " if text.startswith("+") else "") + telephone_words(text)
    if kind == "date":
        return _date(text, element.get("format", "mdy"))
    if kind == "fraction":
        whole, numerator, denominator = (re.fullmatch(r"(?:(\d+) )?(\d+)/(\d+)", text) or _bad(kind, text)).groups()
        if int(denominator) < 2:
            _bad(kind, text)
        reading = fraction_words(int(numerator), int(denominator))
        return f"{whole} and {reading}" if whole else reading
    if kind == "time" and not re.fullmatch(r"\d{1,2}:\d{2}(?: ?(?:am|pm|a\.m\.|p\.m\.))?", text, re.IGNORECASE):
        _bad(kind, text)  # a time or a measure ("unit") is read by the normalizer, as in plain text
    if kind == "digits":
        return " ".join(ch for ch in text if ch.isdigit())
    if kind == "ordinal":
        if not text.isdigit():
            raise InvalidText(f"SSML <say-as interpret-as='ordinal'>: {text!r} is not a whole number")
        n = int(text)
        suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
        return f"{n}{suffix}"  # the normalizer reads ordinals out
    return text  # cardinal / number / currency / address / name: the normalizer reads them


def _bad(kind: str, text: str):
    raise InvalidText(f"SSML <say-as interpret-as={kind!r}>: cannot read {text!r} as one")


def _date(text: str, form: str) -> str:
    """A date of numbers in the order ``form`` names ("mdy": 12/25/2020, "ymd": 2020-12-25, ...)."""
    if form not in DATE_FORMATS:
        raise InvalidText(f"SSML <say-as interpret-as='date' format={form!r}>: one of {', '.join(DATE_FORMATS)}")
    parts = re.split(r"[/.-]", text)
    if len(parts) != len(form) or not all(part.isdigit() for part in parts):
        _bad("date", text)
    value = {field: int(part) for field, part in zip(form, parts)}
    if "m" not in value:
        return year_words(value["y"])
    return date_words(value["m"], value.get("d"), value.get("y")) or _bad("date", text)


def _merged(plan: list[Say | Pause | Mark]) -> list[Say | Pause | Mark]:
    """Adjacent text under the same prosody read as one piece (one generation, no seam), the
    marks between its parts kept as places in its text; adjacent pauses summed."""
    out: list[Say | Pause | Mark] = []
    for item in plan:
        if isinstance(item, Say):
            names: list[str] = []
            while out and isinstance(out[-1], Mark):  # marks since the last thing said or paused
                names.insert(0, out.pop().name)
            last = out[-1] if out else None
            if isinstance(last, Say) and last.reads_as(item):
                at = len(last.text) + 1
                out[-1] = replace(item, text=f"{last.text} {item.text}",
                                  marks=last.marks + tuple((at, n) for n in names) + tuple((at + c, n) for c, n in item.marks))
                continue
            out.extend(Mark(n) for n in names)
            out.append(item)
        elif isinstance(item, Pause) and out and isinstance(out[-1], Pause) and not (item.bleep or out[-1].bleep):
            out[-1] = Pause(out[-1].seconds + item.seconds)
        elif not (isinstance(item, Pause) and item.seconds == 0):
            out.append(item)
    return out
