"""One TensorRT engine builder for 8.5/8.6, 10.x and 11.x (DESIGN.md §4).

What differs between versions is data (``BuildPlan``), so tests can check every attribute a version's
path touches against the real bindings' member lists (``shared/trt-api``) without a GPU:

- 8.5 / 8.6: explicit-batch network flag; FP16 (and INT8 for Q/DQ graphs) builder flags; normalization
  layers (native layer or the ``InstanceNormalization_TRT`` plugin, found by layer type, never by name)
  pinned to FP32 by layer precision + output type + OBEY_PRECISION_CONSTRAINTS. Weak typing is the only
  mode 8.x has, and none of these members is deprecated there.
- 10.x: every precision builds STRONGLY_TYPED: the graph carries its own types (FP32; mixed FP16 with
  FP32 norms; INT8 as explicit Q/DQ with FP16 elsewhere, ``<role>.int8-fp16.onnx``). No FP16/INT8 flags
  and no per-layer precision (weak-typing API, deprecated since 10.12).
- 11.x: strongly typed always; no creation flag at all (STRONGLY_TYPED is accepted but ignored there).

Every path initialises the plugin library (8.5 parses InstanceNormalization into a plugin) and, on 8.6+,
asks the ONNX parser for the native InstanceNormalization layer. FP32 builds clear TF32 (on by default),
so an "fp32" engine is FP32. Each use of a role gets its own optimization profile (frames; crop batches
up to the detector's ``max_instances``), so memory and tactics fit the shapes that really occur.

The engine's sidecar (``<engine>.json``) records the TensorRT version, the GPU (name, compute capability,
SM count, memory; the L4T release on Jetson), precision and the ONNX's sha256; the runtime refuses an
engine built elsewhere.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from edgecgl.backends.device_id import device_identity
from edgecgl.backends.tensorrt import init_plugins
from edgecgl.errors import EdgecglError

SUPPORTED = ("8.5", "8.6", "10.3", "10.13", "10.16", "11.1")
MAX_BATCH_FRAME = 2
# Crop batches: one call per frame with every detected instance (edgecgl.detect.DetectorConfig.max_instances).
MAX_BATCH_INSTANCE = 8
# The guided upsampler's full-resolution guide: up to 1080p, tuned for 720p.
UPSAMPLE_OPT = (720, 1280)
UPSAMPLE_MAX = (1080, 1920)
NORM_PLUGIN = "InstanceNormalization_TRT"

Profile = dict[str, tuple[tuple[int, ...], ...]]  # input name -> (min, opt, max)


@dataclass(frozen=True)
class BuildPlan:
    """The version- and precision-specific choices; every name is a member of a TensorRT enum."""

    version: str
    network_flags: tuple[str, ...]  # NetworkDefinitionCreationFlag members
    builder_flags: tuple[str, ...]  # BuilderFlag members to set
    cleared_flags: tuple[str, ...]  # BuilderFlag members to clear (TF32 for FP32 builds)
    pin_norms: bool  # per-layer precision for normalization layers (8.x weakly typed only)
    strongly_typed: bool
    native_instancenorm: bool  # OnnxParserFlag.NATIVE_INSTANCENORM (8.6+)


def version_tuple(version: str) -> tuple[int, int]:
    parts = str(version).split(".")
    try:
        return int(parts[0]), int(parts[1]) if len(parts) > 1 else 0
    except ValueError:
        raise EdgecglError(f"cannot read TensorRT version '{version}'") from None


def plan_for(version: str, precision: str) -> BuildPlan:
    """The build recipe for a TensorRT version and a bundle precision (fp32, fp16, int8)."""
    major, minor = version_tuple(version)
    if (major, minor) < (8, 5):
        raise EdgecglError(
            f"TensorRT {version} is too old", "edgecgl supports TensorRT 8.5 (JetPack 5.1) and newer"
        )
    if precision not in ("fp32", "fp16", "int8"):
        raise ValueError(f"unknown precision {precision}")
    cleared = ("TF32",) if precision == "fp32" else ()
    if major >= 11:
        return BuildPlan(version, (), (), cleared, False, True, True)
    if major >= 9:
        return BuildPlan(version, ("STRONGLY_TYPED",), (), cleared, False, True, True)
    flags = {"fp32": (), "fp16": ("FP16", "OBEY_PRECISION_CONSTRAINTS")}.get(
        precision, ("INT8", "FP16", "OBEY_PRECISION_CONSTRAINTS")
    )
    return BuildPlan(
        version, ("EXPLICIT_BATCH",), flags, cleared, bool(flags), False, (major, minor) >= (8, 6)
    )


def onnx_for(entry: dict[str, Any], plan: BuildPlan) -> str:
    """The graph a plan builds: strongly typed INT8 takes the Q/DQ + FP16 graph where the bundle has one."""
    if entry.get("precision") == "int8" and plan.strongly_typed and entry.get("trt_file"):
        return str(entry["trt_file"])
    return str(entry["file"])


def _r(v: float, s: int) -> int:
    return max(s, int(v) // s * s)


def _image_profiles(
    fh: int, fw: int, ih: int, iw: int, s: int, frame: bool, crops: bool
) -> dict[str, tuple[tuple[int, ...], ...]]:
    out = {}
    if frame:
        out["frame"] = ((1, 3, _r(fh / 2, s), _r(fw / 2, s)), (1, 3, fh, fw), (MAX_BATCH_FRAME, 3, fh, fw))
    if crops:
        out["crops"] = (
            (1, 3, _r(ih / 2, s), _r(iw / 2, s)),
            (MAX_BATCH_INSTANCE // 2, 3, ih, iw),
            (MAX_BATCH_INSTANCE, 3, ih, iw),
        )
    return out


def profile_shapes(manifest: dict[str, Any], role: str) -> dict[str, Profile]:
    """use ("frame", "crops", "output") -> input name -> (min, opt, max), from the bundle's resolutions.

    Frames: half to full working resolution, batch 1..2. Crops: batch 1..MAX_BATCH_INSTANCE at half to
    full instance size. A role shared by both granularities (the generator; the encoders of a
    shared-encoder bundle) gets both profiles; the runtime picks one per call.
    """
    fh, fw = manifest["resolution"]["frame"]
    ih, iw = manifest["resolution"]["instance"]
    ch, sd, nd = manifest["content_channels"], manifest["style_dim"], len(manifest["domains"])
    s = int(manifest.get("stride", 4))
    models = manifest.get("models", {})
    base = role.removesuffix("_instance")
    if base in ("content_encoder", "style_encoder"):
        instance_only = role.endswith("_instance")
        # a shared encoder (no *_instance model) also runs the crops: the runtime falls back to it
        crop_use = instance_only or f"{role}_instance" not in models
        imgs = _image_profiles(fh, fw, ih, iw, s, not instance_only, crop_use)
        out: dict[str, Profile] = {}
        for use, img in imgs.items():
            prof: Profile = {"image": img}
            if base == "style_encoder":
                prof["domain"] = tuple((shape[0], nd) for shape in img)
            out[use] = prof
        return out
    if role == "generator":
        out = {}
        for use, img in _image_profiles(fh, fw, ih, iw, s, True, True).items():
            out[use] = {
                "content": tuple((b, ch, h // s, w // s) for b, _, h, w in img),
                "style": tuple((b, sd) for b, *_ in img),
                "domain": tuple((b, nd) for b, *_ in img),
            }
        return out
    if role == "upsampler":
        # The guide meets only a Resize and element-wise ops (A and b are fitted on the low pair), so it
        # takes any size: a video smaller than the working size, a portrait one (height the long side),
        # a crop window of a few pixels. Frames: the letterboxed picture inside the working canvas, from a
        # portrait input's strip to all of it. Crops: the instance network's output, at the instance size.
        mh, mw = max(UPSAMPLE_MAX[0], fh), max(UPSAMPLE_MAX[1], fw)
        side = max(mh, mw)
        oh, ow = min(max(UPSAMPLE_OPT[0], fh), mh), min(max(UPSAMPLE_OPT[1], fw), mw)
        guide = ((1, 3, 1, 1), (1, 3, oh, ow), (1, 3, side, side))
        low = ((1, 3, _r(fh / 4, s), _r(fw / 4, s)), (1, 3, fh, fw), (1, 3, fh, fw))
        crop_low = ((1, 3, ih, iw),) * 3
        crop_guide = ((1, 3, 1, 1), (1, 3, 2 * ih, 2 * iw), (1, 3, side, side))
        return {
            "output": {"guide": guide, "low_guide": low, "low_image": low},
            "crops": {"guide": crop_guide, "low_guide": crop_low, "low_image": crop_low},
        }
    raise ValueError(f"unknown role {role}")


def _plugin_type(trt: Any, layer: Any) -> str:
    """The plugin name of a plugin layer ('' for anything else), via the bindings' class cast idiom."""
    if layer.type != trt.LayerType.PLUGIN_V2:
        return ""
    layer.__class__ = trt.IPluginV2Layer
    return str(layer.plugin.plugin_type)


