"""GPU lease jobs (recipes/lease): the weights survive the trip in parts, and both jobs run here
(LOCAL=1) end to end, corpus to returned model, the way they run on a lease."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from codec.errors import CodecError

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "recipes" / "lease"))
from transfer import PARTS_FILE, pack, unpack  # noqa: E402


def _model_dir(path: Path) -> Path:
    path.mkdir()
    tensors = {"w": torch.randn(300, 100), "b": torch.randn(100), "codes": torch.arange(50)}
    save_file(tensors, path / "model.safetensors", metadata={"note": "kept"})
    (path / "config.json").write_text('{"kind": "test"}\n')
    return path


def test_pack_unpack_round_trip_and_refuses_what_changed_in_transit(tmp_path):
    src = _model_dir(tmp_path / "model")
    parts = tmp_path / "out"
    pack(src, parts, part_mib=0.05)  # ~121 KB of weights -> 3 parts of 52 KB at most
    record = json.loads((parts / PARTS_FILE).read_text())
    assert len(record["parts"]) == 3 and all((parts / n).stat().st_size <= 0.05 * 2**20 for n in record["parts"])
    back = unpack(parts, tmp_path / "back")
    assert (back / "model.safetensors").read_bytes() == (src / "model.safetensors").read_bytes()
    assert (back / "config.json").read_text() == '{"kind": "test"}\n'

    first = parts / record["parts"][0]
    good = first.read_bytes()
    first.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))  # one bit flipped
    with pytest.raises(CodecError, match="not the file that was packed"):
        unpack(parts, tmp_path / "bad")
    assert not (tmp_path / "bad" / "model.safetensors").exists()  # nothing half-written is left
    first.unlink()
    with pytest.raises(CodecError, match="1 of 3 parts missing"):
        unpack(parts, tmp_path / "bad")


def test_transfer_cli_says_what_is_wrong_in_one_line(tmp_path):
    run = subprocess.run([sys.executable, "recipes/lease/transfer.py", "unpack", str(tmp_path), str(tmp_path / "x")],
                         cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert run.stderr.strip().splitlines() == [f"transfer.py: error: {tmp_path}: no parts.json (not written by 'transfer.py pack'?)"]


def _job(script: str, out: Path, work: Path, **env: str) -> None:
    run = subprocess.run(["bash", f"recipes/lease/{script}"], cwd=ROOT, capture_output=True, text=True, timeout=600,
                         env={**os.environ, "LOCAL": "1", "PYTHON": sys.executable, "OUT": str(out), "WORK": str(work),
                              "BUDGET_S": "5", "B": "2", "JOBS": "2", **env})
    assert run.returncode == 0, run.stderr[-3000:]
    assert (out / "train.log").is_file() and (out / PARTS_FILE).is_file()


def _changed(a: torch.nn.Module, b: torch.nn.Module) -> list[str]:
    theirs = b.state_dict()
    return [k for k, v in a.state_dict().items() if k not in theirs or not torch.equal(v.float(), theirs[k].float())]


@pytest.mark.slow(seconds=60)
def test_lease_jobs_train_here_and_their_models_come_back(tmp_path):
    """codec_decoder.sh speaks its own corpus, fine-tunes the bundled distilcodec's decoder and
    returns it in parts; tts.sh trains the bundled TTS further on that corpus's codes, sent as
    xz-compressed token files (what travels to a lease). Joined here, each loads, and the codes
    keep their meaning."""
    import lzma
    from codec.pretrained import load_codec
    from tts.model import TtsModel

    work = tmp_path / "work"
    _job("codec_decoder.sh", tmp_path / "codec_parts", work, N_TRAIN="8", N_DEV="2", SEG="0.5",
         CORPUS_ARGS="--train-speakers 2 --test-speakers 1 --test-variants 1", EXTRA="--set decoder_layers=7")
    assert (work / "corpus" / "manifests" / "train.jsonl").is_file()
    codec = load_codec(str(unpack(tmp_path / "codec_parts", tmp_path / "codec")))
    bundled = load_codec("distilcodec")
    assert codec.codes_hash() == bundled.codes_hash()  # encoder and codebook were frozen
    assert _changed(codec.encoder, bundled.encoder) == [] and _changed(codec.decoder, bundled.decoder)
    assert codec.cfg.decoder_layers == 7 == len(codec.decoder.layers[0].blocks)  # EXTRA reached the trainer

    tokens = tmp_path / "tokens"
    for split in ("train", "dev"):
        subprocess.run([sys.executable, "-m", "tts.cli", "encode-corpus", str(work / "corpus" / "manifests" / f"{split}.jsonl"),
                        str(tokens / f"{split}.safetensors"), "--codec", "distilcodec"], cwd=ROOT, check=True, capture_output=True)
    with lzma.open(tokens / "train.safetensors.xz", "wb") as f:
        f.write((tokens / "train.safetensors").read_bytes())
    (tokens / "train.safetensors").unlink()
    _job("tts.sh", tmp_path / "tts_parts", work, TOKENS=str(tokens))
    tts = TtsModel.from_pretrained(unpack(tmp_path / "tts_parts", tmp_path / "tts"))
    published = TtsModel.from_pretrained(ROOT / "models" / "tts")
    assert (tmp_path / "tts" / "tokenizer.json").is_file()
    weights = load_file(tmp_path / "tts" / "model.safetensors")
    assert {t.dtype for t in weights.values()} == {torch.float16}
    assert json.loads((tmp_path / "tts" / "config.json").read_text())["weights_hash"] == tts.weights_hash()
    assert tts.cfg.codebook_size == published.cfg.codebook_size
    assert _changed(tts, published), "training moved no weight"
