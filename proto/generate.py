"""Generate the Python gRPC stubs for proto/speech/v1/*.proto into serve/gen/ (``make proto``).

grpc_tools writes absolute imports (``from speech.v1 import speech_pb2``); they are rewritten
to ``serve.gen.speech.v1`` so the stubs live inside our package. ``--check`` regenerates into
a temporary folder and fails when the committed stubs differ (the proto changed, stubs not).
"""

from __future__ import annotations

import argparse
import filecmp
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROTO_DIR = ROOT / "proto"
OUT_DIR = ROOT / "serve" / "gen"
PACKAGE = "serve.gen"


def generate(out_dir: Path) -> list[Path]:
    from grpc_tools import protoc

    protos = sorted(str(p.relative_to(PROTO_DIR)) for p in PROTO_DIR.rglob("*.proto"))
    with tempfile.TemporaryDirectory() as tmp:
        args = ["protoc", f"-I{PROTO_DIR}", f"--python_out={tmp}", f"--pyi_out={tmp}", f"--grpc_python_out={tmp}", *protos]
        if protoc.main(args) != 0:
            raise SystemExit("protoc failed")
        written = []
        for src in sorted(Path(tmp).rglob("*.py*")):
            rel = src.relative_to(tmp)
            text = src.read_text().replace("from speech.v1 import", f"from {PACKAGE}.speech.v1 import")
            dst = out_dir / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_text(text)
            written.append(rel)
    for folder in {out_dir, *[(out_dir / r).parent for r in written]}:
        while folder != out_dir.parent:
            (folder / "__init__.py").touch()
            folder = folder.parent
    return written


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="fail if the committed stubs are stale")
    args = p.parse_args()
    if not args.check:
        for rel in generate(OUT_DIR):
            print(f"wrote serve/gen/{rel}")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        stale = [r for r in generate(Path(tmp)) if not (OUT_DIR / r).is_file() or not filecmp.cmp(Path(tmp) / r, OUT_DIR / r, shallow=False)]
    for rel in stale:
        print(f"stale: serve/gen/{rel} (run make proto)", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
