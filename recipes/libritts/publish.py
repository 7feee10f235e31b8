"""Stage 5: publish trained codecs, each as ``<models>/<family>/`` (config + safetensors + ONNX).

The model is renamed to its family name (``hificodec-small`` -> ``hificodec``): ``.codes``
files record that name and ``codec-cli decode`` looks it up under ``models/``. The ONNX
graphs are re-exported so they always match the weights (a test checks this).

    python recipes/libritts/publish.py exp/teacher/model exp/student_final/model models

Several in one process: the exporter's start (~7 s of imports and its operator registry) is
paid once.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from codec.errors import run_cli  # noqa: E402
from codec.config import CONFIG_FILE, WEIGHTS_FILE  # noqa: E402
from codec.onnx_export import export_codec  # noqa: E402
from codec.pretrained import load_codec  # noqa: E402


def publish(src: Path, models: Path) -> Path:
    meta = json.loads((src / CONFIG_FILE).read_text())
    name = meta["config"]["name"].split("-")[0]
    dst = models / name
    dst.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src / WEIGHTS_FILE, dst / WEIGHTS_FILE)
    meta["config"]["name"] = name
    (dst / CONFIG_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    paths = export_codec(load_codec(str(dst)), dst)
    print(f"published {src} -> {dst} ({', '.join(p.name for p in paths)})", file=sys.stderr)
    return dst


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("src", type=Path, nargs="+", help="trained model directories (exp/.../model)")
    p.add_argument("models", type=Path, help="models folder (e.g. models/)")
    args = p.parse_args(argv)
    for src in args.src:
        publish(src, args.models)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli("publish.py", main))
