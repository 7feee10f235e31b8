# Every target sets up .venv first. torch comes first so pip keeps that exact build.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PKGS := espeak-ng ffmpeg opus-tools codec2

.PHONY: setup system-deps test test-fast demo bench proto serve onnx lease-wheels clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.14.1 torchaudio==2.11.0

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

# ONNX graphs of the bundled models are built from their committed weights (they would be
# ~100 MB per model in git); make re-exports whenever model.safetensors or config.json (the
# graphs carry the config: names, the TTS model's codec), or the exporter that writes them, is newer.
ONNX := $(patsubst %/model.safetensors,%/encoder.onnx,$(wildcard models/*codec*/model.safetensors))
models/%/encoder.onnx: models/%/model.safetensors models/%/config.json codec/onnx_export.py $(STAMP)
	$(BIN)/codec-cli export-onnx models/$*

TTS_ONNX := $(patsubst %/model.safetensors,%/tts.onnx,$(wildcard models/tts/model.safetensors))
models/tts/tts.onnx: models/tts/model.safetensors models/tts/config.json tts/onnx_export.py tts/model.py $(STAMP)
	$(BIN)/tts-cli export-onnx models/tts --quantize int8

ASR_ONNX := $(patsubst %/model.safetensors,%/asr.onnx,$(wildcard models/asr_verifier/model.safetensors))
models/asr_verifier/asr.onnx: models/asr_verifier/model.safetensors models/asr_verifier/config.json tts/asr_onnx.py tts/asr.py $(STAMP)
	$(BIN)/python -m tts.asr export-onnx models/asr_verifier

SPEAKER_ONNX := $(patsubst %/model.safetensors,%/speaker.onnx,$(wildcard models/speaker/model.safetensors))
models/speaker/speaker.onnx: models/speaker/model.safetensors models/speaker/config.json tts/speaker_onnx.py tts/asr_onnx.py tts/speaker.py $(STAMP)
	$(BIN)/python -m tts.speaker export-onnx models/speaker

onnx: $(ONNX) $(TTS_ONNX) $(ASR_ONNX) $(SPEAKER_ONNX)

# espeak-ng makes the training corpus; ffmpeg/opus-tools/codec2 are the evaluation baselines.
system-deps:
	@missing=""; for c in espeak-ng:espeak-ng ffmpeg:ffmpeg opusenc:opus-tools c2enc:codec2 openssl:openssl; do \
	  command -v $${c%%:*} >/dev/null || missing="$$missing $${c##*:}"; done; \
	if [ -n "$$missing" ]; then echo "installing$$missing"; \
	  $(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; fi

# The suite runs on TEST_JOBS processes (pytest-xdist; every test is single-threaded). conftest
# orders the slow tests first, longest first, so the longest starts at once; a worker that runs
# out of tests takes queued ones from another (worksteal). The 25 slowest are listed at the end.
TEST_JOBS ?= 2
test: setup system-deps onnx
	$(BIN)/python -m pytest -q -n $(TEST_JOBS) --dist worksteal --durations=25

test-fast: setup
	$(BIN)/python -m pytest -q -n $(TEST_JOBS) --dist worksteal -m "not slow"

demo: setup system-deps onnx
	mkdir -p build/demo
	espeak-ng -v en-us -w build/demo/sample.wav "This is a demonstration of our streaming speech codec."
	$(BIN)/codec-cli encode build/demo/sample.wav -o build/demo/sample.codes
	$(BIN)/codec-cli info build/demo/sample.codes
	$(BIN)/codec-cli decode build/demo/sample.codes -o build/demo/sample.decoded.wav

bench: setup onnx
	$(BIN)/python benchmarks/codec_speed.py
	$(BIN)/python benchmarks/onnx_speed.py
	$(BIN)/python benchmarks/long_files.py
	$(BIN)/python benchmarks/tts_speed.py --preset small --frames 100
	$(BIN)/python benchmarks/tts_train_speed.py
	$(BIN)/python benchmarks/load.py --model hificodec
	$(if $(wildcard models/tts/config.json),$(BIN)/python benchmarks/load.py --synthesize --clients 1 2 4)
	$(if $(wildcard models/asr_verifier/config.json),$(BIN)/python benchmarks/best_of.py)
	$(if $(wildcard models/asr_verifier/config.json),$(BIN)/python benchmarks/voice_trim.py)
	$(if $(wildcard models/tts/config.json),$(BIN)/python benchmarks/time_stretch.py)
	$(if $(wildcard models/asr_verifier/config.json),$(BIN)/python benchmarks/first_audio.py)
	$(if $(wildcard models/asr_verifier/config.json),$(BIN)/python benchmarks/prefill.py)
	$(if $(wildcard models/asr/config.json),$(BIN)/python benchmarks/tts_batch.py)

# Python gRPC stubs from proto/ (committed; tests fail when they drift from the proto).
proto: setup
	$(BIN)/python proto/generate.py

# The main command: set up, then serve the bundled codecs (and TTS) on 127.0.0.1:50051 (gRPC),
# over HTTP on :8000 (POST /v1/audio/speech, /v1/audio/codes, /v1/audio/decode; the text-stream
# WebSocket /v1/audio/speech/stream-input) and metrics on :9100.
serve: setup onnx
	$(BIN)/speech-server --codec hificodec --extra-codec distilcodec --metrics-port 9100 --http-port 8000 \
		$(if $(wildcard models/tts/config.json),--tts tts --voice-dir exp/voices) \
		$(if $(wildcard models/asr_verifier/config.json),--tts-verifier asr_verifier --voice-prompt-seconds 3)

# The wheels a bare GPU lease lacks, for recipes/lease/*.sh (carried as .whl, ignored by git).
lease-wheels: setup
	PYTHON=$(BIN)/python bash recipes/lease/wheels.sh .whl

clean:
	rm -rf build .pytest_cache
