"""Config values are checked against their annotations: YAML's string "3e-4" becomes a number,
a wrong value is refused with its field's name, and the training CLIs say so in one line."""

import subprocess
import sys
from pathlib import Path

import pytest

from codec.config import CodecConfig, load_preset
from codec.train import TrainConfig, config_from_args, parse_args
from codec.typed_config import ConfigError, read_yaml_mapping
from tts.config import TtsConfig
from tts.train import TtsTrainConfig

ROOT = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "train.yaml"
    path.write_text(text)
    return path


def test_numbers_written_without_a_dot_are_numbers(tmp_path):
    # PyYAML (YAML 1.1) reads 3e-4 and 1e3 as strings: the optimizer used to fail on them
    cfg = TrainConfig.from_yaml(write(tmp_path, "train_manifest: a.jsonl\nout_dir: out\nlr: 3e-4\n"
                                      "max_steps: 1e3\nbetas: [0.8, 0.99]\nweights: {mel: 15}\nfrozen: [encoder]\n"))
    assert cfg.lr == pytest.approx(3e-4) and isinstance(cfg.lr, float)
    assert cfg.max_steps == 1000 and isinstance(cfg.max_steps, int)
    assert cfg.betas == (0.8, 0.99) and cfg.weights.mel == 15.0 and isinstance(cfg.weights.mel, float)
    assert cfg.frozen == ["encoder"]


def test_set_overrides_are_coerced_like_the_yaml(tmp_path):
    path = write(tmp_path, "train_tokens: t.safetensors\ntokenizer: tok.json\nout_dir: out\n")
    args = parse_args(["--config", str(path), "--set", "lr=1e-4", "--set", "align={weight: 1, layers: [2, 3]}"])
    cfg = config_from_args(TtsTrainConfig, args)
    assert cfg.lr == pytest.approx(1e-4) and cfg.align.weight == 1.0 and cfg.align.layers == (2, 3)


@pytest.mark.parametrize("text, field", [
    ("lr: fast", "TrainConfig.lr: expected a number"),
    ("batch_size: 8.5", "TrainConfig.batch_size: expected an integer"),
    ("max_steps: .inf", "TrainConfig.max_steps: expected an integer"),
    ("lr: .nan", "TrainConfig.lr: expected a number"),
    ("amp: maybe", "TrainConfig.amp: expected true or false"),
    ("betas: [0.9]", "TrainConfig.betas: expected 2 values"),
    ("betas: [0.9, high]", "TrainConfig.betas[1]: expected a number"),
    ("weights: {mell: 15}", "TrainConfig.weights: unknown keys ['mell']"),
    ("frozen: encoder", "TrainConfig.frozen: expected a list"),
    ("dev_manifest: [a, b]", "TrainConfig.dev_manifest: expected text"),
    ("codec: hificodec", "TrainConfig.codec: expected a mapping"),
    ("segment_secs: 1.0", "unknown keys ['segment_secs']"),
])
def test_a_wrong_value_names_its_field(tmp_path, text, field):
    with pytest.raises(ConfigError, match=field.replace("[", r"\[").replace("]", r"\]")):
        TrainConfig.from_yaml(write(tmp_path, f"train_manifest: a.jsonl\nout_dir: out\n{text}\n"))


def test_model_configs_are_checked_too():
    assert load_preset("distilcodec", hop="480").hop == 480
    with pytest.raises(ConfigError, match=r"unknown keys \['codebok_size'\]"):
        load_preset("distilcodec", quantizer={"kind": "single", "codebok_size": 4096})
    with pytest.raises(ConfigError, match="CodecConfig.dim: expected an integer"):
        CodecConfig(dim="wide")
    assert TtsConfig(codec_hash=12345678).codec_hash == "12345678"  # an all-digit hash read by YAML
    with pytest.raises(ConfigError, match="TtsConfig.tie_embeddings: expected true or false"):
        TtsConfig(tie_embeddings="no")


def test_yaml_files_that_are_not_settings(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        read_yaml_mapping(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="line 2 not valid YAML"):
        read_yaml_mapping(write(tmp_path, "lr: 1\nbetas: [0.9, 0.99]]\n"))
    with pytest.raises(ConfigError, match="expected a mapping of settings at the top, got list"):
        read_yaml_mapping(write(tmp_path, "- lr: 1\n"))
    assert read_yaml_mapping(write(tmp_path, "")) == {}


@pytest.mark.parametrize("module", ["codec.train", "tts.train"])
def test_the_training_clis_report_a_bad_setting_in_one_line(tmp_path, module):
    keys = "train_manifest: a.jsonl\n" if module == "codec.train" else "train_tokens: t.safetensors\ntokenizer: t.json\n"
    path = write(tmp_path, f"{keys}out_dir: {tmp_path / 'out'}\nlr: fast\n")
    run = subprocess.run([sys.executable, "-m", module, "--config", str(path)], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode != 0
    assert run.stderr.strip() == "error: TrainConfig.lr: expected a number, got 'fast'".replace(
        "TrainConfig", "TrainConfig" if module == "codec.train" else "TtsTrainConfig")
    assert not (tmp_path / "out").exists()


def test_a_missing_input_or_required_key_stops_the_run_in_one_line(tmp_path):
    out = tmp_path / "out"
    for text, message in ((f"out_dir: {out}\n", "missing required keys ['train_manifest']"),
                          (f"train_manifest: {tmp_path / 'nope.jsonl'}\nout_dir: {out}\n",
                           f"train_manifest: {tmp_path / 'nope.jsonl'}: no such file or directory")):
        run = subprocess.run([sys.executable, "-m", "codec.train", "--config", str(write(tmp_path, text))], cwd=ROOT,
                             capture_output=True, text=True, timeout=120)
        assert run.returncode == 1 and run.stderr.strip().endswith(message), run.stderr
        assert "Traceback" not in run.stderr and not out.exists()


@pytest.mark.parametrize("script, args, message", [
    ("prepare.py", ["{tmp}/no_corpus", "{tmp}/manifests"], "{tmp}/no_corpus: no such corpus folder"),
    ("publish.py", ["{tmp}/no_model", "{tmp}/published"], "{tmp}/no_model/config.json: No such file or directory"),
    ("evaluate.py", ["--manifest", "{tmp}/none.jsonl"], "{tmp}/none.jsonl: No such file or directory"),
])
def test_recipe_scripts_report_mistakes_in_one_line(tmp_path, script, args, message):
    run = subprocess.run([sys.executable, str(ROOT / "recipes/libritts" / script), *(a.format(tmp=tmp_path) for a in args)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 1
    assert run.stderr.strip() == f"{script}: error: {message.format(tmp=tmp_path)}"
