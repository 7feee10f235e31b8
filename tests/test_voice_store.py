"""serve.voice_store: clients' voices kept in a folder, shared by the servers that use it, whole
or not at all. The prompt maker here records what it was given (the server's makes codec codes,
tests/test_tts_server.py); the files, renames and refusals are the store's own."""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest

from serve.rpc import AlreadyExists, ModelNotFound, Overloaded, Raced, Unwritable
from serve.voice_store import VoiceStore
from tts.synthesize import VoicePrompt

SR = 24000


class Maker:
    """A prompt per recording: its samples, kept as given (what a restart must give again)."""

    def __init__(self) -> None:
        self.made: list[np.ndarray] = []

    def __call__(self, model: str, wav: np.ndarray, transcript: str) -> VoicePrompt:
        if not transcript.strip():
            raise ValueError("a voice prompt needs the transcript of its audio")
        self.made.append(wav)
        return VoicePrompt(codes=[wav.tobytes()], transcript=transcript)


def store(folder, limit: int = 3) -> tuple[VoiceStore, Maker]:
    maker = Maker()
    return VoiceStore(folder, limit, maker, {"tts": SR}), maker


def noise(seed: int) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal(SR // 2)).astype(np.float32)


def test_voices_outlive_the_store_and_are_shared_through_the_folder(tmp_path):
    one, _ = store(tmp_path)
    other, made = store(tmp_path)  # another server process on the same folder
    one.add("tts", "mine", noise(0), "hello there", "my voice")
    assert other.descriptions("tts") == {"mine": "my voice"} and not made.made  # listed without making its prompt
    got = other.get("tts", "mine")
    assert (got.transcript, got.description) == ("hello there", "my voice")
    np.testing.assert_array_equal(made.made[-1], noise(0))  # read back as it was sent: the same prompt
    assert other.get("tts", "mine") is got and len(made.made) == 1  # read once, then from memory
    one.add("tts", "mine", noise(1), "a quiet bridge", replace=True)
    assert other.get("tts", "mine").transcript == "a quiet bridge"  # replaced there: read again here
    np.testing.assert_array_equal(made.made[-1], noise(1))
    one.delete("tts", "mine")
    assert other.get("tts", "mine") is None and other.names("tts") == []
    restarted, _ = store(tmp_path)
    restarted.add("tts", "yours", noise(2), "hi")
    assert store(tmp_path)[0].get("tts", "yours").transcript == "hi" and sorted(p.name for p in tmp_path.iterdir()) == ["tts"]


def test_refusals_keep_nothing(tmp_path):
    kept, _ = store(tmp_path, limit=2)
    kept.add("tts", "a", noise(0), "hi")
    with pytest.raises(AlreadyExists, match="'a' already exists"):
        kept.add("tts", "a", noise(1), "hi")
    with pytest.raises(ValueError, match="transcript"):  # the prompt is made before anything is written
        kept.add("tts", "b", noise(1), " ")
    for bad in ("", ".hidden", "../a", "a/b", "x" * 65):
        with pytest.raises(ValueError, match="letters, digits"):
            kept.add("tts", bad, noise(1), "hi")
    kept.add("tts", "b", noise(1), "hi")
    with pytest.raises(Overloaded, match="at most 2 custom voices"):
        store(tmp_path, limit=2)[0].add("tts", "c", noise(2), "hi")  # counted from the folder: all processes'
    kept.add("tts", "b", noise(3), "hey", replace=True)  # a replacement is not one more
    with pytest.raises(ModelNotFound, match=r"custom voice 'c' not found \(have: a, b\)"):
        kept.delete("tts", "c")
    assert sorted(p.name for p in (tmp_path / "tts").iterdir()) == ["a", "b"]


def test_a_write_cut_short_leaves_no_voice(tmp_path):
    """A server killed while writing (or deleting) leaves a dotted folder: no voice, swept at the
    next start once a minute old (a younger one may be another server's write under way)."""
    kept, _ = store(tmp_path)
    kept.add("tts", "a", noise(0), "hi")
    half, busy = tmp_path / "tts" / ".new-b-0000", tmp_path / "tts" / ".new-c-0000"
    for folder in (half, busy):
        folder.mkdir()
        (folder / "recording.wav").write_bytes(b"RIFF")
    os.utime(half, (time.time() - 120, time.time() - 120))
    (tmp_path / "tts" / "notes.txt").write_text("not a voice")  # a file someone left: not listed
    assert kept.names("tts") == ["a"] and kept.get("tts", ".new-b-0000") is None
    store(tmp_path)
    assert sorted(p.name for p in (tmp_path / "tts").iterdir()) == [".new-c-0000", "a", "notes.txt"]


def test_a_folder_it_cannot_write_is_said_in_one_line(tmp_path):
    """A voice the disk will not take: Unwritable (INTERNAL) naming the folder; nothing kept."""
    kept, _ = store(tmp_path)
    (tmp_path / "tts").write_text("not a folder")  # as a full or read-only disk refuses (root writes past modes)
    with pytest.raises(Unwritable, match=r"could not keep voice 'a' in .*tts: .*Not a directory"):
        kept.add("tts", "a", noise(0), "hi")
    assert kept.get("tts", "a") is None and kept.names("tts") == []


def test_without_a_folder_voices_live_in_memory():
    kept, made = store(None, limit=1)
    kept.add("tts", "a", noise(0), "hi", "about a")
    assert kept.get("tts", "a").transcript == "hi" and kept.descriptions("tts") == {"a": "about a"} and len(made.made) == 1
    with pytest.raises(Overloaded):
        kept.add("tts", "b", noise(1), "hi")
    kept.delete("tts", "a")
    assert kept.get("tts", "a") is None


def test_servers_racing_on_one_voice_never_break_it(tmp_path):
    """Four stores on one folder (servers sharing --voice-dir), two threads each, making,
    replacing, deleting and reading four names at once: each call keeps a voice, finds it, or
    is refused as taken, gone, or raced (retry); never a half-read voice or an OS error, and
    nothing is left behind. Interleavings vary run to run; each has ended so for a correct store
    (the first version of this store failed every run of this test: 25-42 errors)."""
    stores, failures = [store(tmp_path, limit=50)[0] for _ in range(4)], []

    def work(seed: int) -> None:
        rng, kept = np.random.default_rng(seed), stores[seed % 4]
        for _ in range(120):
            name, op = f"v{rng.integers(4)}", rng.random()
            try:
                if op < 0.4:
                    kept.add("tts", name, noise(int(rng.integers(3))), "hi", replace=bool(rng.random() < 0.5))
                elif op < 0.7:
                    kept.delete("tts", name)
                elif (voice := kept.get("tts", name)) is not None:
                    assert voice.transcript == "hi"
            except (AlreadyExists, ModelNotFound, Raced):
                pass
            except Exception as err:  # noqa: BLE001 - anything else is the failure this test looks for
                failures.append(repr(err))

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    left = sorted(p.name for p in (tmp_path / "tts").iterdir())
    assert all(not name.startswith(".") for name in left)
    assert all(kept.get("tts", name) is not None for kept in stores for name in left)
