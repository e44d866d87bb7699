"""Write a bundle: ONNX per role (+ .pt2, + FP16/INT8 variants), manifest.json with checksums, atomically.

Layout (every file listed with its sha256 in the manifest's ``files``)::

    BUNDLE/manifest.json
    BUNDLE/<role>.onnx          FP32 ONNX (always: the reference for --verify and for rebuilding engines)
    BUNDLE/<role>.pt2           torch.export program, FP32 (the runtime's torch backend)
    BUNDLE/<role>.fp16.onnx     with --fp16
    BUNDLE/<role>.int8.onnx     with --int8 (Q/DQ)
    BUNDLE/<role>.<prec>.engine + .engine.json   with --engine, on the target device
    BUNDLE/upsampler.onnx       the guided upsampler (always FP32; parameters under "upsampler")

A manifest model entry: ``{"file": <what the runtime runs>, "precision": ..., "fp32": <role>.onnx,
"torch": <role>.pt2, "inputs": [names], "outputs": [names], "shapes": {name: dims}, "engine": ...}``.
"""

from __future__ import annotations

import contextlib
import importlib.metadata as md
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import onnx

from edgecgl import __version__
from edgecgl.atomic import atomic_dir
from edgecgl.bundle import FORMAT, FORMAT_VERSION, IO_NAMES, MANIFEST, StyleStats, sha256_file, stats_to_json
from edgecgl.errors import EdgecglError

if TYPE_CHECKING:
    from edgecgl.export.onnx import Dims
    from edgecgl.export.upsampler import UpsamplerConfig
    from edgecgl.train.inference import InferenceModel

PRECISIONS = ("fp32", "fp16", "int8")


def versions() -> dict[str, Any]:
    from edgecgl.export.onnx import OPSET

    out: dict[str, Any] = {"edgecgl": __version__, "opset": OPSET}
    for dist in ("torch", "onnx", "onnxruntime"):
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            out[dist] = None
    return out


def style_stats_from_checkpoint(
    raw: dict[str, dict[str, dict[str, Any]]],
) -> dict[str, dict[str, StyleStats]]:
    out: dict[str, dict[str, StyleStats]] = {}
    for gran, per in raw.items():
        out[gran] = {d: StyleStats.from_dict(s) for d, s in per.items()}
    return out


def graph_shapes(path: Path) -> dict[str, list[int | str]]:
    m = onnx.load(str(path), load_external_data=False)
    return {
        v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
        for v in (*m.graph.input, *m.graph.output)
    }


