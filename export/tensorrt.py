"""One TensorRT engine builder for 8.5/8.6, 10.x and 11.x (DESIGN.md §4).

What differs between versions is data (``BuildPlan``), so tests can check every attribute a version's
path touches against NVIDIA's API index (``shared/trt-api``) without a GPU:

- 8.5 / 8.6: explicit-batch network flag; FP16 (and INT8 for Q/DQ graphs) builder flags; normalization
  layers pinned to FP32 by layer precision + output type + OBEY_PRECISION_CONSTRAINTS.
- 10.x: no explicit-batch flag (always explicit). A graph that carries its own precision (our FP32 and
  mixed-FP16 graphs) builds STRONGLY_TYPED: TensorRT runs every tensor at its ONNX type, so the FP32
  InstanceNorm islands hold by construction. A Q/DQ INT8 graph over FP32 weights builds weakly typed
  with INT8+FP16 flags and pinned norms, so layers outside Q/DQ may still use FP16.
- 11.x: strongly typed only (no FP16/INT8 flags, no per-layer precision, no calibrators).

The engine's sidecar (``<engine>.json``) records TensorRT version, GPU name, compute capability,
precision and the ONNX's sha256; the runtime refuses an engine built elsewhere.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from edgecgl.errors import EdgecglError

SUPPORTED = ("8.5", "8.6", "10.3", "10.13", "10.16", "11.1")
MAX_BATCH_FRAME = 2
MAX_BATCH_INSTANCE = 16


@dataclass(frozen=True)
class BuildPlan:
    """The version- and precision-specific choices; every name is a member of a TensorRT enum."""

    version: str
    network_flags: tuple[str, ...]  # NetworkDefinitionCreationFlag members
    builder_flags: tuple[str, ...]  # BuilderFlag members
    pin_norms: bool  # per-layer precision for normalization layers (8.x, 10.x weakly typed)

    @property
    def strongly_typed(self) -> bool:
        return "STRONGLY_TYPED" in self.network_flags


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
    if major >= 11:
        return BuildPlan(version, ("STRONGLY_TYPED",), (), False)
    if major == 10:
        if precision == "int8":
            return BuildPlan(version, (), ("INT8", "FP16", "OBEY_PRECISION_CONSTRAINTS"), True)
        return BuildPlan(version, ("STRONGLY_TYPED",), (), False)
    flags = {"fp32": (), "fp16": ("FP16", "OBEY_PRECISION_CONSTRAINTS")}.get(
        precision, ("INT8", "FP16", "OBEY_PRECISION_CONSTRAINTS")
    )
    return BuildPlan(version, ("EXPLICIT_BATCH",), flags, bool(flags))


def profile_shapes(manifest: dict[str, Any], role: str) -> dict[str, tuple[tuple[int, ...], ...]]:
    """input name -> (min, opt, max) from the bundle's resolutions.

    Frames: half to full working resolution, batch 1..2. Instance crops: batch up to 16 at the instance
    size. The shared generator sees both, so its profile spans instance to frame size (in content units).
    """
    fh, fw = manifest["resolution"]["frame"]
    ih, iw = manifest["resolution"]["instance"]
    ch, sd, nd = manifest["content_channels"], manifest["style_dim"], len(manifest["domains"])
    s = int(manifest.get("stride", 4))

    def r4(v: float) -> int:
        return max(s, int(v) // s * s)

    out: dict[str, tuple[tuple[int, ...], ...]] = {}
    if role.startswith(("content_encoder", "style_encoder")):
        if role.endswith("_instance"):
            img = (
                (1, 3, r4(ih / 2), r4(iw / 2)),
                (MAX_BATCH_INSTANCE // 2, 3, ih, iw),
                (MAX_BATCH_INSTANCE, 3, ih, iw),
            )
            b = (1, MAX_BATCH_INSTANCE // 2, MAX_BATCH_INSTANCE)
        else:
            img = ((1, 3, r4(fh / 2), r4(fw / 2)), (1, 3, fh, fw), (MAX_BATCH_FRAME, 3, fh, fw))
            b = (1, 1, MAX_BATCH_FRAME)
        out["image"] = img
        if role.startswith("style_encoder"):
            out["domain"] = tuple((k, nd) for k in b)
        return out
    if role == "generator":
        lo_h, lo_w = min(r4(ih / 2), r4(fh / 2)) // s, min(r4(iw / 2), r4(fw / 2)) // s
        b = (1, 1, MAX_BATCH_INSTANCE)
        out["content"] = (
            (1, ch, lo_h, lo_w),
            (1, ch, fh // s, fw // s),
            (MAX_BATCH_INSTANCE, ch, fh // s, fw // s),
        )
        out["style"] = tuple((k, sd) for k in b)
        out["domain"] = tuple((k, nd) for k in b)
        return out
    raise ValueError(f"unknown role {role}")


def _is_norm(trt: Any, layer: Any) -> bool:
    """InstanceNormalization: a native normalization layer (8.6+) or the 8.5 plugin, by type or name."""
    norm_type = getattr(trt.LayerType, "NORMALIZATION", None)
    if norm_type is not None and layer.type == norm_type:
        return True
    return "InstanceNormalization" in layer.name or "instance_norm" in layer.name.lower()


def build_engine(
    trt: Any,
    onnx_path: Path,
    plan: BuildPlan,
    profile: dict[str, tuple[tuple[int, ...], ...]],
    workspace_bytes: int = 1 << 30,
    timing_cache: bytes = b"",
    log: Callable[[str], None] = lambda s: None,
) -> tuple[bytes, bytes]:
    """The whole build call sequence on the ``tensorrt`` module given (real, or a fake from the API index).

    Returns (serialized engine, serialized timing cache).
    """
    logger = trt.Logger()
    builder = trt.Builder(logger)
    flags = 0
    for name in plan.network_flags:
        flags |= 1 << int(getattr(trt.NetworkDefinitionCreationFlag, name))
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
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
    opt = builder.create_optimization_profile()
    for i in range(network.num_inputs):
        name = network.get_input(i).name
        if name not in profile:
            raise EdgecglError(
                f"{Path(onnx_path).name} has an unexpected input '{name}'", "re-export the bundle"
            )
        lo, mid, hi = profile[name]
        opt.set_shape(name, lo, mid, hi)
    config.add_optimization_profile(opt)
    cache = config.create_timing_cache(timing_cache)
    config.set_timing_cache(cache, False)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise EdgecglError(
            f"TensorRT {plan.version} failed to build {Path(onnx_path).name}",
            "see the TensorRT log above; try --workspace-mb",
        )
    return bytes(serialized), bytes(config.get_timing_cache().serialize())


def gpu_identity() -> dict[str, str]:
    """Name and compute capability of the current CUDA device (via torch, which the runtime has)."""
    try:
        import torch

        if torch.cuda.is_available():
            major, minor = torch.cuda.get_device_capability()
            return {"gpu": torch.cuda.get_device_name(), "compute_capability": f"{major}.{minor}"}
    except Exception:  # noqa: BLE001 - no torch / broken CUDA: the sidecar says unknown
        pass
    return {"gpu": "unknown", "compute_capability": "unknown"}


def timing_cache_path(trt_version: str, gpu: dict[str, str]) -> Path:
    """One timing cache per TensorRT version and GPU, shared by every bundle built on this machine."""
    root = Path(os.environ.get("EDGECGL_CACHE", Path.home() / ".cache" / "edgecgl"))
    tag = f"{trt_version}-{gpu['gpu']}-{gpu['compute_capability']}".replace(" ", "_").replace("/", "_")
    return root / f"trt-timing-{tag}.cache"


def build_bundle_engines(
    bundle_path: Path,
    workspace_mb: int = 1024,
    overwrite: bool = False,
    trt: Any = None,
    log: Callable[[str], None] = lambda s: None,
) -> list[Path]:
    """Build an engine (+ sidecar) per role of a bundle and record them in its manifest."""
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
    gpu = gpu_identity()
    cache_file = timing_cache_path(version, gpu)
    cache = cache_file.read_bytes() if cache_file.is_file() else b""
    built: list[Path] = []
    for role, entry in manifest["models"].items():
        precision = entry.get("precision", "fp32")
        plan = plan_for(version, precision)
        onnx_file = bundle.root / entry["file"]
        engine = bundle.root / f"{role}.{precision}.engine"
        if engine.exists() and not overwrite:
            raise EdgecglError(f"engine {engine} already exists", "pass --overwrite to rebuild it")
        log(
            f"{role}: building {engine.name} with TensorRT {version} ({'strongly typed' if plan.strongly_typed else 'flags ' + ','.join(plan.builder_flags) or 'fp32'})"
        )
        t0 = time.perf_counter()
        data, cache = build_engine(
            trt, onnx_file, plan, profile_shapes(manifest, role), workspace_mb << 20, cache, log
        )
        write_bytes_atomic(engine, data)
        sidecar = {
            "tensorrt": version,
            **gpu,
            "precision": precision,
            "onnx": entry["file"],
            "onnx_sha256": sha256_file(onnx_file),
            "plan": asdict(plan),
            "profile": {k: [list(s) for s in v] for k, v in profile_shapes(manifest, role).items()},
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
