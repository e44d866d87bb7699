"""Datasets for training and evaluation: BDD100K, INIT, a generic folder format, SynthWeather.

Every loader returns ``Sample``s (image in [-1, 1], domain index, xyxy pixel boxes, source path) through
``open_dataset(spec)``; ``instance_crops`` cuts the instance branch's input out of a batch. Names are
imported lazily, so ``edgecgl data synth`` (numpy + OpenCV) never pays for importing torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "FrameDataset": "frames",
    "LoadReport": "records",
    "Record": "records",
    "Sample": "sample",
    "collate_samples": "sample",
    "expand_boxes": "crops",
    "instance_crops": "crops",
    "open_dataset": "open",
    "parse_spec": "open",
    "render_scene": "synth",
    "render_clip": "clip",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
