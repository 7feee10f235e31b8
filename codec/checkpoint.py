"""Atomic training checkpoints in safetensors: weights, optimizer, schedulers, RNG, step.

Nothing is pickled: tensors go into one safetensors file and everything else (step,
param-group settings, scheduler counters, python RNG state) into its JSON metadata.
Resuming restores every RNG so the continued run is bit-for-bit the uninterrupted one.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, safe_open, save_file
from torch import nn

from .atomic import atomic_write

LATEST = "checkpoint.safetensors"


def state_hash(module: nn.Module) -> str:
    """Short content hash of a module's weights (names and bytes): identifies a model."""
    h = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def _optimizer_tensors(prefix: str, opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    sd = opt.state_dict()
    tensors = {
        f"{prefix}.state.{idx}.{name}": value.detach().cpu().contiguous()
        for idx, entry in sd["state"].items()
        for name, value in entry.items()
    }
    return tensors, {"param_groups": sd["param_groups"]}


def _optimizer_restore(prefix: str, opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith(prefix + ".state."):
            idx, name = key[len(prefix) + 7 :].split(".", 1)
            state.setdefault(int(idx), {})[name] = value
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def _rng_state() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors = {"rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        tensors.update({f"rng.cuda.{i}": s for i, s in enumerate(torch.cuda.get_rng_state_all())})
    np_state = np.random.get_state()
    tensors["rng.numpy"] = torch.from_numpy(np_state[1].astype(np.int64))
    meta = {"numpy": [np_state[0], int(np_state[2]), int(np_state[3]), float(np_state[4])], "python": _py_state()}
    return tensors, meta


def _py_state() -> list:
    version, internal, gauss = random.getstate()
    return [version, list(internal), gauss]


def _rng_restore(tensors: dict[str, torch.Tensor], meta: dict) -> None:
    torch.set_rng_state(tensors["rng.torch"])
    cuda = [tensors[k] for k in sorted(k for k in tensors if k.startswith("rng.cuda."))]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)
    name, pos, has_gauss, gauss = meta["numpy"]
    np.random.set_state((name, tensors["rng.numpy"].numpy().astype(np.uint32), pos, has_gauss, gauss))
    version, internal, g = meta["python"]
    random.setstate((version, tuple(internal), g))


def save_checkpoint(
    path: str | Path, step: int, modules: dict[str, nn.Module], optimizers: dict[str, torch.optim.Optimizer],
    extra: dict[str, Any] | None = None,
) -> None:
    """Write everything needed to resume at ``step``, atomically (temp file + rename)."""
    tensors: dict[str, torch.Tensor] = {}
    meta: dict[str, Any] = {"step": step, "extra": extra or {}, "optimizers": {}}
    for name, module in modules.items():
        tensors.update({f"{name}.{k}": v.detach().cpu().contiguous() for k, v in module.state_dict().items()})
    for name, opt in optimizers.items():
        t, m = _optimizer_tensors(f"opt.{name}", opt)
        tensors.update(t)
        meta["optimizers"][name] = m
    rng_t, meta["rng"] = _rng_state()
    tensors.update(rng_t)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata={"training_state": json.dumps(meta)}))


def load_module_weights(path: str | Path, name: str, module: nn.Module) -> None:
    """Load one module's weights out of a training checkpoint (no optimizer, step or RNG)."""
    prefix = name + "."
    state = {k[len(prefix) :]: v for k, v in load_file(str(path)).items() if k.startswith(prefix)}
    if not state:
        raise ValueError(f"{path}: checkpoint holds no '{name}' weights")
    module.load_state_dict(state)


def _training_state(path: str | Path) -> dict[str, Any]:
    with safe_open(str(path), framework="pt") as f:
        return json.loads(f.metadata()["training_state"])


def saved_step(path: str | Path) -> int:
    """The step a checkpoint was written at (0 when there is none), without loading tensors."""
    return _training_state(path)["step"] if Path(path).exists() else 0


def load_checkpoint(
    path: str | Path, modules: dict[str, nn.Module], optimizers: dict[str, torch.optim.Optimizer], restore_rng: bool = True
) -> dict[str, Any]:
    """Restore modules, optimizers and RNGs in place; return ``{"step", "extra"}``."""
    meta = _training_state(path)
    tensors = load_file(str(path))
    for name, module in modules.items():
        prefix = name + "."
        module.load_state_dict({k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)})
    for name, opt in optimizers.items():
        _optimizer_restore(f"opt.{name}", opt, tensors, meta["optimizers"][name])
    if restore_rng:
        _rng_restore(tensors, meta["rng"])
    return {"step": meta["step"], "extra": meta["extra"]}
