"""Nothing a user owns is lost (issue 9): atomic outputs under Ctrl-C and kill -9, no writing over inputs
or existing outputs, and training checkpoints that survive kill -9 and a full disk."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.integration.test_robust_inputs import (
    ENV,
    RUNTIME,
    assert_user_error,
    cli,
    decode_all,
    default_signals,
    no_partials,
)
from tests.runtime_helpers import make_clip


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Long enough (600 frames) that a run is surely in the middle when the signal arrives."""
    return make_clip(tmp_path_factory.mktemp("long") / "long.mp4", n=600, hw=(48, 64), audio=True)


def start_video(src: Path, out: Path, bundle: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "edgecgl", "video", str(src), "--to", "night", "--bundle", str(bundle),
         *RUNTIME, "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV, preexec_fn=default_signals,
    )  # fmt: skip


def wait_for_partial(folder: Path, proc: subprocess.Popen[str], timeout: float = 120) -> None:
    """Until the translation is writing its temporary output (so the signal lands mid-run)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if any(p.stat().st_size > 0 for p in no_partials(folder)):
            time.sleep(0.3)
            return
        if proc.poll() is not None:
            pytest.fail(f"finished before it could be interrupted: {proc.stderr.read()[-2000:]}")
        time.sleep(0.05)
    pytest.fail("no temporary output appeared")


@pytest.mark.slow
@pytest.mark.parametrize(
    "sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=["ctrl-c", "sigterm", "kill-9"]
)
def test_interrupted_video_never_leaves_a_half_written_output(
    tiny_bundle: Path, long_clip: Path, tmp_path: Path, sig: signal.Signals
) -> None:
    out = tmp_path / "out.mp4"
    proc = start_video(long_clip, out, tiny_bundle)
    wait_for_partial(tmp_path, proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    if out.exists():
        # On a loaded machine the signal can land after the atomic rename: then the output must be whole.
        frames, _, _ = decode_all(out)
        assert len(frames) == 600, f"a half-written output ({len(frames)} frames): {err[-2000:]}"
        return
    if sig in (signal.SIGINT, signal.SIGTERM):  # SIGTERM: what systemd and docker stop send
        assert proc.returncode == 128 + sig, err[-2000:]
        said = "error: interrupted" if sig == signal.SIGINT else "error: terminated (SIGTERM)"
        assert said in err and "Traceback" not in err, err[-2000:]
        assert not no_partials(tmp_path)  # the temporary file is removed on the way out
    else:
        assert proc.returncode == -signal.SIGKILL
        # a hard kill cannot clean up: the hidden temporary stays until the next run into the folder
        assert no_partials(tmp_path)
        short = make_clip(tmp_path / "short.mp4", n=3, hw=(48, 64), audio=False)
        r = cli("video", str(short), "--to", "night", "--bundle", str(tiny_bundle), *RUNTIME, "--out",
                str(tmp_path / "again.mp4"))  # fmt: skip
        assert r.returncode == 0, r.stderr[-2000:]
        assert not no_partials(tmp_path)  # a car's power cut leaves no hidden half-video behind


def test_refuses_to_write_over_the_input(tiny_bundle: Path, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.mp4", n=4, hw=(48, 64), audio=False)
    before = clip.read_bytes()
    (tmp_path / "sub").mkdir()
    os.symlink(clip, tmp_path / "link.mp4")
    for out in (clip, tmp_path / "sub" / ".." / "clip.mp4", tmp_path / "link.mp4"):
        r = cli(
            "video",
            str(clip),
            "--to",
            "night",
            "--bundle",
            str(tiny_bundle),
            *RUNTIME,
            "--out",
            str(out),
            "--overwrite",
        )
        assert_user_error(r, "is the input file")
    still = tmp_path / "still.png"
    cv2.imwrite(str(still), np.full((20, 24, 3), 80, np.uint8))
    r = cli(
        "image",
        str(still),
        "--to",
        "night",
        "--bundle",
        str(tiny_bundle),
        *RUNTIME,
        "--out",
        str(still),
        "--overwrite",
    )
    assert_user_error(r, "is the input file")
    assert clip.read_bytes() == before and cv2.imread(str(still)).mean() == 80


def test_refuses_to_overwrite_without_flag(tiny_bundle: Path, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.mp4", n=4, hw=(48, 64), audio=False)
    out = tmp_path / "out.mp4"
    out.write_bytes(b"keep me")
    r = cli("video", str(clip), "--to", "night", "--bundle", str(tiny_bundle), *RUNTIME, "--out", str(out))
    assert_user_error(r, "already exists", "--overwrite")
    assert out.read_bytes() == b"keep me"
    r = cli(
        "video",
        str(clip),
        "--to",
        "night",
        "--bundle",
        str(tiny_bundle),
        *RUNTIME,
        "--out",
        str(out),
        "--overwrite",
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert len(decode_all(out)[0]) == 4 and not no_partials(tmp_path)


# ------------------------------------------------------------------ training
def tiny_dataset(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for di, d in enumerate(("sunny", "night", "cloudy", "rainy")):
        (root / d).mkdir(parents=True)
        for k in range(2):
            cv2.imwrite(str(root / d / f"{k}.png"), (rng.random((64, 64, 3)) * 60 + 50 * di).astype(np.uint8))
    return root


TRAIN_SETS = [
    "--set", "data.frame_size=[64,64]", "--set", "log.style_stats_images=2", "--set", "log.every=1",
    "--set", "log.checkpoint_every=1", "--set", "log.sample_every=0",
]  # fmt: skip


def checkpoint_step(path: Path) -> int:
    from edgecgl.train.checkpoint import load_checkpoint

    return int(load_checkpoint(path)["step"])


@pytest.mark.slow
def test_kill_9_during_training_keeps_the_last_good_checkpoint(tmp_path: Path) -> None:
    """kill -9 at seeded random moments (three times, resuming in between): last.pt always loads, and
    --resume continues from it to the same metrics an uninterrupted run logs (one line per step)."""
    data = tiny_dataset(tmp_path / "data")
    runs = tmp_path / "runs"
    run = runs / "000-synth-tiny"
    last = run / "checkpoints" / "last.pt"
    rng = random.Random(0)
    env = {**ENV, "OMP_NUM_THREADS": "1"}
    step = 0
    for attempt in range(3):
        if attempt == 0:
            args = [
                "train",
                "--config",
                "synth-tiny",
                "--data",
                f"folder:{data}",
                "--out",
                str(runs),
                *TRAIN_SETS,
            ]
        else:
            args = ["train", "--resume", str(run)]
        proc = subprocess.Popen(
            [sys.executable, "-m", "edgecgl", *args, "--iters", "100000"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        seen = last.stat().st_mtime_ns if last.exists() else 0
        t0 = time.monotonic()
        while not (last.exists() and last.stat().st_mtime_ns != seen):  # a save after this start
            assert proc.poll() is None, proc.stderr.read()[-2000:]
            assert time.monotonic() - t0 < 120, "no checkpoint written"
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 1.5))  # somewhere in the next steps, maybe inside a save
        proc.kill()
        proc.wait(timeout=30)
        now = checkpoint_step(last)  # loads: never a torn file under the final name
        assert now >= max(step, 1)
        step = now
    with open(run / "metrics.jsonl", "a") as fh:  # a line torn mid-write, as kill -9 or ENOSPC can leave
        fh.write('{"step": 99999, "loss')
    r = cli("train", "--resume", str(run), "--iters", str(step + 1), cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert f"resumed from step {step}" in r.stderr
    assert checkpoint_step(last) == step + 1
    steps = [json.loads(ln)["step"] for ln in (run / "metrics.jsonl").read_text().splitlines() if ln.strip()]
    assert steps == list(range(1, step + 2))


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_interrupted_training_saves_its_last_step_and_resumes_from_it(tmp_path: Path, sig: int) -> None:
    """Ctrl-C or SIGTERM between checkpoints: last.pt is saved at the last whole step (before: nothing was,
    and --resume went back up to log.checkpoint_every steps, 500 in the shipped configs)."""
    data = tiny_dataset(tmp_path / "data")
    runs = tmp_path / "runs"
    run = runs / "000-synth-tiny"
    sets = [s.replace("checkpoint_every=1", "checkpoint_every=1000") for s in TRAIN_SETS]
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgecgl", "train", "--config", "synth-tiny", "--data", f"folder:{data}",
         "--out", str(runs), *sets, "--iters", "100000"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env={**ENV, "OMP_NUM_THREADS": "1"},
        preexec_fn=default_signals,
    )  # fmt: skip
    t0 = time.monotonic()
    metrics = run / "metrics.jsonl"
    while not (metrics.exists() and len(metrics.read_text().splitlines()) >= 3):
        assert proc.poll() is None, proc.stderr.read()[-2000:]  # type: ignore[union-attr]
        assert time.monotonic() - t0 < 120, "no training steps logged"
        time.sleep(0.05)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + sig and "Traceback" not in err, err[-2000:]
    assert ("error: interrupted" if sig == signal.SIGINT else "error: terminated") in err
    step = checkpoint_step(run / "checkpoints" / "last.pt")
    assert step >= 3 and f"interrupted: saved step {step} to" in err, err[-2000:]
    steps = [json.loads(ln)["step"] for ln in metrics.read_text().splitlines() if ln.strip()]
    assert steps == list(range(1, step + 1))  # the saved step is whole: its metrics line too, none after
    r = cli("train", "--resume", str(run), "--iters", str(step + 1), cwd=tmp_path)
    assert r.returncode == 0 and f"resumed from step {step}" in r.stderr, r.stderr[-2000:]
    assert checkpoint_step(run / "checkpoints" / "last.pt") == step + 1
    steps = [json.loads(ln)["step"] for ln in metrics.read_text().splitlines() if ln.strip()]
    assert steps == list(range(1, step + 2))


def _torchrun_training(tmp_path: Path) -> tuple[subprocess.Popen[str], Path, list[str], dict[str, str]]:
    """A 2-rank CPU (gloo) torchrun of synth-tiny in its own process group, once 3 steps are logged."""
    from tests.unit.test_trainer_ddp import _free_port

    data = tiny_dataset(tmp_path / "data")
    runs = tmp_path / "runs"
    sets = [s.replace("checkpoint_every=1", "checkpoint_every=1000") for s in TRAIN_SETS]
    torchrun = [str(Path(sys.executable).with_name("torchrun")), "--nproc_per_node", "2"]
    env = {**ENV, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [*torchrun, "--master_port", str(_free_port()), "-m", "edgecgl", "train", "--config", "synth-tiny",
         "--data", f"folder:{data}", "--out", str(runs), *sets, "--iters", "100000"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True,
    )  # fmt: skip
    run = runs / "000-synth-tiny"
    metrics = run / "metrics.jsonl"
    t0 = time.monotonic()
    while not (metrics.exists() and len(metrics.read_text().splitlines()) >= 3):
        assert proc.poll() is None, proc.stderr.read()[-2000:]  # type: ignore[union-attr]
        assert time.monotonic() - t0 < 180, "no training steps logged"
        time.sleep(0.05)
    return proc, run, torchrun, env


def _stopped_whole(proc: subprocess.Popen[str], run: Path, said: str) -> int:
    """Both ranks stopped with ``said``, none hung or lost its peer; rank 0 saved the last whole step."""
    try:
        _, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail("a rank hung after the signal")
    assert proc.returncode != 0 and err.count(said) == 2, err[-2000:]  # both ranks said it
    assert "Connection closed" not in err, err[-2000:]  # no rank left a peer waiting in a collective
    step = checkpoint_step(run / "checkpoints" / "last.pt")
    assert step >= 3 and f"interrupted: saved step {step} to" in err, err[-2000:]
    steps = [json.loads(ln)["step"] for ln in (run / "metrics.jsonl").read_text().splitlines() if ln.strip()]
    assert steps == list(range(1, step + 1))  # the saved step is whole (rank 0 logs), none after it
    return step


@pytest.mark.slow
def test_ctrl_c_under_torchrun_saves_the_last_whole_step_and_resumes_from_it(tmp_path: Path) -> None:
    """Ctrl-C in the terminal of a 2-rank torchrun: every process gets SIGINT, each at its own point of
    the step. The ranks stop together at a whole step (none waits in an all-reduce for a rank that left),
    rank 0 saves last.pt alone, and torchrun with --resume continues from that step."""
    from tests.unit.test_trainer_ddp import _free_port

    proc, run, torchrun, env = _torchrun_training(tmp_path)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C does: the whole foreground process group
    step = _stopped_whole(proc, run, "error: interrupted")
    r = subprocess.run(
        [*torchrun, "--master_port", str(_free_port()), "-m", "edgecgl", "train", "--resume", str(run),
         "--iters", str(step + 1)],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert r.returncode == 0 and f"resumed from step {step}" in r.stderr, r.stderr[-2000:]
    assert checkpoint_step(run / "checkpoints" / "last.pt") == step + 1


def _rank_pid(parent: int, rank: int) -> int:
    """The pid of torchrun's worker with RANK=rank (Linux /proc)."""
    for child in Path(f"/proc/{parent}/task/{parent}/children").read_text().split():
        environ = Path(f"/proc/{child}/environ").read_bytes().split(b"\0")
        if f"RANK={rank}".encode() in environ:
            return int(child)
    raise AssertionError(f"no worker with RANK={rank} under pid {parent}")


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="finds torchrun's workers through /proc")
def test_sigterm_to_one_rank_stops_every_rank_at_the_same_whole_step(tmp_path: Path) -> None:
    """A service manager or an OOM killer's neighbour may stop one rank only: its peers stop with it at
    the same step (they said 'terminated' too), instead of dying in a collective with a closed peer."""
    proc, run, _, _ = _torchrun_training(tmp_path)
    os.kill(_rank_pid(proc.pid, 1), signal.SIGTERM)
    _stopped_whole(proc, run, "error: terminated (SIGTERM)")


