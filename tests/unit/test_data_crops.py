"""instance_crops: documented geometry (context, clipping, bilinear sampling), batch index."""

from __future__ import annotations

import cv2
import numpy as np
import torch
from edgecgl.train.data import expand_boxes, instance_crops


def test_expand_and_clip() -> None:
    b = torch.tensor([[10.0, 20.0, 30.0, 60.0], [0.0, 0.0, 10.0, 10.0]])
    e = expand_boxes(b, height=64, width=32, context=0.1)
    torch.testing.assert_close(e[0], torch.tensor([8.0, 16.0, 32.0, 64.0]))  # x2 32 (=W), y2 64 (=H)
    torch.testing.assert_close(e[1], torch.tensor([0.0, 0.0, 11.0, 11.0]))


def test_integer_box_matches_cv2_resize() -> None:
    g = torch.Generator().manual_seed(0)
    img = torch.rand(1, 3, 40, 50, generator=g)
    box = torch.tensor([[5.0, 7.0, 29.0, 31.0]])  # 24 x 24
    crops, idx = instance_crops(img, [box], (12, 16), context=0.0)
    assert crops.shape == (1, 3, 12, 16) and idx.tolist() == [0]
    ref = cv2.resize(img[0].permute(1, 2, 0).numpy()[7:31, 5:29], (16, 12), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_allclose(crops[0].permute(1, 2, 0).numpy(), ref, atol=1e-5)


def test_context_crop_equals_plain_crop_of_expanded_box() -> None:
    img = torch.arange(3 * 30 * 40, dtype=torch.float32).reshape(1, 3, 30, 40) / 3600
    box = torch.tensor([[10.0, 10.0, 20.0, 20.0]])
    a, _ = instance_crops(img, [box], (8, 8), context=0.1)
    b, _ = instance_crops(img, [torch.tensor([[9.0, 9.0, 21.0, 21.0]])], (8, 8), context=0.0)
    torch.testing.assert_close(a, b)


def test_batch_index_and_edges() -> None:
    imgs = torch.stack([torch.full((3, 16, 16), float(i)) for i in range(3)])
    boxes = [
        torch.tensor([[0.0, 0.0, 16.0, 16.0], [12.0, 12.0, 16.0, 16.0]]),
        torch.zeros(0, 4),
        torch.tensor([[3.0, 4, 9, 15]]),
    ]
    crops, idx = instance_crops(imgs, boxes, (4, 6))
    assert crops.shape == (3, 3, 4, 6) and idx.tolist() == [0, 0, 2]
    torch.testing.assert_close(crops[2], torch.full((3, 4, 6), 2.0))  # every sample inside image 2
    torch.testing.assert_close(crops[1], torch.zeros(3, 4, 6))  # edge box, no index errors
    empty, eidx = instance_crops(imgs, [torch.zeros(0, 4)] * 3, (4, 6))
    assert empty.shape == (0, 3, 4, 6) and eidx.shape == (0,)
