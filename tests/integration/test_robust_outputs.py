"""Outputs never replace what the user owns (docs/ROBUSTNESS.md): side outputs are checked like --out,
folder outputs appear whole or not at all, and --overwrite replaces only a folder the command wrote."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest

from tests.integration.test_robust_inputs import (
    ENV,
    RUNTIME,
    assert_user_error,
    cli,
    default_signals,
    no_partials,
)
from tests.runtime_helpers import clip_frames, make_clip


# ------------------------------------------------------------------ video --stats-json
def test_video_stats_json_is_checked_like_out(tiny_bundle: Path, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.mp4", n=4, hw=(48, 64), audio=False)
    before = clip.read_bytes()
    out = tmp_path / "out.mp4"
    run = ("video", str(clip), "--to", "night", "--bundle", str(tiny_bundle), *RUNTIME)
    r = cli(*run, "--out", str(out), "--stats-json", str(clip), "--overwrite")
    assert_user_error(r, "--stats-json", "is the input video")
    r = cli(*run, "--out", str(out), "--stats-json", str(out))
    assert_user_error(r, "--stats-json", "is the --out video")
    stats = tmp_path / "stats.json"
    stats.write_text("keep me")
    r = cli(*run, "--out", str(out), "--stats-json", str(stats))
    assert_user_error(r, "already exists", "--overwrite")
    assert clip.read_bytes() == before and stats.read_text() == "keep me" and not out.exists()
    r = cli(*run, "--out", str(out), "--stats-json", str(stats), "--overwrite")
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads(stats.read_text())["frames"] == 4 and out.stat().st_size > 0


# ------------------------------------------------------------------ demo --out
def user_folder(root: Path) -> Path:
    """A folder a user cares about: a project with a .git and a source file."""
    (root / ".git").mkdir(parents=True)
    (root / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (root / "src").mkdir()
    (root / "src" / "a.py").write_text("print('mine')\n")
    return root


def untouched(root: Path) -> bool:
    return (root / "src" / "a.py").read_text() == "print('mine')\n" and (root / ".git" / "HEAD").is_file()


def test_demo_never_replaces_the_current_folder_or_a_folder_it_did_not_write(tmp_path: Path) -> None:
    proj = user_folder(tmp_path / "proj")
    r = cli("demo", "--out", ".", "--overwrite", cwd=proj)
    assert_user_error(r, "--out . is the current folder")
    r = cli("demo", "--out", str(tmp_path), "--overwrite", cwd=proj)
    assert_user_error(r, "is a folder above the current one")
    other = user_folder(tmp_path / "other")
    r = cli("demo", "--out", str(other), "--overwrite", cwd=proj)
    assert_user_error(r, "--overwrite replaces only an earlier demo folder", "holds .git/")
    assert untouched(proj) and untouched(other)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other", "proj"]  # no temporary folder left


DEMO_TOY = ("--minutes", "0.05", "--scenes", "8", "--clip-frames", "6", "--real-frames", "4")


@pytest.mark.slow
def test_demo_overwrite_replaces_an_earlier_demo_and_records_its_final_paths(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    (out / "videos").mkdir(parents=True)
    (out / "videos" / "old.mp4").write_bytes(b"an earlier demo's clip")
    (out / "summary.json").write_text(json.dumps({"out": str(out), "steps": {}, "files": {}}))  # older demo
    r = cli("demo", "--out", str(out), *DEMO_TOY, "--overwrite", timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert not (out / "videos" / "old.mp4").exists()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["kind"] == "edgecgl demo" and summary["out"] == str(out)
    assert all(Path(p).exists() and Path(p).is_relative_to(out) for p in summary["files"].values())
    config = next((out / "runs" / "train").glob("*/config.yaml")).read_text()
    assert f"folder:{out / 'data' / 'synth'}" in config  # a resumed run finds its data
    assert ".partial" not in config + r.stderr and sorted(p.name for p in tmp_path.iterdir()) == ["demo"]


@pytest.mark.slow
def test_interrupted_demo_leaves_no_half_built_folder(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgecgl", "demo", "--out", str(out), *DEMO_TOY],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV, preexec_fn=default_signals,
    )  # fmt: skip
    t0 = time.monotonic()
    while not list(tmp_path.glob(".demo.partial-*/runs")):  # training has started
        assert proc.poll() is None, proc.stderr.read()[-2000:]
        assert time.monotonic() - t0 < 120, "the demo never started training"
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    # 130 from the CLI; now and then the interpreter re-raises SIGINT at exit after a Ctrl-C inside training
    assert proc.returncode in (130, -signal.SIGINT) and "error: interrupted" in err, err[-2000:]
    assert list(tmp_path.iterdir()) == []  # neither the final name nor the temporary folder


# ------------------------------------------------------------------ data synth --out
def test_data_synth_overwrite_replaces_only_a_synthweather_set(tmp_path: Path) -> None:
    proj = user_folder(tmp_path / "proj")
    small = ("--n", "2", "--size", "16x32", "--workers", "1")
    r = cli("data", "synth", "--out", str(proj), *small, "--overwrite")
    assert_user_error(r, "--overwrite replaces only an earlier SynthWeather set", "holds .git/")
    r = cli("data", "synth", "--out", ".", *small, "--overwrite", cwd=proj)
    assert_user_error(r, "--out . is the current folder")
    assert untouched(proj) and sorted(p.name for p in proj.iterdir()) == [".git", "src"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["proj"]  # no '..old-XXXX' or partial folder
    ours = tmp_path / "synth"
    assert cli("data", "synth", "--out", str(ours), *small).returncode == 0
    r = cli("data", "synth", "--out", str(ours), "--n", "3", "--size", "16x32", "--overwrite")
    assert r.returncode == 0, r.stderr[-2000:]
    assert len(json.loads((ours / "pairs.json").read_text())["scenes"]) == 3


def test_data_synth_video_counts_only_the_clips(tmp_path: Path) -> None:
    r = cli("data", "synth", "--video", "--frames", "3", "--size", "16x32", "--out", str(tmp_path / "clips"))
    assert r.returncode == 0, r.stderr[-2000:]
    assert "wrote 4 clips of 3 frames" in r.stderr
    assert sorted(p.name for p in (tmp_path / "clips").iterdir()) == [
        "boxes.json", "cloudy.mp4", "night.mp4", "rainy.mp4", "sunny.mp4",
    ]  # fmt: skip


CLIPS = ["boxes.json", "cloudy.mp4", "night.mp4", "rainy.mp4", "sunny.mp4"]


def test_data_synth_video_overwrite_replaces_only_a_clip_folder(tmp_path: Path) -> None:
    ours = tmp_path / "clips"
    small = ("data", "synth", "--video", "--size", "16x32")
    assert cli(*small, "--frames", "2", "--out", str(ours)).returncode == 0
    (ours / "stale.mp4").write_bytes(b"from an earlier run")
    assert_user_error(cli(*small, "--frames", "3", "--out", str(ours)), "already exists", "--overwrite")
    r = cli(*small, "--frames", "3", "--out", str(ours), "--overwrite")
    assert r.returncode == 0, r.stderr[-2000:]
    assert sorted(p.name for p in ours.iterdir()) == CLIPS  # stale.mp4 went with the old folder
    assert json.loads((ours / "boxes.json").read_text())["frames"] == 3
    proj = user_folder(tmp_path / "proj")
    r = cli(*small, "--frames", "2", "--out", str(proj), "--overwrite")
    assert_user_error(r, "--overwrite replaces only an earlier clip set", "holds .git/")
    videos = tmp_path / "videos"  # the user's own clips, named like ours
    videos.mkdir()
    (videos / "night.mp4").write_bytes(b"my drive home")
    r = cli(*small, "--frames", "2", "--out", str(videos), "--overwrite")
    assert_user_error(r, "not one (it has no boxes.json from edgecgl data synth --video)")
    assert untouched(proj) and (videos / "night.mp4").read_bytes() == b"my drive home"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clips", "proj", "videos"]  # no partial folder


@pytest.mark.slow
def test_interrupted_data_synth_video_leaves_no_partial_folder(tmp_path: Path) -> None:
    """Ctrl-C once the first clip file exists: the clips used to be written one by one under --out."""
    out = tmp_path / "clips"  # 1 fps + audio: 40 s of AAC per clip keeps the writing going for seconds
    cmd = ["data", "synth", "--video", "--frames", "40", "--fps", "1", "--audio", "--size", "64x128"]
    code, err = interrupt_when_started([*cmd, "--out", str(out)], tmp_path, out.name)
    if out.exists() and sorted(p.name for p in out.iterdir()) == CLIPS:  # the signal came after the rename
        return
    assert code == 130 and "error: interrupted" in err, err[-2000:]
    assert list(tmp_path.iterdir()) == []  # neither the final name nor the temporary folder
    r = cli(*cmd, "--out", str(out))  # the rerun does not meet an 'already exists' half set
    assert r.returncode == 0, r.stderr[-2000:]
    assert sorted(p.name for p in out.iterdir()) == CLIPS


# ------------------------------------------------------------------ image FOLDER / augment: whole or nothing
def image_folder(root: Path, n: int, bad: tuple[str, ...] = (), labels: bool = False) -> Path:
    root.mkdir(parents=True)
    if labels:
        (root / "labels").mkdir()
    for i, f in enumerate(clip_frames(n, (48, 64))):
        cv2.imwrite(str(root / f"f{i:03d}.png"), f)
        if labels:
            (root / "labels" / f"f{i:03d}.txt").write_text("0 0.5 0.5 0.4 0.4\n")
    for name in bad:
        (root / name).write_bytes(b"not an image")
    return root


def test_image_folder_skips_and_counts_unreadable_images(tiny_bundle: Path, tmp_path: Path) -> None:
    mix = image_folder(tmp_path / "mix", 2, bad=("b.jpg",))
    image_folder(mix / "day2", 1)  # a sub-folder of images: not translated, and said so
    out = tmp_path / "out" / "dir"
    run = ("--to", "night", "--bundle", str(tiny_bundle), *RUNTIME)
    r = cli("image", str(mix), *run, "--out", str(out))
    assert r.returncode == 0, r.stderr[-2000:]
    assert sorted(p.name for p in out.iterdir()) == [
        ".edgecgl-run",
        ".edgecgl-written",
        "f000.png",
        "f001.png",
    ]
    assert "warning: skipped 1 unreadable image(s), e.g." in r.stderr and "b.jpg" in r.stderr
    assert "note: images in sub-folders are not translated (day2/...)" in " ".join(r.stderr.split())
    bad = image_folder(tmp_path / "bad", 0, bad=("x.jpg", "y.png"))
    r = cli("image", str(bad), *run, "--out", str(tmp_path / "bad_out"))
    assert_user_error(r, "none of the 2 image(s)", "could be read")
    assert not (tmp_path / "bad_out").exists() and not no_partials(tmp_path)


def test_image_folder_output_is_replaced_whole_and_only_with_overwrite(
    tiny_bundle: Path, tmp_path: Path
) -> None:
    src = image_folder(tmp_path / "in", 2)
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.png").write_bytes(b"an earlier run's image")
    run = ("image", str(src), "--to", "night", "--bundle", str(tiny_bundle), *RUNTIME, "--out", str(out))
    assert_user_error(cli(*run), "already exists", "--overwrite")
    r = cli(*run, "--overwrite")
    assert r.returncode == 0, r.stderr[-2000:]
    names = [".edgecgl-run", ".edgecgl-written", "f000.png", "f001.png"]
    assert sorted(p.name for p in out.iterdir()) == names  # old.png went with the old folder
    r = cli(*run)  # the same command again: kept, nothing to redo
    assert r.returncode == 0 and "2 of 2 image(s) already translated with these settings, kept" in r.stderr
    assert "backend:" not in r.stderr and r.stdout == f"wrote {out}\n"  # nothing loaded (s31 walkthrough)
    assert_user_error(
        cli(*run, "--style-seed", "3"),
        "holds the output of a run with other settings",
        "style_seed None (now 3)",
    )
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    typo = [a if a != "night" else "nigth" for a in run]  # --overwrite with a typo: nothing is emptied
    assert_user_error(cli(*typo, "--overwrite"), "unknown domain 'nigth'")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    other = image_folder(tmp_path / "other", 2)  # another folder of the same file names into this --out
    assert_user_error(cli("image", str(other), *run[2:]), "other settings", "source")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # not taken for done, not mixed in
    stale = tmp_path / "stale"  # a run that recorded itself and wrote nothing: as good as empty
    stale.mkdir()
    (stale / ".edgecgl-run").write_text('{"command": "image", "settings": {"to": "nigth"}}')
    r = cli(*run[:-1], str(stale))
    assert r.returncode == 0 and len(list(stale.glob("f*.png"))) == 2, r.stderr[-2000:]
    # files the user put into an earlier output stay through --overwrite (the runs' journal lists theirs)
    (out / "notes.txt").write_text("mine")
    (out / "keep").mkdir()
    (out / "keep" / "best.png").write_bytes(b"a frame I picked")
    r = cli(*run, "--overwrite")
    assert r.returncode == 0 and "--overwrite kept 2 file(s) no edgecgl run wrote" in r.stderr, r.stderr[
        -2000:
    ]
    assert (out / "notes.txt").read_text() == "mine" and (
        out / "keep" / "best.png"
    ).read_bytes() == b"a frame I picked"
    assert sorted(p.name for p in out.glob("f*.png")) == ["f000.png", "f001.png"]
    cv2.imwrite(str(src / "f002.png"), clip_frames(1, (48, 64))[0])  # a new input, and the user's file
    (out / "f002.png").write_bytes(b"my own f002")  # in the place its output goes: refused, not replaced
    assert_user_error(cli(*run, "--overwrite"), "f002.png is in the way: no edgecgl run wrote it")
    assert_user_error(cli(*run), "f002.png is in the way")  # continuing: not replaced, not taken for done
    assert (out / "f002.png").read_bytes() == b"my own f002"
    (src / "f002.png").unlink()
    (out / "f002.png").unlink()
    (out / "notes.txt").unlink()
    (out / "keep" / "best.png").unlink()
    (out / "keep").rmdir()
    (out / ".edgecgl-written").unlink()  # an output recorded before the journal: emptied only if all ours
    (out / "notes.txt").write_text("mine")
    assert_user_error(
        cli(*run, "--overwrite"), "replaces only an earlier folder of translated images", "notes.txt"
    )
    assert (out / "notes.txt").read_text() == "mine"
    r = cli(
        "image",
        str(src),
        "--to",
        "night",
        "--bundle",
        str(tiny_bundle),
        "--out",
        str(tmp_path),
        "--overwrite",
    )
    assert_user_error(r, "holds the input")


def interrupt_when_started(cmd: list[str], parent: Path, final: str) -> tuple[int, str]:
    """Run ``edgecgl CMD``; Ctrl-C once its temporary folder holds a file; (exit code, stderr)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgecgl", *cmd],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
        preexec_fn=default_signals,
    )
    t0 = time.monotonic()
    while not any(p.is_file() for d in parent.glob(f".{final}.partial-*") for p in d.rglob("*")):
        if proc.poll() is not None:
            pytest.fail(f"finished before it could be interrupted: {proc.stderr.read()[-2000:]}")
        assert time.monotonic() - t0 < 120, "no temporary folder appeared"
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err


