"""The speaker encoder behind the SIM column: the equal error rate is right on known scores, and
a briefly trained encoder tells espeak voices apart on sentences it never heard, resumes
bit-exactly, and loads back from its directory."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest

from codec import audio
from tts.speaker import SpeakerConfig, SpeakerEncoder, equal_error_rate, train

SR = 24000
VOICES = ["en-us", "en-gb-x-rp+f3", "en-us+m7"]
SENTENCES = ["The old mill stood by the river.", "A quiet bridge crossed the stream.", "Seven green apples fell.",
             "Robert washed the splendid engine.", "Her brother sold the farm last spring.",
             "The captain walked home slowly."]


def test_equal_error_rate():
    e = np.eye(4)
    assert equal_error_rate(np.stack([e[0], e[0], e[1], e[1]]), ["a", "a", "b", "b"]) == 0.0  # separable
    assert equal_error_rate(np.stack([e[0], e[1], e[0], e[1]]), ["a", "a", "b", "b"]) > 0.5  # other voices closer


@pytest.fixture(scope="module")
def voices_corpus(tmp_path_factory):
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed (make system-deps)")
    root = tmp_path_factory.mktemp("voices")
    train_rows, test_rows = [], []
    for v, voice in enumerate(VOICES):
        for s, text in enumerate(SENTENCES):
            path = root / f"{v}_{s}.wav"
            subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), text], check=True)
            audio.save(path, audio.load(path, SR), SR)
            row = {"path": str(path), "text": text, "speaker": str(v), "duration": len(audio.load(path, SR)) / SR}
            (train_rows if s < 4 else test_rows).append(row)
    for name, rows in (("train", train_rows), ("test", test_rows)):
        (root / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


def test_a_trained_encoder_tells_voices_apart_and_resumes(voices_corpus, tmp_path):
    manifest, test = str(voices_corpus / "train.jsonl"), str(voices_corpus / "test.jsonl")
    eer = train(manifest, str(tmp_path / "full"), test, steps=60, batch_size=8, crop_s=1.0)
    assert eer < 0.2  # 6 held-out sentences of 3 voices (chance: 0.5)
    assert train(manifest, str(tmp_path / "split"), None, steps=60, batch_size=8, crop_s=1.0, stop_after=30) is None
    train(manifest, str(tmp_path / "split"), None, steps=60, batch_size=8, crop_s=1.0)
    full, split = SpeakerEncoder.from_pretrained(tmp_path / "full"), SpeakerEncoder.from_pretrained(tmp_path / "split")
    rows = [json.loads(line) for line in open(test)]
    a, b = (audio.load(rows[i]["path"], SR) for i in (0, 2))  # voice 0, voice 1
    assert full.similarity(a, a, SR) == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(full.embedding(a, SR), split.embedding(a, SR), atol=1e-5)  # resumed bit-exactly
    same = full.similarity(a, audio.load(rows[1]["path"], SR), SR)
    assert same > full.similarity(a, b, SR)
    assert train(manifest, str(tmp_path / "full"), test, steps=60) is None  # finished: a rerun does nothing


def test_the_onnx_graph_embeds_as_torch_does(voices_corpus, tmp_path):
    """``speaker.onnx`` (the torch-free server's consent check): the same embeddings within 1e-5,
    any length (one shorter than a window too); a graph of other weights is refused."""
    import torch

    from codec.errors import CodecError
    from serve.speaker_runtime import OnnxSpeakerEncoder
    from tts.speaker import main

    torch.manual_seed(0)
    encoder = SpeakerEncoder(SpeakerConfig(dim=32, embed_dim=16, n_speakers=3)).eval()
    with torch.no_grad():  # batch norm's running statistics as training leaves them, not 0 and 1
        for norm in list(encoder.frames)[2::3]:
            norm.running_mean.uniform_(-0.5, 0.5), norm.running_var.uniform_(0.5, 2.0)
    encoder.save_pretrained(tmp_path / "spk")
    assert main(["export-onnx", str(tmp_path / "spk")]) == 0
    graph = OnnxSpeakerEncoder(tmp_path / "spk")
    rows = [json.loads(line) for line in open(voices_corpus / "test.jsonl")]
    for wav in (audio.load(rows[0]["path"], 16000), 0.1 * np.random.default_rng(0).standard_normal(300).astype(np.float32)):
        np.testing.assert_allclose(graph.embedding(wav, 16000), encoder.embedding(wav, 16000), atol=1e-5)
    a, b = (audio.load(rows[i]["path"], SR) for i in (0, 2))
    assert graph.similarity(a, b, SR) == pytest.approx(encoder.similarity(a, b, SR), abs=1e-5)
    torch.manual_seed(1)
    SpeakerEncoder(encoder.cfg).save_pretrained(tmp_path / "spk")  # retrained: the graph is stale
    with pytest.raises(CodecError, match="exported from other weights"):
        OnnxSpeakerEncoder(tmp_path / "spk")


def test_the_codec_evaluation_reports_how_much_voice_survives(voices_corpus, tmp_path):
    from tests.recipe_scripts import load_recipe_script

    train(str(voices_corpus / "train.jsonl"), str(tmp_path / "speaker"), None, steps=20, batch_size=8, crop_s=1.0)
    out = tmp_path / "codec.md"
    load_recipe_script("evaluate").main(["--manifest", str(voices_corpus / "test.jsonl"), "--models", "distilcodec-tiny",
                                         "--baselines", "--limit", "2", "--speaker", str(tmp_path / "speaker"),
                                         "--out", str(out)])
    header, row = out.read_text().splitlines()[2], out.read_text().splitlines()[4]
    assert header.endswith("speaker similarity ↑ |") and row.startswith("| distilcodec-tiny |")
    assert -1 <= float(row.split("|")[-2]) <= 1
