"""Voices of the clients' own (``CreateVoice``, ``POST /v1/audio/voices``): a recording and its
transcript kept under a name, then said as ``voice_name`` like the model's own voices, so a
client that clones a voice sends its recording once, not with every request.

With a folder (``--voice-dir``) a voice is ``DIR/<model>/<name>/`` holding ``recording.wav``
(float, at the model's rate: the prompt made again after a restart is the same) and
``voice.json`` (transcript, description), and where the server asks for consent
(``tts.consent``) ``consent.wav`` and what was checked (``voice.json``'s ``consent``). It is
written under a dotted name and renamed into place, and taken away by a rename to a dotted
name first, so a voice is there whole or not at all, even for a server killed mid-write;
dotted leftovers over a minute old are swept at start. Server processes that share the folder (``--reuse-port``) share the voices: a name not in
memory is looked for on disk, and one in memory whose folder changed (deleted, or replaced by
another process) is read again; a request pays one ``stat`` for that. Voices made, replaced
and deleted by several processes at once stay whole (reads and renames retried, ``Raced``
after ``RETRIES``). Without a folder, voices live in memory.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import secrets
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from codec import audio as audio_io
from codec.errors import CodecError, describe
from serve.rpc import AlreadyExists, ModelNotFound, Overloaded, Raced, Unwritable
from tts.consent import Consent
from tts.synthesize import VoicePrompt

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
RECORDING, META, CONSENT = "recording.wav", "voice.json", "consent.wav"
RETRIES = 3  # reads and writes raced by another process's change of the same voice
LEFTOVER_S = 60.0  # a dotted folder this old is a write or delete that was cut short


@dataclass(frozen=True)
class CustomVoice:
    name: str
    model: str
    transcript: str
    description: str
    prompt: VoicePrompt
    stamp: tuple[int, int] = (0, 0)  # its folder's (inode, ctime) when read; a new folder differs


def check_name(name: str) -> None:
    if not NAME.fullmatch(name):
        raise ValueError(f"voice name {name!r} must be 1 to 64 letters, digits, '_', '-' or '.', starting with a "
                         "letter or digit")


class VoiceStore:
    """The custom voices of every model: ``make(model, wav, transcript)`` turns a recording into
    its prompt (``TtsRegistry``: cut and paced as a request's own recording is); ``rates`` is each
    model's sample rate, ``limit`` the most voices kept (all models together)."""

    def __init__(self, directory: Path | None, limit: int, make: Callable[[str, np.ndarray, str], VoicePrompt],
                 rates: dict[str, int]) -> None:
        self.directory, self.limit, self.make, self.rates = directory, limit, make, rates
        self.voices: dict[tuple[str, str], CustomVoice] = {}
        self.lock = threading.Lock()  # one add or delete at a time in this process
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
            for leftover in directory.glob("*/.*"):  # a write or delete cut short (not one under way elsewhere)
                with contextlib.suppress(FileNotFoundError):
                    if time.time() - leftover.stat().st_mtime > LEFTOVER_S:
                        shutil.rmtree(leftover, ignore_errors=True)

    def get(self, model: str, name: str) -> CustomVoice | None:
        """The voice, read from the folder when it is new here or changed there; None if there is
        none. Another process may replace or delete it while it is read: then it is read again."""
        held = self.voices.get((model, name))
        if self.directory is None or not NAME.fullmatch(name):
            return held
        folder = self._folder(model, name)
        for _ in range(RETRIES):
            if (stamp := _stamp(folder)) is None:
                self.voices.pop((model, name), None)
                return None
            if held is not None and held.stamp == stamp:
                return held
            try:
                return self._read(model, name, folder, stamp)
            except (OSError, CodecError):
                if _stamp(folder) == stamp:  # unchanged: a broken voice, not one changing
                    raise
        raise Raced(f"voice {name!r} kept changing while it was read (another server replacing it); retry")

    def names(self, model: str) -> list[str]:
        if self.directory is None:
            return sorted(name for m, name in self.voices if m == model)
        folder = self.directory / model
        return sorted(p.name for p in folder.iterdir() if NAME.fullmatch(p.name) and p.is_dir()) if folder.is_dir() else []

    def descriptions(self, model: str) -> dict[str, str]:
        """Each voice's description, by name: read from its ``voice.json`` (no prompt is made)."""
        if self.directory is None:
            return {name: self.voices[(model, name)].description for name in self.names(model)}
        found = {}
        for name in self.names(model):
            try:
                found[name] = json.loads((self._folder(model, name) / META).read_text()).get("description", "")
            except FileNotFoundError:  # deleted meanwhile
                pass
        return found

    def count(self) -> int:
        if self.directory is None:
            return len(self.voices)
        return sum(len(self.names(model.name)) for model in self.directory.iterdir() if model.is_dir())

    def add(self, model: str, name: str, wav: np.ndarray, transcript: str, description: str = "",
            replace: bool = False, consent: tuple[np.ndarray, Consent] | None = None) -> CustomVoice:
        """Keep a new voice (its prompt is made first: a recording that makes none stores nothing);
        ``consent``: its speaker's consent recording and what was checked, kept beside it."""
        check_name(name)
        prompt = self.make(model, wav, transcript)
        with self.lock:
            taken = self._exists(model, name)
            if taken and not replace:
                raise AlreadyExists(f"voice {name!r} already exists (send replace to replace it)")
            if not taken and self.count() >= self.limit:
                raise Overloaded(f"this server keeps at most {self.limit} custom voices (--max-voices); delete one first")
            voice = CustomVoice(name, model, transcript, description, prompt)
            if self.directory is not None:
                voice = self._write(voice, wav, replace, consent)
            self.voices[(model, name)] = voice
            return voice

    def delete(self, model: str, name: str) -> None:
        with self.lock:
            if not self._exists(model, name):
                raise ModelNotFound(f"custom voice {name!r} not found (have: {', '.join(self.names(model)) or 'none'})")
            if self.directory is not None:
                _remove(self._folder(model, name))
            self.voices.pop((model, name), None)

    def _exists(self, model: str, name: str) -> bool:
        """Whether the voice is kept: a ``stat`` with a folder (``get`` would read another
        process's voice and make its prompt, 20-450 ms, only to replace or delete it)."""
        if self.directory is None:
            return (model, name) in self.voices
        return NAME.fullmatch(name) is not None and _stamp(self._folder(model, name)) is not None

    def _folder(self, model: str, name: str) -> Path:
        return self.directory / model / name

    def _read(self, model: str, name: str, folder: Path, stamp: tuple[int, int]) -> CustomVoice:
        meta = json.loads((folder / META).read_text())
        wav = audio_io.load(folder / RECORDING, self.rates[model])
        voice = CustomVoice(name, model, meta["transcript"], meta.get("description", ""),
                            self.make(model, wav, meta["transcript"]), stamp)
        self.voices[(model, name)] = voice
        return voice

    def _write(self, voice: CustomVoice, wav: np.ndarray, replace: bool,
               consent: tuple[np.ndarray, Consent] | None) -> CustomVoice:
        """The voice's folder, written aside and renamed into place (over the old one's, with ``replace``)."""
        folder = self._folder(voice.model, voice.name)
        fresh = folder.with_name(f".new-{voice.name}-{secrets.token_hex(4)}")
        meta = {"transcript": voice.transcript, "description": voice.description}
        try:
            fresh.mkdir(parents=True)
            if consent is not None:
                audio_io.save(fresh / CONSENT, consent[0], self.rates[voice.model], subtype="FLOAT")
                meta["consent"] = consent[1].record()
            (fresh / META).write_text(json.dumps(meta))
            audio_io.save(fresh / RECORDING, wav, self.rates[voice.model], subtype="FLOAT")
            for _ in range(RETRIES):
                if replace:
                    _remove(folder)
                try:
                    os.rename(fresh, folder)
                    break
                except OSError as err:
                    if err.errno not in (errno.ENOTEMPTY, errno.EEXIST):  # not another process's voice there
                        raise
                    if not replace and folder.is_dir():  # another process made it first (else: gone again)
                        raise AlreadyExists(f"voice {voice.name!r} already exists (send replace to replace it)") from None
            else:  # another process's came back each time
                raise Raced(f"voice {voice.name!r} kept being made by another server meanwhile; retry")
        except (AlreadyExists, Raced):
            raise
        except (OSError, CodecError) as err:  # CodecError: the recording could not be written
            raise Unwritable(f"could not keep voice {voice.name!r} in {folder.parent}: {describe(err)}") from None
        finally:
            shutil.rmtree(fresh, ignore_errors=True)
        # deleted by another process already: (0, 0), which no folder has, so the next ``get`` looks
        stamp = _stamp(folder) or (0, 0)
        return CustomVoice(voice.name, voice.model, voice.transcript, voice.description, voice.prompt, stamp)


def _stamp(folder: Path) -> tuple[int, int] | None:
    """The folder's (inode, ctime): a folder written anew differs. None when there is none."""
    try:
        st = os.stat(folder)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return st.st_ino, st.st_ctime_ns


def _remove(folder: Path) -> None:
    """Take a voice's folder away at once (a rename), then delete its files."""
    gone = folder.with_name(f".old-{folder.name}-{secrets.token_hex(4)}")
    try:
        os.rename(folder, gone)
    except FileNotFoundError:
        return
    except OSError as err:
        raise Unwritable(f"could not delete voice {folder.name!r} in {folder.parent}: {describe(err)}") from None
    shutil.rmtree(gone, ignore_errors=True)
