"""benchmarks/gpu_check.py without a GPU: the dry run (CI), the refusal without CUDA, the step log."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from benchmarks import gpu_check

SCRIPT = Path(gpu_check.__file__)


def test_dry_run_prints_the_plan_and_exits_0() -> None:
    r = subprocess.run(
        [sys.executable, str(SCRIPT), "--dry-run"], capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, r.stderr
    for word in ("bundles:", "engines:", "verify:", "timing:", "video:", "gpu_check.json", "fp16", "int8"):
        assert word in r.stdout


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is here: the real run would start")
def test_without_cuda_it_says_so(tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(tmp_path / "x.json")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2 and "needs a CUDA GPU" in r.stderr
    assert not (tmp_path / "x.json").exists()


def test_steps_are_recorded_as_they_finish(tmp_path: Path) -> None:
    run = gpu_check.Run(budget_s=100, out=tmp_path / "r.json")
    assert run.step("a", 1, lambda: {"x": 1}) == {"x": 1}
    assert json.loads((tmp_path / "r.json").read_text())["steps"]["a"]["status"] == "ok"

    def boom() -> None:
        raise RuntimeError("engine build failed")

    assert run.step("b", 1, boom) is None
    assert run.step("c", 1000, lambda: 1) is None  # more than the budget left: skipped, not run
    steps = json.loads((tmp_path / "r.json").read_text())["steps"]
    assert steps["b"]["status"] == "failed" and "engine build failed" in steps["b"]["error"]
    assert steps["c"]["status"] == "skipped" and "left of the budget" in steps["c"]["reason"]


def test_performance_rows_come_from_the_results() -> None:
    data = {
        "environment": {"gpu": {"gpu": "NVIDIA H200", "sm_count": "132"}, "tensorrt": "10.13.3.9"},
        "steps": {
            "timing": {
                "result": {
                    "rows": {"tensorrt fp16 frame": {"median_ms": 1.5, "p90_ms": 1.7, "vs_torch_fp16": 2.0}}
                }
            },
            "verify": {
                "result": {"int8": [{"input": "frame", "psnr_db": 31.25, "limit_db": 30.0, "ok": True}]}
            },
        },
    }
    rows = gpu_check.performance_rows(data)
    assert "NVIDIA H200 (132 SMs), TensorRT 10.13.3.9" in rows[0]
    assert "| tensorrt fp16 frame | 1.5 | 1.7 | 2.0 |" in rows
    assert any("verify int8 frame" in r and "31.2" in r and "ok=True" in r for r in rows)


def test_torch_steps_run_on_cpu_at_toy_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The no-TensorRT steps a GPU loan runs first, on the CPU at toy size: a typo must not cost the loan."""
    monkeypatch.setattr(gpu_check, "WORK", tmp_path)
    t = gpu_check.torch_timing(repeats=1, device="cpu", presets=("tiny",), frame=(64, 128), instance=(32, 32))
    assert {"tiny fp32 frame", "tiny fp16 frame", "tiny bf16 frame"} <= set(t["rows"])
    assert t["rows"]["tiny fp32 frame"]["vs_fp32"] == 1.0
    assert t["rows"][f"tiny fp16 {gpu_check.CROPS_K} crops, one batch"]["vs_k_calls"] > 0
    tr = gpu_check.train_on(device="cpu", runs=(("realfog", 4),), scenes=4)
    assert tr["realfog"]["last"]["step"] == 4 and tr["realfog"]["losses_finite"]
    rows = gpu_check.performance_rows(
        {"environment": {}, "steps": {"torch timing": {"result": t}, "train cuda": {"result": tr}}}
    )
    assert any("| tiny fp16 frame |" in r for r in rows)
    assert any("edgecgl train --config realfog --device cpu" in r for r in rows)


def test_resume_keeps_finished_steps_and_reruns_the_rest(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    first = gpu_check.Run(budget_s=100, out=out)
    first.step("train", 1, lambda: {"it_s": 5.0})
    first.step("bundles", 1, lambda: {"fp32": str(tmp_path / "gone")})
    first.step("video", 1, lambda: 1 / 0)
    again = gpu_check.Run(budget_s=100, out=out, resume=True)
    calls: list[str] = []
    assert again.step("train", 1, lambda: calls.append("train")) == {"it_s": 5.0}
    valid = lambda r: all(Path(p).is_dir() for p in r.values())  # noqa: E731
    again.step("bundles", 1, lambda: calls.append("bundles") or {}, valid)  # its folder is not here: rebuilt
    again.step("video", 1, lambda: calls.append("video"))  # failed before: run again
    assert calls == ["bundles", "video"]
    assert json.loads(out.read_text())["steps"]["train"]["from_earlier_run"] is True
