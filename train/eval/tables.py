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
    for metric, spec in table["metrics"].items():
        fmt = METRICS.get(metric, ("", True, "{:.4f}"))[2]
        arrow = "↑" if spec["higher_is_better"] else "↓"
        lines += [f"### {spec['label']} {arrow}", ""]
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


def _label(tile: np.ndarray, text: str) -> np.ndarray:
    h, w = tile.shape[:2]
    bar = np.full((max(14, h // 8), w, 3), 255, np.uint8)
    scale = max(0.3, bar.shape[0] / 30)
    cv2.putText(
        bar, text[:32], (3, bar.shape[0] - 4), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1, cv2.LINE_AA
    )
    return np.concatenate([bar, tile], axis=0)


def contact_sheet(
    inputs: torch.Tensor,
    outputs: Mapping[str, Mapping[str, torch.Tensor]],
    domains: Sequence[str],
    gap: int = 2,
) -> np.ndarray:
    """BGR uint8 grid: for each input, one row per method: input | output per target domain.

    ``outputs[method][domain]`` is [K,3,H,W] aligned with ``inputs`` [K,3,H,W].
    """
    rows = []
    for k in range(inputs.shape[0]):
        for method, per in outputs.items():
            tiles = [_label(_to_uint8(inputs[k]), f"input ({method})" if k == 0 else "input")]
            for d in domains:
                tiles.append(_label(_to_uint8(per[d][k]), f"{method}: {d}"))
            padded = [np.pad(t, ((gap, gap), (gap, gap), (0, 0)), constant_values=255) for t in tiles]
            rows.append(np.concatenate(padded, axis=1))
    return np.concatenate(rows, axis=0)


def write_png(path: Path, bgr: np.ndarray) -> Path:
    with atomic_path(Path(path)) as tmp:
        if not cv2.imwrite(str(tmp), bgr):
            raise OSError(f"could not encode {path}")
    return Path(path)
