#!/usr/bin/env bash
# Codec recipe: corpus -> manifests -> teacher (GRVQ) -> distilled single-codebook student.
#   recipes/libritts/run.sh [--stage N] [--stop-stage N] [--nproc N] [--corpus DIR] [--size mini|tiny]
# Stage 0 synthesizes the mini corpus with espeak-ng (skip it and pass --corpus for real
# LibriTTS). With --nproc > 1 training runs under torchrun (DDP). Every stage resumes.
set -euo pipefail
cd "$(dirname "$0")/../.."
stage=0; stop_stage=3; nproc=1; corpus=data/mini; size=mini
while [ $# -gt 0 ]; do
  case "$1" in
    --stage) stage=$2; shift 2;; --stop-stage) stop_stage=$2; shift 2;;
    --nproc) nproc=$2; shift 2;; --corpus) corpus=$2; shift 2;; --size) size=$2; shift 2;;
    *) echo "run.sh: unknown option $1" >&2; exit 2;;
  esac
done
PY=${PYTHON:-python}
conf=recipes/libritts/conf
if [ "$size" = tiny ]; then teacher_conf=$conf/tiny.yaml; student_conf=$conf/tiny_distill.yaml
else teacher_conf=$conf/hificodec.yaml; student_conf=$conf/distilcodec.yaml; fi
launch() { if [ "$nproc" -gt 1 ]; then $PY -m torch.distributed.run --standalone --nproc_per_node="$nproc" "$@"; else $PY "$@"; fi; }
resume_flag() { [ -f "$1/checkpoint.safetensors" ] && echo --resume || true; }
out_of() { $PY -c "import yaml,sys; print(yaml.safe_load(open(sys.argv[1]))['out_dir'])" "$1"; }

if [ "$stage" -le 0 ] && [ "$stop_stage" -ge 0 ] && [ ! -d "$corpus/train-clean-mini" ]; then
  $PY recipes/libritts/make_mini_corpus.py --out "$corpus"
fi
if [ "$stage" -le 1 ] && [ "$stop_stage" -ge 1 ]; then
  $PY recipes/libritts/prepare.py "$corpus" data/mini/manifests
fi
if [ "$stage" -le 2 ] && [ "$stop_stage" -ge 2 ]; then
  launch -m codec.train --config "$teacher_conf" $(resume_flag "$(out_of "$teacher_conf")")
fi
if [ "$stage" -le 3 ] && [ "$stop_stage" -ge 3 ]; then
  launch -m codec.distill --config "$student_conf" $(resume_flag "$(out_of "$student_conf")")
fi
