"""The bundle: the contract between the training workstation and the vehicle.

A folder with ``manifest.json`` and the model files it names. The runtime knows nothing about training
beyond this manifest. Loading verifies the format version and every file's sha256.

Model I/O names (stable; documented in the README):
  content_encoder[_instance]:  image [B,3,H,W] float32 in [-1,1], RGB  ->  content [B,C,H/4,W/4]
  style_encoder[_instance]:    image [B,3,H,W], domain [B,D] one-hot    ->  style [B,S]
  generator (shared):          content [B,C,h,w], style [B,S], domain [B,D]  ->  image [B,3,4h,4w] in [-1,1]
  upsampler (optional):        guide [B,3,H,W], low_guide [B,3,h,w], low_image [B,3,h,w]  ->  image [B,3,H,W]
                               (guided upsampling of the generator's output to the input's resolution;
                               its parameters under the manifest's ``"upsampler"``; always FP32)

A ``models`` entry (written by ``edgecgl.export.bundle``): ``file`` (the ONNX to run, at the entry's
``precision``), ``fp32`` (the FP32 ONNX), ``torch`` (a torch.export ``.pt2``, FP32, optional),
``inputs``/``outputs`` (names), ``shapes``, and after ``edgecgl export --engine`` ``engine`` (a TensorRT
plan) with its sidecar ``<engine>.json`` (TensorRT version, GPU, compute capability).
"""

from __future__ import annotations

import hashlib
import json
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgecgl.errors import EdgecglError

FORMAT = "edgecgl-bundle"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"

# Roles the runtime can ask for. The *_instance roles fall back to the global ones when the model
# shares its encoders between granularities.
ROLES = (
    "content_encoder",
    "content_encoder_instance",
    "style_encoder",
    "style_encoder_instance",
    "generator",
    "upsampler",
)
IO_NAMES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "content_encoder": (("image",), ("content",)),
    "content_encoder_instance": (("image",), ("content",)),
    "style_encoder": (("image", "domain"), ("style",)),
    "style_encoder_instance": (("image", "domain"), ("style",)),
    "generator": (("content", "style", "domain"), ("image",)),
    "upsampler": (("guide", "low_guide", "low_image"), ("image",)),
}


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


@dataclass
class StyleStats:
    """Per-domain Gaussian of style codes: the runtime uses the mean, or samples with a seed. ``luma``:
    the lowest and highest mean luma (Rec. 601, 0-255) of the photos the codes came from, which per-image
    draws are kept inside (``edgecgl.brightness``); None in bundles exported before it existed."""

    mean: np.ndarray  # [S]
    cov: np.ndarray  # [S, S]
    luma: tuple[float, float] | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StyleStats:
        """From a manifest's or a checkpoint's entry: ``mean``, ``cov`` and, when present, ``luma``."""
        lo_hi = None
        if d.get("luma") is not None:
            v = np.asarray(d["luma"], np.float64).ravel()
            if v.shape != (2,) or not np.isfinite(v).all() or v[0] > v[1]:
                raise ValueError(f"'luma' must be [lowest, highest], got {d['luma']}")
            lo_hi = (float(v[0]), float(v[1]))
        return cls(np.asarray(d["mean"], np.float64), np.asarray(d["cov"], np.float64), lo_hi)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mean": self.mean.tolist(), "cov": self.cov.tolist()}
        if self.luma is not None:
            out["luma"] = [float(self.luma[0]), float(self.luma[1])]
        return out

    def sample(self, seed: int, spread: float = 1.0) -> np.ndarray:
        """One draw from N(mean, spread² · cov). ``spread`` > 1 widens the styles beyond what the encoder
        saw in training (StyleGAN's truncation ψ read the other way): a generator that under-reacts to its
        style code then covers more of the target domain's variety (docs/RESULTS.md, real fog)."""
        check_spread(spread)
        rng = np.random.default_rng(seed)
        cov = (self.cov + self.cov.T) / 2 + 1e-6 * np.eye(len(self.mean))
        return widen_style(rng.multivariate_normal(self.mean, cov), self.mean, spread)


def check_spread(spread: float) -> None:
    if spread < 0:
        raise EdgecglError(f"style spread must be >= 0, got {spread}", "use 1 for the domain's own spread")


def widen_style(codes: np.ndarray, mean: np.ndarray, spread: float) -> np.ndarray:
    """Style codes ([S] or [N,S]) with their distance from the domain's mean scaled by ``spread``: what
    ``--style-spread`` does to a Gaussian draw and to a reference photo's code alike."""
    check_spread(spread)
    mean = np.asarray(mean, np.float64)
    return (mean + spread * (np.asarray(codes, np.float64) - mean)).astype(np.float32)