def interrupt_once_written(cmd: list[str], out: Path, pattern: str, what: str) -> tuple[int, str]:
    """Run ``edgecgl CMD``; Ctrl-C once ``out`` holds 5 finished outputs (``pattern``); (exit code, stderr)."""
    proc = subprocess.Popen([sys.executable, "-m", "edgecgl", *cmd], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=ENV, preexec_fn=default_signals)  # fmt: skip
    t0 = time.monotonic()
    while len(list(out.glob(pattern))) < 5:
        assert proc.poll() is None, proc.stderr.read()[-2000:] if proc.stderr else ""
        assert time.monotonic() - t0 < 120, f"no {what} appeared"
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err


@pytest.mark.slow
def test_interrupted_image_folder_continues_where_it_stopped(tiny_bundle: Path, tmp_path: Path) -> None:
    """Hours of frames: a Ctrl-C (or a power cut) keeps every finished image, each whole, and the same
    command makes only the rest (the folder used to be built whole under a temporary name: all lost)."""
    src = image_folder(tmp_path / "in", 400)
    out = tmp_path / "out"
    cmd = ["image", str(src), "--to", "night", "--bundle", str(tiny_bundle), *RUNTIME, "--out", str(out)]
    rc, err = interrupt_once_written(cmd, out, "f*.png", "image")
    done = sorted(out.glob("f*.png"))
    if len(done) == 400:  # the machine finished first: nothing to continue
        return
    assert rc == 130 and "error: interrupted" in err, err[-2000:]
    assert not no_partials(out) and all(cv2.imread(str(p)) is not None for p in done)  # each one whole
    r = cli(*cmd)
    assert r.returncode == 0, r.stderr[-2000:]
    assert f"{len(done)} of 400 image(s) already translated with these settings, kept" in r.stderr
    assert len(list(out.glob("f*.png"))) == 400 and not no_partials(out)


