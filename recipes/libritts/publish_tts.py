"""Stage 9: publish the trained TTS as ``<models>/tts/`` with prompt voices and ONNX graphs.

Writes config, weights (float16 storage) and tokenizer; adds ``voices/<name>.wav`` + ``.txt`` (one dev-split
recording, 2-6 s, for each of the first ``--voices`` speakers: the server's ``ListVoices``
and ``voice_name``); exports ``tts.onnx`` (and the int8 graph with ``--int8``).

    python recipes/libritts/publish_tts.py exp/tts/train/model models/tts --manifest data/mini/manifests/dev.jsonl
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from codec.errors import run_cli  # noqa: E402
from codec import audio  # noqa: E402
from codec.data import read_manifest  # noqa: E402
from tts.text import TOKENIZER_FILE  # noqa: E402


def pick_voices(rows: list[dict], n: int, shortest: float = 2.0, longest: float = 6.0) -> list[dict]:
    """The first fitting recording of each of the first ``n`` speakers (manifest order)."""
    chosen: dict[str, dict] = {}
    for row in rows:
        if len(chosen) < n and row.get("speaker") not in chosen and shortest <= row.get("duration", 0) <= longest:
            chosen[row["speaker"]] = row
    return list(chosen.values())


def save_half(src: Path, dst: Path) -> "TtsModel":  # noqa: F821 (imported inside)
    """Config, float16 weights (its weights_hash that of the rounded weights) and tokenizer."""
    import torch

    from tts.model import TtsModel

    model = TtsModel.from_pretrained(src).half().float()  # rounded to float16 values: stored in half the size
    model.save_pretrained(dst, dtype=torch.float16)
    shutil.copyfile(src / TOKENIZER_FILE, dst / TOKENIZER_FILE)
    return model


def publish(src: Path, dst: Path, manifest: Path | None, n_voices: int, int8: bool) -> Path:
    from tts.onnx_export import export_tts

    model = save_half(src, dst)
    if manifest is not None and n_voices:
        voices = dst / "voices"
        shutil.rmtree(voices, ignore_errors=True)
        voices.mkdir()
        for row in pick_voices(read_manifest(manifest), n_voices):
            name = f"speaker{row['speaker']}"
            audio.save(voices / f"{name}.wav", audio.load(row["path"], 24000), 24000)
            (voices / f"{name}.txt").write_text(row["text"] + "\n")
    export_tts(model.eval(), dst, quantize_int8=int8)  # the rounded weights just written
    return dst


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("src", type=Path, help="trained model directory (exp/tts/train/model)")
    p.add_argument("dst", type=Path, help="published directory (models/tts)")
    p.add_argument("--manifest", type=Path, help="where prompt voices come from (the dev split)")
    p.add_argument("--voices", type=int, default=2)
    p.add_argument("--int8", action="store_true", help="also write the int8 graph")
    p.add_argument("--weights-only", action="store_true",
                   help="config, float16 weights and tokenizer only: no voices, no ONNX (a lease's return)")
    args = p.parse_args(argv)
    if args.weights_only:
        save_half(args.src, args.dst)
        out = args.dst
    else:
        out = publish(args.src, args.dst, args.manifest, args.voices, args.int8)
    print(f"published {args.src} -> {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli("publish_tts.py", main))
