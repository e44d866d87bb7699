"""benchmarks/targets.py: issue 17's summary table built from real result files, met and missed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from benchmarks.common import RESULTS
from benchmarks.targets import table

# committed results (AMD EPYC Zen 4, sessions 24-25) under the names benchmarks.cpu_rows gives them
SOURCES = {
    "fast_decoder_small_streams": "fast_decoder_small_streams_zen4",
    "fast_decoder_paper_streams": "fast_decoder_paper_streams_zen4",
    "fast_decoder_small_1t": "fast_decoder_small_1t_amd-f25m17",
    "pipeline_workers": "pipeline_workers_small_zen4",
    "upsampler_stages": "upsampler_stages_quiet_zen4",
    "int8_cpu_small": "int8_cpu_small_amd-f25m17",
    "backends": "backends_amd",
}


@pytest.fixture
def results(tmp_path: Path) -> Path:
    for step, src in SOURCES.items():
        shutil.copy(RESULTS / f"{src}.json", tmp_path / f"{step}_T.json")
    return tmp_path


def _edit(results: Path, step: str, fn) -> None:
    p = results / f"{step}_T.json"
    d = json.loads(p.read_text())
    fn(d)
    p.write_text(json.dumps(d))


def _row(lines: list[str], start: str) -> str:
    hits = [ln for ln in lines if ln.startswith(f"| {start}")]
    assert len(hits) == 1, (start, lines)
    return hits[0]


def test_table_reads_every_step_and_names_the_limit(results: Path) -> None:
    lines = table("T", results)
    assert lines[0].startswith("CPU: ") and "family 25 model 17" in lines[0]
    small = _row(lines, "ORT fp32 ≥ 90 % of the limit, `small`")
    # session 24: one call 86.7 %, two at once 94.2 % against two 1-thread numpy GEMMs at once
    assert "86.7 %" in small and "94.2 %" in small and "2 x numpy matmul" in small
    assert "with 2 frames at once" in small and small.count("**met**") == 1
    paper = _row(lines, "ORT fp32 ≥ 90 % of the limit, `paper`")
    assert "≥ 100 % (above every reference; capped)" in paper and paper.endswith("| **met** |")
    assert "x1.29" in _row(lines, "fast decoder")
    assert _row(lines, "`edgecgl video` with the detector").endswith("| **met** |")
    assert "1080p 2 thr.: 3.9 %" in _row(lines, "720p / 1080p")
    int8 = _row(lines, "INT8")
    assert "x2.39 (2 thr.)" in int8 and "random init" in int8 and "accuracy needs a trained model" in int8
    assert "`paper` x1.15" in _row(lines, "ORT fp32 vs torch eager")


def test_missed_targets_say_so(results: Path) -> None:
    def slow(d: dict) -> None:
        for arm in d["arms"].values():
            arm["fraction_of_limit"], arm["above_limit"] = 0.8, False

    def lagging(d: dict) -> None:
        d["by_threads"][0]["runs"]["detector_every_2_overlap_workers2"]["e2e_over_model_only"] = 0.84

    def costly(d: dict) -> None:
        d["by_threads"][1]["ratios_wall"]["1080p"]["over_network"] = 0.16

    def trained_but_blurry(d: dict) -> None:
        d["models"][0]["step"] = 4000
        d["models"][0]["variants"]["int8 QOperator U8S8 (CPU graph)"]["psnr_db_min"] = 29.0

    _edit(results, "fast_decoder_small_streams", slow)
    _edit(results, "pipeline_workers", lagging)
    _edit(results, "upsampler_stages", costly)
    _edit(results, "int8_cpu_small", trained_but_blurry)
    lines = table("T", results)
    assert _row(lines, "ORT fp32 ≥ 90 % of the limit, `small`").endswith("| **missed** |")
    assert _row(lines, "`edgecgl video` with the detector").endswith("| **missed** |")
    assert _row(lines, "720p / 1080p").endswith("| **missed** |")
    int8 = _row(lines, "INT8")
    assert int8.endswith("| **missed** |") and "29.0 dB worst frame" in int8


def test_no_results_no_table(tmp_path: Path) -> None:
    assert table("T", tmp_path) == []
