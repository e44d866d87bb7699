"""Dataclass configs from YAML (``yaml.safe_load``) with ``--set a.b=value`` overrides.

Generic on purpose: the trainer's and the runtime's configs are both plain nested dataclasses, and this
module knows nothing about either.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import yaml

from edgecgl.errors import EdgecglError

T = TypeVar("T")


def _is_dataclass_type(tp: Any) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Convert a YAML/CLI value to the field's declared type, or raise a user error naming the key."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key)
            except EdgecglError as exc:
                errors.append(str(exc))
        raise EdgecglError(f"bad value for '{key}': {value!r}", "; ".join(errors))
    if _is_dataclass_type(tp):
        if not isinstance(value, dict):
            raise EdgecglError(f"'{key}' must be a mapping, got {value!r}")
        return from_dict(tp, value, prefix=f"{key}.")
    if origin in (list, tuple):
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise EdgecglError(f"'{key}' must be a list, got {value!r}")
        inner = args[0] if args else Any
        items = [_coerce(v, inner, key) for v in value]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise EdgecglError(f"'{key}' must be a mapping, got {value!r}")
        return dict(value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "yes", "1", "on", "false", "no", "0", "off"):
            return value.lower() in ("true", "yes", "1", "on")
        raise EdgecglError(f"'{key}' must be true or false, got {value!r}")
    if tp is int:
        if isinstance(value, bool):
            raise EdgecglError(f"'{key}' must be an integer, got {value!r}")
        try:
            f = float(value)
        except (TypeError, ValueError):
            raise EdgecglError(f"'{key}' must be an integer, got {value!r}") from None
        if f != int(f):
            raise EdgecglError(f"'{key}' must be an integer, got {value!r}")
        return int(f)
    if tp is float:
        try:
            return float(value)
        except (TypeError, ValueError):
            raise EdgecglError(f"'{key}' must be a number, got {value!r}") from None
    if tp is str:
        return str(value)
    if typing.get_origin(tp) is typing.Literal:
        if value not in args:
            raise EdgecglError(f"'{key}' must be one of {', '.join(map(str, args))}, got {value!r}")
        return value
    return value


def from_dict(cls: type[T], data: dict[str, Any], prefix: str = "") -> T:
    """Build dataclass ``cls`` from a nested dict; unknown keys are user errors listing the valid ones."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise EdgecglError(
            f"unknown config key '{prefix}{unknown[0]}'",
            f"valid keys under '{prefix or '<root>'}': {', '.join(sorted(names))}",
        )
    kwargs = {k: _coerce(v, hints[k], f"{prefix}{k}") for k, v in data.items()}
    obj = cls(**kwargs)
    post = getattr(obj, "validate", None)
    if callable(post):
        post()
    return obj


def to_dict(obj: Any) -> dict[str, Any]:
    return dataclasses.asdict(obj)


def _parse_scalar(text: str) -> Any:
    """'3' -> 3, 'true' -> True, '[1,2]' -> [1, 2]; YAML rules, safe loader."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``key.sub=value`` strings to a nested dict (in place) and return it."""
    for item in overrides:
        if "=" not in item:
            raise EdgecglError(f"bad --set '{item}'", "use --set key.sub=value")
        key, _, raw = item.partition("=")
        parts = [p for p in key.strip().split(".") if p]
        if not parts:
            raise EdgecglError(f"bad --set '{item}'", "use --set key.sub=value")
        node = data
        for p in parts[:-1]:
            nxt = node.setdefault(p, {})
            if not isinstance(nxt, dict):
                raise EdgecglError(f"bad --set '{item}': '{p}' is not a section")
            node = nxt
        node[parts[-1]] = _parse_scalar(raw)
    return data


def resolve_config_path(name_or_path: str | Path) -> Path:
    """A path to a YAML file, or the name of a shipped config (``synth-tiny`` -> configs/synth-tiny.yaml)."""
    p = Path(name_or_path)
    if p.is_file():
        return p
    stem = p.name[:-5] if p.name.endswith(".yaml") else p.name
    shipped = resources.files("edgecgl.configs").joinpath(f"{stem}.yaml")
    if shipped.is_file():
        return Path(str(shipped))
    names = sorted(
        x.name[:-5] for x in resources.files("edgecgl.configs").iterdir() if x.name.endswith(".yaml")
    )
    raise EdgecglError(
        f"config '{name_or_path}' not found", f"give a YAML path or one of: {', '.join(names)}"
    )


def load_yaml(path: Path) -> dict[str, Any]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise EdgecglError(f"cannot read config {path}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise EdgecglError(f"config {path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise EdgecglError(f"config {path} must be a YAML mapping at the top level")
    return data


def load_config(cls: type[T], path: str | Path | None = None, overrides: list[str] | None = None) -> T:
    """Defaults of ``cls`` <- YAML file <- ``--set`` overrides, type-checked."""
    data: dict[str, Any] = load_yaml(resolve_config_path(path)) if path is not None else {}
    apply_overrides(data, list(overrides or []))
    return from_dict(cls, data)


def dump_yaml(obj: Any) -> str:
    return yaml.safe_dump(to_dict(obj) if dataclasses.is_dataclass(obj) else obj, sort_keys=False)