def file_checksums(root: Path) -> dict[str, str]:
    """sha256 of every file in the bundle except the manifest itself (and timing caches)."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.name != MANIFEST and not p.name.startswith("."):
            out[p.relative_to(root).as_posix()] = sha256_file(p)
    return out


def write_manifest(root: Path, manifest: dict[str, Any]) -> Path:
    """Refresh ``files`` from what is on disk and write manifest.json atomically."""
    from edgecgl.atomic import write_text_atomic

    manifest = dict(manifest)
    manifest["files"] = file_checksums(root)
    write_text_atomic(root / MANIFEST, json.dumps(manifest, indent=2) + "\n")
    return root / MANIFEST


@contextlib.contextmanager
def staged_bundle(out: Path, overwrite: bool) -> Any:
    """A temp folder beside ``out`` renamed to ``out`` only when the block succeeds.

    An existing ``out`` is replaced only with ``overwrite`` and only if it is a bundle or empty: a typo
    in --out must never delete an unrelated folder.
    """
    out = Path(out)
    if out.exists():
        if not overwrite:
            raise EdgecglError(f"bundle {out} already exists", "pass --overwrite to replace it")
        if out.is_file() or (any(out.iterdir()) and not (out / MANIFEST).is_file()):
            raise EdgecglError(f"{out} exists and is not a bundle", "choose another --out path")
    with atomic_dir(out) as tmp:
        yield tmp


DECODER_FORMS = ("fast", "trained")


def fast_decoder(im: InferenceModel, dims: Dims, log: Callable[[str], None]) -> str:
    """Swap the generator's decoder for its exact sub-pixel form where one exists (export/fast_decoder.py);
    returns what the manifest records. Checked against the trained form on random inputs."""
    import torch
    from edgecgl.export.fast_decoder import PhaseTail, can_rewrite, subpixel_decoder
    from edgecgl.export.onnx import example_inputs

    gen = im.modules["gen"]
    if not can_rewrite(gen.decoder, im.cfg.padding, im.cfg.upsample):
        return im.cfg.upsample
    fast = subpixel_decoder(gen.decoder, im.cfg.padding)
    content, style, domain = example_inputs("generator", dims, (32, 48))
    with torch.no_grad():
        params = gen.mlp(style, domain)
        err = (fast(content, params) - gen.decoder(content, params)).abs().max().item()
    if err > 1e-4:
        raise EdgecglError(
            f"sub-pixel decoder differs from the trained one by {err:.2e}", "report this as a bug"
        )
    gen.decoder = fast
    tail = any(isinstance(m, PhaseTail) for m in fast.up)
    log(
        f"generator: up-convolutions exported in the sub-pixel form"
        f"{', the output conv on its phases' if tail else ''} (exact for {im.cfg.padding} padding, {err:.1e})"
    )
    return f"subpixel (from nearest_conv5, {im.cfg.padding})" + (", phase-domain output conv" if tail else "")


def check_export_args(
    out: Path,
    precision: str = "fp32",
    simplifier: str = "onnxslim",
    decoder: str = "fast",
    quantizer: str = "ort",
    calib: Path | None = None,
    overwrite: bool = False,
) -> None:
    """Every cheap check of an export, so that a typo fails now and not after the FP32 export."""
    from edgecgl.calib.quantize import QUANTIZERS, modelopt_python
    from edgecgl.calib.sample import check_calib_source
    from edgecgl.export.simplify import SIMPLIFIERS

    from edgecgl.atomic import check_writable

    if decoder not in DECODER_FORMS:
        raise EdgecglError(f"unknown decoder form '{decoder}'", f"choose one of {', '.join(DECODER_FORMS)}")
    if precision not in PRECISIONS:
        raise EdgecglError(f"unknown precision '{precision}'", f"choose one of {', '.join(PRECISIONS)}")
    if simplifier not in SIMPLIFIERS:
        raise EdgecglError(f"unknown simplifier '{simplifier}'", f"choose one of {', '.join(SIMPLIFIERS)}")
    if precision == "int8":
        if calib is None:
            raise EdgecglError(
                "--int8 needs calibration data", "pass --calib calib.npz (from edgecgl calib) or a dataset"
            )
        if quantizer not in QUANTIZERS:
            raise EdgecglError(f"unknown quantizer '{quantizer}'", f"choose {', '.join(QUANTIZERS)}")
        if quantizer == "modelopt":
            modelopt_python()
        check_calib_source(calib)
    if Path(out).exists() and not overwrite:  # staged_bundle checks again when it writes
        raise EdgecglError(f"bundle {out} already exists", "pass --overwrite to replace it")
    check_writable(Path(out))  # a /proc or read-only --out fails now, not after the export


def write_bundle(
    checkpoint: Path,
    out: Path,
    precision: str = "fp32",
    simplifier: str = "onnxslim",
    calib: Path | None = None,
    overwrite: bool = False,
    pt2: bool = True,
    log: Callable[[str], None] = lambda s: None,
    quantizer: str = "ort",
    upsampler: UpsamplerConfig | None = None,
    decoder: str = "fast",
    bdd_rules: Any = None,
) -> Path:
    """Checkpoint -> verified bundle folder. Parity with torch is checked before anything is renamed.

    ``upsampler`` None uses the measured defaults for the model's working size
    (``UpsamplerConfig.for_working_size``); every new bundle has one. ``decoder`` "trained" keeps the
    up-convolutions as trained (nearest x2 + 5x5) instead of their exact sub-pixel form: the same output,
    slower; for comparing the two or for a runtime that mishandles the form. ``bdd_rules``: the BDD100K
    domain table when ``calib`` is a ``bdd100k:`` spec (the one the model was trained with).
    """
    from edgecgl.export.onnx import ROLE_MODULES, Dims, example_inputs, export_onnx, export_pt2, roles_of
    from edgecgl.export.simplify import simplify
    from edgecgl.export.verify import parity_shapes, torch_parity
    from edgecgl.train.inference import load_inference

    check_export_args(out, precision, simplifier, decoder, quantizer, calib, overwrite)
    im = load_inference(Path(checkpoint))
    dims = Dims(im.cfg.content_channels, im.cfg.style_dim, im.cfg.n_domains)
    written = fast_decoder(im, dims, log) if decoder == "fast" else im.cfg.upsample  # the manifest's record
    mods = roles_of(im.modules)
    entries: dict[str, dict[str, Any]] = {}
    with staged_bundle(out, overwrite) as tmp:
        for role, module in mods.items():
            size = im.instance_size if ROLE_MODULES[role][1] == "instance" else im.frame_size
            fp32 = tmp / f"{role}.onnx"
            export_onnx(module, role, fp32, example_inputs(role, dims, _small(size)))
            onnx.save(simplify(onnx.load(str(fp32)), simplifier), str(fp32))
            err = torch_parity(module, fp32, role, dims, parity_shapes(size))
            if err > 1e-4:
                raise EdgecglError(
                    f"{role}: ONNX differs from torch by {err:.2e} (> 1e-4)", "report this as a bug"
                )
            log(f"{role}: {fp32.name} (max abs error vs torch {err:.1e})")
            ins, outs = IO_NAMES[role]
            entry: dict[str, Any] = {
                "file": fp32.name,
                "precision": "fp32",
                "fp32": fp32.name,
                "inputs": list(ins),
                "outputs": list(outs),
                "shapes": graph_shapes(fp32),
            }
            if pt2:
                try:
                    export_pt2(
                        module, role, tmp / f"{role}.pt2", example_inputs(role, dims, _small(size), batch=2)
                    )
                    entry["torch"] = f"{role}.pt2"
                except Exception as exc:  # noqa: BLE001 - the .pt2 is optional; say so, never fail the bundle
                    log(f"{role}: torch.export failed, no .pt2 ({type(exc).__name__}: {str(exc)[:120]})")
            entries[role] = entry
        if precision == "fp16":
            from edgecgl.export.precision import convert_fp16

            for role, entry in entries.items():
                dst = tmp / f"{role}.fp16.onnx"
                _, tool = convert_fp16(tmp / entry["fp32"], dst)
                entry.update(file=dst.name, precision="fp16", fp16_pass=tool)
                log(
                    f"{role}: {dst.name} ({'ModelOpt AutoCast' if tool == 'modelopt' else 'edgecgl FP16 pass'})"
                )
        elif precision == "int8":
            from edgecgl.calib.quantize import quantize_bundle_models

            quantize_bundle_models(
                tmp, entries, Path(calib), im.domains, dims, im.style_stats, log=log, quantizer=quantizer,
                bdd_rules=bdd_rules,
            )  # fmt: skip
        from edgecgl.export.upsampler import UpsamplerConfig

        ucfg = upsampler or UpsamplerConfig.for_working_size(im.frame_size)
        entries["upsampler"] = add_upsampler(tmp, ucfg, log)
        stats = style_stats_from_checkpoint(im.style_stats)
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "domains": list(im.domains),
            "style_dim": im.cfg.style_dim,
            "content_channels": im.cfg.content_channels,
            "decoder": written,
            "stride": 2**im.cfg.n_down,
            "style_stride": 2
            ** im.cfg.style_down,  # the runtime's smallest style canvas (Bundle.min_style_side)
            "shared_encoders": "content_enc_inst" not in im.modules,
            "resolution": {"frame": list(im.frame_size), "instance": list(im.instance_size)},
            "normalization": {"layout": "NCHW", "color": "RGB", "range": [-1.0, 1.0], "dtype": "float32"},
            "precision": precision,
            "models": entries,
            "style_stats": stats_to_json(stats),
            "upsampler": ucfg.to_json(),
            "versions": versions(),
            "config_sha256": im.config_sha256,
            "source": {"checkpoint": str(Path(checkpoint).resolve()), "step": im.step},
            "files": {},
        }
        write_manifest(tmp, manifest)
    return Path(out)


def add_upsampler(
    root: Path, cfg: UpsamplerConfig, log: Callable[[str], None] = lambda s: None
) -> dict[str, Any]:
    """Write ``upsampler.onnx`` into a bundle folder, check it against torch, return its manifest entry.

    It stays FP32 in every bundle (a few elementwise ops per output pixel; its 3x3 solve wants FP32).
    """
    from edgecgl.export.upsampler import export_upsampler, upsampler_parity

    path = root / "upsampler.onnx"
    export_upsampler(cfg, path)
    err = upsampler_parity(cfg, path)
    if err > 1e-4:
        raise EdgecglError(
            f"upsampler: ONNX differs from torch by {err:.2e} (> 1e-4)", "report this as a bug"
        )
    log(
        f"upsampler: {path.name} ({cfg.mode}, radius {cfg.radius}, eps {cfg.eps:g}; max abs error vs torch {err:.1e})"
    )
    ins, outs = IO_NAMES["upsampler"]
    return {
        "file": path.name,
        "precision": "fp32",
        "fp32": path.name,
        "inputs": list(ins),
        "outputs": list(outs),
        "shapes": graph_shapes(path),
    }


def _small(size: tuple[int, int]) -> tuple[int, int]:
    """A small example shape for tracing (the graph is dynamic, tracing at full size only costs time)."""
    return (min(size[0], 64), min(size[1], 64))