def _is_norm(trt: Any, layer: Any) -> bool:
    """InstanceNormalization: TensorRT's normalization layer (8.6+) or the 8.5 plugin, by type only.

    Never by name: the FP16 casts ``export/precision.py`` puts after each norm carry the norm's name
    (``..._InstanceNormalization_output_0__fp16``) and must stay FP16.
    """
    if hasattr(trt.LayerType, "NORMALIZATION") and layer.type == trt.LayerType.NORMALIZATION:
        return True
    return _plugin_type(trt, layer) == NORM_PLUGIN


def build_engine(
    trt: Any,
    onnx_path: Path,
    plan: BuildPlan,
    profiles: dict[str, Profile],
    workspace_bytes: int = 1 << 30,
    timing_cache: bytes = b"",
    log: Callable[[str], None] = lambda s: None,
) -> tuple[bytes, bytes]:
    """The whole build call sequence on the ``tensorrt`` module given (real, or a fake from the bindings).

    ``profiles``: one optimization profile per use, in order (the runtime finds them by shape).
    Returns (serialized engine, serialized timing cache).
    """
    logger = trt.Logger()
    init_plugins(trt, logger)
    builder = trt.Builder(logger)
    flags = 0
    for name in plan.network_flags:
        flags |= 1 << int(getattr(trt.NetworkDefinitionCreationFlag, name))
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if plan.native_instancenorm:
        parser.set_flag(trt.OnnxParserFlag.NATIVE_INSTANCENORM)
    if not parser.parse_from_file(str(onnx_path)):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise EdgecglError(
            f"TensorRT {plan.version} cannot parse {Path(onnx_path).name}: {'; '.join(errors)[:300]}",
            "check the TensorRT version supports opset 17; re-export the bundle",
        )
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_bytes))
    for name in plan.builder_flags:
        config.set_flag(getattr(trt.BuilderFlag, name))
    for name in plan.cleared_flags:
        config.clear_flag(getattr(trt.BuilderFlag, name))
    if plan.pin_norms:
        pinned = 0
        for i in range(network.num_layers):
            layer = network.get_layer(i)
            if _is_norm(trt, layer):
                layer.precision = trt.DataType.FLOAT
                for j in range(layer.num_outputs):
                    layer.set_output_type(j, trt.DataType.FLOAT)
                pinned += 1
        log(f"  pinned {pinned} normalization layers to FP32")
    inputs = [network.get_input(i).name for i in range(network.num_inputs)]
    for use, profile in profiles.items():
        opt = builder.create_optimization_profile()
        for name in inputs:
            if name not in profile:
                raise EdgecglError(
                    f"{Path(onnx_path).name} has an unexpected input '{name}'", "re-export the bundle"
                )
            lo, mid, hi = profile[name]
            opt.set_shape(name, lo, mid, hi)
        if config.add_optimization_profile(opt) < 0:
            raise EdgecglError(
                f"TensorRT rejected the '{use}' optimization profile of {Path(onnx_path).name}"
            )
    cache = config.create_timing_cache(timing_cache)
    if not config.set_timing_cache(cache, False):
        log("  the timing cache does not match this TensorRT/GPU: starting a new one")
        cache = config.create_timing_cache(b"")
        if not config.set_timing_cache(cache, False):
            raise EdgecglError("TensorRT refused an empty timing cache", "report this as a bug")
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise EdgecglError(
            f"TensorRT {plan.version} failed to build {Path(onnx_path).name}",
            "see the TensorRT log above; try --workspace-mb",
        )
    return bytes(serialized), bytes(config.get_timing_cache().serialize())


