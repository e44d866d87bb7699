"""Kill-and-resume reproduces the uninterrupted run exactly (CPU, fixed seed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from edgecgl.train.trainer import Trainer

from edgecgl.errors import EdgecglError
from tests.unit.fake_data import FakeDataset
from tests.unit.test_trainer import tiny_cfg


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


def losses(run: Path) -> list[dict]:
    rows = [json.loads(s) for s in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k not in ("it_s", "time")} for r in rows]


def test_resume_reproduces_uninterrupted_losses_exactly(tmp_path: Path) -> None:
    # a short hold and a floor below the start let λ_gp change during these few steps (the untrained
    # critic's ‖∇D‖ is far below 1, so the norm rule halves it), so its state matters too
    over = {"iters": 4, "loss.gp.hold": 1, "loss.gp.min_value": 1.0, "optim.n_critic": 2}
    straight = Trainer(tiny_cfg(**over), FakeDataset(), tmp_path / "a")
    straight.run()

    first = Trainer(tiny_cfg(**over), FakeDataset(), tmp_path / "b")
    first.run(2)
    torch.manual_seed(1234)  # a resumed process starts from unrelated global RNG states
    second = Trainer(tiny_cfg(**over), FakeDataset(), tmp_path / "b")
    second.resume()
    assert second.step == 2
    second.run()

    a, b = losses(tmp_path / "a"), losses(tmp_path / "b")
    assert [r["step"] for r in b] == [1, 2, 3, 4]
    assert a == b  # exact float equality, every term, λ_gp and lr
    assert a[-1]["lambda_gp_global"] != 10.0  # λ really moved
    for (k, p), q in zip(
        straight.model.state_dict().items(), second.model.state_dict().values(), strict=True
    ):
        assert torch.equal(p, q), k
    for p, q in zip(straight.ema.parameters(), second.ema.parameters(), strict=True):
        assert torch.equal(p, q)


def test_resume_drops_metrics_logged_after_the_checkpoint(tmp_path: Path) -> None:
    t = Trainer(tiny_cfg(iters=1), FakeDataset(), tmp_path)
    t.run()
    with open(tmp_path / "metrics.jsonl", "a") as fh:
        fh.write(json.dumps({"step": 7, "g_total": 1.0}) + "\n")  # logged, then killed before saving
    t2 = Trainer(tiny_cfg(iters=1), FakeDataset(), tmp_path)
    t2.resume()
    assert [r["step"] for r in losses(tmp_path)] == [1]


def test_resume_without_checkpoint_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(EdgecglError, match="does not exist"):
        Trainer(tiny_cfg(), FakeDataset(), tmp_path).resume()
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "last.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(EdgecglError, match="not a loadable"):
        Trainer(tiny_cfg(), FakeDataset(), tmp_path).resume()


def test_snapshots_keep_an_inference_checkpoint_per_step(tmp_path: Path) -> None:
    from edgecgl.train.inference import load_inference

    Trainer(
        tiny_cfg(iters=4, **{"log.checkpoint_every": 2, "log.snapshots": True}), FakeDataset(), tmp_path
    ).run()
    ckpt = tmp_path / "checkpoints"
    assert sorted(p.name for p in ckpt.glob("model-*.pt")) == ["model-000002.pt", "model-000004.pt"]
    assert load_inference(ckpt / "model-000002.pt").step == 2
    assert (ckpt / "model-000004.pt").read_bytes() == (ckpt / "model.pt").read_bytes()


def test_no_snapshots_by_default(tmp_path: Path) -> None:
    Trainer(tiny_cfg(iters=2, **{"log.checkpoint_every": 1}), FakeDataset(), tmp_path).run()
    assert not list((tmp_path / "checkpoints").glob("model-*.pt"))


def test_ctrl_c_inside_a_step_lands_after_it_and_saves_that_step(tmp_path: Path) -> None:
    """The signal is held until the step and its metrics line are whole; last.pt then holds that step
    (before: nothing was saved, and --resume went back to the last checkpoint_every step)."""
    import signal

    from edgecgl.train.checkpoint import load_checkpoint

    lines: list[str] = []
    t = Trainer(tiny_cfg(iters=50), FakeDataset(), tmp_path, log=lines.append)
    real = t.train_step

    def step(items: list) -> dict:
        if t.step == 2:  # Ctrl-C in the middle of step 3
            signal.raise_signal(signal.SIGINT)
        return real(items)

    t.train_step = step  # type: ignore[method-assign]
    old = signal.signal(signal.SIGINT, signal.default_int_handler)  # a background job's runner ignores it
    try:
        with pytest.raises(KeyboardInterrupt):
            t.run()
    finally:
        signal.signal(signal.SIGINT, old)
    assert load_checkpoint(tmp_path / "checkpoints" / "last.pt")["step"] == 3
    assert [r["step"] for r in losses(tmp_path)] == [1, 2, 3]
    assert any("interrupted: saved step 3" in ln for ln in lines), lines
    again = Trainer(tiny_cfg(iters=4), FakeDataset(), tmp_path)
    again.resume()
    assert again.step == 3
    again.run()
    assert [r["step"] for r in losses(tmp_path)] == [1, 2, 3, 4]


def test_an_interrupt_that_tears_a_step_saves_nothing(tmp_path: Path) -> None:
    """A KeyboardInterrupt raised inside a step (the critic updated, the generator not) is not saved:
    last.pt keeps the last whole checkpoint."""
    from edgecgl.train.checkpoint import load_checkpoint

    lines: list[str] = []
    t = Trainer(tiny_cfg(iters=50, **{"log.checkpoint_every": 2}), FakeDataset(), tmp_path, log=lines.append)
    real = t.loss.update_gp  # runs after the critic's optimizer step, before the generator's

    def torn(*a: object, **k: object) -> None:
        if t.step == 3:
            raise KeyboardInterrupt
        real(*a, **k)

    t.loss.update_gp = torn  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        t.run()
    assert load_checkpoint(tmp_path / "checkpoints" / "last.pt")["step"] == 2
    assert any("interrupted inside step 4" in ln and "keeps step 2" in ln for ln in lines), lines


def test_a_file_that_is_no_checkpoint_gets_our_line_not_torchs_advice(tmp_path: Path) -> None:
    """torch's refusal says to re-run with weights_only=False (runs what the file holds): never passed on."""
    from edgecgl.train.checkpoint import load_checkpoint
    from edgecgl.train.inference import load_inference

    script = tmp_path / "mkbdd.py"
    script.write_text("print('not a checkpoint')\n")
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    for load, path, cause in (
        (load_inference, script, "not a file written by torch.save"),
        (load_checkpoint, script, "not a file written by torch.save"),
        (load_inference, empty, "the file ends early"),
    ):
        with pytest.raises(EdgecglError) as exc:
            load(path)
        text = str(exc.value)
        assert "is not a loadable" in text and cause in text and "give a" in text, text
        assert "weights_only" not in text and "Re-running" not in text, text
