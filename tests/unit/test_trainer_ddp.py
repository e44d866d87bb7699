"""Two CPU processes (gloo) train the tiny preset under DDP and stay bit-identical."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

WORLD = 2


def _worker(rank: int, tmp: str) -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{tmp}/pg", rank=rank, world_size=WORLD)
    try:
        from edgecgl.train.trainer import Trainer, check_replicas_identical

        from tests.unit.fake_data import FakeDataset
        from tests.unit.test_trainer import tiny_cfg

        cfg = tiny_cfg(iters=3, **{"loss.gp.hold": 0, "loss.gp.upper": 0.5})
        t = Trainer(cfg, FakeDataset(), Path(tmp) / "run")
        first = t.source[0]["x"]
        t.run()
        same = check_replicas_identical(t.model) and check_replicas_identical(t.ema)
        out = {
            "same": same,
            "lambda": {g: w.value for g, w in t.loss.gp.items()},
            "checksum": float(sum(p.double().sum() for p in t.model.parameters())),
            "first_x": float(first.sum()),
        }
        Path(tmp, f"rank{rank}.json").write_text(json.dumps(out))
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_two_gloo_ranks_stay_identical(tmp_path: Path) -> None:
    mp.spawn(_worker, args=(str(tmp_path),), nprocs=WORLD, join=True)
    r0, r1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(WORLD))
    assert r0["same"] and r1["same"]
    assert r0["checksum"] == r1["checksum"] and r0["lambda"] == r1["lambda"]
    assert r0["first_x"] != r1["first_x"]  # each rank samples its own pairs
    assert (tmp_path / "run" / "checkpoints" / "last.pt").is_file()
    rows = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert len(rows) == 3  # only rank 0 writes
