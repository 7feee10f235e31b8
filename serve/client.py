"""A small Python client for the speech service and the ``speech-client`` CLI.

    speech-client encode speech.wav -o speech.codes [--server 127.0.0.1:50051] [--stream]
    speech-client decode speech.codes -o speech.wav [--stream]
    speech-client synthesize "Hello there." -o hello.wav [--stream] [--voice NAME |
                             --voice-audio ref.wav --voice-text "what ref.wav says"]
                             [--best-of N] [--word-times words.json] [--marks marks.json]
    speech-client voices
    speech-client info
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import grpc
import numpy as np

from serve import wire
from serve.gen.speech.v1 import speech_pb2 as pb
from serve.gen.speech.v1 import speech_pb2_grpc as pb_grpc
from serve.tls import read_certificates
from serve.turns import Interrupts, Turn

DEFAULT_SERVER = "127.0.0.1:50051"


class SpeechClient:
    """Codec and text-to-speech RPCs with numpy in and out; one channel, reused."""

    def __init__(self, target: str = DEFAULT_SERVER, token: str | None = None, tls_ca: bytes | None = None,
                 timeout: float | None = 300.0) -> None:
        self.channel = open_channel(grpc, target, tls_ca)
        self.codec = pb_grpc.CodecStub(self.channel)
        self.tts = pb_grpc.TextToSpeechStub(self.channel)
        self.metadata, self.timeout = bearer(token), timeout

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> "SpeechClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _call(self, method, request, **kw):
        return method(request, timeout=kw.pop("timeout", self.timeout), metadata=self.metadata, **kw)

    def model_info(self, model: str = "") -> pb.ModelInfo:
        return self._call(self.codec.GetModelInfo, pb.GetModelInfoRequest(model=model))

    def encode(self, wav: np.ndarray, sample_rate: int, model: str = "", bandwidth_kbps: float = 0.0) -> pb.Codes:
        return self._call(self.codec.Encode, encode_request(wav, sample_rate, model, bandwidth_kbps)).codes

    def encode_file(self, path: Path, model: str = "", bandwidth_kbps: float = 0.0) -> pb.Codes:
        audio = pb.Audio(data=Path(path).read_bytes(), encoding=pb.ENCODING_UNSPECIFIED)
        return self._call(self.codec.Encode, pb.EncodeRequest(audio=audio, model=model, bandwidth_kbps=bandwidth_kbps)).codes

    def decode(self, codes: pb.Codes, sample_rate: int = 0) -> tuple[np.ndarray, int]:
        resp = self._call(self.codec.Decode, decode_request(codes, sample_rate))
        return np.frombuffer(resp.audio.data, "<f4"), resp.audio.sample_rate_hz

    def encode_stream(self, chunks: Iterable[np.ndarray], sample_rate: int, model: str = "",
                      bandwidth_kbps: float = 0.0) -> Iterator[np.ndarray]:
        """Float32 audio chunks -> code chunks [Q, f] as the server completes frames."""
        def requests():
            yield pb.EncodeStreamRequest(config=pb.StreamingConfig(model=model, encoding=pb.FLOAT32_PCM, sample_rate_hz=sample_rate,
                                                                   bandwidth_kbps=bandwidth_kbps))
            for chunk in chunks:
                yield pb.EncodeStreamRequest(audio_content=np.ascontiguousarray(chunk, "<f4").tobytes())

        for resp in self._call(self.codec.EncodeStream, requests()):
            yield wire.codes_from_proto(resp.codes)[0]

    def decode_stream(self, chunks: Iterable[np.ndarray], model: str = "", sample_rate: int = 0) -> Iterator[np.ndarray]:
        """Code chunks [Q, f] -> float32 audio chunks."""
        def requests():
            yield pb.DecodeStreamRequest(config=pb.StreamingConfig(model=model, encoding=pb.FLOAT32_PCM, sample_rate_hz=sample_rate))
            for c in chunks:
                yield pb.DecodeStreamRequest(codes=wire.codes_to_proto(np.asarray(c), model, ""))

        for resp in self._call(self.codec.DecodeStream, requests()):
            yield np.frombuffer(resp.audio.data, "<f4")


    # -- text to speech -----------------------------------------------------------------
    def voices(self) -> list[str]:
        return [v.name for v in self._call(self.tts.ListVoices, pb.ListVoicesRequest()).voices]

    def consent_statement(self) -> str:
        """What a speaker must say for the server to make a voice of theirs ("": no consent asked)."""
        return self._call(self.tts.ListVoices, pb.ListVoicesRequest()).consent_statement

    def create_voice(self, name: str, recording: Path, transcript: str, description: str = "", model: str = "",
                     replace: bool = False, consent: Path | None = None) -> pb.Voice:
        """Keep a voice of one's own on the server (a recording file and what it says), said
        after as ``voice=name``; ``consent``: see ``voice_request``."""
        return self._call(self.tts.CreateVoice, voice_request(name, recording, transcript, description, model, replace,
                                                              consent))

    def delete_voice(self, name: str, model: str = "") -> None:
        self._call(self.tts.DeleteVoice, pb.DeleteVoiceRequest(name=name, model=model))

    def synthesize(self, text: str, timepoints: list | None = None, **options) -> tuple[np.ndarray, int]:
        """Whole utterance (float32, rate). ``timepoints``: a list that each SSML mark's
        ``Timepoint`` is appended to (Google's enable_time_pointing). Options: see ``synthesis_request``."""
        resp = self._call(self.tts.Synthesize, synthesis_request(text, timepoints=timepoints is not None, **options))
        if timepoints is not None:
            timepoints.extend(resp.timepoints)
        return np.frombuffer(resp.audio, "<f4").copy(), resp.sample_rate_hz

    def synthesize_words(self, text: str, timepoints: list | None = None,
                         **options) -> tuple[np.ndarray, int, list[pb.WordTime]]:
        """``synthesize`` and when each word is said (the server needs --tts-verifier);
        ``timepoints``: a list that each SSML mark's ``Timepoint`` is appended to."""
        resp = self._call(self.tts.Synthesize, synthesis_request(text, word_times=True, **options))
        if timepoints is not None:
            timepoints.extend(resp.timepoints)
        return np.frombuffer(resp.audio, "<f4").copy(), resp.sample_rate_hz, list(resp.words)

    def synthesize_stream(self, text: str, chunk_ms: int = 0, words: list | None = None,
                          timepoints: list | None = None, **options) -> Iterator[tuple[np.ndarray, int]]:
        """Audio chunks (float32, rate) as the server generates them; the first one is small.
        ``words``: a list that each word's ``WordTime`` is appended to (each sentence's come with
        the audio after it; the server needs --tts-verifier); ``timepoints``: likewise each SSML
        mark's ``Timepoint`` once known (a mark inside text needs the verifier)."""
        request = synthesis_request(text, chunk_ms=chunk_ms, word_times=words is not None,
                                    timepoints=timepoints is not None, **options)
        for resp in self._call(self.tts.SynthesizeStream, request):
            if words is not None:
                words.extend(resp.words)
            if timepoints is not None:
                timepoints.extend(resp.timepoints)
            yield np.frombuffer(resp.audio, "<f4").copy(), resp.sample_rate_hz

    def synthesize_text_stream(self, texts: Iterable[str | Turn], chunk_ms: int = 0, words: list | None = None,
                               flushed: Callable[[], Any] | None = None, **options) -> Iterator[tuple[np.ndarray, int]]:
        """Audio chunks (float32, rate) of text sent as it comes (``texts``: a language model's
        tokens, say): each sentence is spoken once the next one begins, the rest when ``texts`` ends.
        ``words``: a list that each sentence's ``WordTime``s are appended to as they come.
        ``serve.turns.FLUSH`` among the texts ends a turn (its text read now, sentence end or not);
        ``INTERRUPT`` stops what is being said: no audio of it comes after, and the texts that
        follow are read as a new stream. ``flushed()`` is called once a FLUSH's turn is all out
        (after its last chunk): a voice agent's cue that it has finished speaking."""
        interrupts = Interrupts()

        def requests() -> Iterator[pb.SynthesizeTextStreamRequest]:
            yield pb.SynthesizeTextStreamRequest(config=synthesis_request("", chunk_ms=chunk_ms,
                                                                          word_times=words is not None, **options))
            for text in texts:
                yield interrupts.request(text)

        for resp in self._call(self.tts.SynthesizeTextStream, requests()):
            if not interrupts.wanted(resp):
                continue
            if words is not None:
                words.extend(resp.words)
            yield np.frombuffer(resp.audio, "<f4").copy(), resp.sample_rate_hz
            if resp.flushed and flushed is not None:
                flushed()


def open_channel(module, target: str, tls_ca: bytes | None):
    """A channel of ``module`` (``grpc`` or ``grpc.aio``): TLS against ``tls_ca`` when given. It
    takes answers of any size: the server bounds its own (--max-message-mb), where gRPC's 4 MB
    default refused a long text's whole audio (44 s of float32) or a long file's decoding."""
    options = [("grpc.max_receive_message_length", -1)]
    if tls_ca is not None:
        return module.secure_channel(target, grpc.ssl_channel_credentials(root_certificates=tls_ca), options=options)
    return module.insecure_channel(target, options=options)


def bearer(token: str | None) -> list[tuple[str, str]] | None:
    return [("authorization", f"Bearer {token}")] if token else None


def encode_request(wav: np.ndarray, sample_rate: int, model: str = "", bandwidth_kbps: float = 0.0) -> pb.EncodeRequest:
    audio = pb.Audio(data=np.ascontiguousarray(wav, "<f4").tobytes(), encoding=pb.FLOAT32_PCM, sample_rate_hz=sample_rate)
    return pb.EncodeRequest(audio=audio, model=model, bandwidth_kbps=bandwidth_kbps)


def decode_request(codes: pb.Codes, sample_rate: int = 0) -> pb.DecodeRequest:
    return pb.DecodeRequest(codes=codes, encoding=pb.FLOAT32_PCM, sample_rate_hz=sample_rate)


def synthesis_request(text: str, voice: str = "", voice_audio: Path | None = None, voice_text: str = "",
                      seed: int = 0, temperature: float = 0.0, top_p: float = 0.0, model: str = "",
                      sample_rate: int = 0, chunk_ms: int = 0, cfg_scale: float = 0.0,
                      speaking_rate: float = 0.0, word_times: bool = False, best_of: int = 0,
                      custom_dictionary: str = "", volume_gain_db: float = 0.0,
                      timepoints: bool = False, pitch: float = 0.0) -> pb.SynthesizeSpeechRequest:
    """A Riva-style request: a bundled ``voice`` name or a reference recording (file bytes) +
    its transcript; zero sampling values mean the server's defaults. ``best_of``: candidates per
    sentence, the server's verifier keeps one. ``custom_dictionary``: pronunciations (``tts.respell``).
    ``timepoints``: when each SSML mark is reached (``word_times`` gives them too)."""
    zero_shot = None
    if voice_audio is not None:
        zero_shot = pb.ZeroShotData(audio_prompt=Path(voice_audio).read_bytes(), encoding=pb.WAV, transcript=voice_text)
    return pb.SynthesizeSpeechRequest(text=text, encoding=pb.FLOAT32_PCM, sample_rate_hz=sample_rate, voice_name=voice,
                                      zero_shot_data=zero_shot, seed=seed, temperature=temperature, top_p=top_p,
                                      model=model, chunk_ms=chunk_ms, cfg_scale=cfg_scale, speaking_rate=speaking_rate,
                                      word_times=word_times, best_of=best_of, custom_dictionary=custom_dictionary,
                                      volume_gain_db=volume_gain_db, pitch=pitch,
                                      enable_time_pointing=[pb.SSML_MARK] if timepoints else [])


def voice_request(name: str, recording: Path, transcript: str, description: str = "", model: str = "",
                  replace: bool = False, consent: Path | None = None) -> pb.CreateVoiceRequest:
    """A voice of one's own: a recording file (any the server reads) and what it says; where
    the server asks for consent (``SpeechClient.consent_statement``), ``consent``: a recording of the
    same speaker saying that statement."""
    return pb.CreateVoiceRequest(name=name, recording=pb.ZeroShotData(
        audio_prompt=Path(recording).read_bytes(), encoding=pb.WAV, transcript=transcript),
        consent=pb.ZeroShotData(audio_prompt=Path(consent).read_bytes() if consent else b""),
        model=model, description=description, replace=replace)


def _codes_file_write(path: Path, codes: pb.Codes, info: pb.ModelInfo) -> None:
    from codec import container

    container.write(path, *wire.codes_file(codes, info))


def _codes_file_read(path: Path) -> pb.Codes:
    from codec import container

    return wire.codes_from_file(*container.read(path))


def main(argv: Sequence[str] | None = None) -> int:
    from tts.lines import RESUME_HELP

    p = argparse.ArgumentParser(prog="speech-client", description="Client for speech-server")
    p.add_argument("--server", default=DEFAULT_SERVER)
    p.add_argument("--token", help="bearer token")
    p.add_argument("--tls-ca", type=Path, help="CA certificate (PEM) for a TLS server")
    sub = p.add_subparsers(dest="command", required=True)
    enc = sub.add_parser("encode", help="audio file -> .codes")
    enc.add_argument("input", type=Path)
    enc.add_argument("-o", "--output", type=Path, required=True)
    enc.add_argument("--model", default="")
    enc.add_argument("--bandwidth", type=float, default=0.0)
    enc.add_argument("--stream", action="store_true", help="use EncodeStream (1 s messages: any length of file)")
    dec = sub.add_parser("decode", help=".codes -> wav")
    dec.add_argument("input", type=Path)
    dec.add_argument("-o", "--output", type=Path, required=True)
    dec.add_argument("--stream", action="store_true", help="use DecodeStream (frame chunks)")
    syn = sub.add_parser("synthesize", help="text -> wav")
    syn.add_argument("text", help="plain text or SSML; - reads it from stdin")
    where = syn.add_mutually_exclusive_group(required=True)
    where.add_argument("-o", "--output", type=Path)
    where.add_argument("--out-dir", type=Path, metavar="DIR",
                       help="one request per line of the text, each to DIR/ID.wav (a line: 'ID<tab>text' or text, "
                            "numbered 0001, ...)")
    syn.add_argument("--resume", action="store_true",
                     help=RESUME_HELP)
    syn.add_argument("--stream", action="store_true", help="use SynthesizeStream (prints time to first audio)")
    syn.add_argument("--as-it-comes", action="store_true",
                     help="with -: send stdin's text as it arrives (a language model's answer piped in), each sentence "
                          "spoken once the next begins (SynthesizeTextStream; prints time to first audio)")
    syn.add_argument("--voice", default="", help="a voice from `speech-client voices`")
    syn.add_argument("--voice-audio", type=Path, help="reference recording to continue the voice of")
    syn.add_argument("--voice-text", default="", help="what --voice-audio says")
    syn.add_argument("--seed", type=int, default=0)
    syn.add_argument("--temperature", type=float, default=0.0)
    syn.add_argument("--cfg-scale", type=float, default=0.0, help="guidance on the text, 1 = off (0: the model's)")
    syn.add_argument("--speaking-rate", type=float, default=0.0, help="0.5 to 2 times as fast, pitch kept (0: 1)")
    syn.add_argument("--volume-gain-db", type=float, default=0.0, help="louder (or softer) by this many dB, -96 to 16")
    syn.add_argument("--pitch", type=float, default=0.0, help="this many semitones higher (or lower), -12 to 12")
    syn.add_argument("--model", default="")
    syn.add_argument("--sample-rate", type=int, default=0)
    syn.add_argument("--best-of", type=int, default=0,
                     help="candidates per sentence, the server's verifier keeps the one it hears best "
                          "(needs speech-server --tts-verifier; at most its --max-best-of)")
    syn.add_argument("--dictionary", type=Path, metavar="FILE",
                     help="pronunciations sent with the request: a word, two spaces, how to say it, one per line")
    syn.add_argument("--word-times", type=Path, metavar="FILE.json",
                     help="also write when each word is said and each SSML <mark> is reached (the server needs "
                          "--tts-verifier)")
    syn.add_argument("--marks", type=Path, metavar="FILE.json",
                     help="also write when each SSML <mark> is reached, without the words (a mark inside text "
                          "needs the server's --tts-verifier)")
    sub.add_parser("voices", help="list the server's voices")
    add = sub.add_parser("add-voice", help="keep a voice of your own on the server: a recording and what it says")
    add.add_argument("name")
    add.add_argument("recording", type=Path, help="an audio file, up to 30 s")
    add.add_argument("--text", required=True, help="what the recording says")
    add.add_argument("--description", default="")
    add.add_argument("--model", default="")
    add.add_argument("--replace", action="store_true", help="replace your voice of that name")
    add.add_argument("--consent", type=Path, help="a recording of the same speaker saying the server's consent "
                                                  "statement (speech-client consent prints it), where it asks for one")
    sub.add_parser("consent", help="the statement a speaker must say for add-voice (nothing: no consent asked)")
    delete = sub.add_parser("delete-voice", help="delete a voice added with add-voice")
    delete.add_argument("name")
    delete.add_argument("--model", default="")
    sub.add_parser("info", help="model info")
    args = p.parse_args(argv)
    from codec import audio
    from codec.errors import CodecError
    from codec.typed_config import ConfigError

    try:
        ca = read_certificates(args.tls_ca, "--tls-ca") if args.tls_ca else None
        with SpeechClient(args.server, args.token, ca) as client:
            if args.command == "info":
                print(client.model_info())
            elif args.command == "voices":
                print("\n".join(client.voices()))
            elif args.command == "consent":
                print(client.consent_statement())
            elif args.command == "add-voice":
                made = client.create_voice(args.name, args.recording, args.text, args.description, args.model, args.replace,
                                           args.consent)
                print(f"voice {made.name!r} kept for model {made.model!r}: say with --voice {made.name}")
            elif args.command == "delete-voice":
                client.delete_voice(args.name, args.model)
            elif args.command == "synthesize":
                _synthesize(client, args)
            elif args.command == "encode":
                info = client.model_info(args.model)  # the stream's rate and the file header's model
                codes = _encode_stream(client, args, info) if args.stream else client.encode_file(args.input, args.model, args.bandwidth)
                _codes_file_write(args.output, codes, info if info.name == codes.model else client.model_info(codes.model))
            elif args.stream:
                _decode_stream(client, _codes_file_read(args.input), args.output)
            else:
                wav, rate = client.decode(_codes_file_read(args.input))
                audio.save(args.output, wav, rate)
    except grpc.RpcError as err:
        print(f"speech-client: error: {err.code().name}: {err.details()}", file=sys.stderr)
        return 1
    except (CodecError, ConfigError, OSError) as err:
        print(f"speech-client: error: {err}", file=sys.stderr)
        return 1
    return 0


def _encode_stream(client: SpeechClient, args: argparse.Namespace, info: pb.ModelInfo) -> pb.Codes:
    """Send the file a second at a time, read and resampled here as it goes (memory stays flat)."""
    from codec import audio

    n_samples = 0

    def blocks() -> Iterator[np.ndarray]:
        nonlocal n_samples
        for block in audio.read_blocks(args.input, info.sample_rate_hz, 1.0):
            n_samples += block.shape[0]
            yield block

    parts = list(client.encode_stream(blocks(), info.sample_rate_hz, info.name, args.bandwidth))
    return wire.codes_to_proto(np.concatenate(parts, axis=1), info.name, info.weights_hash, n_samples, info.codes_hash)


def _decode_stream(client: SpeechClient, codes: pb.Codes, output: Path) -> None:
    """DecodeStream in 10-frame messages, each answer written as it arrives (cut to the original length)."""
    from codec import audio

    frames, left = wire.codes_from_proto(codes)[0], codes.num_samples or None
    chunks = (frames[:, i : i + 10] for i in range(0, frames.shape[1], 10))
    with audio.writer(output, client.model_info(codes.model).sample_rate_hz) as write:
        for wav in client.decode_stream(chunks, codes.model):
            wav = wav if left is None else wav[:left]
            write(wav)
            left = None if left is None else left - wav.shape[0]


def _synthesize(client: SpeechClient, args: argparse.Namespace) -> None:
    from codec.errors import CodecError
    from tts.lines import check_batch_options, unwritten, utterance_lines
    from tts.respell import load_dictionary

    check_batch_options(args.out_dir, args.resume, args.word_times, args.marks)
    said = load_dictionary(args.dictionary) if args.dictionary else {}  # checked here: a bad entry fails in one line
    options = dict(voice=args.voice, voice_audio=args.voice_audio, voice_text=args.voice_text, seed=args.seed,
                   temperature=args.temperature, model=args.model, sample_rate=args.sample_rate,
                   cfg_scale=args.cfg_scale, speaking_rate=args.speaking_rate, volume_gain_db=args.volume_gain_db, pitch=args.pitch,
                   best_of=args.best_of,
                   custom_dictionary="\n".join(f"{word}  {spoken}" for word, spoken in said.items()))
    if args.as_it_comes:
        _say_as_it_comes(client, options, args)
        return
    text = sys.stdin.read() if args.text == "-" else args.text
    if not args.out_dir:
        _say(client, text, options, args, args.output)
        return
    jobs = utterance_lines(text, args.out_dir, said)  # every line checked before the first request
    todo = unwritten(jobs, args.out_dir) if args.resume else jobs
    for done, (dst, line) in enumerate(todo):
        try:
            _say(client, line, options, args, dst)
        except grpc.RpcError as err:  # the files written stay; --resume goes on from this line
            raise CodecError(f"{dst.stem}: {err.code().name}: {err.details()} ({len(jobs) - len(todo) + done} of "
                             f"{len(jobs)} lines are in {args.out_dir}; --resume goes on from there)") from None
        print(dst, file=sys.stderr)


def _say_as_it_comes(client: SpeechClient, options: dict, args: argparse.Namespace) -> None:
    """stdin's text as it arrives into ``-o``, the audio written as it comes back."""
    import time

    from codec import audio
    from codec.errors import CodecError
    from tts.text_stream import arriving

    if args.text != "-" or args.out_dir or args.stream:
        raise CodecError("--as-it-comes reads the text from stdin (-) into one file (-o), on its own stream")
    words: list | None = [] if args.word_times else None
    start, first = time.perf_counter(), None
    chunks = client.synthesize_text_stream(arriving(sys.stdin), words=words, **options)
    chunk, rate = next(chunks, (None, 0))  # the rate the file is written at comes with the first answer
    if chunk is None:
        raise CodecError("the server sent no audio")
    with audio.writer(args.output, rate) as write:
        for chunk, _ in itertools.chain([(chunk, rate)], chunks):
            if first is None and chunk.size:
                first = time.perf_counter() - start
                print(f"first audio after {1000 * first:.0f} ms", file=sys.stderr)
            write(chunk)
    if words is not None:
        _write_words(args.word_times, words)


def _write_words(path: str, words: list, timepoints: list = ()) -> None:
    from tts.mark_times import MarkTime
    from tts.word_times import WordTime, write_json

    write_json(path, [WordTime(w.word, w.start_s, w.end_s, w.sentence, w.aligned, w.text_offset if w.text_length else None,
                               w.text_length or None) for w in words],
               [MarkTime(t.mark_name, t.time_s) for t in timepoints])


def _say(client: SpeechClient, text: str, options: dict, args: argparse.Namespace, dst: Path) -> None:
    """One request (streamed with --stream) into ``dst``, and its word times if asked."""
    import time

    from codec import audio

    words: list | None = [] if args.word_times else None
    timepoints: list | None = [] if args.word_times or args.marks else None
    if args.word_times and not args.stream:
        wav, rate, words = client.synthesize_words(text, timepoints, **options)
    elif not args.stream:
        wav, rate = client.synthesize(text, timepoints, **options)
    else:
        start, chunks, rate = time.perf_counter(), [], 0
        for chunk, rate in client.synthesize_stream(text, words=words, timepoints=timepoints, **options):
            if not chunks:
                print(f"first audio after {1000 * (time.perf_counter() - start):.0f} ms", file=sys.stderr)
            chunks.append(chunk)
        wav = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    audio.save(dst, wav, rate)
    if words is not None:
        _write_words(args.word_times, words, timepoints)
    if args.marks:
        _write_words(args.marks, [], timepoints)


if __name__ == "__main__":
    sys.exit(main())
