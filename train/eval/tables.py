"""Results shaped like the paper's Tables 2-8: one table per metric, rows = methods, columns = target
domains (Night, Cloudy, Rainy) and their Average; written as JSON and Markdown. Plus a contact sheet.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from edgecgl.atomic import atomic_path, write_text_atomic

# Metric key -> (label, higher is better, format)
METRICS: dict[str, tuple[str, bool, str]] = {
    "fid": ("FID", False, "{:.2f}"),
    "kid": ("KID ×100", False, "{:.3f}"),
    "is": ("IS (domain classifier)", True, "{:.3f}"),
    "domain_acc": ("Domain accuracy %", True, "{:.1f}"),
    "lpips_div": ("LPIPS diversity", True, "{:.4f}"),
    "psnr": ("PSNR dB (frame)", True, "{:.2f}"),
    "psnr_instance": ("PSNR dB (instances)", True, "{:.2f}"),
    "ssim": ("SSIM (frame)", True, "{:.4f}"),
    "ssim_instance": ("SSIM (instances)", True, "{:.4f}"),
    "lpips": ("LPIPS (frame)", False, "{:.4f}"),
    "lpips_instance": ("LPIPS (instances)", False, "{:.4f}"),
}

Results = Mapping[str, Mapping[str, Mapping[str, float | None]]]  # method -> metric -> domain -> value


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(float(v))


def build_table(
    results: Results, domains: Sequence[str], meta: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """{"columns", "metrics": {metric: {"label", "higher_is_better", "rows": {method: {col: value}}}}, "meta"}.

    The Average is over the domains that have a finite value; missing cells are null, never zero.
    """
    columns = [*domains, "average"]
    metrics: dict[str, Any] = {}
    order = [m for m in METRICS if any(m in per for per in results.values())]
    order += sorted({m for per in results.values() for m in per} - set(order))
    for metric in order:
        label, higher, _ = METRICS.get(metric, (metric, True, "{:.4f}"))
        rows: dict[str, dict[str, float | None]] = {}
        for method, per in results.items():
            if metric not in per:
                continue
            cells = {d: (float(per[metric][d]) if _finite(per[metric].get(d)) else None) for d in domains}
            vals = [v for v in cells.values() if v is not None]
            cells["average"] = float(np.mean(vals)) if vals else None
            rows[method] = cells
        metrics[metric] = {"label": label, "higher_is_better": higher, "rows": rows}
    return {"columns": columns, "metrics": metrics, "meta": dict(meta or {})}


def table_markdown(table: Mapping[str, Any]) -> str:
    cols = table["columns"]
    lines: list[str] = []
    meta = table.get("meta", {})
    if "n_inputs" in meta:  # how much each number rests on, before the numbers
        real = ", ".join(f"{d} {n}" for d, n in meta.get("n_real", {}).items())
        lines += [
            f"{meta['n_inputs']} input images ({meta.get('split', '?')} split); real images per target: {real}",
            "",
        ]
    for metric, spec in table["metrics"].items():
        fmt = METRICS.get(metric, ("", True, "{:.4f}"))[2]
        arrow = "↑" if spec["higher_is_better"] else "↓"
        scratch = metric in ("is", "domain_acc") and meta.get("classifier", {}).get("pretrained") == "scratch"
        said = " (classifier trained from scratch: not comparable to the paper's)" if scratch else ""
        lines += [f"### {spec['label']} {arrow}{said}", ""]
        lines.append("| method | " + " | ".join(c.capitalize() for c in cols) + " |")
        lines.append("| --- |" + " ---: |" * len(cols))
        for method, cells in spec["rows"].items():
            vals = ["–" if cells.get(c) is None else fmt.format(cells[c]) for c in cols]
            lines.append(f"| {method} | " + " | ".join(vals) + " |")
        lines.append("")
    notes = table.get("meta", {}).get("notes", [])
    if notes:
        lines += ["Notes:", ""] + [f"- {n}" for n in notes] + [""]
    return "\n".join(lines)


def write_table(out_dir: Path, table: Mapping[str, Any]) -> tuple[Path, Path]:
    out_dir = Path(out_dir)
    jpath, mpath = out_dir / "results.json", out_dir / "results.md"
    write_text_atomic(jpath, json.dumps(table, indent=2, allow_nan=False) + "\n")
    write_text_atomic(mpath, table_markdown(table))
    return jpath, mpath


def _to_uint8(image: torch.Tensor | np.ndarray) -> np.ndarray:
    """[3,H,W] RGB in [-1,1] -> [H,W,3] uint8 BGR for OpenCV."""
    a = np.asarray(image, dtype=np.float32)
    rgb = np.clip((a.transpose(1, 2, 0) + 1.0) * 127.5 + 0.5, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(rgb[:, :, ::-1])


def _text_tile(text: str, h: int, w: int, scale: float = 0.45) -> np.ndarray:
    tile = np.full((h, w, 3), 255, np.uint8)
    (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    org = (max(2, (w - tw) // 2), (h + th) // 2)
    cv2.putText(tile, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1, cv2.LINE_AA)
    return tile


def contact_sheet(
    inputs: torch.Tensor,
    outputs: Mapping[str, Mapping[str, torch.Tensor]],
    domains: Sequence[str],
    gap: int = 2,
    min_height: int = 96,
) -> np.ndarray:
    """BGR uint8 grid. Columns: method name | input | one output per target domain (header on top).
    Rows: for each input, one row per method. ``outputs[method][domain]`` is [K,3,H,W] like ``inputs``.
    Small images are enlarged (nearest) to ``min_height`` so a 32-px test frame is still visible.
    """
    h, w = int(inputs.shape[2]), int(inputs.shape[3])
    zoom = max(1, -(-min_height // h))
    th, tw = h * zoom, w * zoom
    name_w = max(90, 9 * max((len(m) for m in outputs), default=8))

    def pad(t: np.ndarray) -> np.ndarray:
        return np.pad(t, ((gap, gap), (gap, gap), (0, 0)), constant_values=255)

    def img(x: torch.Tensor) -> np.ndarray:
        t = _to_uint8(x)
        return cv2.resize(t, (tw, th), interpolation=cv2.INTER_NEAREST) if zoom > 1 else t

    blank = np.full((th, tw, 3), 230, np.uint8)
    header = [_text_tile("method", 24, name_w), _text_tile("input", 24, tw)]
    header += [_text_tile(d, 24, tw) for d in domains]
    rows = [np.concatenate([pad(t) for t in header], axis=1)]
    for k in range(inputs.shape[0]):
        for method, per in outputs.items():
            tiles = [_text_tile(method, th, name_w), img(inputs[k])]
            tiles += [img(per[d][k]) if d in per else blank for d in domains]
            rows.append(np.concatenate([pad(t) for t in tiles], axis=1))
        rows.append(np.full((4, rows[0].shape[1], 3), 160, np.uint8))  # separates inputs
    return np.concatenate(rows, axis=0)


def write_png(path: Path, bgr: np.ndarray) -> Path:
    with atomic_path(Path(path)) as tmp:
        if not cv2.imwrite(str(tmp), bgr):
            raise OSError(f"could not encode {path}")
    return Path(path)
