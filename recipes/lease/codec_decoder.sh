#!/usr/bin/env bash
# Lease job: a decoder-only fine-tune of the bundled single-codebook codec, for as long as the
# lease allows. The encoder and the codebook stay frozen (the codes, and so the TTS trained on
# them, stay valid: the same codes_hash); only what the codes decode to is trained. Returns
# the model as transfer.py parts in $OUT, plus the training log.
#   device run, carry [".whl"]:  bash recipes/lease/codec_decoder.sh
#   here, as the tests do:        LOCAL=1 OUT=/tmp/out CORPUS=... BUDGET_S=20 bash recipes/lease/codec_decoder.sh
#   back here:                    python recipes/lease/transfer.py unpack <files_at> exp/decoder_lease
# Settings (environment): BUDGET_S training seconds (default 420: a 15-minute lease less the
# start, the corpus and the return), CONF (recipes/libritts/conf/distilcodec_decoder.yaml), INIT
# (models/distilcodec), DISC (discriminators to warm-start from: a codec checkpoint, optional),
# B batch (32), SEG segment seconds (1.0), LR (2e-4), EXTRA (more --set KEY=VALUE arguments),
# CORPUS or N_TRAIN / N_DEV / JOBS (bootstrap.sh).
set -euo pipefail
# shellcheck source=recipes/lease/bootstrap.sh
source "$(dirname "$0")/bootstrap.sh"
corpus=$(lease_corpus)
run=$WORK/codec_decoder
sets=(--set "train_manifest=$corpus/manifests/train.jsonl" --set "dev_manifest=$corpus/manifests/dev.jsonl"
      --set "init_from=${INIT:-models/distilcodec}" --set "batch_size=${B:-32}" --set "segment_seconds=${SEG:-1.0}"
      --set "lr=${LR:-2.0e-4}" --set "sample_every=100000")
if [ -n "${DISC:-}" ]; then sets+=(--set "init_disc_from=$DISC"); fi
# shellcheck disable=SC2206
extra=(${EXTRA:-})
$PY -m codec.train --config "${CONF:-recipes/libritts/conf/distilcodec_decoder.yaml}" --out-dir "$run" \
  "${sets[@]}" "${extra[@]}" --time-budget "${BUDGET_S:-420}" 2>&1 | tee "$OUT/train.log" >&2
[ -f "$run/model/model.safetensors" ] || { echo "codec_decoder.sh: training wrote no model (see train.log)" >&2; exit 1; }
$PY recipes/lease/transfer.py pack "$run/model" "$OUT"
ls -l "$OUT" >&2