@pytest.mark.slow
def test_interrupted_augment_continues_where_it_stopped(tiny_bundle: Path, tmp_path: Path) -> None:
    """A dataset's augmentation takes hours on a CPU: a Ctrl-C (or a power cut) keeps every finished copy
    with its label, and the same command makes only the rest (the set used to be built whole under a
    temporary name: an interruption lost all of it)."""
    root = tmp_path / "ds"
    image_folder(root / "sunny", 200, labels=True)
    out = tmp_path / "aug"
    cmd = [
        "augment",
        f"folder:{root}",
        "--to",
        "night,rainy",
        "--bundle",
        str(tiny_bundle),
        *RUNTIME,
        "--out",
        str(out),
    ]
    rc, err = interrupt_once_written(cmd, out, "*/*.png", "copy")
    done = sorted(out.glob("*/*.png"))
    if (out / ".edgecgl-augment").is_file():  # the machine finished first: nothing to continue
        return
    assert rc == 130 and "error: interrupted" in err, err[-2000:]
    assert not no_partials(out / "night") and all(cv2.imread(str(p)) is not None for p in done)
    assert all((p.parent / "labels" / f"{p.stem}.txt").is_file() for p in done)  # a copy is image + label
    r = cli(*cmd)
    assert r.returncode == 0, r.stderr[-2000:]
    assert f"{len(done)} of 400 copies already written with these settings, kept" in r.stderr
    assert len(list(out.glob("*/*.png"))) == 400 and len(list(out.glob("*/labels/*.txt"))) == 400
    assert (out / ".edgecgl-augment").is_file()
    assert not any(no_partials(d) for d in (out / "night", out / "night" / "labels", out / "rainy"))


