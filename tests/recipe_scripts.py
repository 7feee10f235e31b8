"""Import a ``recipes/libritts`` script as a module (the scripts are run by path, not a package)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

RECIPE = Path(__file__).resolve().parents[1] / "recipes/libritts"


def load_recipe_script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"libritts_{name}", RECIPE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
