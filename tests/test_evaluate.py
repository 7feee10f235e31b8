"""Evaluation: metric sanity on real speech, the classical baselines via their real tools,
the table, and ``codec-cli eval`` end to end."""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest

from codec import audio, metrics
from codec.baselines import Codec2Baseline, OpusBaseline, baseline_from_spec
from codec.evaluate import CodecSystem, evaluate, markdown_table
from codec.pretrained import load_codec

SR = 24000
needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed (make system-deps)")


def test_metrics_rank_clean_above_noisy(speech):
    ref = audio.load(speech, SR)
    rng = np.random.default_rng(0)
    noisy = ref + 0.05 * rng.standard_normal(ref.shape).astype(np.float32)
    assert metrics.pesq_wb(ref, ref, SR) > 4.5
    assert metrics.pesq_wb(ref, noisy, SR) < 3.0
    assert metrics.stoi(ref, ref, SR) > 0.99 > metrics.stoi(ref, noisy, SR)
    assert metrics.si_sdr(ref, 0.5 * ref) > 60  # scale-invariant
    assert 0 < metrics.si_sdr(ref, noisy) < 30
    assert metrics.log_mel_distance(ref, ref, SR) == 0.0 < metrics.log_mel_distance(ref, noisy, SR)


def test_codebook_usage_counts_entries_and_perplexity():
    codes = np.array([[0, 1, 2, 3], [5, 5, 5, 5]])
    usage, ppl = metrics.codebook_usage(codes, [8, 8])
    assert usage == [0.5, 0.125]
    assert ppl[0] == pytest.approx(4.0) and ppl[1] == pytest.approx(1.0)


@pytest.mark.parametrize("baseline", [OpusBaseline(6), Codec2Baseline("3200")], ids=["opus", "codec2"])
def test_baselines_roundtrip_real_tools(speech, baseline):
    if not baseline.available():
        pytest.skip(f"{baseline.name}: tools not installed")
    ref = audio.load(speech, SR)
    out = baseline.roundtrip(ref, SR)
    assert out.shape == ref.shape and out.dtype == np.float32
    assert metrics.stoi(ref, out, SR) > 0.5  # intelligible, not silence or noise


def test_baseline_specs():
    assert baseline_from_spec("opus:12").kbps == 12
    assert baseline_from_spec("codec2:1600").kbps == 1.6
    with pytest.raises(ValueError):
        baseline_from_spec("mp3:32")
    with pytest.raises(ValueError):
        Codec2Baseline("999")


def test_evaluate_table_has_every_system(speech):
    ref = audio.load(speech, SR)
    system = CodecSystem(load_codec("distilcodec-tiny"))
    results = evaluate([system, OpusBaseline(6)] if OpusBaseline.available() else [system], [ref, ref[: 3 * SR // 2]], SR, progress=False)
    table = markdown_table(results)
    assert "| distilcodec-tiny | 0.80 |" in table  # 100 Hz x 8 bits (256 codes) x 1 codebook
    assert len(results[0].scores["stoi"]) == 2
    assert 0 < results[0].usage[0] <= 1 and results[0].perplexity[0] >= 1


def test_evaluate_transcribes_every_round_trip_for_a_wer_column(speech):
    ref = audio.load(speech, SR)
    system = CodecSystem(load_codec("distilcodec-tiny"))
    sizes = []
    results = evaluate([system], [ref, ref[: SR]], SR, progress=False, listen=lambda wav: sizes.append(len(wav)) or "a b")
    assert sizes == [len(ref), SR] and results[0].heard == ["a b", "a b"]  # the decoded audio, not the input
    assert "WER" not in markdown_table(results)
    results[0].wer = 0.25
    table = markdown_table(results)
    assert table.splitlines()[0].endswith("WER ↓ |") and table.splitlines()[2].endswith("| 25.0% |")
    assert results[0].as_dict()["wer"] == 0.25


def test_evaluate_compares_the_voice_of_every_round_trip(speech):
    ref = audio.load(speech, SR)
    system = CodecSystem(load_codec("distilcodec-tiny"))
    pairs = []
    results = evaluate([system], [ref], SR, progress=False, compare=lambda a, b: pairs.append((len(a), len(b))) or 0.5)
    assert pairs == [(len(ref), len(ref))] and results[0].similarity == [0.5]
    table = markdown_table(results)
    assert table.splitlines()[0].endswith("speaker similarity ↑ |") and table.splitlines()[2].endswith("| 0.500 |")
    assert results[0].as_dict()["speaker_similarity"] == 0.5
    assert "similarity" not in markdown_table(evaluate([system], [ref], SR, progress=False))


def test_cli_eval_writes_table(speech, tmp_path):
    out = tmp_path / "table.md"
    proc = subprocess.run(
        [sys.executable, "-m", "codec.cli", "eval", str(speech), "--model", "hificodec-tiny", "--model", "hificodec-tiny@1.2",
         "--baseline", "codec2:3200", "-o", str(out)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    rows = [line for line in out.read_text().splitlines() if line.startswith("| hificodec")]
    assert [r.split("|")[2].strip() for r in rows] == ["2.40", "1.20"]
    assert "random" in proc.stderr  # untrained preset is announced


def test_cli_eval_bad_input_one_line(tmp_path):
    bad = tmp_path / "x.wav"
    bad.write_bytes(b"not audio")
    proc = subprocess.run([sys.executable, "-m", "codec.cli", "eval", str(bad), "--model", "hificodec-tiny", "--no-baselines"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("codec-cli: error:")
