"""A fleet user's own domains (here sunny + foggy): every command takes them from the data or the bundle.

The four weather names are only defaults; a folder dataset's domains are its image sub-folders.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import pytest

from edgecgl.cli import hoist_root_flags
from edgecgl.domains import folder_domains
from tests.cli import edgecgl
from tests.runtime_helpers import FRAME, INSTANCE, clip_frames


def fog_folder(root: Path, n: int = 3) -> Path:
    frames = clip_frames(2 * n, (48, 80))
    for i in range(n):
        for dom, f in (("sunny", frames[i]), ("foggy", (frames[n + i] * 0.5 + 110).astype("uint8"))):
            (root / dom / "labels").mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(root / dom / f"{dom}{i}.png"), f)
            (root / dom / "labels" / f"{dom}{i}.txt").write_text("0 0.5 0.5 0.4 0.5\n")
    return root


def test_folder_domains_are_the_image_subfolders(tmp_path: Path) -> None:
    root = fog_folder(tmp_path / "ds")
    (root / "empty").mkdir()  # no images: not a domain
    (root / ".cache").mkdir()
    (root / ".cache" / "x.png").write_bytes(b"x")
    (root / "night").mkdir()
    (root / "night" / "n.jpg").write_bytes(b"x")
    (root / "rainy").mkdir()
    (root / "rainy" / "r.WEBP").write_bytes(b"x")  # every still suffix counts, any case (edgecgl.domains)
    (root / "cloudy").mkdir()
    (root / "cloudy" / "notes.txt").write_bytes(b"x")
    # the default names first in their usual order, then the others sorted
    assert folder_domains(root) == ["sunny", "night", "rainy", "foggy"]
    assert folder_domains(tmp_path / "missing") == []


def test_root_flags_are_accepted_after_the_subcommand() -> None:
    assert hoist_root_flags(["train", "--quiet", "--iters", "3"]) == ["--quiet", "train", "--iters", "3"]
    assert hoist_root_flags(["video", "a.mp4", "-q", "--debug"]) == ["-q", "--debug", "video", "a.mp4"]
    assert hoist_root_flags(["image", "--", "-q"]) == ["image", "--", "-q"]  # after --: a file named -q


def test_stats_and_train_take_the_domains_from_the_folders(tmp_path: Path) -> None:
    root = fog_folder(tmp_path / "ds")
    r = edgecgl("data", "stats", str(root))
    assert r.returncode == 0, r.stderr
    assert "foggy" in r.stdout and "night" not in r.stdout + r.stderr
    assert "no images for domain" not in r.stdout + r.stderr
    r = edgecgl("train", "--quiet", "--dry-run", "--config", "synth-tiny", "--data", f"folder:{root}")
    assert r.returncode == 0, r.stderr
    assert "- sunny\n" in r.stdout and "- foggy\n" in r.stdout and "n_domains: 2" in r.stdout


@pytest.mark.slow
def test_the_shipped_realfog_recipe_trains_on_labelled_folders(tmp_path: Path) -> None:
    """configs/realfog.yaml as shipped (per-domain multi-scale critic, the near-object structure term on the
    labelled boxes): a few steps on a labelled two-domain folder run and keep a checkpoint."""
    root = fog_folder(tmp_path / "ds")
    r = edgecgl("train", "--config", "realfog", "--data", f"folder:{root}", "--out", str(tmp_path / "runs"),
                "--iters", "2", "--set", "log.style_stats_images=4", "--set", "log.sample_every=0",
                "--set", "log.checkpoint_every=1", "--device", "cpu", "--quiet")  # fmt: skip
    assert r.returncode == 0, r.stderr
    run = next((tmp_path / "runs").glob("*-realfog"))
    assert (run / "checkpoints" / "model.pt").is_file()
    cfg = (run / "config.yaml").read_text()
    assert "d_scales: 2" in cfg and "keep_objects: 2" in cfg and "- foggy" in cfg
    # the recipe keeps a snapshot per checkpoint, and one eval scores them as rows named by their files
    # (README: pick the step)
    snaps = [run / "checkpoints" / f"model-00000{i}.pt" for i in (1, 2)]
    assert all(p.is_file() for p in snaps)
    out = tmp_path / "pick"
    r = edgecgl("eval", "run", *map(str, snaps), "--data", f"folder:{root}", "--split", "all",
                "--source", "sunny", "--targets", "foggy", "--style", "sample", "--style-spread", "2",
                "--metrics", "kid", "--no-baselines", "--max-images", "1000", "--out", str(out))  # fmt: skip
    assert r.returncode == 0, r.stderr
    rows = json.loads((out / "results.json").read_text())["metrics"]["kid"]["rows"]
    assert set(rows) == {"model-000001", "model-000002"} and all(
        isinstance(rows[k]["foggy"], float) for k in rows
    )
    # the bundle carries each domain's brightness range, which per-image draws are kept inside
    r = edgecgl("export", str(run / "checkpoints" / "model.pt"), "--out", str(tmp_path / "b"), "--no-pt2")
    assert r.returncode == 0, r.stderr
    stats = json.loads((tmp_path / "b" / "manifest.json").read_text())["style_stats"]["global"]
    for d in ("sunny", "foggy"):
        lo, hi = stats[d]["luma"]
        assert 0 <= lo <= hi <= 255


@pytest.mark.slow
def test_train_export_augment_image_on_sunny_and_foggy(tmp_path: Path) -> None:
    from edgecgl.export.toy import make_toy_checkpoint

    root = fog_folder(tmp_path / "ds")
    ckpt = make_toy_checkpoint(tmp_path / "model.pt", "tiny", FRAME, INSTANCE, domains=("sunny", "foggy"))
    r = edgecgl("export", str(ckpt), "--out", str(tmp_path / "fog"), "--no-pt2")
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "fog" / "manifest.json").read_text())["domains"] == ["sunny", "foggy"]
    r = edgecgl("augment", f"folder:{root}", "--to", "foggy", "--out", str(tmp_path / "aug"),
                "--bundle", str(tmp_path / "fog"), "--quiet")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (tmp_path / "aug" / "foggy").glob("*.png")) == [
        f"sunny_sunny{i}.png" for i in range(3)
    ]
    assert len(list((tmp_path / "aug" / "foggy" / "labels").glob("*.txt"))) == 3
    # a domain the bundle does not have is refused with the bundle's list
    r = edgecgl("augment", f"folder:{root}", "--to", "night", "--out", str(tmp_path / "aug2"),
                "--bundle", str(tmp_path / "fog"))  # fmt: skip
    assert r.returncode == 2 and "valid domains: sunny, foggy" in r.stderr
    shutil.copy(root / "sunny" / "sunny0.png", tmp_path / "one.png")
    r = edgecgl("image", str(tmp_path / "one.png"), "--to", "foggy", "--bundle", str(tmp_path / "fog"),
                "--no-instances", "--out", str(tmp_path / "one_foggy.png"))  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "one_foggy.png").is_file()


@pytest.mark.assets
def test_label_fills_every_domain_folder(assets: Path, tmp_path: Path) -> None:
    for dom, name in (("sunny", "bdd_sunny_1.jpg"), ("foggy", "bdd_cloudy_1.jpg")):
        (tmp_path / dom).mkdir()
        shutil.copy(assets / "frames" / name, tmp_path / dom / name)
    r = edgecgl("data", "label", str(tmp_path), "--detector", str(assets / "models" / "yolov8n-coco.pt"))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "sunny" / "labels" / "bdd_sunny_1.txt").is_file()
    assert (tmp_path / "foggy" / "labels" / "bdd_cloudy_1.txt").is_file()  # not skipped any more
