"""``data.crop_scale``: instance crops cut from the training window at s x the frame size (as the runtime
cuts them from the full-resolution frame), not blown up from the downscaled training frame."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from edgecgl.train.config import DataConfig
from edgecgl.train.data import open_dataset
from edgecgl.train.trainer import StepSource, Trainer

from edgecgl.errors import EdgecglError
from tests.unit.test_trainer import tiny_cfg

H, W = 128, 256  # the files; the frames are 32x64, the detail windows 128x256 at scale 4
BOX = (120, 48, 144, 72)  # x1 y1 x2 y2: a 24x24 px object with 2-px stripes (its "tail-lights")


def write_folder(root: Path, n: int = 3) -> None:
    """Two domains of striped-object images with YOLO labels for the object."""
    x1, y1, x2, y2 = BOX
    for d, grey in (("sunny", 170), ("night", 40)):
        (root / d / "labels").mkdir(parents=True)
        for k in range(n):
            img = np.full((H, W, 3), grey, np.uint8)
            img[y1:y2, x1:x2] = 0
            img[y1:y2:4, x1:x2] = 255  # 2 rows on, 2 off: the 4x smaller frame averages them to grey
            img[y1 + 1 : y2 : 4, x1:x2] = 255
            cv2.imwrite(str(root / d / f"{k:03d}.png"), img)
            cx, cy, bw, bh = (x1 + x2) / 2 / W, (y1 + y2) / 2 / H, (x2 - x1) / W, (y2 - y1) / H
            (root / d / "labels" / f"{k:03d}.txt").write_text(f"0 {cx} {cy} {bw} {bh}\n")


def stripes(crops: torch.Tensor) -> float:
    """Mean absolute difference of vertically adjacent pixels: high for the stripes, ~0 once blurred."""
    return float((crops[..., 1:, :] - crops[..., :-1, :]).abs().mean())


def test_detail_window_is_the_frame_at_scale(tmp_path: Path) -> None:
    write_folder(tmp_path)
    spec = f"folder:{tmp_path}"
    plain = open_dataset(spec, size=(32, 64), split="all", domains=["sunny", "night"])
    ds = open_dataset(spec, size=(32, 64), split="all", domains=["sunny", "night"], detail_scale=4)
    s, p = ds[0], plain[0]
    assert p.detail is None
    assert s.detail is not None and tuple(s.detail.shape) == (3, 128, 256)
    assert tuple(s.image.shape) == (3, 32, 64)
    np.testing.assert_allclose(s.boxes.numpy() * 4, np.array([BOX], np.float32), atol=1e-3)
    np.testing.assert_allclose(s.boxes.numpy(), p.boxes.numpy(), atol=1e-3)
    assert float((s.image - p.image).abs().max()) < 2 / 127.5  # the same frame, within rounding
    shrunk = torch.nn.functional.avg_pool2d(s.detail[None], 4)[0]
    assert float((shrunk - s.image).abs().mean()) < 0.02
    with pytest.raises(EdgecglError):
        open_dataset(spec, size=None, split="all", domains=["sunny", "night"], detail_scale=2)


def test_flip_and_random_crop_move_frame_and_detail_together(tmp_path: Path) -> None:
    import random

    write_folder(tmp_path)
    ds = open_dataset(f"folder:{tmp_path}", size=(32, 32), split="train", val_fraction=0.0,
                      domains=["sunny", "night"], flip=True, detail_scale=4)  # fmt: skip
    for seed in range(8):  # random horizontal offsets and flips
        random.seed(seed)
        s = ds[0]
        assert s.detail is not None
        shrunk = torch.nn.functional.avg_pool2d(s.detail[None], 4)[0]
        assert float((shrunk - s.image).abs().mean()) < 0.02
        if len(s.boxes):
            x1, y1, x2, y2 = (s.boxes[0] * 4).round().int().tolist()
            inside = s.detail[:, y1:y2, x1:x2]
            assert stripes(inside) > 0.8  # the box still lands on the striped object


def test_training_crops_keep_the_detail(tmp_path: Path) -> None:
    write_folder(tmp_path)
    sharp: dict[int, float] = {}
    for scale in (1, 4):
        cfg = tiny_cfg(**{"data.crop_scale": scale, "data.crop_antialias": True, "data.flip": False})
        ds = open_dataset(f"folder:{tmp_path}", size=(32, 64), split="all", domains=["sunny", "night"],
                          detail_scale=scale)  # fmt: skip
        item = StepSource(ds, cfg)[0]
        assert tuple(item["o"].shape[-2:]) == tuple(cfg.data.instance_size)
        assert tuple(item["x"].shape[-2:]) == (32, 64)
        sharp[scale] = stripes(item["o"])
    assert sharp[4] > 0.5 > 0.15 > sharp[1], sharp  # 2-px stripes resolved vs averaged away in the frame


def test_crop_scale_trains_and_is_validated(tmp_path: Path) -> None:
    write_folder(tmp_path / "data")
    cfg = tiny_cfg(**{"iters": 2, "data.crop_scale": 2, "data.frame_size": [64, 64],
                      "data.spec": f"folder:{tmp_path / 'data'}", "data.domains": ["sunny", "night"],
                      "model.n_domains": 2})  # fmt: skip
    from edgecgl.train.launch import open_training_data

    ds = open_training_data(cfg)
    assert ds.detail_scale == 2
    Trainer(cfg, ds, tmp_path / "run").run()
    assert (tmp_path / "run" / "checkpoints" / "last.pt").is_file()
    for bad in (0, 17, 1.5):
        with pytest.raises(EdgecglError):
            DataConfig(crop_scale=bad).validate()  # type: ignore[arg-type]


def test_images_smaller_than_the_detail_window_warn_once(tmp_path: Path) -> None:
    write_folder(tmp_path)  # 128x256 files; 64x128 frames at scale 4 want 256x512
    ds = open_dataset(f"folder:{tmp_path}", size=(64, 128), split="all", domains=["sunny", "night"],
                      detail_scale=4)  # fmt: skip
    with pytest.warns(UserWarning, match="lower data.crop_scale"):
        ds[0]
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds[1]  # once per dataset
        open_dataset(f"folder:{tmp_path}", size=(32, 64), split="all", domains=["sunny", "night"],
                     detail_scale=4)[0]  # fmt: skip  # 128x256 windows: the files' own size, no warning
