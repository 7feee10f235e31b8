"""Reading text of many sentences with the sentences generated together (``Synthesizer(batch=N)``)
against one at a time, measured in the same run: speed, time to first audio, and the judge's
word error rate (batching changes the draws, not what is drawn from).

    python benchmarks/tts_batch.py [--tts tts] [--asr models/asr] [--batch 1 2 4 8] [--texts 3 --sentences 8]
                                   [--int8] [--threads 2]

The bundled TTS on ONNX Runtime with its first bundled voice, the serving defaults (sampling,
guidance), seeds fixed; each text is one request of ``--sentences`` sentences made by the
corpus generator (words the model knows, sentences it never read). RTF = seconds spent /
seconds of audio. WER: the bundled CTC recognizer (``models/asr``) snapped to the corpus's
words, on each text's audio against the text, pooled over the texts.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from codec import audio  # noqa: E402
from tts.asr import CtcRecognizer, Lexicon  # noqa: E402
from tts.pretrained import bundled_voices, find_tts_dir, load_tts  # noqa: E402
from tts.sampling import SamplingConfig  # noqa: E402
from tts.synthesize import Synthesizer  # noqa: E402
from tts.text import normalize  # noqa: E402
from tts.wer import word_error_rate  # noqa: E402


def corpus_like(n: int, seed: int) -> list[str]:
    """``n`` sentences like the training corpus's (its generator: words the model knows)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "recipes" / "libritts"))
    from make_mini_corpus import sentence_pool

    return [text for text, _ in sentence_pool(n, random.Random(seed))]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tts", default="tts")
    p.add_argument("--asr", default="models/asr")
    p.add_argument("--batch", nargs="+", type=int, default=[1, 2, 4, 8])
    p.add_argument("--texts", type=int, default=3)
    p.add_argument("--sentences", type=int, default=8, help="per text")
    p.add_argument("--int8", action="store_true")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    model, tokenizer = load_tts(args.tts, "onnx", args.threads, args.int8)
    judge = CtcRecognizer.from_pretrained(args.asr).eval()
    name, (wav, transcript) = next(iter(bundled_voices(find_tts_dir(args.tts)).items()), (None, (None, "")))
    pool = corpus_like(args.texts * args.sentences, seed=20261206)  # sentences it never read
    requests = [" ".join(pool[i : i + args.sentences]) for i in range(0, len(pool), args.sentences)]
    lexicon = Lexicon(corpus_like(3000, seed=0))  # the corpus's vocabulary, as evaluate_tts.py snaps to
    rows = []
    for batch in args.batch:
        synth = Synthesizer(model, tokenizer, backend="onnx", batch=batch)
        voice = synth.voice_from_audio(audio.load(wav, synth.sample_rate), transcript) if name else None
        synth.synthesize("Warm up.", voice, SamplingConfig(seed=0))
        spent, seconds, firsts, heard = 0.0, 0.0, [], []
        for i, text in enumerate(requests):
            start, first, chunks = time.perf_counter(), None, []
            for chunk in synth.stream(text, voice, SamplingConfig(seed=i)):
                first = first or time.perf_counter() - start
                chunks.append(chunk)
            spent += time.perf_counter() - start
            said = np.concatenate(chunks)
            seconds += len(said) / synth.sample_rate
            firsts.append(first)
            heard.append(lexicon.snap(judge.transcribe(said, synth.sample_rate)))
        wer = word_error_rate([normalize(t) for t in requests], heard)
        rows.append((batch, spent, seconds, sorted(firsts)[len(firsts) // 2], wer))
    graph = "int8" if args.int8 else "fp32"
    print(f"{args.tts} ({graph}), ONNX Runtime, {args.threads} threads, {len(requests)} texts of {args.sentences} sentences, voice {name or 'none'}\n")
    print("| sentences together | seconds | audio (s) | RTF | first audio p50 (s) | WER | speed vs 1 |")
    print("|---|---|---|---|---|---|---|")
    for batch, spent, seconds, first, wer in rows:
        base = rows[0][1] / rows[0][2]
        print(f"| {batch} | {spent:.1f} | {seconds:.1f} | {spent / seconds:.3f} | {first:.2f} | {100 * wer:.1f}% "
              f"| {base / (spent / seconds):.2f}x |")


if __name__ == "__main__":
    main()
