# Sourced first by every lease job: which python, its packages, and where the work goes.
# On a lease (LOCAL unset): install the carried wheels (WHEELS, default .whl/) into /tmp/site (no registry there)
# and use the image's python3. LOCAL=1 runs the same job on this machine with .venv's python,
# the way the tests run it. Sets PY, WORK (scratch, default /tmp/lease) and OUT (what returns).
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
if [ -n "${LOCAL:-}" ]; then
  PY=${PYTHON:-.venv/bin/python}
else
  wheels=${WHEELS:-.whl}
  ls "$wheels"/*.whl >/dev/null 2>&1 || { echo "lease: no $wheels/ here: run recipes/lease/wheels.sh and carry it" >&2; exit 1; }
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$wheels"/*.whl
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
  PY=python3
fi
# progress bars every 20 s: a lease returns only the last 12,000 characters of its output
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 TQDM_MININTERVAL=${TQDM_MININTERVAL:-20}
: "${OUT:?OUT: the folder whose files come back (set by the lease; any folder with LOCAL=1)}"
WORK=${WORK:-/tmp/lease}
mkdir -p "$WORK" "$OUT"
# The corpus a job trains on: CORPUS (a LibriTTS-layout root with manifests/) when given, else
# N_TRAIN utterances (+ N_DEV) spoken here by JOBS espeak-ng workers into $WORK/corpus
# (CORPUS_ARGS: more make_mini_corpus.py arguments, e.g. fewer speakers for a tiny run).
lease_corpus() {
  if [ -n "${CORPUS:-}" ]; then echo "$CORPUS"; return; fi
  local root=$WORK/corpus
  if [ ! -f "$root/manifests/train.jsonl" ]; then
    # shellcheck disable=SC2086
    $PY recipes/libritts/make_mini_corpus.py --out "$root" --n-train "${N_TRAIN:-16000}" --n-dev "${N_DEV:-64}" \
      --n-test 0 --jobs "${JOBS:-16}" ${CORPUS_ARGS:-} >&2
    $PY recipes/libritts/prepare.py "$root" "$root/manifests" >&2
  fi
  echo "$root"
}
