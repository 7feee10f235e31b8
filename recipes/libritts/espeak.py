"""espeak-ng for the mini corpus: the ``espeak-ng`` program (Debian's package), or its library
from PyPI's ``espeakng-loader`` wheel where no program is installed.

The wheel is self-contained (one shared library and its data, no audio-device libraries), so a
machine without a package manager, or with no network, can still make the corpus: a training
lease is sent the wheel instead of Debian packages and their dependencies. The two engines
list the same kinds of voices and take the same settings; the library (espeak-ng 1.52) is a
newer espeak-ng than Debian 12's (1.51), so its audio is close to, not equal to, the program's.
"""

from __future__ import annotations

import ctypes
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from codec.errors import CodecError

# espeak-ng's speak_lib.h
AUDIO_OUTPUT_SYNCHRONOUS, CHARS_UTF8 = 0x02, 0x01
RATE, VOLUME, PITCH = 1, 2, 3  # espeak_PARAMETER
GENDERS = {1: "M", 2: "F"}


class _Voice(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("languages", ctypes.c_char_p), ("identifier", ctypes.c_char_p),
                ("gender", ctypes.c_ubyte), ("age", ctypes.c_ubyte), ("variant", ctypes.c_ubyte),
                ("xx1", ctypes.c_ubyte), ("score", ctypes.c_int), ("spare", ctypes.c_void_p)]


_SAMPLES = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class EspeakProgram:
    """The ``espeak-ng`` command."""

    name = "espeak-ng program"

    def voices(self, language: str) -> list[tuple[str, str, str]]:
        """(language name, voice file, gender M/F/-) of every voice ``espeak-ng --voices=language`` lists."""
        out = subprocess.run(["espeak-ng", f"--voices={language}"], capture_output=True, text=True, check=True).stdout
        found = []
        for line in out.splitlines()[1:]:
            m = re.match(r"\s*\d+\s+(\S+)\s+\S*/([MF-])\s+.*?\s(\S+/\S+)(\s{2,}|\s*$)", line)
            if m:
                found.append((m.group(1), m.group(3), m.group(2)))
        return found

    def speak(self, text: str, voice: str, speed: int, pitch: int, amplitude: int) -> tuple[np.ndarray, int]:
        """float32 mono audio and its sample rate."""
        with tempfile.TemporaryDirectory() as tmp:
            raw = Path(tmp) / "said.wav"
            cmd = ["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-a", str(amplitude), "-w", str(raw),
                   "--stdin"]
            subprocess.run(cmd, input=text, text=True, check=True, capture_output=True)
            x, sr = sf.read(raw, dtype="float32")
        return x, sr


class EspeakLibrary:
    """libespeak-ng through ctypes, from the ``espeakng-loader`` wheel. One per process (the
    library keeps global state): initialized on first use, so a forked worker starts its own."""

    name = "espeak-ng library (espeakng-loader)"

    def __init__(self) -> None:
        import espeakng_loader

        self._path, self._data = espeakng_loader.get_library_path(), espeakng_loader.get_data_path()
        self._lib = None
        self._chunks: list[np.ndarray] = []
        self._callback = _SAMPLES(self._collect)  # kept alive as long as the library may call it

    def _collect(self, samples, n: int, events) -> int:
        if n > 0:
            self._chunks.append(np.ctypeslib.as_array(samples, (n,)).copy())
        return 0

    def _open(self):
        if self._lib is None:
            lib = ctypes.CDLL(self._path)
            lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_Voice))
            self.sample_rate = lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, self._data.encode(), 0)
            if self.sample_rate <= 0:
                raise RuntimeError(f"libespeak-ng could not start with its data at {self._data}")
            lib.espeak_SetSynthCallback(self._callback)
            self._lib = lib
        return self._lib

    def voices(self, language: str) -> list[tuple[str, str, str]]:
        lib = self._open()
        spec = _Voice(languages=language.encode())
        listed = lib.espeak_ListVoices(ctypes.byref(spec))
        found, i = [], 0
        while listed[i]:
            v = listed[i].contents
            name = v.languages[1:].decode()  # a priority byte, then the voice's first language
            found.append((name, v.identifier.decode(), GENDERS.get(v.gender, "-")))
            i += 1
        return found

    def speak(self, text: str, voice: str, speed: int, pitch: int, amplitude: int) -> tuple[np.ndarray, int]:
        lib = self._open()
        # as the program's -v: a voice by name or file, else by language ("en-gb+klatt")
        if lib.espeak_SetVoiceByName(voice.encode()) != 0 and \
                lib.espeak_SetVoiceByProperties(ctypes.byref(_Voice(languages=voice.encode()))) != 0:
            raise ValueError(f"espeak-ng has no voice {voice!r}")
        for parameter, value in ((RATE, speed), (PITCH, pitch), (VOLUME, amplitude)):
            lib.espeak_SetParameter(parameter, value, 0)
        self._chunks = []
        said = text.encode()
        if lib.espeak_Synth(said, len(said) + 1, 0, 0, 0, CHARS_UTF8, None, None) != 0:
            raise RuntimeError(f"espeak-ng could not speak {text!r}")
        x = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)
        return (x / 32768.0).astype(np.float32), self.sample_rate


def find_engine(choice: str = "auto") -> EspeakProgram | EspeakLibrary:
    """``program``, ``library`` or ``auto`` (the program where installed, else the library)."""
    if choice in ("auto", "program") and shutil.which("espeak-ng"):
        return EspeakProgram()
    if choice in ("auto", "library"):
        try:
            return EspeakLibrary()
        except ImportError:
            pass
    how = {"program": "install Debian's espeak-ng (make system-deps)", "library": "pip install espeakng-loader"}
    raise CodecError(f"no espeak-ng {'' if choice == 'auto' else choice + ' '}here: "
                       + " or ".join(v for k, v in how.items() if choice in ("auto", k)))
