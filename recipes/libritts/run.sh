#!/usr/bin/env bash
# Codec recipe: 0 corpus -> 1 manifests -> 2 teacher (GRVQ) -> 3 distilled single-codebook
# student, its codebook refitted by k-means (codec.refit), then fine-tuned with phonetic
# distillation toward a CTC recognizer (trained here; seed 1), a last refit, and with
# --codec-decoder-conf a decoder-only fine-tune (encoder and codes frozen: the codes, and so
# the TTS, stay valid) -> 4 evaluate
# (vs Opus/Codec2) -> 5 publish to models/ with ONNX graphs;
# TTS: 6 encode the corpus with the published distilcodec -> 7 BPE -> 8 train -> 9 publish;
# 10 train the CTC recognizer that measures intelligibility (seed 0: not the codec's phonetic
# teacher, so the codec cannot have learned to please its judge), the best-of-N verifier and
# the speaker encoder -> 11 TTS word error rates and speaker similarity -> 12 with
# --tts-dpo-conf: preference optimization (DPO) on pairs of the published TTS's own renditions
# that the verifier tells apart, --tts-dpo-rounds times (each round draws from the one before),
# published over stage 9's model and measured as stage 11 measures it (exp/eval/tts_dpo*.md).
#   recipes/libritts/run.sh [--stage N] [--stop-stage N] [--nproc N] [--corpus DIR]
#                           [--exp DIR] [--models DIR] [--size mini|tiny] [--train-utts N]
#                           [--tts-conf FILE] [--tts-finetune-conf FILE] [--codec-decoder-conf FILE]
#                           [--tts-speeds S,S,...]  (stage 6: speed-perturbed training voices, e.g. 0.9,1.0,1.1)
#                           [--tts-speeds-conf FILE]  (stage 8: a last phase on them, after training on the voices
#                                                      as recorded; the bundled TTS's third phase)
#                           [--tts-dpo-conf FILE] [--tts-dpo-rounds N]  (stage 12)
#                           [--tts-dpo-draw-jobs N]  (stage 12: N draw-preferences processes at once, each a shard)
#                           [--tts-dpo-draw-args "..."]  (stage 12: instead of the size's, e.g.
#                                                          "--candidates 4 --limit 4000 --backend torch --device cuda")
# Stage 0 synthesizes the mini corpus with espeak-ng (skip it and pass --corpus for real
# LibriTTS). With --nproc > 1 training runs under torchrun (DDP). Every stage is re-runnable:
# training resumes from its last checkpoint.
set -euo pipefail
cd "$(dirname "$0")/../.."
stage=0; stop_stage=12; nproc=1; corpus=data/mini; exp=exp; models=models; size=mini; train_utts=4000; tts_conf=; tts_finetune_conf=; decoder_conf=; tts_speeds=1.0; tts_speeds_conf=; tts_dpo_conf=; tts_dpo_rounds=1; dpo_jobs=1; dpo_draw_args=
while [ $# -gt 0 ]; do
  case "$1" in
    --stage) stage=$2; shift 2;; --stop-stage) stop_stage=$2; shift 2;;
    --nproc) nproc=$2; shift 2;; --corpus) corpus=$2; shift 2;; --exp) exp=$2; shift 2;;
    --models) models=$2; shift 2;; --size) size=$2; shift 2;;
    --train-utts) train_utts=$2; shift 2;; --tts-conf) tts_conf=$2; shift 2;;
    --tts-finetune-conf) tts_finetune_conf=$2; shift 2;;
    --codec-decoder-conf) decoder_conf=$2; shift 2;;
    --tts-speeds) tts_speeds=$2; shift 2;;
    --tts-speeds-conf) tts_speeds_conf=$2; shift 2;;
    --tts-dpo-conf) tts_dpo_conf=$2; shift 2;; --tts-dpo-rounds) tts_dpo_rounds=$2; shift 2;;
    --tts-dpo-draw-jobs) dpo_jobs=$2; shift 2;; --tts-dpo-draw-args) dpo_draw_args=$2; shift 2;;
    *) echo "run.sh: unknown option $1" >&2; exit 2;;
  esac
