#!/usr/bin/env bash
# A lease is sent the working tree (tracked files present on disk, untracked ones git does not
# ignore, and what `carry` names) up to 64 MiB; the bundled models alone are ~108 MB. Before a
# lease call, move the model folders the job does not read into .lease_aside/ (ignored: it does
# not travel), and back after:
#   recipes/lease/aside.sh out codec_decoder|tts   then the device run, then
#   recipes/lease/aside.sh back
# Nothing is deleted: the folders are moved whole (their ONNX graphs too), and were a session
# to end in between, `git checkout -- models` restores the weights. `out` prints what will travel.
set -euo pipefail
cd "$(dirname "$0")/../.."
case "${1:-}" in
  out)
    case "${2:-}" in
      codec_decoder) keep="distilcodec";;
      tts) keep="tts";;   # tts.sh with TOKENS= (its codec would not fit beside it: 61 MiB + wheels)
      *) echo "aside.sh out codec_decoder|tts" >&2; exit 2;;
    esac
    mkdir -p .lease_aside
    for dir in models/*/; do
      name=$(basename "$dir")
      case " $keep " in *" $name "*) ;; *) mv "$dir" ".lease_aside/$name";; esac
    done
    # tracked files still on disk (the ones aside are not) and untracked ones git does not ignore
    bytes=$( (git ls-files -z; git ls-files -z --others --exclude-standard) \
             | { xargs -0 -r stat -c %s 2>/dev/null || true; } | awk '{s += $1} END {print s + 0}')
    wheels=${WHEELS:-.whl}
    carried=$(du -sb "$wheels" 2>/dev/null | cut -f1 || echo 0)
    echo "the working tree sends $((bytes / 1048576)) MiB, $wheels $((${carried:-0} / 1048576)) MiB, and what else is carried (limit 64 MiB together)"
    if [ $((bytes + ${carried:-0})) -gt $((64 * 1048576)) ]; then echo "aside.sh: that is over 64 MiB already" >&2; exit 1; fi
    ;;
  back)
    [ -d .lease_aside ] || { echo "aside.sh: nothing is aside" >&2; exit 0; }
    for dir in .lease_aside/*/; do [ -d "$dir" ] && mv "$dir" "models/$(basename "$dir")"; done
    rmdir .lease_aside
    ;;
  *) echo "usage: aside.sh out codec_decoder|tts | back" >&2; exit 2;;
esac
