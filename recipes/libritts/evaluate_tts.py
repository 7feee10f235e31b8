"""Stage 11: intelligibility of the TTS by ASR word error rate, next to its references.

    python recipes/libritts/evaluate_tts.py --tts models/tts --asr models/asr --limit 40 \
        --out exp/eval/tts.md

For each held-out sentence of the test split (voices never seen in training) three signals
are transcribed by the same recognizer: the ground-truth recording, its codec resynthesis
(the TTS's own tokenizer, the ceiling a token LM can reach) and the TTS output, voice-prompted
with another recording of the same speaker (so "same sentence and voice"). A single-codebook
model also gets a "teacher-forced" column: each ground-truth code replaced by the model's
argmax from the true history. Intelligible there but not free-running means the model can
voice the text and its own sampling errors compound (exposure bias), not that it cannot read. ``--pocketsphinx``
adds pocketsphinx's en-us model (with a bigram LM of the training texts) for comparison.
"ctc + lexicon" snaps each recognized word to the nearest word of the training texts.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from codec.errors import run_cli  # noqa: E402
from codec.audio import load  # noqa: E402
from codec.data import read_manifest  # noqa: E402
from tts.wer import word_error_rate  # noqa: E402


def prompt_pairs(rows: list[dict], limit: int | None, prompt: str = "last") -> list[tuple[dict, dict]]:
    """(target, voice-prompt row) round-robin over speakers. Targets are all but each speaker's
    last recording; the prompt is another recording of the same speaker: that last one
    (``last``, never itself a target) or the speaker's shortest other than the target
    (``shortest``: unseen voices read short prompts far better, see the README)."""
    by_speaker: dict[str, list[dict]] = {}
    for row in rows:
        by_speaker.setdefault(row.get("speaker", ""), []).append(row)
    queues = [(group[:-1], group[-1]) for _, group in sorted(by_speaker.items()) if len(group) >= 2]
    pairs = [(targets[depth], last) for depth in range(max((len(t) for t, _ in queues), default=0))
             for targets, last in queues if depth < len(targets)][:limit]
    if prompt == "shortest":
        pairs = [(t, min((r for r in by_speaker[t.get("speaker", "")] if r is not t), key=lambda r: r.get("duration", 0.0)))
                 for t, _ in pairs]
    return pairs


def teacher_forced_codes(model, tokenizer, text: str, codes: np.ndarray, voice=None, scale: float = 1.0) -> np.ndarray:
    """Ground-truth codes [1, 1, F] -> the model's argmax one step ahead of each, same shape
    (a torch single-codebook model; the prompt is laid out as generation lays it out, and
    ``scale`` > 1 applies classifier-free guidance as generation does)."""
    import torch

    from tts.sampling import guided
    from tts.sequence import build_prompt, without_text

    cfg = model.cfg
    prompt = build_prompt(model, tokenizer.encode(text), tokenizer.encode(voice.transcript) if voice else None,
                          voice.codes if voice else None)
    speech = (np.asarray(codes).reshape(-1) + cfg.speech_offset).tolist()

    def ahead(head: list[int]) -> np.ndarray:
        with torch.inference_mode():
            out = model(torch.tensor([head + speech]))[0][0, len(head) - 1 : -1]
        return out[:, cfg.speech_offset : cfg.speech_offset + cfg.codebook_size].float().numpy()

    logits = ahead(prompt)
    if scale != 1:
        logits = guided(logits, ahead(without_text(cfg, prompt).tolist()), scale)
    return logits.argmax(-1)[None, None]


START_FRAMES = 5  # generated frames over which the reading start is taken (a median: one frame is noisy)


def reading_start(model, spoken) -> float:
    """Where the model began reading a voice-prompted sentence: the median text position of its
    aligned heads over the first ``START_FRAMES`` generated frames (0 = the sentence's first
    token; negative = back inside the prompt's transcript, which it then says again)."""
    from tts.alignment import reading_positions

    return float(np.median(reading_positions(model, spoken)[:START_FRAMES]))


def start_summary(starts: np.ndarray, slack: float = 3) -> str:
    back = int((starts < -slack).sum())
    return (f"Reading start (aligned heads over the first {START_FRAMES} generated frames, text tokens from the "
            "sentence's first): "
            f"median {np.median(starts):+.1f}, lowest {starts.min():+.0f}; {back} of {len(starts)} sentences start more "
            f"than {slack:g} tokens back inside the voice prompt's transcript.")


def recognizers(asr_dirs: list[str], pocketsphinx: bool, lm_texts: list[str]) -> dict:
    """Name -> recognizer: each CTC directory raw and snapped to the training words (the first
    is "ctc"; later ones, e.g. a judge of another size, are named after their directory)."""
    found = {}
    if asr_dirs:
        from tts.asr import CtcRecognizer, Lexicon, SnappedRecognizer

        lexicon = Lexicon(lm_texts)
    for i, asr_dir in enumerate(asr_dirs):
        ctc = CtcRecognizer.from_pretrained(asr_dir)
        name = "ctc" if i == 0 else f"ctc [{Path(asr_dir).name}]"
        found[name] = ctc
        found[f"{name} + lexicon"] = SnappedRecognizer(ctc, lexicon)
    if pocketsphinx:
        from tts.wer import Transcriber

        found["pocketsphinx"] = Transcriber(lm_texts)
    if not found:
        raise SystemExit("no recognizer: pass --asr DIR and/or --pocketsphinx")
    return found


def similarity_summary(voices: dict[str, list], speakers: list[str], encoder: str) -> str:
    """Mean cosine of each kind's speaker embedding with the ground truth's (same sentence, same
    speaker), and of the TTS output with the next other speaker's ground truth: the floor."""
    truth = np.stack(voices.pop("truth"))
    sims = {kind: float(np.mean(np.sum(np.stack(e) * truth, -1))) for kind, e in voices.items()}
    n = len(speakers)
    other = [next((j % n for j in range(i + 1, i + n) if speakers[j % n] != speakers[i]), i) for i in range(n)]
    floor = float(np.mean(np.sum(np.stack(voices["TTS"]) * truth[other], -1)))
    return (f"Speaker similarity (cosine of {encoder} embeddings with the ground truth recording; 1 = the "
            f"same voice): " + ", ".join(f"{kind} {v:.3f}" for kind, v in sims.items()) +
            f"; TTS against another speaker's recording {floor:.3f}.")


CONTEXT_WORDS = {"voice": "the voice prompt again", "previous": "the previous sentence's text and codes"}


def main(argv: list[str] | None = None) -> int:
    from tqdm import tqdm

    from tts.generate import SamplingConfig
    from tts.model import TtsModel
    from tts.pretrained import find_tts_dir, load_tts
    from tts.speaker import SpeakerEncoder
    from tts.synthesize import CONTEXTS, Synthesizer

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--manifest", default="data/mini/manifests/test.jsonl")
    p.add_argument("--train-manifest", default="data/mini/manifests/train.jsonl",
                   help="training texts: the CTC lexicon and pocketsphinx's LM")
    p.add_argument("--tts", default="tts")
    p.add_argument("--asr", nargs="*", default=["models/asr"],
                   help="CTC recognizer directories (python -m tts.asr train); the first is the judge, \"ctc\"")
    p.add_argument("--pocketsphinx", action="store_true")
    p.add_argument("--no-voice-prompt", action="store_true", help="synthesize in the model's default voice")
    p.add_argument("--prompt", choices=("last", "shortest"), default="last",
                   help="which other recording of the speaker is the voice prompt: its last, or its shortest")
    p.add_argument("--limit", type=int, default=40)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--temperature", type=float, default=0.8)
    p.add_argument("--top-k", type=int, default=50)
    p.add_argument("--top-p", type=float, default=0.95)
    p.add_argument("--repetition-penalty", type=float, default=1.1)
    p.add_argument("--greedy", action="store_true")
    p.add_argument("--cfg-scale", type=float, help="classifier-free guidance on the text (default: the model's)")
    p.add_argument("--best-of", type=int, default=1, help="candidates per sentence; the verifier keeps one (tts.verify)")
    p.add_argument("--verifier", help="CTC recognizer that picks among --best-of candidates (not the judge --asr)")
    p.add_argument("--search-seconds", type=float,
                   help="with --best-of: prune the candidates to the verifier's best every this many seconds "
                        "while they speak (tts.search; default: the library's, 0.5); 0 = plain best of N")
    p.add_argument("--search-beams", type=int, default=0, help="candidates kept at each prune (default: a quarter of --best-of)")
    p.add_argument("--prompt-seconds", type=float,
                   help="cut longer voice prompts to their first words that fit (tts.voice_trim; the verifier finds "
                        "them, default asr_verifier)")
    p.add_argument("--prompt-keep", choices=("start", "end"), default="start",
                   help="which words of a cut prompt stay: its first or its last")
    p.add_argument("--prompt-pace",
                   help="stretch each voice prompt (after any cut), pitch kept, to this many characters per second, or "
                        "'model': the rate the model trained on (tts.voice_pace; as tts-cli --voice-pace and "
                        "speech-server --voice-prompt-pace do)")
    p.add_argument("--sentences", type=int, default=1,
                   help="each request reads this many held-out sentences in a row (the next ones of the list), "
                        "so the seams between sentences are heard: ground truth is their recordings in turn")
    p.add_argument("--context", choices=CONTEXTS, default="voice",
                   help="what a request's later sentences are prompted with (tts.synthesize.Synthesizer context)")
    p.add_argument("--speaker", help="speaker encoder directory (python -m tts.speaker train): adds speaker similarity")
    p.add_argument("--backend", default="auto", choices=["auto", "torch", "onnx"])
    p.add_argument("--codec", help="codec directory or bundled name to decode with (default: the one the TTS was "
                                   "trained on); it must speak the same codes, e.g. a decoder-only fine-tune")
    p.add_argument("--out", type=Path, default=Path("exp/eval/tts.md"))
    args = p.parse_args(argv)

    model, tokenizer = load_tts(args.tts, args.backend)
    verifier = None
    if args.verifier or args.prompt_seconds:
        from tts.verify import DEFAULT_VERIFIER, load_verifier

        args.verifier = args.verifier or DEFAULT_VERIFIER  # named in the report
        verifier = load_verifier(args.verifier, args.backend)
    if args.sentences < 1:
        raise SystemExit(f"--sentences must be >= 1, got {args.sentences}")
    synth = Synthesizer(model, tokenizer, codec_spec=args.codec, backend=args.backend, verifier=verifier,
                        context=args.context)
    # the teacher-forced column needs the torch model: the one synthesizing, unless that is ONNX
    reference = model if isinstance(model, TtsModel) else TtsModel.from_pretrained(find_tts_dir(args.tts)).eval()
    forced = reference.cfg.n_codebooks == 1 and args.sentences == 1  # teacher forcing reads one recording
    sampling = SamplingConfig(temperature=args.temperature, top_k=args.top_k, top_p=args.top_p, greedy=args.greedy,
                              repetition_penalty=args.repetition_penalty, cfg_scale=args.cfg_scale,
                              best_of=args.best_of, search_seconds=args.search_seconds,
                              search_beams=args.search_beams)
    scale = sampling.guidance_scale(reference.cfg)
    pace = (reference.cfg.chars_per_second if args.prompt_pace == "model" else float(args.prompt_pace or 0)) or None
    rate = synth.sample_rate
    asr = recognizers(args.asr, args.pocketsphinx, [r["text"] for r in read_manifest(args.train_manifest)])
    pairs = prompt_pairs(read_manifest(args.manifest), args.limit, args.prompt)
    kinds = ["ground truth", "codec resynthesis", "TTS"] + (["TTS teacher-forced"] if forced else [])
    reads = forced and bool(reference.cfg.align_layers) and not args.no_voice_prompt
    starts: list[float] = []  # where the aligned heads read at each sentence's first frames
    refs, heard = [], {name: {kind: [] for kind in kinds} for name in asr}
    seconds = {"ground truth": 0.0, "TTS": 0.0}
    prompts: list[float] = []  # voice prompt lengths as the model read them (after any cut)
    stretches: list[float] = []  # and how many times as long as recorded they were played
    encoder = SpeakerEncoder.from_pretrained(args.speaker) if args.speaker else None
    resynthesis = {"codec resynthesis": []} if args.sentences == 1 else {}  # one recording per request
    voices: dict[str, list] = {"voice prompt": [], **resynthesis, "TTS": [], "truth": []}  # embeddings
    for n, (row, prompt_row) in enumerate(tqdm(pairs, desc="tts eval", unit="utt", file=sys.stderr)):
        rows = [pairs[(n + k) % len(pairs)][0] for k in range(args.sentences)]
        text = " ".join(r["text"] for r in rows)
        own, prompt_wav = load(row["path"], rate), load(prompt_row["path"], rate)
        truth = np.concatenate([own] + [load(r["path"], rate) for r in rows[1:]])
        voice = None
        if not args.no_voice_prompt:
            voice = synth.voice_from_audio(prompt_wav, prompt_row["text"], args.prompt_seconds, args.prompt_keep, pace)
        codes = synth.codec.encode(truth[None])
        spoken = synth.speak(text, voice, replace(sampling, seed=args.seed + n))
        signals = {
            "ground truth": truth,
            "codec resynthesis": synth.codec.decode(codes, len(truth))[0],
            "TTS": synth.render(spoken, voice),
        }
        if reads:
            starts += [reading_start(reference, s) for s in spoken if s.frames]
        if forced:
            tf = teacher_forced_codes(reference, tokenizer, row["text"], codes, voice, scale)
            signals["TTS teacher-forced"] = synth.codec.decode(tf, len(truth))[0]
        seconds["ground truth"] += len(truth) / rate
        seconds["TTS"] += len(signals["TTS"]) / rate
        if voice:
            prompts.append(len(voice.codes) / reference.cfg.codec_frame_rate)
            stretches.append(voice.stretch)
        if encoder is not None:
            said = {"voice prompt": prompt_wav, "truth": own, "codec resynthesis": signals["codec resynthesis"],
                    "TTS": signals["TTS"]}
            for kind in voices:
                voices[kind].append(encoder.embedding(np.asarray(said[kind], np.float32), rate))
        refs.append(text)
        for name, recognizer in asr.items():
            for kind, wav in signals.items():
                heard[name][kind].append(recognizer.transcribe(np.asarray(wav, np.float32), rate))
    results = {name: {kind: word_error_rate(refs, hyps) for kind, hyps in kinds.items()} for name, kinds in heard.items()}
    voicing = (f"voice-prompted with another recording of the same speaker, its {args.prompt}"
               if not args.no_voice_prompt else "default voice")
    if args.prompt_seconds and not args.no_voice_prompt:
        voicing += f", cut to its {'last' if args.prompt_keep == 'end' else 'first'} words within {args.prompt_seconds:g} s"
    if pace and not args.no_voice_prompt:
        voicing += f", stretched to {pace:g} characters/s"
    guidance = f", guidance scale {scale:g}" if scale != 1 else ""
    if args.best_of > 1:
        guidance += f", best of {args.best_of} by {args.verifier}"
    if sampling.search_every():
        guidance += f", searched every {sampling.search_every():g} s keeping {sampling.beams()}"
    if args.codec:
        guidance += f", decoded by {args.codec}"
    if args.sentences > 1:
        voicing += (f"; each request {args.sentences} sentences in a row, the later ones prompted with "
                    f"{CONTEXT_WORDS[args.context]}")
    lines = [f"TTS intelligibility: {len(refs)} held-out {'sentences' if args.sentences == 1 else 'requests'} from "
             f"{args.manifest} ({voicing}{guidance}); "
             f"audio {seconds['ground truth']:.0f} s ground truth, {seconds['TTS']:.0f} s synthesized"
             + (f"; voice prompts median {np.median(prompts):.1f} s" if prompts else "")
             + (f", played x{np.median(stretches):.2f} as long (median)" if pace and stretches else "") + ".", "",
             "| recognizer | " + " | ".join(f"{kind} WER" for kind in kinds) + " | TTS - ground truth |",
             "|---" * (len(kinds) + 2) + "|"]
    for name, r in results.items():
        lines.append(f"| {name} | " + " | ".join(f"{100 * r[kind]:.1f}%" for kind in kinds) +
                     f" | {100 * (r['TTS'] - r['ground truth']):+.1f} |")
    if starts:
        lines += ["", start_summary(np.array(starts))]
    if encoder is not None:
        lines += ["", similarity_summary(voices, [row.get("speaker", "") for row, _ in pairs], args.speaker)]
    text = "\n".join(lines) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    samples = [{"text": t, **{f"{name}/{kind}": heard[name][kind][i] for name in heard for kind in heard[name]}}
               for i, t in enumerate(refs)]
    args.out.with_suffix(".json").write_text(json.dumps({"wer": results, "seconds": seconds, "samples": samples,
                                                         "reading_starts": starts}, indent=1))
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli("evaluate_tts.py", main))