done
PY=${PYTHON:-python}
conf=recipes/libritts/conf
manifests=$corpus/manifests
if [ "$size" = tiny ]; then
  teacher_conf=$conf/tiny.yaml; student_conf=$conf/tiny_distill.yaml; finetune_conf=$conf/tiny_distill_finetune.yaml; tts_conf=${tts_conf:-$conf/tts_tiny.yaml}; bpe=300
  decoder_conf=${decoder_conf:-$conf/tiny_decoder.yaml}
  tts_finetune_conf=${tts_finetune_conf:-$conf/tts_tiny_selffeed.yaml}
  tts_dpo_conf=${tts_dpo_conf:-$conf/tts_tiny_dpo.yaml}
  if [ "$tts_speeds" != 1.0 ]; then tts_speeds_conf=${tts_speeds_conf:-$conf/tts_tiny_speeds.yaml}; fi
  asr_args="--steps 4 --dim 32"; speaker_args="--steps 4"; tts_eval=2
  dpo_draw_args=${dpo_draw_args:-"--candidates 2 --limit 8 --min-gap 0"}
  corpus_args="--n-train 12 --n-dev 2 --n-test 3 --train-speakers 3 --test-speakers 1 --test-variants 1"
else
  # bpe=256: the byte alphabet, i.e. characters. A TTS trained from scratch on a few hours learns
  # to read characters far sooner than whole-word BPE tokens (each is seen thousands of times).
  teacher_conf=$conf/hificodec.yaml; student_conf=$conf/distilcodec.yaml; finetune_conf=$conf/distilcodec_finetune.yaml; tts_conf=${tts_conf:-$conf/tts_small.yaml}; bpe=256
  asr_args="--steps 900"; speaker_args="--steps 1000"; tts_eval=40
  dpo_draw_args=${dpo_draw_args:-"--candidates 4 --limit 250"}   # ~37 min on 2 CPU cores: 239 pairs
  # --train-utts 16000 (26 h): what the GPU TTS config (conf/tts_small_gpu.yaml) trains on
  corpus_args="--n-train $train_utts"
fi
if [ -n "$tts_speeds_conf" ] && [ "$tts_speeds" = 1.0 ]; then
  echo "run.sh: --tts-speeds-conf trains on speed-perturbed voices: give --tts-speeds too (e.g. 0.9,1.0,1.1)" >&2; exit 2
fi
teacher=$exp/teacher; distilled=$exp/student; refitted=$exp/student_refit; tuned=$exp/student_ft
student=$exp/student_final; final=$student
if [ -n "$decoder_conf" ]; then final=$exp/student_decoder; fi
train_asr() {  # DIR SEED: a CTC recognizer (resumes; a no-op once finished)
  # shellcheck disable=SC2086
  $PY -m tts.asr train "$manifests/train.jsonl" "$1" --dev "$manifests/dev.jsonl" --seed "$2" $asr_args
}
launch() { if [ "$nproc" -gt 1 ]; then $PY -m torch.distributed.run --standalone --nproc_per_node="$nproc" "$@"; else $PY "$@"; fi; }
draw_pairs() {  # DIR SEED: DIR/pairs.safetensors, drawn by $dpo_jobs processes at once (shards, then merged)
  local shards=() pids=() k
  # shellcheck disable=SC2206
  local by=(--model "$models/tts" --verifier "$models/asr_verifier" --seed "$2" $dpo_draw_args)
  if [ "$dpo_jobs" -le 1 ]; then
    $PY -m tts.cli draw-preferences "$dpo_tokens" "$1/pairs.safetensors" "${by[@]}"
    return
  fi
  for k in $(seq 0 $((dpo_jobs - 1))); do
    shards+=("$1/pairs.shard$k.safetensors")
    $PY -m tts.cli draw-preferences "$dpo_tokens" "${shards[$k]}" --shard "$k/$dpo_jobs" --threads 1 "${by[@]}" & pids+=($!)
  done
  for k in "${pids[@]}"; do wait "$k"; done   # set -e: a failed shard stops the recipe (rerun: it continues)
  $PY -m tts.cli merge-pairs "$1/pairs.safetensors" "${shards[@]}"
}
resume_flag() { [ -f "$1/checkpoint.safetensors" ] && echo --resume || true; }
data_args="--set train_manifest=$manifests/train.jsonl --set dev_manifest=$manifests/dev.jsonl"

if [ "$stage" -le 0 ] && [ "$stop_stage" -ge 0 ] && [ ! -d "$corpus/train-clean-mini" ]; then
  # shellcheck disable=SC2086
  $PY recipes/libritts/make_mini_corpus.py --out "$corpus" $corpus_args
fi
if [ "$stage" -le 1 ] && [ "$stop_stage" -ge 1 ]; then
  $PY recipes/libritts/prepare.py "$corpus" "$manifests"
fi
if [ "$stage" -le 2 ] && [ "$stop_stage" -ge 2 ]; then
  # shellcheck disable=SC2086
  launch -m codec.train --config "$teacher_conf" --out-dir "$teacher" $data_args $(resume_flag "$teacher")
