"""Check and coerce configuration dataclass fields against their type annotations.

YAML and ``--set`` hand over whatever the text parses to: PyYAML reads ``lr: 3e-4`` (no dot)
as the *string* "3e-4", and a typo such as ``batch_size: 8x`` is a string too. Without a check
such a value travels until an optimizer or a tensor shape fails on it, far from the YAML line
that caused it. ``coerce_fields`` runs first in each config's ``__post_init__``: numbers written
as text become numbers, lists become the annotated tuples, nested dicts become their
dataclasses, and anything else is refused with the field's name.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import types
import typing
from pathlib import Path
from typing import Any, Union

import yaml


class ConfigError(ValueError):
    """A configuration value that cannot be used (wrong type, unknown key, impossible setting)."""


def coerce_fields(obj: Any) -> None:
    """Replace each field of dataclass ``obj`` by its value coerced to the annotated type."""
    hints = _hints(type(obj))
    for f in dataclasses.fields(obj):
        where = f"{type(obj).__name__}.{f.name}"
        setattr(obj, f.name, coerce(getattr(obj, f.name), hints[f.name], where))


def build(cls: type, data: dict[str, Any], where: str | None = None) -> Any:
    """``cls(**data)``, refusing keys ``cls`` does not have (a misspelt key is not ignored) and
    naming the required ones ``data`` lacks."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where or cls.__name__}: expected a mapping of settings, got {data!r}")
    fields = dataclasses.fields(cls)
    unknown = sorted(set(data) - {f.name for f in fields})
    if unknown:
        raise ConfigError(f"{where or cls.__name__}: unknown keys {unknown}")
    missing = [f.name for f in fields if f.name not in data and f.init
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ConfigError(f"{where or cls.__name__}: missing required keys {missing}")
    return cls(**data)


@functools.lru_cache(maxsize=None)
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def coerce(value: Any, hint: Any, where: str) -> Any:
    """``value`` as type ``hint`` (int, float, bool, str, X | None, list/tuple/dict of these,
    a dataclass, Any), or a ``ConfigError`` naming ``where``."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        if len(options) == 1:
            return coerce(value, options[0], where)
        raise ConfigError(f"{where}: unsupported annotation {hint}")  # not used by our configs
    if dataclasses.is_dataclass(hint):
        return value if isinstance(value, hint) else build(hint, value, where)
    if origin in (list, tuple):
        return _sequence(value, origin, args, where)
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if hint in (int, float):
        return _number(value, hint, where)
    if hint is str:
        if isinstance(value, str):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)  # YAML reads an all-digit name or hash as a number
        raise ConfigError(f"{where}: expected text, got {value!r}")
    raise ConfigError(f"{where}: unsupported annotation {hint}")


def _number(value: Any, kind: type, where: str) -> int | float:
    what = "an integer" if kind is int else "a number"
    if isinstance(value, bool):
        raise ConfigError(f"{where}: expected {what}, got {value!r}")
    if isinstance(value, str):
        try:
            value = float(value.strip())  # "3e-4": YAML 1.1 needs a dot to call it a float
        except ValueError:
            raise ConfigError(f"{where}: expected {what}, got {value!r}") from None
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{where}: expected {what}, got {value!r}")
    if kind is float:
        return float(value)
    if float(value) != int(value):
        raise ConfigError(f"{where}: expected an integer, got {value!r}")
    return int(value)


def _sequence(value: Any, origin: type, args: tuple, where: str) -> list | tuple:
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"{where}: expected a list, got {value!r}")
    if origin is tuple and args and args[-1] is not Ellipsis:
        if len(value) != len(args):
            raise ConfigError(f"{where}: expected {len(args)} values, got {list(value)!r}")
        items = [coerce(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args))]
    else:
        item = args[0] if args else Any
        items = [coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    return tuple(items) if origin is tuple else items


def check_inputs(cfg: Any) -> None:
    """Every path the run reads at start (the config's ``INPUTS`` fields that are set) exists:
    a typo in a manifest path fails now, in one line, not after the model is built."""
    for name in getattr(cfg, "INPUTS", ()):
        path = getattr(cfg, name)
        if path and not Path(path).exists():
            raise ConfigError(f"{name}: {path}: no such file or directory")


def read_yaml_mapping(path: str | Path) -> dict[str, Any]:
    """A YAML file's top-level mapping (empty file: ``{}``); a missing file, a syntax error or
    a top level that is not a mapping is a ``ConfigError`` naming the file."""
    try:
        data = yaml.safe_load(Path(path).read_text())
    except OSError as e:
        raise ConfigError(f"{path}: cannot read ({e.strerror or e})") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}:{line} not valid YAML ({getattr(e, 'problem', None) or e})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top, got {type(data).__name__}")
    return data