def test_augment_overwrite_replaces_only_an_augmented_dataset(tiny_bundle: Path, tmp_path: Path) -> None:
    root = tmp_path / "ds"
    image_folder(root / "sunny", 2)
    out = tmp_path / "aug"
    run = (
        "augment",
        f"folder:{root}",
        "--to",
        "night",
        "--bundle",
        str(tiny_bundle),
        *RUNTIME,
        "--out",
        str(out),
    )
    extra = image_folder(tmp_path / "extra", 3)
    (root / "sunny" / "f002.png").write_bytes((extra / "f002.png").read_bytes())
    assert cli(*run).returncode == 0
    (root / "sunny" / "f002.png").unlink()  # its copy is now a stray: kept, until --overwrite
    (out / "night" / "notes.txt").write_text("mine")  # the user's: kept through --overwrite
    r = cli(*run)  # the same command again: its copies are kept, nothing is redone
    assert r.returncode == 0 and "2 of 2 copies already written with these settings, kept" in r.stderr
    assert "bundle:" not in r.stderr, r.stderr  # a finished set loads no network (README walkthrough s31)
    assert "1 copies in" in r.stderr and (out / "night" / "sunny_f002.png").is_file()
    assert_user_error(cli(*run, "--style-seed", "1"), "holds the output of a run with other settings")
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    typo = [a if a != "night" else "rainx" for a in run]
    assert_user_error(cli(*typo, "--overwrite"), "rainx")  # refused before the earlier set is emptied
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
    r = cli(*run, "--overwrite")
    assert r.returncode == 0, r.stderr[-2000:]
    assert sorted(p.name for p in (out / "night").iterdir()) == [
        "notes.txt",
        "sunny_f000.png",
        "sunny_f001.png",
    ]
    assert "--overwrite kept 1 file(s) no edgecgl run wrote, e.g. night/notes.txt" in r.stderr
    mine = user_folder(tmp_path / "mine")
    r = cli(*run[:-1], str(mine), "--overwrite")
    assert_user_error(r, "replaces only an earlier augmented dataset", "holds .git/")
    assert untouched(mine)