fi
if [ "$stage" -le 3 ] && [ "$stop_stage" -ge 3 ]; then
  # shellcheck disable=SC2086
  launch -m codec.distill --config "$student_conf" --out-dir "$distilled" --set "teacher=$teacher/model" \
    $data_args $(resume_flag "$distilled")
  refit() {  # k-means re-estimation of the 16k codes, redone whenever the source model is newer
    if [ "$1/model.safetensors" -nt "$2/model.safetensors" ]; then
      $PY -m codec.refit --model "$1" --manifest "$manifests/train.jsonl" --out "$2" --frames 500000 --iters 12 "${@:3}"
    fi
  }
  refit "$distilled/model" "$refitted/model" --ema-decay 0.999
  train_asr "$exp/asr_teacher" 1
  # shellcheck disable=SC2086
  launch -m codec.distill --config "$finetune_conf" --out-dir "$tuned" --set "teacher=$teacher/model" \
    --set "phonetic_teacher=$exp/asr_teacher" \
    --set "init_from=$refitted/model" --set "init_disc_from=$distilled/checkpoint.safetensors" \
    $data_args $(resume_flag "$tuned")
  refit "$tuned/model" "$student/model"   # the fine-tune's restarts drift; a last refit costs no quality
  if [ -n "$decoder_conf" ]; then  # e.g. conf/distilcodec_decoder.yaml (GPU-sized: 3000 CPU steps did not lift PESQ)
    # shellcheck disable=SC2086
    launch -m codec.train --config "$decoder_conf" --out-dir "$final" --set "init_from=$student/model" \
      $data_args $(resume_flag "$final")
  fi
fi
if [ "$stage" -le 4 ] && [ "$stop_stage" -ge 4 ]; then
  train_asr "$exp/asr" 0   # the judge (stage 10 publishes it): WER of every round trip
  $PY recipes/libritts/evaluate.py --manifest "$manifests/test.jsonl" --train-manifest "$manifests/train.jsonl" \
    --models "$teacher/model" "$final/model" --asr "$exp/asr" --out "$exp/eval/codec.md"
fi
if [ "$stage" -le 5 ] && [ "$stop_stage" -ge 5 ]; then
  # Published under the family name (hificodec, distilcodec): .codes files name it, and
  # codec-cli decode finds models/<name>/ from that.
  $PY recipes/libritts/publish.py "$teacher/model" "$final/model" "$models"
fi
tts=$exp/tts
# The TTS model names its codec: the bundled name for real runs, the folder for the tiny run.
if [ "$size" = tiny ]; then tts_preset=tiny; tts_codec=$models/distilcodec; else tts_preset=small; tts_codec=distilcodec; fi
if [ "$stage" -le 6 ] && [ "$stop_stage" -ge 6 ]; then
  for split in train dev test; do   # cached: re-encoded only when the codes or speeds change
    speeds=1.0; if [ "$split" = train ] && [ -z "$tts_speeds_conf" ]; then speeds=$tts_speeds; fi   # held-out splits stay as recorded
    $PY -m tts.cli encode-corpus "$manifests/$split.jsonl" "$tts/tokens/$split.safetensors" --codec "$models/distilcodec" \
      --speeds "$speeds"
  done
  if [ -n "$tts_speeds_conf" ]; then  # the last phase's voices: the training split at every --tts-speeds
    $PY -m tts.cli encode-corpus "$manifests/train.jsonl" "$tts/tokens/train_sp.safetensors" --codec "$models/distilcodec" \
      --speeds "$tts_speeds"
  fi
fi
if [ "$stage" -le 7 ] && [ "$stop_stage" -ge 7 ]; then
  $PY -m tts.cli train-tokenizer "$manifests/train.jsonl" "$tts/tokenizer.json" --vocab-size "$bpe"
fi
if [ "$stage" -le 8 ] && [ "$stop_stage" -ge 8 ]; then
  tts_data=(--set "train_tokens=$tts/tokens/train.safetensors" --set "dev_tokens=$tts/tokens/dev.safetensors"
            --set "tokenizer=$tts/tokenizer.json")
  # shellcheck disable=SC2046
  launch -m tts.train --config "$tts_conf" --out-dir "$tts/train" "${tts_data[@]}" \
    --set "model={preset: $tts_preset, codec: $tts_codec}" $(resume_flag "$tts/train")
  if [ -n "$tts_finetune_conf" ]; then  # second phase (self_feed), warm-started from the first
    # shellcheck disable=SC2046
    launch -m tts.train --config "$tts_finetune_conf" --out-dir "$tts/finetune" "${tts_data[@]}" \
      --set "init_from=$tts/train/model" $(resume_flag "$tts/finetune")
  fi
  if [ -n "$tts_speeds_conf" ]; then  # last phase, on speed-perturbed voices, warm-started from the one before
    prev=$tts/train/model; if [ -n "$tts_finetune_conf" ]; then prev=$tts/finetune/model; fi
    # shellcheck disable=SC2046
    launch -m tts.train --config "$tts_speeds_conf" --out-dir "$tts/speeds" "${tts_data[@]}" \
      --set "train_tokens=$tts/tokens/train_sp.safetensors" --set "init_from=$prev" $(resume_flag "$tts/speeds")
  fi