def timing_cache_path(trt_version: str, identity: dict[str, str]) -> Path:
    """One timing cache per TensorRT version and GPU, shared by every bundle built on this machine."""
    root = Path(os.environ.get("EDGECGL_CACHE", Path.home() / ".cache" / "edgecgl"))
    parts = [trt_version, identity["gpu"], identity["compute_capability"], identity.get("sm_count", "")]
    tag = "-".join(p for p in parts if p).replace(" ", "_").replace("/", "_")
    return root / f"trt-timing-{tag}.cache"


def build_bundle_engines(
    bundle_path: Path,
    workspace_mb: int = 1024,
    overwrite: bool = False,
    trt: Any = None,
    log: Callable[[str], None] = lambda s: None,
    identity: dict[str, str] | None = None,
) -> list[Path]:
    """Build an engine (+ sidecar) per role of a bundle and record them in its manifest.

    ``identity``: the GPU's (``device_identity()`` by default; tests pass one).
    """
    from edgecgl.export.bundle import write_manifest

    from edgecgl.atomic import write_bytes_atomic, write_text_atomic
    from edgecgl.bundle import load_bundle, sha256_file

    if trt is None:
        try:
            import tensorrt as trt
        except ImportError:
            raise EdgecglError(
                "TensorRT is not installed on this machine, so no engine can be built",
                "run 'edgecgl export --engine BUNDLE' on the target GPU with TensorRT",
            ) from None
    bundle = load_bundle(Path(bundle_path))
    manifest = json.loads(json.dumps(bundle.manifest))
    version = str(trt.__version__)
    gpu = dict(identity) if identity is not None else device_identity()
    cache_file = timing_cache_path(version, gpu)
    cache = cache_file.read_bytes() if cache_file.is_file() else b""
    built: list[Path] = []
    for role, entry in manifest["models"].items():
        precision = entry.get("precision", "fp32")
        plan = plan_for(version, precision)
        onnx_name = onnx_for(entry, plan)
        onnx_file = bundle.root / onnx_name
        engine = bundle.root / f"{role}.{precision}.engine"
        if engine.exists() and not overwrite:
            raise EdgecglError(f"engine {engine} already exists", "pass --overwrite to rebuild it")
        if precision == "int8" and plan.strongly_typed and onnx_name == entry["file"]:
            log(f"{role}: this bundle has no Q/DQ + FP16 graph: non-quantized layers run FP32 (re-export)")
        profiles = profile_shapes(manifest, role)
        mode = (
            "strongly typed" if plan.strongly_typed else "flags " + (",".join(plan.builder_flags) or "none")
        )
        log(
            f"{role}: building {engine.name} from {onnx_name} with TensorRT {version} ({mode}; {', '.join(profiles)})"
        )
        t0 = time.perf_counter()
        data, cache = build_engine(trt, onnx_file, plan, profiles, workspace_mb << 20, cache, log)
        write_bytes_atomic(engine, data)
        sidecar = {
            "tensorrt": version,
            **gpu,
            "precision": precision,
            "onnx": onnx_name,
            "onnx_sha256": sha256_file(onnx_file),
            "plan": asdict(plan),
            "profiles": {
                use: {k: [list(s) for s in v] for k, v in prof.items()} for use, prof in profiles.items()
            },
            "build_seconds": round(time.perf_counter() - t0, 1),
        }
        write_text_atomic(engine.with_name(engine.name + ".json"), json.dumps(sidecar, indent=2) + "\n")
        entry["engine"] = engine.name
        built.append(engine)
        log(f"{role}: {engine.name} ({engine.stat().st_size / 1e6:.1f} MB, {sidecar['build_seconds']} s)")
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(cache_file, cache)
    write_manifest(bundle.root, manifest)
    return built
