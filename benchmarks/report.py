"""Markdown tables from ``benchmarks/results/*.json`` (pasted into docs/PERFORMANCE.md, never hand-typed).

python -m benchmarks.report            # every table whose results exist
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchmarks.common import RESULTS


def _load(name: str) -> dict[str, Any] | None:
    p = RESULTS / f"{name}.json"
    return json.loads(p.read_text()) if p.is_file() else None


def _load_str(d: dict[str, Any]) -> str:
    a, b = d.get("load_average_before"), d.get("load_average_after")
    return f"1-min load {a[0] if a else '?'} -> {b[0] if b else '?'}"


def _psnr_str(v: float | None) -> str:
    if v is None:
        return "-"
    return "reference" if v == float("inf") else f"{v:.1f} dB"


def model_cost() -> list[str]:
    d = _load("model_cost")
    if not d:
        return []
    out = [
        "| preset | G-side params (M) | all params incl. D (M) | E^c GFLOP 256x512 | G GFLOP 256x512 "
        "| frame GFLOP 256x512 | frame GFLOP 720x1280 | E^s GFLOP 256x512 |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for p, r in d["presets"].items():
        f1, f2 = r["flops"]["256x512"], r["flops"]["720x1280"]
        out.append(
            f"| {p} | {r['params']['generator_side_total'] / 1e6:.2f} | {r['params']['all'] / 1e6:.2f} "
            f"| {f1['content_encoder_gflop']:.1f} | {f1['generator_gflop']:.1f} | {f1['frame_gflop']:.1f} "
            f"| {f2['frame_gflop']:.1f} | {f1['style_encoder_gflop']:.1f} |"
        )
    return out


def backends(name: str = "backends") -> list[str]:
    d = _load(name)
    if not d:
        return []
    out = [
        "| preset | size | GFLOP/frame | variant | median ms | min ms | x torch eager | GFLOP/s "
        "| % of matmul | matmul GFLOP/s | PSNR vs torch fp32 | load |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for run in d["runs"]:
        for v, r in run["variants"].items():
            out.append(
                f"| {run['preset']} | {run['size'][0]}x{run['size'][1]} | {run['gflop_per_frame']['total']:.1f} "
                f"| {v} | {r['median_ms']:.1f} | {r['min_ms']:.1f} | {r['speedup_vs_torch_eager']:.2f} "
                f"| {r['gflop_per_s']:.1f} | {100 * r['fraction_of_matmul']:.1f}% "
                f"| {run['matmul']['gflop_per_s']:.0f} | {_psnr_str(r.get('psnr_db_vs_torch_fp32'))} | {_load_str(run)} |"
            )
    return out


def instances(name: str = "instances") -> list[str]:
    d = _load(name)
    if not d:
        return []
    out = [
        "| preset | K x size | batched ms (median) | K singles ms (median) | speedup (median) | speedup (min) "
        "| max uint8 diff | load |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in d["runs"]:
        (bn, b), (sn, s) = list(r["variants"].items())
        out.append(
            f"| {r['preset']} | {r['k']} x {r['instance_size'][0]}x{r['instance_size'][1]} | {b['median_ms']:.1f} "
            f"| {s['median_ms']:.1f} | {r['speedup_batched']:.2f} | {r['speedup_batched_min']:.2f} "
            f"| {r['max_abs_diff_uint8_batched_vs_single']} | {_load_str(r)} |"
        )
    return out


def investigate(name: str = "investigate") -> list[str]:
    d = _load(name)
    if not d:
        return []
    out = [
        f"{d['preset']} at {d['size'][0]}x{d['size'][1]}, {d['threads']} threads, {d['repeats']} rounds, "
        f"{_load_str(d)}; matmul {d['matmul']['gflop_per_s']:.0f} GFLOP/s; "
        f"{d['gflop_per_frame']['total']:.1f} GFLOP/frame ({d['gflop_per_frame_subpixel']:.1f} with sub-pixel up-convs).",
        "",
        "| variant | median ms | min ms | speed vs ORT default | % of matmul (at 284-GFLOP-equivalent work) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for v, r in d["variants"].items():
        out.append(
            f"| {v} | {r['median_ms']:.1f} | {r['min_ms']:.1f} | {r['vs_ort_default']:.2f} "
            f"| {100 * r['fraction_of_matmul']:.1f}% |"
        )
    prof = d["ort_profile"]
    out += [
        "",
        f"ORT profiler, default session, ms per frame (sum over ops {prof['total_ms']:.0f} ms):",
        "",
        "| op type | ms | share |",
        "| --- | --- | --- |",
    ]
    for k, v in prof["by_op_type"].items():
        if v["share"] >= 0.002:
            out.append(f"| {k} | {v['ms']:.1f} | {100 * v['share']:.1f}% |")
    out += ["", "| convolution | GFLOP | ms | GFLOP/s |", "| --- | --- | --- | --- |"]
    for c in prof["convs"]:
        if c["gflop"] >= 0.01:
            out.append(f"| `{c['node']}` | {c['gflop']:.2f} | {c['ms']:.1f} | {c['gflop_per_s']:.0f} |")
    return out


def int8(name: str = "int8") -> list[str]:
    d = _load(name)
    if not d:
        return []
    out = [
        "| preset | size | fp32 ms | int8 ms | int8 speedup (median) | (min) | ORT-style int8 ms | ORT-style speedup "
        "| load |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in d["speed"]:
        f, i = r["variants"]["onnxruntime fp32"], r["variants"]["onnxruntime int8"]
        out.append(
            f"| {r['preset']} | {r['size'][0]}x{r['size'][1]} | {f['median_ms']:.1f} | {i['median_ms']:.1f} "
            f"| {r['int8_speedup_vs_fp32']:.2f} | {r['int8_speedup_vs_fp32_min']:.2f} "
            f"| {r['variants'].get('onnxruntime int8 ORT-style', {}).get('median_ms', float('nan')):.1f} "
            f"| {r.get('int8_ortstyle_speedup_vs_fp32', float('nan')):.2f} "
            f"| {_load_str(r)} |"
        )
    out += [
        "",
        "| model | frames x domains | size | INT8 vs FP32 PSNR min dB | mean dB | ORT-style min dB | mean dB |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for k, a in d["accuracy"].items():
        out.append(
            f"| {k} | {a['frames']} x {len(a['domains'])} | {a['size'][0]}x{a['size'][1]} | {a['psnr_db_min']} "
            f"| {a['psnr_db_mean']} | {a.get('ortstyle_psnr_db_min', '-')} | {a.get('ortstyle_psnr_db_mean', '-')} |"
        )
    return out


def int8_cpu(name: str = "int8_cpu") -> list[str]:
    """benchmarks/int8.py on trained models: every int8 graph vs fp32 on ONNX Runtime's CPU provider."""
    d = _load(name)
    if not d:
        return []
    out = [
        f"{d['machine']['cpu']}, {d['machine']['logical_cpus']} logical CPUs, onnxruntime "
        f"{d['machine']['versions'].get('onnxruntime')}; `{d['command']}`",
        "",
        "| model | threads | variant | conv kernels per frame | ms (median) | x fp32 | PSNR vs fp32 min / mean | load |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for m in d["models"]:
        label = f"{m['checkpoint'].split('/checkpoints')[0].rsplit('/', 1)[-1]} (dim {m['dim']}, step {m['step']})"
        for th in sorted(k for k in m if k.endswith("_thread")):
            for v, r in m["variants"].items():
                t = r[th]
                ks = r["kernels"].get("conv_kernels_per_frame")
                kern = " + ".join(f"{k} {n:g}" for k, n in ks.items()) if ks else "-"
                ps = f"{r['psnr_db_min']} / {r['psnr_db_mean']} dB" if "psnr_db_min" in r else "reference"
                out.append(
                    f"| {label} | {th.split('_')[0]} | {v} | {kern} | {t['median_ms']:.1f} "
                    f"| {t['speedup_vs_fp32']:.2f} | {ps} | {_load_str(m[th])} |"
                )
    return out


def pipeline(name: str) -> list[str]:
    d = _load(name)
    if not d:
        return []
    mo = d["model_only"]
    out = [
        f"{d['preset']} at {d['size'][0]}x{d['size'][1]} on `{d['clip']}` (960x540); model-only "
        f"{mo['median_ms']:.1f} ms = {mo['fps']:.2f} frames/s; {_load_str(d)}.",
        "",
        "| run | frames | e2e frames/s | e2e / model-only | decode | detect | frame | instances | upsample "
        "| compose | encode | peak RSS MB |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for k, r in d["runs"].items():
        out.append(_stage_row(k, r, f"| {r['memory'].get('peak_mb', '-')} |"))
    return out


def _stage_row(name: str, r: dict[str, Any], tail: str = "|") -> str:
    st = r["stages_ms"]

    def p50(s: str) -> str:
        if s not in st:
            return "-"
        n = st[s].get("n", r["frames"])
        return f"{st[s]['p50_ms']:.1f}" + (f" ({n} fr.)" if n != r["frames"] else "")

    ratio = f"{100 * r['e2e_over_model_only']:.0f}%"
    if "e2e_over_best_model_only" in r:  # --workers: also against the fastest model-only of the run
        ratio += f" ({100 * r['e2e_over_best_model_only']:.0f}% of best)"
    return (
        f"| {name} | {r['frames']} | {r['fps']:.2f} | {ratio} | {p50('decode')} "
        f"| {p50('detect')} | {p50('frame')} | {p50('instances')} | {p50('upsample')} | {p50('compose')} "
        f"| {p50('encode')} {tail}"
    )


def _crops_str(d: dict[str, Any]) -> str:
    """The crop size, where the result records it (128x128 before session 24, not recorded)."""
    inst = d.get("instance_size")
    return f" (crops {inst[0]}x{inst[1]})" if inst else ""


def pipeline_threads(name: str) -> list[str]:
    """benchmarks/pipeline.py --threads: translate_video in process per thread count."""
    d = _load(name)
    if not d:
        return []
    out = [
        f"{d['preset']} at {d['size'][0]}x{d['size'][1]}{_crops_str(d)} on `{d['clip']}`, {d['machine']['cpu']}; "
        f"{_load_str(d)}.",
        "",
    ]
    out += [
        "| threads | run | frames | e2e frames/s | e2e / model-only | decode | detect | frame | instances "
        "| upsample | compose | encode |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for t in d["by_threads"]:
        mo = t["model_only"]
        out.append(
            f"| {t['threads']} | model-only | - | {mo['fps']:.2f} | 100% ({mo['median_ms']:.0f} ms) | | | | | | | |"
        )
        for w, m in t.get("model_only_workers", {}).items():
            if w != "1":
                pct = 100 * m["fps"] / mo["fps"]
                out.append(
                    f"| {t['threads']} | model-only, {w} at once ({m['threads_each']} thread each) | - | "
                    f"{m['fps']:.2f} | {pct:.0f}% ({m['median_ms']:.0f} ms a frame) | | | | | | | |"
                )
        out += [f"| {t['threads']} " + _stage_row(k, r) for k, r in t["runs"].items()]
    return out


def detect_every(name: str = "detect_every") -> list[str]:
    """benchmarks/detect_every.py: box IoU of --detect-every N against every-frame detection."""
    d = _load(name)
    if not d:
        return []
    out = [
        f"`{d['clip']}`, {d['frames']} frames, {d['detector']}, torch {d['torch_threads']} thread(s), "
        f"{d['machine']['cpu']}; {_load_str(d)}; every-frame detection: "
        f"{d['boxes_per_frame_every_frame']} boxes per frame.",
        "",
        "| N | between detections | boxes | mean IoU vs every-frame (smoothed) | on predicted frames | IoU ≥ 0.5 "
        "| mean IoU vs every-frame raw | detect ms per frame |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in d["rows"]:
        s, raw = r["vs_every_frame_smoothed"], r["vs_every_frame_raw"]
        pf = s["mean_iou_predicted_frames"]
        out.append(
            f"| {r['n']} | {r['variant']} | {r['boxes']} | {s['mean_iou']:.3f} | {'-' if pf is None else f'{pf:.3f}'} "
            f"| {100 * s['frac_iou_ge_0.5']:.1f}% | {raw['mean_iou']:.3f} | {r['detect_ms_per_frame']:.1f} |"
        )
    return out


def detector_cost(name: str) -> list[str]:
    d = _load(name)
    if not d:
        return []
    lines = [
        f"{d['frames']} frames of `{d['clip']}`, {d['rounds']} rounds, {d['machine']['cpu']}; {_load_str(d)}.",
        "",
        "| detector (spec) | CPU ms per call | wall ms per call | CPU ms per round | boxes |",
        "| --- | --- | --- | --- | --- |",
    ]
    for spec, r in d["specs"].items():
        path, _, opt = spec.partition("@")
        rounds = ", ".join(f"{v:.0f}" for v in r["cpu_ms_rounds"])
        lines.append(
            f"| {Path(path).name}@{opt} | {r['cpu_ms_per_call']:.1f} | {r['wall_ms_per_call']:.1f} | {rounds} | {r['boxes']} |"
        )
    return lines


def memory(name: str) -> list[str]:
    d = _load(name)
    if not d:
        return []
    r, m = d["video"], d["video"]["memory"]
    mode = "with the YOLOv8n detector" if "--detector" in r["command"] else "without instances"
    return [
        f"{d['preset']} at {d['size'][0]}x{d['size'][1]}, {mode}, looped real clip at "
        f"{d['clip_size'][0]}x{d['clip_size'][1]}: {r['frames']} frames at {r['fps']} frames/s; RSS 2nd-quarter median "
        f"{m['q2_median_mb']} MB, last-quarter median {m['q4_median_mb']} MB (growth {m['growth_mb']} MB), "
        f"peak {m['peak_mb']} MB; {_load_str(d)}."
    ]


def spin(name: str) -> list[str]:
    d = _load(name)
    if not d:
        return []
    runs = ", ".join(f"{k}: {v}" for k, v in d["fps"].items())
    return [
        f"{d['preset']} at {d['size'][0]}x{d['size'][1]}, `translate_video` in process, no instances, "
        f"{d['frames_per_run']} frames per run, {d['rounds']} alternating runs ({runs} frames/s); median "
        + ", ".join(f"{k} {v:.2f} frames/s" for k, v in d["fps_median"].items())
        + f"; {_load_str(d)}."
    ]


def train_speed(name: str = "train_speed") -> list[str]:
    d = _load(name)
    if not d:
        return []
    out = [
        f"Frames {d['frame_size']}, crops {d['instance_size']}, batch {d['batch']}, device {d['device']}, "
        f"{d['machine']['threads']} thread(s), {_load_str(d)}.",
        "",
        "| preset | ms / iteration (median) | min | iterations/s |",
        "| --- | --- | --- | --- |",
    ]
    for p, r in d["presets"].items():
        out.append(f"| {p} | {r['median_ms']:.0f} | {r['min_ms']:.0f} | {r['it_per_s']:.2f} |")
    return out


def main() -> None:
    tables = [("model cost", model_cost())]
    for fn in (backends, instances, investigate, int8):
        for suffix in ("", "_1thread"):
            tables.append((f"{fn.__name__}{suffix}", fn(f"{fn.__name__}{suffix}")))
    tables += [
        (n, int8_cpu(n))
        for n in (
            "int8_cpu",
            "int8_cpu_run1",
            "int8_cpu_s8s8",
            "int8_cpu_paper_zen5",
            "int8_cpu_small_zen5",
            "int8_cpu_tiny_zen5",
        )
    ]
    for p in sorted(RESULTS.glob("pipeline_*.json")):
        if "memory" in p.stem or "spin" in p.stem:
            continue
        by_threads = "by_threads" in (_load(p.stem) or {})  # --threads runs: one table per thread count
        tables.append((p.stem, (pipeline_threads if by_threads else pipeline)(p.stem)))
    tables.append(("detect every", detect_every()))
    tables += [(p.stem, detector_cost(p.stem)) for p in sorted(RESULTS.glob("detector_cost*.json"))]
    tables += [(p.stem, memory(p.stem)) for p in sorted(RESULTS.glob("pipeline_memory_*.json"))]
    tables += [(p.stem, spin(p.stem)) for p in sorted(RESULTS.glob("pipeline_spin_*.json"))]
    tables.append(("train speed", train_speed()))
    for title, lines in tables:
        if lines:
            print(f"<!-- {title} -->")
            print("\n".join(lines))
            print()


if __name__ == "__main__":
    main()
