"""TTS on ONNX Runtime: one graph for prefill and decode, parity with torch (greedy and
seeded sampling), int8 graph, a torch-free synthesis path, and tts-cli export-onnx."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import onnx
import pytest
import torch

from serve.tts_runtime import OnnxTts
from tts.decoding import decode_loop, left_pad
from tts.generate import SamplingConfig, build_prompt, generate
from tts.sequence import without_text


@pytest.fixture(scope="module")
def exported(exported_tts):
    return exported_tts(codec="distilcodec-tiny")


def run_onnx(tts: OnnxTts, prompts, frames, sampling):
    out = [[] for _ in prompts]
    for chunk in decode_loop(tts.stepper(), tts.cfg, prompts, frames, sampling, chunk_frames=16):
        for i, codes in enumerate(chunk):
            out[i] += codes
    return out


def test_graph_is_valid_with_metadata(exported):
    model, directory = exported
    proto = onnx.load(directory / "tts.onnx")
    onnx.checker.check_model(proto)
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["weights_hash"] == model.weights_hash() and meta["model_name"] == "tts-tiny"
    names = [i.name for i in proto.graph.input]
    assert names[:3] == ["input_ids", "position_ids", "attention_mask"] and len(names) == 3 + 2 * model.cfg.n_layers


def test_greedy_and_seeded_tokens_match_torch(exported):
    model, directory = exported
    tts = OnnxTts(directory, threads=1)
    prompts = [build_prompt(model, [5, 6, 7]), build_prompt(model, [9, 10, 11, 12, 13], [4], prompt_codes=[1, 2])]
    greedy = SamplingConfig(greedy=True)
    assert run_onnx(tts, prompts, [200, 150], greedy) == generate(model, prompts, [200, 150], greedy)
    sampled = SamplingConfig(seed=11, temperature=1.0, top_k=0, top_p=1.0)
    assert run_onnx(tts, prompts, [120, 90], sampled) == generate(model, prompts, [120, 90], sampled)
    guided = SamplingConfig(seed=3, cfg_scale=2.0)  # twice the batch: each prompt with and without its text
    assert run_onnx(tts, prompts, [80, 60], guided) == generate(model, prompts, [80, 60], guided)


def test_prefill_returns_the_last_positions_logits_only(exported):
    """Generation reads one row per step: a prompt's prefill must not pay for [L, V] logits."""
    model, directory = exported
    tts = OnnxTts(directory)
    ids = np.array([build_prompt(model, [5, 6, 7, 8, 9], [10, 11], [3, 1, 4, 1, 5])], dtype=np.int64)
    length, cfg = ids.shape[1], model.cfg
    past = np.zeros((1, cfg.n_kv_heads, 1, cfg.head_dim), np.float32)
    feeds = {"input_ids": ids, "position_ids": np.arange(length)[None], "attention_mask": np.r_[[False], [True] * length][None]}
    feeds.update({f"past_{kind}_{i}": past for i in range(cfg.n_layers) for kind in ("key", "value")})
    logits, *present = tts.session.run(None, feeds)
    with torch.no_grad():
        full, _ = model(torch.from_numpy(ids))
    assert logits.shape == (1, 1, cfg.vocab_size) and present[0].shape[2] == length + 1
    np.testing.assert_allclose(logits[0, 0], full[0, -1].numpy(), atol=1e-4)


def test_prompt_rows_prefill_at_their_own_lengths_and_textless_rows_are_kept(exported):
    """Guidance's textless row (markers and voice codes) is shorter than the row with text: each
    is prefilled at its own length and the caches left-padded to the prompt's width, so the
    prompt's logits and every step's after it are those of the one padded call; a later request
    with the same textless row takes its kept prefill and runs the text row alone."""
    model, directory = exported
    tts, cfg = OnnxTts(directory, threads=1), model.cfg
    prompt = np.array(build_prompt(model, [9, 10, 11, 12, 13, 14], [4], prompt_codes=[1, 2, 3]))
    ids, key_mask = left_pad([prompt[:, None], without_text(cfg, prompt)[:, None]], np.array([cfg.special("<pad>")]))
    ids, positions = ids[..., 0], np.maximum(key_mask.cumsum(1) - 1, 0)
    tokens = cfg.codebook_offset(0) + np.array([5, 6, 7])
    padded = tts.run  # the reference: the whole prompt as one padded call, then the steps
    shapes = []
    tts.run = lambda ids, *rest: shapes.append(ids.shape) or padded(ids, *rest)

    def steps(step) -> list[np.ndarray]:
        out, mask = [step(ids, positions, key_mask)], key_mask
        for i, token in enumerate(tokens):
            mask = np.concatenate([mask, np.ones((2, 1), bool)], 1)
            out.append(step(np.full((2, 1), token), positions[:, -1:] + 1 + i, mask))
        return out

    past = [tts.empty_past(2)]

    def one_call(ids, positions, key_mask):
        logits, past[0] = padded(ids, positions, np.concatenate([np.zeros((2, 1), bool), key_mask], 1), past[0])
        return logits

    reference = steps(one_call)
    first, again = steps(tts.stepper().step), steps(tts.stepper().step)
    for got in (first, again):
        np.testing.assert_allclose(np.stack(got), np.stack(reference), atol=1e-5)
    assert key_mask[1].sum() < len(prompt)  # the textless row is the shorter
    assert shapes[:2] == [(1, len(prompt)), (1, key_mask[1].sum())] and shapes[5] == (1, len(prompt))
    assert shapes[2:5] == shapes[6:] == [(2, 1)] * 3  # the second request: the text row alone, then the steps


