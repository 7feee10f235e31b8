#!/usr/bin/env bash
# Lease job: more training of the bundled TTS (warm start) for as long as the lease allows, on
# a corpus spoken and encoded with the bundled codec there (no token file needs to travel).
# Returns the model as transfer.py parts (float16, as published) in $OUT, plus the log.
#   device run, carry [".whl"]:  bash recipes/lease/tts.sh
#   here, as the tests do:        LOCAL=1 OUT=/tmp/out CORPUS=... CONF=... BUDGET_S=20 bash recipes/lease/tts.sh
#   back here:                    python recipes/lease/transfer.py unpack <files_at> exp/tts_lease
#                                 then evaluate_tts.py --tts exp/tts_lease (stage 11) before publishing
# Settings (environment): BUDGET_S training seconds (default 360), CONF
# (recipes/libritts/conf/tts_small_gpu_selffeed.yaml: scheduled sampling, the bundled model's
# second phase), INIT (models/tts), SPEEDS (speed-perturbed copies, e.g. 0.9,1.0,1.1: costs CPU
# time on the lease), B batch (the config's), LR (the config's), EXTRA (more --set KEY=VALUE),
# CORPUS or N_TRAIN / N_DEV / JOBS (bootstrap.sh).
set -euo pipefail
# shellcheck source=recipes/lease/bootstrap.sh
source "$(dirname "$0")/bootstrap.sh"
corpus=$(lease_corpus)
init=${INIT:-models/tts}
codec=$($PY -c "import json,sys; print(json.load(open(sys.argv[1]))['config']['codec'])" "$init/config.json")
tokens=$WORK/tts_tokens
$PY -m tts.cli encode-corpus "$corpus/manifests/train.jsonl" "$tokens/train.safetensors" --codec "models/$codec" \
  --speeds "${SPEEDS:-1.0}" >&2
$PY -m tts.cli encode-corpus "$corpus/manifests/dev.jsonl" "$tokens/dev.safetensors" --codec "models/$codec" >&2
run=$WORK/tts
sets=(--set "init_from=$init" --set "tokenizer=$init/tokenizer.json" --set "train_tokens=$tokens/train.safetensors" --set "dev_tokens=$tokens/dev.safetensors"
      --set "sample_every=100000")
if [ -n "${B:-}" ]; then sets+=(--set "batch_size=$B"); fi
if [ -n "${LR:-}" ]; then sets+=(--set "lr=$LR"); fi
# shellcheck disable=SC2206
extra=(${EXTRA:-})
$PY -m tts.train --config "${CONF:-recipes/libritts/conf/tts_small_gpu_selffeed.yaml}" --out-dir "$run" \
  "${sets[@]}" "${extra[@]}" --time-budget "${BUDGET_S:-360}" 2>&1 | tee "$OUT/train.log" >&2
[ -f "$run/model/model.safetensors" ] || { echo "tts.sh: training wrote no model (see train.log)" >&2; exit 1; }
$PY recipes/lease/transfer.py pack "$run/model" "$OUT" --float16
ls -l "$OUT" >&2