@dataclass
class Bundle:
    root: Path
    manifest: dict[str, Any]
    domains: list[str]
    style_dim: int
    frame_size: tuple[int, int]  # (H, W) working resolution
    instance_size: tuple[int, int]
    precision: str
    models: dict[str, Path]  # role -> ONNX file
    style_stats: dict[str, dict[str, StyleStats]] = field(
        default_factory=dict
    )  # granularity -> domain -> stats
    upsampler: dict[str, Any] | None = None  # the guided upsampler's parameters; None in older bundles

    @property
    def stride(self) -> int:
        """How much the content encoder downsamples (4: two stride-2 convolutions)."""
        return int(self.manifest.get("stride", 4))

    @property
    def min_frame_side(self) -> int:
        """The smallest working height or width: the bottleneck (side / stride) needs 2 pixels for its
        reflect pads, and the torch programs were exported for no fewer."""
        return 2 * self.stride

    @property
    def min_style_side(self) -> int:
        """The smallest image side the style encoder reads: its deepest map (side / style_stride) needs
        2 pixels (reflect pads; torch.export specialised a size of 1 away). Bundles that predate the
        manifest's ``style_stride`` were all exported with 4 stride-2 convolutions (16)."""
        return 2 * int(self.manifest.get("style_stride", 16))

    @property
    def has_upsampler(self) -> bool:
        return self.upsampler is not None and "upsampler" in self.models

    def model_path(self, role: str) -> Path:
        if role in self.models:
            return self.models[role]
        base = role.removesuffix("_instance")
        if base in self.models:
            return self.models[base]
        raise EdgecglError(f"bundle {self.root} has no '{role}' model", "re-export it with edgecgl export")

    def style(
        self, domain: str, granularity: str = "global", seed: int | None = None, spread: float = 1.0
    ) -> np.ndarray:
        """[S] style code for a domain: its mean style, or a sample from its Gaussian when ``seed`` is set
        (``spread`` scales the sample's distance from the mean)."""
        stats = self.style_stats.get(granularity) or self.style_stats.get("global")
        if not stats or domain not in stats:
            raise EdgecglError(
                f"bundle {self.root} has no style statistics for '{domain}'",
                f"domains in this bundle: {', '.join(self.domains)}",
            )
        st = stats[domain]
        return st.mean.astype(np.float32) if seed is None else st.sample(seed, spread)


def item_seed(base: int, *keys: str) -> int:
    """A style seed for one item (an image of a dataset), stable across runs, orders and machines: the same
    file gets the same style whatever else is in the folder."""
    return zlib.crc32("\0".join([str(base), *keys]).encode("utf-8")) & 0x7FFFFFFF


def _stats_from_json(data: dict[str, Any]) -> dict[str, dict[str, StyleStats]]:
    out: dict[str, dict[str, StyleStats]] = {}
    for gran, per_domain in data.items():
        out[gran] = {d: StyleStats.from_dict(v) for d, v in per_domain.items()}
    return out


def stats_to_json(stats: dict[str, dict[str, StyleStats]]) -> dict[str, Any]:
    return {g: {d: s.to_dict() for d, s in per.items()} for g, per in stats.items()}


def load_bundle(path: Path, verify: bool = True) -> Bundle:
    """Read and verify a bundle folder. Any mismatch is a user error that says what to do."""
    root = Path(path)
    mpath = root / MANIFEST
    if not root.is_dir():
        raise EdgecglError(f"bundle {root} does not exist or is not a folder", "run edgecgl export first")
    if not mpath.is_file():
        raise EdgecglError(f"{root} is not a bundle: no {MANIFEST}", "run edgecgl export to make one")
    try:
        m = json.loads(mpath.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise EdgecglError(f"bundle manifest {mpath} is unreadable: {exc}", "re-export the bundle") from None
    if not isinstance(m, dict) or m.get("format") != FORMAT:
        raise EdgecglError(f"{mpath} is not an edgecgl bundle manifest", "re-export the bundle")
    if m.get("format_version") != FORMAT_VERSION:
        raise EdgecglError(
            f"bundle format version {m.get('format_version')} is not supported (this edgecgl reads {FORMAT_VERSION})",
            "re-export the bundle with this edgecgl version",
        )
    files: dict[str, str] = m.get("files", {})
    if verify:
        for rel, digest in files.items():
            fp = _inside(root, rel)
            if not fp.is_file():
                raise EdgecglError(
                    f"bundle {root} is missing {rel}", "re-export or copy the whole bundle folder"
                )
            if sha256_file(fp) != digest:
                raise EdgecglError(
                    f"bundle file {rel} does not match its checksum", "the bundle is corrupt; re-export it"
                )
    models = {role: _inside(root, spec["file"]) for role, spec in m.get("models", {}).items()}
    for role, fp in models.items():
        if fp.name not in files and fp.relative_to(root).as_posix() not in files:
            raise EdgecglError(
                f"bundle model '{role}' ({fp.name}) has no checksum in the manifest", "re-export the bundle"
            )
    res = m.get("resolution", {})
    try:
        stats = _stats_from_json(m.get("style_stats", {}))
    except (KeyError, TypeError, ValueError) as exc:
        raise EdgecglError(
            f"bundle {root}: malformed style statistics ({exc})", "re-export the bundle"
        ) from None
    return Bundle(
        root=root,
        manifest=m,
        domains=list(m["domains"]),
        style_dim=int(m["style_dim"]),
        frame_size=tuple(res.get("frame", (256, 512))),  # type: ignore[arg-type]
        instance_size=tuple(res.get("instance", (128, 128))),  # type: ignore[arg-type]
        precision=str(m.get("precision", "fp32")),
        models=models,
        style_stats=stats,
        upsampler=dict(m["upsampler"]) if isinstance(m.get("upsampler"), dict) else None,
    )


def _inside(root: Path, rel: str) -> Path:
    """A manifest path, refused if it points outside the bundle (a manifest is data, not a path to follow)."""
    p = (root / rel).resolve()
    if root.resolve() not in p.parents and p != root.resolve():
        raise EdgecglError(
            f"bundle manifest names a file outside the bundle: {rel}", "the bundle is not trustworthy"
        )
    return p


def fp32_graph(bundle: Bundle, role: str) -> Path | None:
    """The role's FP32 ONNX file (an FP16/INT8 bundle keeps it under ``"fp32"``); None if the role is absent
    or has only a lower-precision file."""
    entry = bundle.manifest.get("models", {}).get(role) or {}
    rel = entry.get("fp32") or (entry.get("file") if entry.get("precision", "fp32") == "fp32" else None)
    return _inside(bundle.root, rel) if rel else None