def test_a_prompts_repeated_rows_are_prefilled_once(exported):
    """Best of B prompts the same rows B times: each distinct row is run once (the text row, the
    textless row) and its cache given to its copies; the logits, and the steps after, are those
    of every row run."""
    model, directory = exported
    tts, cfg = OnnxTts(directory, threads=1), model.cfg
    prompt = np.array(build_prompt(model, [9, 10, 11, 12], [4], prompt_codes=[1, 2]))
    rows = [prompt[:, None], without_text(cfg, prompt)[:, None]] * 2
    ids, key_mask = left_pad(rows, np.array([cfg.special("<pad>")]))
    ids, positions = ids[..., 0], np.maximum(key_mask.cumsum(1) - 1, 0)
    past = tts.empty_past(4)
    reference, _ = tts.run(ids, positions, np.concatenate([np.zeros((4, 1), bool), key_mask], 1), past)
    shapes, run = [], tts.run
    tts.run = lambda ids, *rest: shapes.append(ids.shape) or run(ids, *rest)
    stepper = tts.stepper()
    np.testing.assert_allclose(stepper.step(ids, positions, key_mask), reference, atol=1e-5)
    assert shapes == [(1, len(prompt)), (1, key_mask[1].sum())]  # two rows run, not four
    token = np.full((4, 1), cfg.codebook_offset(0) + 5)
    mask = np.concatenate([key_mask, np.ones((4, 1), bool)], 1)
    logits = stepper.step(token, positions[:, -1:] + 1, mask)
    np.testing.assert_allclose(logits[2:], logits[:2], atol=1e-6)  # the copies go on as their rows


def test_grouped_query_attention_equals_repeated_kv():
    from tts.model import grouped_attention

    torch.manual_seed(0)
    q, k, v = torch.randn(2, 6, 5, 16), torch.randn(2, 2, 9, 16), torch.randn(2, 2, 9, 16)
    mask = torch.rand(2, 1, 5, 9) > 0.4
    mask[..., -1] = True
    repeated = torch.nn.functional.scaled_dot_product_attention(
        q, k.repeat_interleave(3, 1), v.repeat_interleave(3, 1), attn_mask=mask)
    torch.testing.assert_close(grouped_attention(q, k, v, mask), repeated, atol=1e-6, rtol=1e-6)


def test_int8_graph_runs_and_stays_close(exported):
    model, directory = exported
    fp32, int8 = OnnxTts(directory), OnnxTts(directory, int8=True)
    assert (directory / "tts.int8.onnx").stat().st_size < (directory / "tts.onnx").stat().st_size
    ids = np.array([build_prompt(model, [3, 4, 5, 6])])
    pos = np.arange(ids.shape[1])[None]
    mask = np.ones_like(ids, dtype=bool)
    a, b = fp32.stepper().step(ids, pos, mask), int8.stepper().step(ids, pos, mask)
    assert np.abs(a - b).max() < 0.1 * np.abs(a).max()  # weight-only quantization error, bounded


def test_onnx_synthesis_imports_no_torch(exported, exported_codec):
    _, directory = exported
    codec_dir = exported_codec("distilcodec-tiny")[1]
    code = (
        "import sys\n"
        "from serve.runtime import OnnxCodec\n"
        "from serve.tts_runtime import OnnxTts\n"
        "from tts.text import TextTokenizer\n"
        "from tts.synthesize import Synthesizer\n"
        "from tts.sampling import SamplingConfig\n"
        f"s = Synthesizer(OnnxTts({str(directory)!r}), TextTokenizer.from_file({str(directory / 'tokenizer.json')!r}),"
        f" codec=OnnxCodec({str(codec_dir)!r}))\n"
        "wav = s.synthesize('Hello there. Bye!', sampling=SamplingConfig(max_frames=20))\n"
        "assert wav.size > 0\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_cli_export_onnx(exported, tmp_path):
    import shutil

    _, directory = exported
    target = tmp_path / "copy"
    shutil.copytree(directory, target, ignore=shutil.ignore_patterns("*.onnx"))
    proc = subprocess.run([sys.executable, "-m", "tts.cli", "export-onnx", str(target)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert (target / "tts.onnx").is_file() and not (target / "tts.int8.onnx").exists()


def test_multi_codebook_graph_matches_torch(exported_tts):
    """Delay-pattern rows [B, L, Q] go through the same graph interface; tokens equal torch's."""
    model, directory = exported_tts(n_codebooks=3, codebook_size=64)
    tts = OnnxTts(directory, threads=1)
    prompts = [build_prompt(model, [5, 6, 7]), build_prompt(model, [9, 10], [4], prompt_codes=[[1, 2, 3], [4, 5, 6]])]
    sampled = SamplingConfig(seed=5)
    out = run_onnx(tts, prompts, [40, 30], sampled)
    assert out == generate(model, prompts, [40, 30], sampled) and all(len(f) == 3 for f in out[0])


def test_reordered_rows_go_on_as_on_torch(exported):
    """A search (``tts.search``) copies rows of the ONNX stepper's cache as of the torch one's."""
    from tests.test_tts_search import run

    model, directory = exported
    prompts = [build_prompt(model, [5, 6, 7]), build_prompt(model, [9, 10, 11, 12, 13], [4], prompt_codes=[1, 2])]
    greedy = SamplingConfig(greedy=True)
    torch_runs, torch_logits = run(model.stepper(), model, prompts, [30, 25], greedy, at=5, index=[1, 1])
    onnx_runs, onnx_logits = run(OnnxTts(directory, threads=1).stepper(), model, prompts, [30, 25], greedy, at=5, index=[1, 1])
    assert onnx_runs == torch_runs
    for ours, theirs in zip(onnx_logits, torch_logits):
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-4)