# ------------------------------------------------------------------ image --out names checked up front
def test_image_out_names_are_checked_before_any_work(tiny_bundle: Path, tmp_path: Path) -> None:
    still = tmp_path / "still.png"
    cv2.imwrite(str(still), clip_frames(1, (48, 64))[0])
    run = ("--to", "night", "--bundle", str(tiny_bundle), *RUNTIME)
    r = cli("image", str(still), *run, "--out", str(tmp_path / "out" / "x.txt"))
    assert_user_error(r, ".txt is not an image format", "end --out in .jpg, .jpeg, .png")
    assert "translated" not in r.stderr and not (tmp_path / "out").exists()  # refused before translating
    frames = image_folder(tmp_path / "frames", 2)
    r = cli("image", str(frames), *run, "--out", str(tmp_path / "out" / "fr.jpg"))
    assert_user_error(r, "names an image file", "is a folder")
    assert not (tmp_path / "out").exists()
    ds = tmp_path / "ds"
    image_folder(ds / "sunny", 1)
    image_folder(ds / "night", 1)
    r = cli("image", str(ds), *run)
    assert_user_error(r, f"no images in {ds}", "sunny/, night/", f"edgecgl augment folder:{ds}")


# ------------------------------------------------------------------ augment dataset kinds
def test_augment_reads_synth_and_names_what_it_reads(tiny_bundle: Path, tmp_path: Path) -> None:
    synth = tmp_path / "data" / "synth"
    r = cli("data", "synth", "--out", str(synth), "--n", "2", "--size", "32x64", "--workers", "1")
    assert r.returncode == 0, r.stderr[-2000:]
    out = tmp_path / "aug"
    run = ("--to", "night", "--bundle", str(tiny_bundle), *RUNTIME, "--out", str(out))
    r = cli("augment", f"synth:{synth}", *run)
    assert r.returncode == 0, r.stderr[-2000:]
    assert sorted(p.name for p in (out / "night").glob("*.png")) == [
        "cloudy_000000.png", "cloudy_000001.png", "rainy_000000.png", "rainy_000001.png",
        "sunny_000000.png", "sunny_000001.png",
    ]  # fmt: skip
    assert (out / "night" / "labels" / "sunny_000000.txt").read_bytes() == (
        synth / "sunny" / "labels" / "000000.txt"
    ).read_bytes()
    r = cli("augment", f"init:{tmp_path / 'data' / 'init'}", *run[:-1], str(tmp_path / "aug2"))
    assert_user_error(r, "edgecgl augment cannot read init: datasets", "folder:ROOT, synth:ROOT")


