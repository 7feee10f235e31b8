"""What best-of-N synthesis costs on the serving path: the bundled TTS on ONNX Runtime with a
bundled voice, N candidates per sentence in one batch, each rendered by the codec and scored
by the ONNX verifier (``tts.verify``), against N = 1 measured in the same run.

    python benchmarks/best_of.py [--tts tts --verifier asr_verifier] [--n 1 2 4 8] [--int8] [--threads 2]
                                 [--search 0.5] [--text "A sentence." ...]

RTF = seconds spent / seconds of audio kept. "choosing" is the rendering and scoring of the
candidates (the rest is generation; with ``--search S``, rows searched every S seconds follow,
``tts.search``, whose checks count as generation; "checks" is the verifier hearing the live rows,
all in one recognizer run, and again with each row heard on its own as the baseline). Sampling
is the serving default, seeds fixed, so every N sees the same sentences; lengths differ with
what is sampled, hence RTF.

A second table times the rendering alone on the same candidates: the voice prompt decoded
once and each candidate from a fork of that stream (what ``Synthesizer`` does) against a
fresh decoder stream per candidate, each decoding the prompt again (the baseline).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from codec import audio  # noqa: E402
from tts.pretrained import bundled_voices, find_tts_dir, load_tts  # noqa: E402
from tts.sampling import SamplingConfig  # noqa: E402
from tts.synthesize import Synthesizer  # noqa: E402
from tts.verify import load_verifier  # noqa: E402

SENTENCES = ["The old mill stood by the river for a hundred years.",
             "She carried the basket home before the rain began.",
             "A quiet bridge crossed the valley below the town."]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tts", default="tts")
    p.add_argument("--verifier", default="asr_verifier")
    p.add_argument("--n", nargs="+", type=int, default=[1, 2, 4, 8])
    p.add_argument("--int8", action="store_true")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--search", type=float, default=0.0, help="also each N > 1 searched every this many seconds")
    p.add_argument("--text", nargs="+", default=SENTENCES, help="the sentences (default: three of ~2.4 s)")
    args = p.parse_args()
    model, tokenizer = load_tts(args.tts, "onnx", args.threads, args.int8)
    verifier = load_verifier(args.verifier, "onnx", args.threads)
    synth = Synthesizer(model, tokenizer, backend="onnx", verifier=verifier)
    name, (wav, transcript) = next(iter(bundled_voices(find_tts_dir(args.tts)).items()), (None, (None, "")))
    voice = synth.voice_from_audio(audio.load(wav, synth.sample_rate), transcript) if name else None
    choose, checks, candidates, searching = [0.0], [0.0], {}, [False]
    plain_choose, plain_on_track = synth._choose, verifier.on_track

    def timed_choose(runs, *a, **k):  # rendering and scoring the candidates; the rest is generation
        start = time.perf_counter()
        out = plain_choose(runs, *a, **k)
        choose[0] += time.perf_counter() - start
        if not searching[0]:  # a search's pool holds more than N
            candidates.setdefault(len(runs), runs)  # each N's first sentence, for the rendering table
        return out

    def timed_on_track(*a, **k):  # a search's checks
        start = time.perf_counter()
        out = plain_on_track(*a, **k)
        checks[0] += time.perf_counter() - start
        return out

    synth._choose, verifier.on_track = timed_choose, timed_on_track
    batched = getattr(verifier.recognizer, "batched", False)
    synth.synthesize("Warm up.", voice, SamplingConfig(seed=0, best_of=2))
    rows = []
    ways = dict.fromkeys([batched, False])  # the live rows heard in one run, then one by one (the baseline)
    searched = [(n, args.search, together) for n in args.n if n > 1 and args.search for together in ways]
    for n, search, together in [(n, 0.0, batched) for n in args.n] + searched:
        choose[0], checks[0], spent, kept, searching[0] = 0.0, 0.0, 0.0, 0.0, bool(search)
        if hasattr(verifier.recognizer, "batched"):
            verifier.recognizer.batched = together
        for i, text in enumerate(args.text):
            start = time.perf_counter()
            wav = synth.synthesize(text, voice, SamplingConfig(seed=i, best_of=n, search_seconds=search))
            spent += time.perf_counter() - start
            kept += len(wav) / synth.sample_rate
        heard = "" if together else ", rows heard one by one"
        rows.append((f"{n}, searched every {search:g} s{heard}" if search else n, spent, kept, choose[0], checks[0]))
    graph = "int8" if args.int8 else "fp32"
    print(f"{args.tts} ({graph}) + {args.verifier}, ONNX Runtime, {args.threads} threads, {len(args.text)} sentences, "
          f"voice {name or 'none'}")
    print("| best of | seconds | audio kept (s) | RTF | choosing (s) | checks (s) | time vs best of 1 |")
    print("|---|---|---|---|---|---|---|")
    for n, spent, kept, chose, heard in rows:
        print(f"| {n} | {spent:.2f} | {kept:.1f} | {spent / kept:.3f} | {chose:.2f} | {heard:.2f} "
              f"| {spent / rows[0][1]:.2f}x |")
    render_table(synth, voice, candidates)


def render_table(synth: Synthesizer, voice, candidates: dict[int, list]) -> None:
    """Rendering N candidates after the voice prompt: forks of one warm stream vs a fresh stream each."""
    def fresh(runs):
        return [synth._decoder(voice).push(synth._codes(run))[0] for run in runs if run]

    def best_of_5(fn, runs) -> float:
        times = []
        for _ in range(5):
            start = time.perf_counter()
            fn(runs)
            times.append(time.perf_counter() - start)
        return min(times)

    prompt = len(voice.codes) / synth.model.cfg.codec_frame_rate if voice else 0.0
    print(f"\nrendering the first sentence's candidates after a {prompt:.1f} s voice prompt (best of 5 runs)")
    print("| candidates | audio (s) | fresh stream each (ms) | forks of one warm stream (ms) | speed-up |")
    print("|---|---|---|---|---|")
    for n, runs in sorted(candidates.items()):
        seconds = sum(map(len, runs)) / synth.model.cfg.codec_frame_rate
        base, forked = best_of_5(fresh, runs), best_of_5(lambda r: synth._render_candidates(r, voice), runs)
        print(f"| {n} | {seconds:.1f} | {base * 1000:.0f} | {forked * 1000:.0f} | {base / forked:.2f}x |")


if __name__ == "__main__":
    main()
