"""One 2-thread ONNX Runtime call per frame, in several fresh processes: is a slow run the process's state?

``edgecgl bench``'s one-call row read ~295 ms in most runs and ~370 in some, with the same minimum. This
runs the bundle's content encoder + generator (plain ONNX Runtime sessions at ``--threads``) for
``--calls`` frames in each of ``--processes`` new processes, spin-waiting off (the runtime's setting) and
on, alternating, and reports each process's median, minimum and slow calls (over 1.12x its minimum).

    python -m benchmarks.ort_process_modes --preset small --processes 6 --calls 25
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.common import load_average, log, toy_bundle, write_results
from edgecgl.bench import cpu_name


def one_process(bundle: Path, threads: int, spin: bool, calls: int) -> dict[str, float]:
    """In this process: ``calls`` timed frames through content encoder + generator."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.log_severity_level = 3
    opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    enc, gen = (
        ort.InferenceSession(str(bundle / f), opts, providers=["CPUExecutionProvider"])
        for f in ("content_encoder.onnx", "generator.onnx")
    )
    rng = np.random.default_rng(0)
    image = rng.uniform(-1, 1, (1, 3, 256, 512)).astype(np.float32)
    style = rng.standard_normal((1, 8)).astype(np.float32)
    domain = np.eye(4, dtype=np.float32)[:1]

    def frame() -> None:
        content = enc.run(None, {"image": image})[0]
        gen.run(None, {"content": content, "style": style, "domain": domain})

    frame()
    frame()
    ms = []
    for _ in range(calls):
        time.sleep(0.15)  # past any pool's spin
        t0 = time.perf_counter()
        frame()
        ms.append((time.perf_counter() - t0) * 1000.0)
    low = min(ms)
    return {"median_ms": round(statistics.median(ms), 1), "min_ms": round(low, 1),
            "slow_calls": sum(m > 1.12 * low for m in ms), "calls": calls}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="small")
    ap.add_argument("--processes", type=int, default=6)
    ap.add_argument("--calls", type=int, default=25)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--child", nargs=2, metavar=("BUNDLE", "SPIN"), help=argparse.SUPPRESS)
    ap.add_argument("--out", default="ort_process_modes")
    a = ap.parse_args()
    if a.child:
        print(json.dumps(one_process(Path(a.child[0]), a.threads, a.child[1] == "1", a.calls)), flush=True)
        return
    bundle = toy_bundle(a.preset)
    res: dict[str, object] = {"cpu": cpu_name(), "bundle": bundle.name, "threads": a.threads,
                              "load_before": load_average(), "processes": []}  # fmt: skip
    for i in range(a.processes):
        for spin in (False, True):
            cmd = [sys.executable, "-m", "benchmarks.ort_process_modes", "--child", str(bundle), str(int(spin)),
                   "--calls", str(a.calls), "--threads", str(a.threads)]  # fmt: skip
            out = (
                subprocess.run(cmd, capture_output=True, text=True, check=True)
                .stdout.strip()
                .splitlines()[-1]
            )
            row = {"process": i, "spin": spin, **json.loads(out)}
            log(f"process {i} spin={'on' if spin else 'off'}: {row}")
            res["processes"].append(row)  # type: ignore[attr-defined]
            res["load_after"] = load_average()
            write_results(a.out, res)


if __name__ == "__main__":
    main()