DISK_FULL = r"""
import errno, sys, torch
real_save, calls = torch.save, [0]
def save(obj, f, *a, **k):
    calls[0] += 1
    if calls[0] >= 3:  # step 1 wrote last.pt and model.pt; the step-2 last.pt meets a full disk
        with open(f, "wb") as fh:
            fh.write(b"PK\x03\x04 half a checkpoint")
        raise OSError(errno.ENOSPC, "No space left on device")
    return real_save(obj, f, *a, **k)
torch.save = save
from edgecgl.cli import main
main(sys.argv[1:])
"""


@pytest.mark.slow
def test_full_disk_during_a_save_is_a_clear_error_that_keeps_the_previous_checkpoint(tmp_path: Path) -> None:
    data = tiny_dataset(tmp_path / "data")
    runs = tmp_path / "runs"
    r = subprocess.run(
        [sys.executable, "-c", DISK_FULL, "train", "--config", "synth-tiny", "--data", f"folder:{data}",
         "--out", str(runs), *TRAIN_SETS, "--iters", "5"],
        capture_output=True, text=True, env={**ENV, "OMP_NUM_THREADS": "1"}, timeout=300,
    )  # fmt: skip
    assert_user_error(r, "the disk is full", "the previous last.pt is kept", "--resume")
    ckpt = runs / "000-synth-tiny" / "checkpoints"
    assert checkpoint_step(ckpt / "last.pt") == 1
    assert not no_partials(ckpt)
