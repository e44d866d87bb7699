"""Two CPU processes (gloo) train the tiny preset under DDP: the replicas stay bit-identical, and
``edgecgl train``'s own torchrun path frees the trainer before it destroys the group it made."""

from __future__ import annotations

import gc
import json
import os
import socket
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

WORLD = 2


def _trainer_run(tmp: str) -> dict:
    """The Trainer under a group made outside it; the trainer is garbage once this returns."""
    from edgecgl.train.trainer import Trainer, check_replicas_identical

    from tests.unit.fake_data import FakeDataset
    from tests.unit.test_trainer import tiny_cfg

    cfg = tiny_cfg(iters=3, **{"loss.gp.hold": 0, "loss.gp.upper": 0.5})
    t = Trainer(cfg, FakeDataset(), Path(tmp) / "run")
    first = t.source[0]["x"]
    t.run()
    with torch.no_grad():
        return {
            "same": check_replicas_identical(t.model) and check_replicas_identical(t.ema),
            "lambda": {g: w.value for g, w in t.loss.gp.items()},
            "checksum": float(sum(p.double().sum() for p in t.model.parameters())),
            "first_x": float(first.sum()),
        }


def _launch_run(rank: int, tmp: str, port: int) -> dict:
    """`edgecgl train` under torchrun's environment: launch.train makes the group and must tear it down."""
    from edgecgl.train import launch
    from edgecgl.train.trainer import Trainer

    from edgecgl.config import dump_yaml
    from tests.unit.fake_data import FakeDataset
    from tests.unit.test_trainer import tiny_cfg

    env = {
        "RANK": rank,
        "LOCAL_RANK": rank,
        "WORLD_SIZE": WORLD,
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": port,
    }
    os.environ.update({k: str(v) for k, v in env.items()})
    config = Path(tmp, f"tiny-rank{rank}.yaml")
    config.write_text(dump_yaml(tiny_cfg(iters=2)))
    launch.open_training_data = lambda cfg: FakeDataset()  # the data package has its own tests
    trainers_at_destroy: list[int] = []
    destroy = dist.destroy_process_group

    def counting_destroy(*args, **kwargs) -> None:  # noqa: ANN002, ANN003
        trainers_at_destroy.append(sum(isinstance(o, Trainer) for o in gc.get_objects()))
        destroy(*args, **kwargs)

    dist.destroy_process_group = counting_destroy
    try:
        result = launch.train(str(config), out=Path(tmp) / "cli", log=lambda s: None, progress=False)
    finally:
        dist.destroy_process_group = destroy
    return {
        "launch_step": result.step,
        "trainers_at_destroy": trainers_at_destroy,
        "group_left": dist.is_initialized(),
    }


def _worker(rank: int, tmp: str, port: int) -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    torch.set_num_threads(1)
    gc.disable()  # cyclic garbage stays until collected on purpose: teardown must not wait for the collector
    dist.init_process_group("gloo", init_method=f"file://{tmp}/pg", rank=rank, world_size=WORLD)
    try:
        out = _trainer_run(tmp)
    finally:
        gc.collect()
        dist.destroy_process_group()
    out.update(_launch_run(rank, tmp, port))
    Path(tmp, f"rank{rank}.json").write_text(json.dumps(out))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_two_gloo_ranks_stay_identical_and_launch_tears_down_cleanly(tmp_path: Path) -> None:
    mp.spawn(_worker, args=(str(tmp_path), _free_port()), nprocs=WORLD, join=True)
    r0, r1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(WORLD))
    assert r0["same"] and r1["same"]
    assert r0["checksum"] == r1["checksum"] and r0["lambda"] == r1["lambda"]
    assert r0["first_x"] != r1["first_x"]  # each rank samples its own pairs
    assert (tmp_path / "run" / "checkpoints" / "last.pt").is_file()
    rows = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert len(rows) == 3  # only rank 0 writes
    for r in (r0, r1):
        assert r["launch_step"] == 2 and not r["group_left"]
        # The DDP model holds the gloo group; freed only at interpreter exit, it could abort the process.
        assert r["trainers_at_destroy"] == [0]
    (run,) = (tmp_path / "cli").iterdir()  # both ranks share the run folder rank 0 made
    assert (run / "checkpoints" / "model.pt").is_file()
