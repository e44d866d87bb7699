"""Issue 17's targets on one CPU kind, as a markdown table built from ``benchmarks.cpu_rows``' results.

The summary of docs/PERFORMANCE.md is pasted from this, never typed: each row names the result file it
comes from, the limit it is measured against, and whether the target is met in that run.

    python -m benchmarks.targets                       # this CPU kind's results
    python -m benchmarks.targets --tag amd-f25m17-s26  # one session's set
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from benchmarks.common import RESULTS

LIMIT_TARGET = 0.90  # ONNX Runtime fp32 of `small` and `paper` at 256x512, of the true GEMM limit
DETECTOR_TARGET = 0.85  # `edgecgl video` with the detector, of model-only frames/s
UPSAMPLE_TARGET = 0.15  # upsampler + paste at 720p/1080p, of the network's time
INT8_TARGET = 1.4  # INT8 CPU graph speed-up over ONNX Runtime fp32 ...
INT8_PSNR_DB = 30.0  # ... at this worst-frame PSNR on a trained model
CPU_INT8 = "int8 QOperator U8S8 (CPU graph)"


def _load(results: Path, name: str) -> dict[str, Any] | None:
    p = results / f"{name}.json"
    return json.loads(p.read_text()) if p.is_file() else None


def _pct(frac: float, above: bool = False) -> str:
    return "≥ 100 % (above every reference; capped)" if above else f"{100 * frac:.1f} %"


def _status(ok: bool) -> str:
    return "**met**" if ok else "**missed**"


def _fast_arm(d: dict[str, Any], streams: int) -> dict[str, Any] | None:
    """The arm a new bundle runs (exported sub-pixel with the phase-domain output layer)."""
    for arm in d["arms"].values():
        if arm["exported_subpixel"] and arm["phase_tail"] and arm["streams"] == streams:
            return arm
    return None


def _limit_str(lim: dict[str, Any]) -> str:
    refs = ", ".join(f"{k} {r['gflop_per_s']:.0f}" for k, r in lim["references"].items())
    return f"{lim['gflop_per_s']:.1f} GFLOP/s, {lim['library']} (all references: {refs})"


def limit_rows(results: Path, tag: str, preset: str) -> list[tuple[str, str, str]]:
    """ONNX Runtime fp32 of one preset against the limit: one call on every thread, and two frames at
    once on one thread each (how `edgecgl video --workers 2` runs the network)."""
    d = _load(results, f"fast_decoder_{preset}_streams_{tag}")
    if not d:
        return []
    one, two = _fast_arm(d, 1), _fast_arm(d, 2)
    if one is None or two is None:
        return []
    threads = d["machine"]["threads"]
    one_ok, two_ok = (a["above_limit"] or a["fraction_of_limit"] >= LIMIT_TARGET for a in (one, two))
    measured = (
        f"one call on {threads} threads: {_pct(one['fraction_of_limit'], one['above_limit'])} "
        f"({one['ms']['median_ms']:.0f} ms); 2 frames at once, {threads // 2 or 1} thread each: "
        f"{_pct(two['fraction_of_limit'], two['above_limit'])} ({two['ms']['median_ms']:.0f} ms a frame); "
        f"limit {_limit_str(d['limit'])}"
    )
    one_t = _load(results, f"fast_decoder_{preset}_1t_{tag}")
    arm1 = _fast_arm(one_t, 1) if one_t else None
    if arm1 is not None:
        measured += (
            f"; 1 thread: {_pct(arm1['fraction_of_limit'], arm1['above_limit'])} of "
            f"{one_t['limit']['gflop_per_s']:.1f} GFLOP/s ({one_t['limit']['winner']})"
        )
    if two_ok and not one_ok:
        status = f"{_status(True)} with 2 frames at once (the video's default); one call under 90 %"
    else:
        status = _status(one_ok and two_ok)
    target = f"ORT fp32 ≥ 90 % of the limit, `{preset}` 256x512"
    return [(target, measured, status)]


def fast_decoder_row(results: Path, tag: str) -> list[tuple[str, str, str]]:
    parts = []
    for preset in ("small", "paper"):
        d = _load(results, f"fast_decoder_{preset}_streams_{tag}")
        arm = _fast_arm(d, 1) if d else None
        if arm is not None:
            parts.append(
                f"`{preset}` x{arm['speedup_vs_default']:.2f} ({arm['gflop_per_frame']:.1f} GFLOP/frame)"
            )
    if not parts:
        return []
    measured = "exported sub-pixel + phase-domain output vs the as-trained graph, one call: " + ", ".join(
        parts
    )
    return [("fast decoder (every new bundle)", measured, "—")]


def detector_rows(results: Path, tag: str) -> list[tuple[str, str, str]]:
    rows = []
    for step, what in (("pipeline_workers", "2 threads"), ("pipeline_overlap_1t", "1 thread")):
        d = _load(results, f"{step}_{tag}")
        if not d:
            continue
        for t in d["by_threads"]:
            runs = t["runs"]
            default = next(
                (k for k in ("detector_every_2_overlap_workers2", "detector_every_2_overlap") if k in runs),
                None,
            )
            if default is None:
                continue
            r = runs[default]
            parts = [
                f"{k}: {v['fps']:.2f} frames/s, {100 * v['e2e_over_model_only']:.0f} %"
                + (
                    f" ({100 * v['e2e_over_best_model_only']:.0f} % of the fastest)"
                    if "e2e_over_best_model_only" in v
                    else ""
                )
                for k, v in runs.items()
            ]
            mo = t["model_only"]
            measured = (
                f"{what}, `small` 256x512, {r['frames']} frames of `{d['clip']}`, model-only "
                f"{mo['fps']:.2f} frames/s ({mo['median_ms']:.0f} ms): " + "; ".join(parts)
            )
            ok = r["e2e_over_model_only"] >= DETECTOR_TARGET
            rows.append(
                (
                    f"`edgecgl video` with the detector ≥ 85 % of model-only ({what}; default `{default}`)",
                    measured,
                    _status(ok),
                )
            )
    return rows


def upsample_row(results: Path, tag: str) -> list[tuple[str, str, str]]:
    d = _load(results, f"upsampler_stages_{tag}")
    if not d:
        return []
    parts, worst = [], 0.0
    for t in d["by_threads"]:
        for res, r in t["ratios_wall"].items():
            worst = max(worst, r["over_network"])
            parts.append(
                f"{res} {t['threads']} thr.: {100 * r['over_network']:.1f} % of {r['network_ms']:.0f} ms "
                f"(old graph path {100 * r['graph_path_over_network']:.1f} %)"
            )
    measured = "upsample + instance upsample + paste, `small` 256x512: " + "; ".join(parts)
    return [
        ("720p / 1080p: upsample + paste ≤ 15 % of the network", measured, _status(worst <= UPSAMPLE_TARGET))
    ]


def int8_row(results: Path, tag: str) -> list[tuple[str, str, str]]:
    d = _load(results, f"int8_cpu_small_{tag}")
    if not d:
        return []
    m = d["models"][0]
    v = m["variants"].get(CPU_INT8)
    if v is None:
        return []
    speeds = {k.split("_")[0]: v[k]["speedup_vs_fp32"] for k in v if k.endswith("_thread")}
    measured = "`small` CPU graph (QLinearConv U8S8) vs fp32: " + ", ".join(
        f"x{s:.2f} ({n} thr.)" for n, s in sorted(speeds.items())
    )
    fast = min(speeds.values()) >= INT8_TARGET
    if m.get("step", 0) == 0:
        measured += f"; random init, so accuracy is not judged here ({v['psnr_db_min']:.1f} dB worst frame)"
        status = f"speed {_status(fast)}; accuracy needs a trained model (`benchmarks.int8 --trained RUN`)"
    else:
        measured += f"; trained (step {m['step']}): {v['psnr_db_min']:.1f} dB worst frame, {v['psnr_db_mean']:.1f} mean"
        status = _status(fast and v["psnr_db_min"] >= INT8_PSNR_DB)
    return [("INT8 ≥ 1.4x ORT fp32 at ≥ 30 dB (trained)", measured, status)]


def backends_row(results: Path, tag: str) -> list[tuple[str, str, str]]:
    d = _load(results, f"backends_{tag}")
    if not d:
        return []
    parts = []
    for run in d["runs"]:
        ort = run["variants"].get("onnxruntime fp32")
        if ort:
            parts.append(
                f"`{run['preset']}` x{ort['speedup_vs_torch_eager']:.2f} ({100 * ort['fraction_of_matmul']:.0f} % of "
                f"{run['matmul']['gflop_per_s']:.0f} GFLOP/s, {run['matmul']['winner']})"
            )
    return [
        (
            "ORT fp32 vs torch eager fp32 (same run)",
            f"{d['runs'][0]['threads']} threads: " + ", ".join(parts),
            "—",
        )
    ]


def table(tag: str, results: Path = RESULTS) -> list[str]:
    """The markdown table (with a line naming the CPU and when) for one tag; empty if nothing is there."""
    rows = (
        limit_rows(results, tag, "small")
        + limit_rows(results, tag, "paper")
        + fast_decoder_row(results, tag)
        + detector_rows(results, tag)
        + upsample_row(results, tag)
        + int8_row(results, tag)
        + backends_row(results, tag)
    )
    if not rows:
        return []
    found = [json.loads(p.read_text()) for p in sorted(results.glob(f"*_{tag}.json"))]
    machines = [f["machine"] for f in found if "machine" in f]
    times = sorted(m["time"] for m in machines if "time" in m)
    cpus = sorted({m["cpu"] for m in machines})
    when = f"{times[0][:16]} to {times[-1][:16]} UTC" if times else "time not recorded"
    out = [
        f"CPU: {'; '.join(cpus)}. Results `benchmarks/results/*_{tag}.json`, {when}.",
        "",
        "| target | measured | status |",
        "| --- | --- | --- |",
    ]
    out += [f"| {t} | {m} | {s} |" for t, m, s in rows]
    return out


def main(argv: list[str] | None = None) -> None:
    from benchmarks.cpu_rows import cpu_tag  # cpu_rows imports this module

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tag", default="", help="result-name suffix (default: this CPU kind)")
    a = ap.parse_args(argv)
    tag = a.tag or cpu_tag()
    lines = table(tag)
    if not lines:
        raise SystemExit(f"no results tagged {tag} in {RESULTS}; run `python -m benchmarks.cpu_rows` first")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
