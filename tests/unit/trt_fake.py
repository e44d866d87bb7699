"""Fake ``tensorrt`` modules built from the real bindings' member lists (``shared/trt-api``).

``bindings-<v>.txt`` (8.6.1, 10.3.0, 10.13.3.9, 11.4.0.106) are dumps of NVIDIA's pybind11 modules: every
class with its methods (with the real signature) and properties, every enum with its members, module
functions, ``[deprecated]`` marks. ``tensorrt-8.5.txt`` is the only source for 8.5 (names only, read from
the pybind11 sources; module functions are listed under ``IPluginRegistry`` there).

A fake object has exactly its version's members: touching anything else raises. Every call is bound to
the member's signature (argument count, keyword names, enum-typed arguments must be members of that
enum) and recorded, so tests can also check that nothing deprecated in that version was used. What a
call returns comes from its signature's return type, a few fixed values, or ``FakeTRT.script``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
_SHARED = (
    Path(os.environ["EDGECGL_ASSETS"]).parent if os.environ.get("EDGECGL_ASSETS") else REPO.parent / "shared"
)
API_DIR = Path(os.environ.get("EDGECGL_TRT_API", _SHARED / "trt-api"))
BINDINGS = ("8.6.1", "10.3.0", "10.13.3.9", "11.4.0.106")
NAME_INDEX = ("8.5",)  # no cp311 bindings wheel: the names read from the C++ sources

# Deprecations the dumps cannot mark (enum members and properties have no docstring of their own), from
# NVIDIA's release notes and API migration guides: weak typing (precision flags, per-layer precision) is
# deprecated since 10.12 and removed in 11; EXPLICIT_BATCH is ignored since 10.0; STRONGLY_TYPED is
# accepted but ignored in 11 (every network is strongly typed).
DEPRECATED_SINCE: dict[tuple[str, str], tuple[int, int]] = {
    ("NetworkDefinitionCreationFlag", "EXPLICIT_BATCH"): (10, 0),
    ("NetworkDefinitionCreationFlag", "STRONGLY_TYPED"): (11, 0),
    ("BuilderFlag", "FP16"): (10, 12),
    ("BuilderFlag", "INT8"): (10, 12),
    ("BuilderFlag", "BF16"): (10, 12),
    ("BuilderFlag", "OBEY_PRECISION_CONSTRAINTS"): (10, 12),
    ("BuilderFlag", "PREFER_PRECISION_CONSTRAINTS"): (10, 12),
    ("ILayer", "precision"): (10, 12),
    ("ILayer", "set_output_type"): (10, 12),
    ("IExecutionContext", "active_optimization_profile"): (10, 0),
}


@dataclass
class Api:
    version: str
    members: dict[str, set[str]] = field(default_factory=dict)  # class or enum -> member names
    enums: set[str] = field(default_factory=set)
    signatures: dict[tuple[str, str], str] = field(default_factory=dict)  # (class, member) -> signature
    deprecated: set[tuple[str, str]] = field(default_factory=set)
    functions: dict[str, str] = field(default_factory=dict)  # module function -> signature
    props: set[tuple[str, str]] = field(default_factory=set)

    @property
    def has_signatures(self) -> bool:
        return self.version in BINDINGS

    def vtuple(self) -> tuple[int, int]:
        a, b, *_ = self.version.split(".") + ["0"]
        return int(a), int(b)

    def is_deprecated(self, cls: str, member: str) -> bool:
        if (cls, member) in self.deprecated:
            return True
        since = DEPRECATED_SINCE.get((cls, member))
        return since is not None and self.vtuple() >= since


def load_api(version: str) -> Api:
    path = API_DIR / (f"bindings-{version}.txt" if version in BINDINGS else f"tensorrt-{version}.txt")
    if not path.is_file():
        pytest.skip(f"TensorRT API list {path} is not available")
    api = Api(version)
    text = path.read_text(encoding="utf-8").splitlines()
    if version not in BINDINGS:
        for line in text:
            if line.strip() and not line.startswith("#") and ":" in line:
                cls, _, members = line.partition(":")
                api.members[cls.strip()] = set(members.split())
                if members.split() and members.split()[0].isupper():
                    api.enums.add(cls.strip())
        for fn in api.members.get("IPluginRegistry", set()) & {
            "init_libnvinfer_plugins",
            "get_plugin_registry",
        }:
            api.functions[fn] = ""
        return api
    for line in text:
        if line.startswith("enum "):
            name, _, members = line[5:].partition(":")
            api.members[name.strip()] = set(members.split())
            api.enums.add(name.strip())
        elif line.startswith("class "):
            api.members.setdefault(line[6:].strip(), set())
        elif line.startswith(("  def ", "  prop ")):
            kind, rest = line.strip().split(" ", 1)
            qual, _, sig = rest.partition("  ")
            cls, _, member = qual.partition(".")
            api.members.setdefault(cls, set()).add(member)
            dep = sig.rstrip().endswith("[deprecated]")
            if kind == "def":
                api.signatures[(cls, member)] = sig.replace("[deprecated]", "").strip()
            else:
                api.props.add((cls, member))
            if dep:
                api.deprecated.add((cls, member))
        elif line.startswith("def "):
            name, _, sig = line[4:].partition("  ")
            api.functions[name.strip()] = sig.strip()
    return api


def _split_params(sig: str) -> tuple[list[str], str] | None:
    """pybind11 signature -> (parameter texts without self, return type); None when it says nothing."""
    m = re.match(r"^\w+\((.*)\)\s*(?:->\s*(.*))?$", sig)
    if not m or m.group(1).strip() in ("*args, **kwargs", ""):
        return ([], m.group(2) or "") if m and not m.group(1).strip() else None
    parts, depth, cur = [], 0, ""
    for ch in m.group(1):
        if ch in "[(<":
            depth += 1
        elif ch in "])>":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur.strip())
            cur = ""
        else:
            cur += ch
    parts.append(cur.strip())
    if parts and parts[0].startswith("self"):
        parts = parts[1:]
    return parts, (m.group(2) or "").strip()


class FakeEnum:
    def __init__(self, enum: str, name: str) -> None:
        self.enum, self.name = enum, name

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FakeEnum) and (self.enum, self.name) == (other.enum, other.name)

    def __hash__(self) -> int:
        return hash((self.enum, self.name))

    def __int__(self) -> int:
        return hash(self.name) % 31  # distinct enough bit positions for flag masks

    def __repr__(self) -> str:
        return f"{self.enum}.{self.name}"


class FakeTRT:
    """A ``tensorrt`` module stand-in for one version. ``script`` overrides what calls return:
    ``{(class, member): value or callable(*args)}``."""

    def __init__(self, version: str) -> None:
        self.api = load_api(version)
        self.__version__ = version if version.count(".") >= 2 else f"{version}.0"
        self._log: list[tuple[str, str]] = []
        self.calls: list[tuple[str, str, tuple[Any, ...]]] = []
        self.script: dict[tuple[str, str], Any] = {}
        self.inputs = ["image"]  # the parsed ONNX's input names
        # the parsed network's layers: (LayerType member, name, plugin type or "")
        self.layers: list[tuple[str, str, str]] = [("CONVOLUTION", "/net/Conv", "")]
        # the engine: io tensors (name, is_input) and one dict per optimization profile
        self.io = [("image", True), ("content", False)]
        self.profiles = [{"image": ((1, 3, 8, 8), (1, 3, 16, 16), (2, 3, 32, 32))}]
        self.out_shapes = {"content": (1, 8, 4, 4)}
        self.layer_objects: list[FakeLayer] = []

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name in self.api.members:
            return FakeClass(self, name)
        if name in self.api.functions:
            self._log.append(("tensorrt", name))
            return FakeMethod(self, "tensorrt", name, self.api.functions[name])
        raise AttributeError(f"tensorrt {self.__version__} has no {name}")

    def touched(self) -> set[tuple[str, str]]:
        return set(self._log)

    def deprecated_touched(self) -> set[tuple[str, str]]:
        return {(c, m) for c, m in self.touched() if self.api.is_deprecated(c, m)}

    def check_member(self, cls: str, name: str) -> None:
        if (
            not self.api.has_signatures
            and cls.endswith("Layer")
            and name not in self.api.members.get(cls, set())
            and name in self.api.members.get("ILayer", set())
        ):
            cls = "ILayer"  # the 8.5 name index lists inherited layer members only under ILayer
        if name not in self.api.members.get(cls, set()):
            raise AttributeError(f"tensorrt {self.__version__}: {cls}.{name} does not exist")
        self._log.append((cls, name))


class FakeClass:
    """A class or an enum of the module: enum members, or a constructor."""

    def __init__(self, trt: FakeTRT, cls: str) -> None:
        self._trt, self._cls = trt, cls

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        self._trt.check_member(self._cls, name)
        if self._cls in self._trt.api.enums:
            return FakeEnum(self._cls, name)
        return FakeObj(self._trt, self._cls)  # a nested class or static member: an object is enough

    def __call__(self, *args: Any, **kwargs: Any) -> FakeObj:
        sig = self._trt.api.signatures.get((self._cls, "__init__"), "")
        _bind(self._trt, self._cls, "__init__", sig, args, kwargs)
        return FakeObj(self._trt, self._cls)


class FakeMethod:
    def __init__(self, trt: FakeTRT, cls: str, name: str, sig: str, owner: Any = None) -> None:
        self.trt, self.cls, self.name, self.sig, self.owner = trt, cls, name, sig, owner

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        ret_type = _bind(self.trt, self.cls, self.name, self.sig, args, kwargs)
        self.trt.calls.append((self.cls, self.name, args))
        scripted = self.trt.script.get((self.cls, self.name))
        if scripted is not None:
            return scripted(*args) if callable(scripted) else scripted
        fixed = _FIXED.get((self.cls, self.name))
        if fixed is not None:
            return fixed(self.trt, self.owner, *args)
        return _from_type(self.trt, ret_type)


def _bind(trt: FakeTRT, cls: str, name: str, sig: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """Check a call against its pybind11 signature; returns the declared return type ('' if unknown)."""
    parsed = _split_params(sig) if sig else None
    if parsed is None:
        return ""
    params, ret = parsed
    names = [p.split(":")[0].strip() for p in params]
    if len(args) > len(params):
        raise TypeError(f"tensorrt {trt.__version__}: {cls}.{name} takes {len(params)} arguments: {sig}")
    for k in kwargs:
        if k not in names[len(args) :]:
            raise TypeError(f"tensorrt {trt.__version__}: {cls}.{name} has no argument '{k}': {sig}")
    given = set(names[: len(args)]) | set(kwargs)
    for p, n in zip(params, names, strict=True):
        if "=" not in p and n not in given:
            raise TypeError(f"tensorrt {trt.__version__}: {cls}.{name} needs '{n}': {sig}")
    values = dict(zip(names, args, strict=False)) | kwargs
    for p, n in zip(params, names, strict=True):
        if n not in values:
            continue
        ann = p.split(":", 1)[1].split("=")[0].strip() if ":" in p else ""
        typ = re.split(r"[.:]", ann)[-1]
        v = values[n]
        if typ in trt.api.enums and not (isinstance(v, FakeEnum) and v.enum == typ):
            raise TypeError(f"tensorrt {trt.__version__}: {cls}.{name}({n}=) wants a {typ}, got {v!r}")
        if typ in ("int", "SupportsInt") and (isinstance(v, (FakeEnum, bool)) or not isinstance(v, int)):
            raise TypeError(f"tensorrt {trt.__version__}: {cls}.{name}({n}=) wants an int, got {v!r}")
        if typ == "str" and not isinstance(v, str):
            raise TypeError(f"tensorrt {trt.__version__}: {cls}.{name}({n}=) wants a str, got {v!r}")
    return ret


def _from_type(trt: FakeTRT, ret: str) -> Any:
    typ = re.split(r"[.:]", ret.strip())[-1] if ret else ""
    if typ == "bool":
        return True
    if typ == "int":
        return 0
    if typ in trt.api.members and typ not in trt.api.enums:
        return FakeObj(trt, typ)
    return None


def _layer(trt: FakeTRT, owner: Any, i: int) -> FakeLayer:
    kind, name, plugin = trt.layers[i]
    layer = FakeLayer(trt, kind, name, plugin)
    trt.layer_objects.append(layer)
    return layer


def _engine_shape(trt: FakeTRT, owner: Any, name: str, k: int) -> list[tuple[int, ...]]:
    return list(trt.profiles[k][name])


_FIXED: dict[tuple[str, str], Any] = {
    ("Builder", "create_network"): lambda t, o, *a: FakeObj(t, "INetworkDefinition"),
    ("Builder", "build_serialized_network"): lambda t, o, *a: FakeObj(t, "IHostMemory"),
    ("ICudaEngine", "create_execution_context"): lambda t, o, *a: FakeObj(t, "IExecutionContext"),
    ("Runtime", "deserialize_cuda_engine"): lambda t, o, *a: FakeObj(t, "ICudaEngine"),
    ("IExecutionContext", "set_input_shape"): lambda t, o, *a: True,
    ("IExecutionContext", "get_tensor_shape"): lambda t, o, n: t.out_shapes[n],
    ("IBuilderConfig", "add_optimization_profile"): lambda t, o, *a: 0,
    ("INetworkDefinition", "get_layer"): _layer,
    ("INetworkDefinition", "get_input"): lambda t, o, i: FakeTensor(t, t.inputs[i]),
    ("OnnxParser", "parse_from_file"): lambda t, o, path: _parse(t, Path(path)),
    ("ICudaEngine", "get_tensor_name"): lambda t, o, i: t.io[i][0],
    ("ICudaEngine", "get_tensor_mode"): lambda t, o, n: FakeEnum(
        "TensorIOMode", "INPUT" if dict(t.io)[n] else "OUTPUT"
    ),
    ("ICudaEngine", "get_tensor_dtype"): lambda t, o, n: FakeEnum("DataType", "FLOAT"),
    ("ICudaEngine", "get_tensor_profile_shape"): _engine_shape,
    ("tensorrt", "init_libnvinfer_plugins"): lambda t, o, *a: True,
    # what the 8.5 name index cannot say (no signatures): the documented success values
    ("IExecutionContext", "set_tensor_address"): lambda t, o, *a: True,
    ("IExecutionContext", "set_optimization_profile_async"): lambda t, o, *a: True,
    ("IExecutionContext", "execute_async_v3"): lambda t, o, *a: True,
    ("IBuilderConfig", "set_timing_cache"): lambda t, o, *a: True,
    ("IBuilderConfig", "create_timing_cache"): lambda t, o, *a: FakeObj(t, "ITimingCache"),
    ("IBuilderConfig", "get_timing_cache"): lambda t, o, *a: FakeObj(t, "ITimingCache"),
    ("ITimingCache", "serialize"): lambda t, o, *a: FakeObj(t, "IHostMemory"),
    ("Builder", "create_builder_config"): lambda t, o, *a: FakeObj(t, "IBuilderConfig"),
    ("Builder", "create_optimization_profile"): lambda t, o, *a: FakeObj(t, "IOptimizationProfile"),
}
_PROPS: dict[tuple[str, str], Any] = {
    ("INetworkDefinition", "num_layers"): lambda t, o: len(t.layers),
    ("INetworkDefinition", "num_inputs"): lambda t, o: len(t.inputs),
    ("OnnxParser", "num_errors"): lambda t, o: 0,
    ("ICudaEngine", "num_io_tensors"): lambda t, o: len(t.io),
    ("ICudaEngine", "num_optimization_profiles"): lambda t, o: len(t.profiles),
    ("ILayer", "num_outputs"): lambda t, o: 1,
}


def _parse(trt: FakeTRT, path: Path) -> bool:
    if path.is_file():
        import onnx

        trt.inputs = [i.name for i in onnx.load(str(path), load_external_data=False).graph.input]
    return True


class FakeObj:
    """An instance of a bindings class: methods bound to their signatures, properties recorded."""

    def __init__(self, trt: FakeTRT, cls: str) -> None:
        object.__setattr__(self, "_trt", trt)
        object.__setattr__(self, "_cls", cls)
        object.__setattr__(self, "set", {})

    def __setattr__(self, name: str, value: Any) -> None:
        self._trt.check_member(self._cls, name)
        self.set[name] = value

    def __bytes__(self) -> bytes:
        return b"fake-" + self._cls.encode()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        trt, cls = self._trt, self._cls
        trt.check_member(cls, name)
        prop = _PROPS.get((cls, name)) or (_PROPS.get(("ILayer", name)) if cls.endswith("Layer") else None)
        if prop is not None:
            return prop(trt, self)
        if (cls, name) in trt.api.props:
            return trt.script.get((cls, name))
        return FakeMethod(trt, cls, name, trt.api.signatures.get((cls, name), ""), self)


class FakeLayer(FakeObj):
    def __init__(self, trt: FakeTRT, kind: str, name: str, plugin: str) -> None:
        super().__init__(trt, "ILayer")
        object.__setattr__(self, "_kind", kind)
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_plugin", plugin)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "__class__":  # the bindings' down-cast idiom: layer.__class__ = trt.IPluginV2Layer
            if not isinstance(value, FakeClass):
                raise TypeError(f"cannot cast a layer to {value!r}")
            object.__setattr__(self, "_cls", value._cls)
            return
        super().__setattr__(name, value)

    def __getattr__(self, name: str) -> Any:
        if name in ("name", "type", "plugin"):
            self._trt.check_member(self._cls, name)
            if name == "name":
                return self._name
            if name == "type":
                return FakeEnum("LayerType", self._kind)
            plugin = FakeObj(self._trt, "IPluginV2")
            object.__setattr__(plugin, "_plugin_type", self._plugin)
            return _PluginView(plugin, self._plugin)
        return super().__getattr__(name)


class _PluginView:
    def __init__(self, obj: FakeObj, plugin_type: str) -> None:
        self._obj, self._type = obj, plugin_type

    @property
    def plugin_type(self) -> str:
        self._obj._trt.check_member("IPluginV2", "plugin_type")
        return self._type


class FakeTensor(FakeObj):
    def __init__(self, trt: FakeTRT, name: str) -> None:
        super().__init__(trt, "ITensor")
        object.__setattr__(self, "_name", name)

    def __getattr__(self, name: str) -> Any:
        if name == "name":
            self._trt.check_member("ITensor", name)
            return self._name
        return super().__getattr__(name)