fi
tts_final=$tts/train/model   # the last phase stage 8 trained: what stage 9 publishes
if [ -n "$tts_finetune_conf" ]; then tts_final=$tts/finetune/model; fi
if [ -n "$tts_speeds_conf" ]; then tts_final=$tts/speeds/model; fi
if [ "$stage" -le 9 ] && [ "$stop_stage" -ge 9 ]; then
  $PY recipes/libritts/publish_tts.py "$tts_final" "$models/tts" --manifest "$manifests/dev.jsonl" --int8
fi
if [ "$stage" -le 10 ] && [ "$stop_stage" -ge 10 ]; then
  train_asr "$exp/asr" 0            # the judge
  train_asr "$exp/asr_teacher" 1    # another recognizer: best-of-N's verifier (and the codec's phonetic teacher)
  mkdir -p "$models/asr" "$models/asr_verifier"
  cp "$exp/asr/config.json" "$exp/asr/model.safetensors" "$models/asr/"
  cp "$exp/asr_teacher/config.json" "$exp/asr_teacher/model.safetensors" "$models/asr_verifier/"
  $PY -m tts.asr export-onnx "$models/asr_verifier"
  # the speaker encoder behind stage 11's similarity figure, scored on the unseen test voices
  # shellcheck disable=SC2086
  $PY -m tts.speaker train "$manifests/train.jsonl" "$exp/speaker" --dev "$manifests/test.jsonl" $speaker_args
  mkdir -p "$models/speaker"
  cp "$exp/speaker/config.json" "$exp/speaker/model.safetensors" "$models/speaker/"
  $PY -m tts.speaker export-onnx "$models/speaker"   # the server's consent check compares voices with it
fi
evaluate_tts() {  # PREFIX: the published TTS's word error rates and speaker similarity -> $exp/eval/PREFIX*.md
  local eval_tts=(recipes/libritts/evaluate_tts.py --manifest "$manifests/test.jsonl" --train-manifest "$manifests/train.jsonl"
                  --tts "$models/tts" --asr "$models/asr" --speaker "$models/speaker" --limit "$tts_eval")
  $PY "${eval_tts[@]}" --out "$exp/eval/$1.md"
  # as `make serve` serves it: best of 4, voice prompts cut to their first words within 3 s
  $PY "${eval_tts[@]}" --best-of 4 --verifier "$models/asr_verifier" --prompt-seconds 3 --out "$exp/eval/${1}_best4.md"
  # two held-out sentences per request: what long text adds (the second starts from the voice prompt again)
  $PY "${eval_tts[@]}" --sentences 2 --out "$exp/eval/${1}_pairs.md"
}
if [ "$stage" -le 11 ] && [ "$stop_stage" -ge 11 ]; then
  evaluate_tts tts
fi
if [ "$stage" -le 12 ] && [ "$stop_stage" -ge 12 ] && [ -n "$tts_dpo_conf" ]; then
  dpo_tokens=$tts/tokens/train.safetensors; if [ -n "$tts_speeds_conf" ]; then dpo_tokens=$tts/tokens/train_sp.safetensors; fi
  prev=$tts_final
  for round in $(seq 1 "$tts_dpo_rounds"); do
    dpo=$tts/dpo$round
    if [ ! -f "$dpo/published" ]; then   # a round drawn, trained and published is not run again
      # pairs of what $models/tts (stage 9's model, or the round before) says; the draw continues where it stopped
      draw_pairs "$dpo" "$round"
      # shellcheck disable=SC2046
      launch -m tts.preference --config "$tts_dpo_conf" --out-dir "$dpo" --set "train_tokens=$dpo/pairs.safetensors" \
        --set "dev_tokens=$tts/tokens/dev.safetensors" --set "tokenizer=$tts/tokenizer.json" --set "init_from=$prev" \
        $(resume_flag "$dpo")
      $PY recipes/libritts/publish_tts.py "$dpo/model" "$models/tts" --manifest "$manifests/dev.jsonl" --int8
      touch "$dpo/published"
    fi
    prev=$dpo/model
  done
  evaluate_tts tts_dpo
fi
