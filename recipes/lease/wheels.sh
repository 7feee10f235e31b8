#!/usr/bin/env bash
# Download the wheels a bare GPU lease lacks into .whl/ (the lease reaches no registry; its
# python3 is CPython 3.12 with torch, numpy, safetensors, tqdm, tensorboard, yaml): soundfile
# (audio files), soxr (resampling), cffi/pycparser (soundfile's needs) and espeakng-loader
# (espeak-ng as a library: the corpus is spoken there, where no espeak-ng program exists).
# The versions are the ones this checkout's .venv runs, so the lease runs what the tests ran.
#   recipes/lease/wheels.sh [DIR [PACKAGE...]]   (default .whl, all five: 12 MB; git ignores /.whl/)
# A job that speaks no corpus (tts.sh with TOKENS=) needs only the first four (1.5 MB):
#   recipes/lease/wheels.sh .whl_audio soundfile soxr cffi pycparser   and WHEELS=.whl_audio
set -euo pipefail
cd "$(dirname "$0")/../.."
dest=${1:-.whl}
packages=("${@:2}")
if [ ${#packages[@]} -eq 0 ]; then packages=(soundfile soxr cffi pycparser espeakng-loader); fi
PY=${PYTHON:-.venv/bin/python}
platforms=""
for n in 2_28 2_27 2_17 2014 1; do
  case $n in 2014|1) platforms="$platforms --platform manylinux${n}_x86_64";; *) platforms="$platforms --platform manylinux_${n}_x86_64";; esac
done
mkdir -p "$dest"
for pkg in "${packages[@]}"; do
  version=$($PY -m pip show "$pkg" 2>/dev/null | sed -n 's/^Version: //p')
  if [ -z "$version" ]; then echo "wheels.sh: $pkg is not installed in $PY's environment (make setup)" >&2; exit 1; fi
  # shellcheck disable=SC2086
  $PY -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    $platforms --platform any -d "$dest" "$pkg==$version"
done
ls -1 "$dest"
