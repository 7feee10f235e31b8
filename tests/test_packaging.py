"""The installed distribution declares the license it ships, and ships its text."""
import importlib.metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_license_is_declared_and_shipped():
    meta = importlib.metadata.metadata("speechcodec")
    assert meta["License-Expression"] == "Apache-2.0"
    assert "LICENSE" in (meta.get_all("License-File") or [])
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