@pytest.mark.parametrize("gone", ["stdout", "stderr"])
def test_a_reader_that_goes_away_never_costs_the_output(tiny_bundle: Path, tmp_path: Path, gone: str) -> None:
    """A log pipe whose reader died (journald restarted, `| head`): a finished run exited 1 with no word
    (stdout) or stopped at its next status line (stderr)."""
    import os

    clip = make_clip(tmp_path / "clip.mp4", n=4, hw=(48, 64), audio=False)
    out = tmp_path / "out.mp4"
    read, write = os.pipe()
    os.close(read)  # the reader is gone before anything is written
    other = subprocess.PIPE
    try:
        r = subprocess.run(
            [sys.executable, "-m", "edgecgl", "video", str(clip), "--to", "night", "--bundle", str(tiny_bundle),
             *RUNTIME, "--out", str(out)],
            stdout=write if gone == "stdout" else other, stderr=write if gone == "stderr" else other,
            text=True, env=ENV, timeout=180,
        )  # fmt: skip
    finally:
        os.close(write)
    assert out.is_file() and not no_partials(tmp_path)  # renamed before the result line
    if gone == "stdout":
        assert r.returncode == 141 and "error: stdout was closed by its reader" in r.stderr, r.stderr
        assert "Traceback" not in r.stderr and "Exception ignored" not in r.stderr
    else:
        assert r.returncode == 0 and r.stdout == f"wrote {out}\n"


