"""Datasets for training and evaluation: BDD100K, INIT, a generic folder format, SynthWeather.

Every loader returns ``Sample``s (image in [-1, 1], domain index, xyxy pixel boxes, source path) through
``open_dataset(spec)``; ``instance_crops`` cuts the instance branch's input out of a batch.
"""

from edgecgl.train.data.crops import expand_boxes, instance_crops
from edgecgl.train.data.frames import FrameDataset, LoadReport, Record
from edgecgl.train.data.open import open_dataset, parse_spec
from edgecgl.train.data.sample import Sample, collate_samples

__all__ = [
    "FrameDataset",
    "LoadReport",
    "Record",
    "Sample",
    "collate_samples",
    "expand_boxes",
    "instance_crops",
    "open_dataset",
    "parse_spec",
]
