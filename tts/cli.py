"""``tts-cli``: synthesize speech from text with a trained model; prepare training data.

    tts-cli synthesize "Hello there." -o hello.wav [--model DIR] [--voice ref.wav --voice-text "..."]
    tts-cli synthesize "Hello there." -o - --stream | aplay -f S16_LE -r 24000   # raw PCM as generated
    tts-cli synthesize - -o story.wav < story.ssml                               # text or SSML from stdin
    tts-cli voices; tts-cli synthesize "Hello there." -o hello.wav --voice speaker1028   # a bundled voice
    tts-cli export-onnx models/tts [--quantize int8]
    tts-cli encode-corpus data/mini/manifests/train.jsonl exp/tts/tokens/train.safetensors
    tts-cli train-tokenizer data/mini/manifests/train.jsonl exp/tts/tokenizer.json

Errors are one line on stderr with a non-zero exit, as in codec-cli.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path
from typing import Iterator, Sequence

from codec.errors import CodecError, run_cli

from .pretrained import bundled_voices, find_tts_dir, load_tts

# A recording of a new voice is cut to its first words within this many seconds (README: Voice prompts).
DEFAULT_VOICE_SECONDS = 3.0


def cmd_export_onnx(args: argparse.Namespace) -> None:
    from .model import TtsModel
    from .onnx_export import export_tts

    directory = find_tts_dir(str(args.model_dir))
    paths = export_tts(TtsModel.from_pretrained(directory), directory, quantize_int8=args.quantize == "int8")
    print(f"{directory}: wrote {', '.join(p.name for p in paths)}", file=sys.stderr)


def _check_args(args: argparse.Namespace) -> None:
    """Refuse bad --voice* and --speaking-rate options before any model loads."""
    from .lines import check_batch_options
    from .synthesize import check_batch
    from .time_stretch import MAX_FACTOR, MIN_FACTOR, check_reshape

    check_batch(args.batch, args.context)
    check_batch_options(args.out_dir, args.resume, args.word_times, args.marks)
    if args.as_it_comes and (args.text != "-" or args.out_dir):
        raise CodecError("--as-it-comes reads the text from stdin (-) into one output (-o)")
    if args.as_it_comes and args.marks:
        raise CodecError("--marks times SSML's marks, and --as-it-comes reads plain text")
    if not MIN_FACTOR <= args.speaking_rate <= MAX_FACTOR:
        raise CodecError(f"--speaking-rate must be {MIN_FACTOR:g} to {MAX_FACTOR:g}, got {args.speaking_rate:g}")
    try:
        check_reshape(args.speaking_rate, args.pitch)
    except ValueError as err:
        raise CodecError(f"--{err}") from None
    if args.voice_seconds is not None and args.voice_seconds < 0:
        raise CodecError(f"--voice-seconds must be >= 0, got {args.voice_seconds}")
    if args.voice_pace != "model":
        try:
            pace = float(args.voice_pace)
        except ValueError:
            raise CodecError(f"--voice-pace must be 'model' or characters per second, got {args.voice_pace!r}") from None
        if pace < 0:
            raise CodecError(f"--voice-pace must be >= 0, got {args.voice_pace}")


def _voice_source(args: argparse.Namespace) -> tuple[Path, str, bool]:
    """--voice as (audio file, transcript, whether it is the model's own voice): a recording of
    the user's, which needs --voice-text, or the name of one of the model's voices, which brings
    its own transcript."""
    path = Path(args.voice)
    if path.is_file():
        if not args.voice_text:
            raise CodecError("--voice needs --voice-text (the transcript of the reference audio)")
        return path, args.voice_text, False
    voices = bundled_voices(find_tts_dir(args.model))
    if str(args.voice) not in voices:
        raise CodecError(f"--voice {args.voice}: no such file, and the model has no voice of that name "
                         f"(have: {', '.join(voices) or 'none'}; tts-cli voices)")
    wav, transcript = voices[str(args.voice)]
    return wav, args.voice_text or transcript, True


def _voice_prompt(args: argparse.Namespace, synth, source: tuple[Path, str, bool] | None):
    """--voice as the model will read it: cut to --voice-seconds, paced to --voice-pace
    ("model": the rate it trained on, if it recorded one)."""
    from codec import audio

    from .verify import load_verifier
    from .voice_pace import speaking_rate

    if source is None:
        return None
    pace = (synth.model.cfg.chars_per_second if args.voice_pace == "model" else float(args.voice_pace)) or None
    path, transcript, own = source
    reference = audio.load(path, synth.sample_rate)
    seconds = args.voice_seconds if args.voice_seconds is not None else 0.0 if own else DEFAULT_VOICE_SECONDS
    cut = seconds if len(reference) > seconds * synth.sample_rate > 0 else None
    if cut and synth.verifier is None:  # the verifier's recognizer also finds where to cut a long voice prompt
        try:
            synth.verifier = load_verifier(args.verifier, args.backend, args.threads)
        except CodecError as err:
            if args.verifier:  # asked for: its absence is an error
                raise
            print(f"tts-cli: note: voice prompt kept whole: {err}", file=sys.stderr)  # the default cut is a nicety
            cut = None
    voice = synth.voice_from_audio(reference, transcript, cut, pace=pace)
    if cut:
        print(f"tts-cli: voice prompt cut from {len(reference) / synth.sample_rate:.1f} s to its first words within "
              f"{cut:g} s: {voice.transcript!r} (--voice-seconds 0 keeps it whole)", file=sys.stderr)
    if pace:
        rate = speaking_rate(voice.transcript, len(voice.codes) / synth.model.cfg.codec_frame_rate)
        print(f"tts-cli: voice prompt played x{voice.stretch:.2f} as long: {rate:.1f} characters/s, aiming at {pace:g} "
              "(--voice-pace)", file=sys.stderr)
    return voice


def _write_stdout(chunk) -> None:
    from codec import audio

    sys.stdout.buffer.write(audio.to_pcm16(chunk))
    sys.stdout.buffer.flush()


def cmd_synthesize(args: argparse.Namespace) -> None:
    from tqdm import tqdm

    from .generate import SamplingConfig
    from .lines import unwritten, utterance_lines
    from .respell import load_dictionary, respell
    from .synthesize import Synthesizer
    from .verify import load_verifier

    _check_args(args)
    source = _voice_source(args) if args.voice else None  # a bad --voice fails before any model loads
    text = "" if args.as_it_comes else sys.stdin.read() if args.text == "-" else args.text
    said = load_dictionary(args.dictionary) if args.dictionary else {}
    jobs = utterance_lines(text, args.out_dir, said) if args.out_dir else [(args.output, text)]  # before a model loads
    if args.resume and not (jobs := unwritten(jobs, args.out_dir)):
        return
    named = _named_voices(args, [respell(line, said) for _, line in jobs])  # SSML's <voice name>s, before a model loads
    if said:  # the texts (not the ids; as they are read), and the voice prompt's transcript: its audio says them so
        source = source and (source[0], respell(source[1], said), source[2])
        named = {name: (wav, respell(transcript, said), own) for name, (wav, transcript, own) in named.items()}
    sampling = SamplingConfig(temperature=args.temperature, top_k=args.top_k, top_p=args.top_p, seed=args.seed,
                              greedy=args.greedy, cfg_scale=args.cfg_scale, best_of=args.best_of,
                              search_seconds=args.search_seconds, search_beams=args.search_beams)
    model, tokenizer = load_tts(args.model, args.backend, args.threads, args.quantize == "int8")
    synth = Synthesizer(model, tokenizer, backend=args.backend, context=args.context, batch=args.batch)
    if args.best_of > 1 or args.word_times or args.marks:  # word times: the verifier's recognizer finds the words
        synth.verifier = load_verifier(args.verifier, args.backend, args.threads)
    voice = _voice_prompt(args, synth, source)
    voices = {name: _voice_prompt(args, synth, named_source) for name, named_source in named.items()}
    start, seconds, firsts = time.perf_counter(), 0.0, []
    for dst, line in tqdm(jobs, desc="synthesize", unit="line", disable=len(jobs) < 2, file=sys.stderr):
        if args.as_it_comes:  # the text comes from stdin, piece by piece
            length, first = _say_as_it_comes(synth, said, voice, sampling, args, dst)
        else:
            length, first = _say(synth, respell(line, said), voice, sampling, args, dst, voices, line)
        seconds, firsts = seconds + length, firsts + [first]
    lines = f" in {len(jobs)} files under {args.out_dir}" if args.out_dir else ""
    print(f"{seconds:.2f} s of audio{lines}, first audio after {firsts[0]:.3f} s, real-time factor "
          f"{(time.perf_counter() - start) / max(seconds, 1e-9):.3f}", file=sys.stderr)


def _named_voices(args: argparse.Namespace, texts: list[str]) -> dict[str, tuple[Path, str, bool]]:
    """The model's voices that SSML texts name (``<voice name>``), as ``_voice_source`` gives them."""
    from .ssml import Say, is_ssml, parse_ssml

    names = dict.fromkeys(item.voice for text in texts if is_ssml(text) for item in parse_ssml(text)
                          if isinstance(item, Say) and item.voice)
    if not names:
        return {}
    voices = bundled_voices(find_tts_dir(args.model))
    for name in names:
        if name not in voices:
            raise CodecError(f"SSML <voice name={name!r}>: the model has no voice of that name "
                             f"(have: {', '.join(voices) or 'none'}; tts-cli voices)")
    return {name: (*voices[name], True) for name in names}


def _say(synth, text: str, voice, sampling, args: argparse.Namespace, dst: Path,
         voices: dict | None = None, written: str | None = None) -> tuple[float, float]:
    """One text into ``dst`` (written as the audio comes, appearing only when complete; - is raw
    PCM16 on stdout), with its word times if asked, each word's place in ``written`` (the text
    before pronunciations respelled it): (seconds of audio, time to first audio)."""
    from codec import audio

    from .mark_times import mark_times, marked
    from .ssml import is_ssml
    from .text_spans import word_spans
    from .word_times import WordTimer

    start, first, samples = time.perf_counter(), None, 0
    sentences, marks = ([], []) if args.word_times or args.marks else (None, None)
    spans = word_spans(written or text, synth.sentences(text, long_form=True), is_ssml(text)) if args.word_times else None
    timer = None if marks is None else WordTimer(synth.sample_rate, synth.verifier.recognizer,
                                                 wanted=None if args.word_times else marked(marks), spans=spans)
    with contextlib.ExitStack() as stack:
        write = _write_stdout if str(dst) == "-" else stack.enter_context(audio.writer(dst, synth.sample_rate))
        for chunk in synth.stream(text, voice, sampling, chunk_frames=args.chunk_frames if args.stream else 1 << 30,
                                  speaking_rate=args.speaking_rate, long_form=True, sentences=sentences, marks=marks,
                                  pitch=args.pitch,
                                  voices=voices):
            first = first or time.perf_counter() - start
            write(chunk)
            samples += len(chunk)
            if timer is not None:  # each sentence's words found once it is played, its audio then let go
                timer.push(chunk, sentences)
    if timer is not None:
        words = timer.finish()
        timed = mark_times(synth.sample_rate, marks, samples, words)
        if args.word_times:
            _write_words(args.word_times, words, timed)
        if args.marks:
            _write_words(args.marks, [], timed)
    return samples / synth.sample_rate, first or 0.0


def _write_words(path: str, words: list, marks: list = ()) -> None:
    from .word_times import write_json

    write_json(path, words, marks)
    said = [f"{len(words)} word times"] * bool(words) + [f"{len(marks)} marks"] * bool(marks or not words)
    print(f"tts-cli: {' and '.join(said)} -> {path}", file=sys.stderr)


def _say_as_it_comes(synth, said: dict[str, str], voice, sampling, args: argparse.Namespace,
                     dst: Path) -> tuple[float, float]:
    """stdin's text read as it arrives (``tts.text_stream``) into ``dst``: each sentence once the
    next begins, as one request of the whole text would say it; ``said`` (pronunciations) respells
    each piece. (seconds of audio, time to first audio)."""
    from codec import audio

    from .respell import respell
    from .ssml import is_ssml
    from .text import InvalidText
    from .text_stream import SentenceBuffer, arriving
    from .word_times import TimedReading, WordTimer

    buffer, written = SentenceBuffer(), []

    def pieces() -> Iterator[str]:
        for text in arriving(sys.stdin):
            written.append(text)
            yield from buffer.push(text)
        yield from buffer.finish()

    start, first, samples = time.perf_counter(), None, 0
    timer = WordTimer(synth.sample_rate, synth.verifier.recognizer) if args.word_times else None
    going_on = TimedReading(synth.continuation(voice, sampling, args.chunk_frames, speaking_rate=args.speaking_rate,
                                               pitch=args.pitch), timer)
    with contextlib.ExitStack() as stack:
        write = _write_stdout if str(dst) == "-" else stack.enter_context(audio.writer(dst, synth.sample_rate))
        for piece in pieces():
            if is_ssml(piece):
                raise InvalidText("--as-it-comes reads plain text; SSML is read whole (without --as-it-comes)")
            for chunk, _ in going_on.say(respell(piece, said), "".join(written)):
                first = first or time.perf_counter() - start
                write(chunk)
                samples += len(chunk)
        if not going_on.said:
            raise InvalidText("stdin had nothing to say (no letters or numbers)")
    if timer is not None:
        _write_words(args.word_times, timer.finish())
    return samples / synth.sample_rate, first or 0.0


def cmd_normalize(args: argparse.Namespace) -> None:
    """What the model will read: each sentence as normalized (numbers, dates, measures... in
    words, pronunciations applied), one per line, and SSML's pauses, prosody, voices and
    marks; no model loads."""
    from .mark_times import marks_in_text
    from .ssml import Mark, Pause
    from .synthesize import text_plan
    from .text import normalize, split_sentences

    text = sys.stdin.read() if args.text == "-" else args.text
    if args.dictionary:
        from .respell import load_dictionary, respell

        text = respell(text, load_dictionary(args.dictionary))
    for item in text_plan(text):  # as tts-cli synthesize reads it (long form)
        if isinstance(item, Pause):
            print(f"[{'bleep' if item.bleep else 'pause'} {item.seconds:.2f} s]")
            continue
        if isinstance(item, Mark):
            print(f"[mark {item.name}]")
            continue
        prosody = "".join([f" rate {item.rate:g}" if item.rate != 1 else "",
                           f" {item.volume_db:+g} dB" if item.volume_db else "",
                           f" voice {item.voice}" if item.voice else ""])
        marks = marks_in_text(item, 0)
        for k, sentence in enumerate(split_sentences(normalize(item.text))):
            words = sentence.split()
            for m in reversed([m for m in marks if m.sentence == k]):  # from the last: the places before hold
                words.insert(m.word, f"[mark {m.name}]")
            print(" ".join(words) + (f"\t[{prosody.strip()}]" if prosody else ""))


def cmd_voices(args: argparse.Namespace) -> None:
    """The model's bundled voices: name, length and what each says."""
    import soundfile as sf

    voices = bundled_voices(find_tts_dir(args.model))
    if not voices:
        print(f"{find_tts_dir(args.model)}: no bundled voices", file=sys.stderr)
    for name, (wav, transcript) in voices.items():
        print(f"{name}\t{sf.info(wav).duration:.1f} s\t{transcript}")


def cmd_encode_corpus(args: argparse.Namespace) -> None:
    from codec.pretrained import load_codec

    from .data import encode_corpus

    encode_corpus(args.manifest, load_codec(args.codec), args.output, speeds=args.speeds)


def cmd_sample_tokens(args: argparse.Namespace) -> None:
    from .data import sample_tokens

    kept = sample_tokens(args.tokens, args.output, args.fraction, args.seed)
    print(f"kept {kept} utterances -> {args.output}", file=sys.stderr)


def cmd_draw_preferences(args: argparse.Namespace) -> None:
    from .generate import SamplingConfig
    from .preference import draw_pairs
    from .synthesize import Synthesizer
    from .verify import load_verifier

    if args.candidates < 2:
        raise SystemExit(f"error: --candidates must be at least 2 (a best and a worst), got {args.candidates}")
    if args.device != "cpu" and args.backend != "torch":
        raise SystemExit(f"error: --device {args.device} runs the TTS with torch: give --backend torch too")
    model, tokenizer = load_tts(args.model, args.backend, args.threads)
    if args.device != "cpu":  # generation only; the codec and the verifier stay on the CPU
        try:
            model = model.to(args.device)
        except (RuntimeError, AssertionError) as e:  # no such device, or a torch built without it
            raise SystemExit(f"error: --device {args.device}: {str(e).splitlines()[0]}") from None
    verifier = load_verifier(args.verifier, args.backend, args.threads)
    synth = Synthesizer(model, tokenizer, backend=args.backend)  # draw_pairs scores with the verifier itself
    sampling = SamplingConfig(temperature=args.temperature, top_k=args.top_k, top_p=args.top_p)
    counts = draw_pairs(args.tokens, args.output, synth, verifier, args.candidates, args.limit, args.seed,
                        args.min_gap, sampling, shard=args.shard)
    print(f"{counts['pairs']} pairs -> {args.output} ({counts['close']} too close to tell apart, "
          f"{counts['skipped']} skipped)", file=sys.stderr)


def cmd_merge_pairs(args: argparse.Namespace) -> None:
    from .preference import merge_pairs

    n = merge_pairs(args.output, args.inputs)
    print(f"{n} pairs from {len(args.inputs)} files -> {args.output}", file=sys.stderr)


def shard_spec(text: str) -> tuple[int, int]:
    try:
        index, shards = (int(v) for v in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected K/N such as 0/4, got {text!r}") from None
    if not 0 <= index < shards:
        raise argparse.ArgumentTypeError(f"expected K/N with 0 <= K < N, got {text!r}")
    return index, shards


def speed_list(text: str) -> tuple[float, ...]:
    try:
        speeds = tuple(float(s) for s in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers such as 0.9,1.0,1.1, got {text!r}") from None
    return speeds  # encode_corpus refuses factors <= 0


def cmd_train_tokenizer(args: argparse.Namespace) -> None:
    from codec.data import read_manifest

    from .text import TextTokenizer, train_tokenizer

    texts = [r["text"] for r in read_manifest(args.manifest) if r.get("text")]
    TextTokenizer(train_tokenizer(texts, args.vocab_size)).save(args.output)


def build_parser() -> argparse.ArgumentParser:
    from .lines import RESUME_HELP
    from .synthesize import CONTEXTS

    parser = argparse.ArgumentParser(prog="tts-cli", description="Text to speech over codec tokens")
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("synthesize", help="text -> wav")
    s.add_argument("text", help="what to say: plain text or SSML (<speak>...</speak>); - reads it from stdin")
    where = s.add_mutually_exclusive_group(required=True)
    where.add_argument("-o", "--output", type=Path, help="wav/flac/ogg file, or - for raw PCM16 on stdout")
    where.add_argument("--out-dir", type=Path, metavar="DIR",
                       help="one utterance per line of the text, each to DIR/ID.wav (a line: 'ID<tab>text' or text, "
                            "numbered 0001, ...); each line sounds as it would alone")
    s.add_argument("--resume", action="store_true",
                   help=RESUME_HELP)
    s.add_argument("--model", help="TTS model directory or bundled name (default: tts)")
    s.add_argument("--voice", help="reference audio whose voice to continue, or the name of one of the model's "
                                   "voices (tts-cli voices)")
    s.add_argument("--voice-text", help="transcript of --voice (a model's voice brings its own)")
    s.add_argument("--voice-seconds", type=float,
                   help=f"a longer --voice keeps only its first words within this many seconds, cut between words the "
                        f"--verifier finds (new voices read far better after short prompts); 0: keep it whole. Default: "
                        f"{DEFAULT_VOICE_SECONDS:g} for a recording, whole for one of the model's voices (it trained on "
                        f"them: they read better whole)")
    s.add_argument("--voice-pace", default="0",
                   help="stretch --voice in time (pitch kept) to this many characters per second before the model reads "
                        "it, or 'model': the rate it trained on (new voices then start reading in the right place; "
                        "training voices read worse, README); 0 (default): as recorded")
    s.add_argument("--speaking-rate", type=float, default=1.0,
                   help="play the speech this many times as fast, pitch kept (0.5 to 2; WSOLA, streams too)")
    s.add_argument("--pitch", type=float, default=0.0,
                   help="this many semitones higher (or lower), -12 to 12 (stretched and resampled; streams too)")
    s.add_argument("--context", choices=CONTEXTS, default="voice",
                   help="what the second and later sentences are prompted with: the voice prompt again, the previous "
                        "sentence's text and codes (the model goes on from where it was)")
    s.add_argument("--batch", type=int, default=1, metavar="N",
                   help="sentences generated together, as one batch (faster for long text; --context voice only)")
    s.add_argument("--word-times", type=Path, metavar="FILE.json",
                   help="also write when each word is said (captions; found by --verifier's recognizer) and each "
                        "SSML <mark> is reached")
    s.add_argument("--marks", type=Path, metavar="FILE.json",
                   help="also write when each SSML <mark> is reached, without the words (only the sentences holding "
                        "marks are aligned)")
    s.add_argument("--stream", action="store_true", help="decode and emit audio every --chunk-frames frames")
    s.add_argument("--as-it-comes", action="store_true",
                   help="with - : read stdin's text as it arrives (a language model's answer piped in), each sentence "
                        "spoken once the next begins; with -o - the audio plays as it is made")
    s.add_argument("--chunk-frames", type=int, default=10)
    s.add_argument("--temperature", type=float, default=0.8)
    s.add_argument("--top-k", type=int, default=50)
    s.add_argument("--top-p", type=float, default=0.95)
    s.add_argument("--greedy", action="store_true")
    s.add_argument("--cfg-scale", type=float,
                   help="classifier-free guidance on the text, 1 = off (default: the model's cfg_scale)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--best-of", type=int, default=1,
                   help="candidates per sentence; the one --verifier hears say the text best is kept (whole sentences "
                        "then stream at once)")
    s.add_argument("--dictionary", metavar="FILE",
                   help="pronunciations: a word, two spaces (or a tab), how to say it, one per line (tts.respell; "
                        "Riva's custom_dictionary format), e.g. 'Nguyen  win'")
    s.add_argument("--search-seconds", type=float,
                   help="with --best-of: every this many seconds of speech, keep the candidates the verifier hears "
                        "on track and let copies of them go on (tts.search; default 0.5); 0 = plain best of N")
    s.add_argument("--search-beams", type=int, default=0,
                   help="candidates kept at each --search-seconds check (default: a quarter of --best-of)")
    s.add_argument("--verifier", help="CTC recognizer directory or bundled name for --best-of and --word-times "
                                      "(default: asr_verifier; "
                                      "its asr.onnx where exported)")
    s.add_argument("--backend", choices=("auto", "onnx", "torch"), default="auto",
                   help="auto: ONNX Runtime where exported graphs exist, else torch (TTS and codec)")
    s.add_argument("--threads", type=int)
    s.add_argument("--quantize", choices=("int8",), help="use the int8 TTS graph")
    s.set_defaults(func=cmd_synthesize)
    n = sub.add_parser("normalize", help="print what the model will read: each sentence in words (no model loads)")
    n.add_argument("text", help="plain text or SSML; - reads it from stdin")
    n.add_argument("--dictionary", metavar="FILE", help="pronunciations, as synthesize --dictionary")
    n.set_defaults(func=cmd_normalize)
    v = sub.add_parser("voices", help="list the model's bundled voices (synthesize --voice NAME)")
    v.add_argument("--model", help="TTS model directory or bundled name (default: tts)")
    v.set_defaults(func=cmd_voices)
    x = sub.add_parser("export-onnx", help="write tts.onnx (and tts.int8.onnx) next to the weights")
    x.add_argument("model_dir", type=Path)
    x.add_argument("--quantize", choices=("int8",))
    x.set_defaults(func=cmd_export_onnx)
    e = sub.add_parser("encode-corpus", help="manifest -> cached codec tokens (safetensors)")
    e.add_argument("manifest", type=Path)
    e.add_argument("output", type=Path)
    e.add_argument("--codec", default="distilcodec")
    e.add_argument("--speeds", type=speed_list, default=(1.0,), metavar="S,S,...",
                   help="speed perturbation: also encode copies played S times as fast, as voices of "
                        "their own (e.g. 0.9,1.0,1.1; default 1.0: the corpus as recorded)")
    e.set_defaults(func=cmd_encode_corpus)
    m = sub.add_parser("sample-tokens", help="a seeded share of a token file's utterances (to fit a training machine)")
    m.add_argument("tokens", type=Path)
    m.add_argument("output", type=Path)
    m.add_argument("--fraction", type=float, required=True, help="the share of utterances kept, in (0, 1]")
    m.add_argument("--seed", type=int, default=0)
    m.set_defaults(func=cmd_sample_tokens)
    d = sub.add_parser("draw-preferences", help="token file -> (chosen, rejected) renditions the verifier tells "
                                                "apart, for preference training (python -m tts.preference)")
    d.add_argument("tokens", type=Path, help="a token file of training utterances (tts-cli encode-corpus)")
    d.add_argument("output", type=Path, help="pairs file, written every 25 utterances; one drawn with the same "
                                            "settings and model is continued where it stopped")
    d.add_argument("--model", help="TTS model directory or bundled name (default: tts)")
    d.add_argument("--verifier", help="CTC recognizer that scores the renditions (default: asr_verifier)")
    d.add_argument("--candidates", type=int, default=8, help="renditions per utterance; its best and worst are a pair")
    d.add_argument("--limit", type=int, help="utterances drawn (a seeded choice; default: all)")
    d.add_argument("--min-gap", type=float, default=0.05,
                   help="least score difference (nats per character) between best and worst that makes a pair")
    d.add_argument("--temperature", type=float, default=0.8)
    d.add_argument("--top-k", type=int, default=50)
    d.add_argument("--top-p", type=float, default=0.95)
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--shard", type=shard_spec, default=(0, 1), metavar="K/N",
                   help="draw only every N-th utterance from the K-th (N processes at once; tts-cli merge-pairs joins them)")
    d.add_argument("--backend", choices=("auto", "onnx", "torch"), default="auto")
    d.add_argument("--device", default="cpu", help="where the TTS generates with --backend torch (e.g. cuda)")
    d.add_argument("--threads", type=int)
    d.set_defaults(func=cmd_draw_preferences)
    j = sub.add_parser("merge-pairs", help="join pairs files of one codec (draw-preferences shards, or rounds) into one")
    j.add_argument("output", type=Path)
    j.add_argument("inputs", type=Path, nargs="+")
    j.set_defaults(func=cmd_merge_pairs)
    t = sub.add_parser("train-tokenizer", help="manifest texts -> BPE tokenizer.json")
    t.add_argument("manifest", type=Path)
    t.add_argument("output", type=Path)
    t.add_argument("--vocab-size", type=int, default=1024)
    t.set_defaults(func=cmd_train_tokenizer)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_cli("tts-cli", lambda: args.func(args))


if __name__ == "__main__":
    sys.exit(main())