def test_grey_inputs_come_back_grey(tiny_bundle: Path, tmp_path: Path) -> None:
    """A monochrome or IR camera's frames: their translations were tinted colour images, out of place
    beside the grey originals of a training set."""
    src = tmp_path / "in"
    (src / "sunny" / "labels").mkdir(parents=True)
    frame = clip_frames(1, (48, 64))[0]
    cv2.imwrite(str(src / "sunny" / "grey.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY))
    cv2.imwrite(str(src / "sunny" / "colour.png"), frame)
    (src / "sunny" / "labels" / "grey.txt").write_text("0 0.5 0.5 0.4 0.4\n")
    run = ("--to", "night", "--bundle", str(tiny_bundle), *RUNTIME)
    r = cli("image", str(src / "sunny"), *run, "--out", str(tmp_path / "img"))
    assert r.returncode == 0, r.stderr[-2000:]
    r = cli("augment", f"folder:{src}", *run, "--out", str(tmp_path / "aug"))
    assert r.returncode == 0, r.stderr[-2000:]
    for grey, colour in ((tmp_path / "img" / "grey.png", tmp_path / "img" / "colour.png"),
                         (tmp_path / "aug" / "night" / "sunny_grey.png", tmp_path / "aug" / "night" / "sunny_colour.png")):  # fmt: skip
        assert cv2.imread(str(grey), cv2.IMREAD_UNCHANGED).shape == (48, 64)
        assert cv2.imread(str(colour), cv2.IMREAD_UNCHANGED).shape == (48, 64, 3)


def test_augment_rerun_remakes_what_changed_and_keeps_the_class_names(
    tiny_bundle: Path, tmp_path: Path
) -> None:
    """A rerun kept every copy whose image existed: one whose label was fixed since kept the old label,
    a copy cut to 0 bytes stayed, and a deleted frame's copy stayed unmentioned; the output also lost the
    dataset's classes.txt, so its ids were read by the fixed table again."""
    root = tmp_path / "ds"
    image_folder(root / "sunny", 3, labels=True)
    (root / "classes.txt").write_text("car\npedestrian\ntraffic light\n")
    out = tmp_path / "aug"
    run = ("augment", f"folder:{root}", "--to", "night,rainy", "--bundle", str(tiny_bundle), *RUNTIME, "--out", str(out))  # fmt: skip
    assert cli(*run).returncode == 0
    assert (out / "classes.txt").read_text() == (root / "classes.txt").read_text()
    time.sleep(0.05)
    (root / "sunny" / "labels" / "f000.txt").write_text("1 0.5 0.5 0.2 0.2\n")  # a label fixed since
    (out / "rainy" / "sunny_f001.png").write_bytes(b"")  # a copy cut short (not by edgecgl)
    (root / "sunny" / "f002.png").unlink()  # a frame removed from the dataset
    (root / "sunny" / "labels" / "f002.txt").unlink()
    reordered = [a if a != "night,rainy" else "rainy,night" for a in run]  # the same targets
    r = cli(*reordered)
    assert r.returncode == 0, r.stderr[-2000:]
    said = " ".join(r.stderr.split())
    assert "1 of 4 copies already written with these settings, kept" in said  # f001's night copy
    assert "warning: 2 copies in" in said and "have no source in the dataset any more" in said
    for t in ("night", "rainy"):
        assert (out / t / "labels" / "sunny_f000.txt").read_text() == "1 0.5 0.5 0.2 0.2\n"
    assert cv2.imread(str(out / "rainy" / "sunny_f001.png")) is not None
