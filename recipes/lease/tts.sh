#!/usr/bin/env bash
# Lease job: more training of the bundled TTS (warm start) for as long as the lease allows, on
# token files sent along (TOKENS=DIR with train.safetensors[.xz] and dev.safetensors, made here
# by `tts-cli encode-corpus`), or without TOKENS on a corpus spoken there and encoded with the
# codec the TTS reads (that needs the codec beside the TTS: over a 64 MiB lease, so for
# machines without that limit, and for LOCAL=1).
# Returns the model as transfer.py parts (float16, as published) in $OUT, plus the log.
#   here:  recipes/lease/wheels.sh .whl_audio soundfile soxr cffi pycparser; recipes/lease/aside.sh out tts
#   device run, carry [".whl_audio", "exp/lease_tokens"]:
#          WHEELS=.whl_audio TOKENS=exp/lease_tokens bash recipes/lease/tts.sh   (then aside.sh back)
#   here, as the tests do:        LOCAL=1 OUT=/tmp/out CORPUS=... CONF=... BUDGET_S=20 bash recipes/lease/tts.sh
#   back here:                    python recipes/lease/transfer.py unpack <files_at> exp/tts_lease
#                                 then evaluate_tts.py --tts exp/tts_lease (stage 11) before publishing
# Settings (environment): BUDGET_S training seconds (default 360), CONF
# (recipes/libritts/conf/tts_small_gpu_selffeed.yaml: scheduled sampling, the bundled model's
# second phase), INIT (models/tts), SPEEDS (speed-perturbed copies, e.g. 0.9,1.0,1.1: costs CPU
# time on the lease; without TOKENS), B batch (the config's), LR (the config's), EXTRA (more --set KEY=VALUE),
# CORPUS or N_TRAIN / N_DEV / JOBS (bootstrap.sh).
set -euo pipefail
# shellcheck source=recipes/lease/bootstrap.sh
source "$(dirname "$0")/bootstrap.sh"
init=${INIT:-models/tts}
tokens=$WORK/tts_tokens
mkdir -p "$tokens"
if [ -n "${TOKENS:-}" ]; then  # token files made here (tts-cli encode-corpus), .xz where compressed
  for split in train dev; do
    if [ -f "$TOKENS/$split.safetensors.xz" ]; then
      $PY -c "import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], 'wb'))" \
        "$TOKENS/$split.safetensors.xz" "$tokens/$split.safetensors"
    else
      cp "$TOKENS/$split.safetensors" "$tokens/$split.safetensors"
    fi
  done
else
  corpus=$(lease_corpus)
  codec=$($PY -c "import json,sys; print(json.load(open(sys.argv[1]))['config']['codec'])" "$init/config.json")
  $PY -m tts.cli encode-corpus "$corpus/manifests/train.jsonl" "$tokens/train.safetensors" --codec "models/$codec" \
    --speeds "${SPEEDS:-1.0}" >&2
  $PY -m tts.cli encode-corpus "$corpus/manifests/dev.jsonl" "$tokens/dev.safetensors" --codec "models/$codec" >&2
fi
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
$PY recipes/libritts/publish_tts.py "$run/model" "$WORK/tts_half" --weights-only  # float16, as published
$PY recipes/lease/transfer.py pack "$WORK/tts_half" "$OUT"
ls -l "$OUT" >&2
