"""The dataset every loader returns: a list of records (path, domain, boxes) decoded lazily.

Loaders (folder, BDD100K, INIT) only parse annotations into ``Record``s; decoding, resize/crop, flip,
box clipping, the train/val split and skipping unreadable files live here, once.
"""

from __future__ import annotations

import multiprocessing as mp
import random
import warnings
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
import torch
from edgecgl.train.data.records import LoadReport, Record, order_key
from edgecgl.train.data.sample import Sample
from edgecgl.train.data.transforms import UnreadableImage, clip_boxes, decode, hflip, resize_crop, to_tensor
from torch.utils.data import Dataset

from edgecgl.errors import EdgecglError

SPLITS = ("train", "val", "all")


def split_records(
    records: list[Record],
    n_domains: int,
    split: str,
    val_fraction: float,
    seed: int,
    val_names: set[str] | None = None,
) -> list[Record]:
    """Deterministic per-domain split by a seeded hash of the scene name.

    Ordering by ``sha1(seed:name)`` (not by a per-domain shuffle) keeps paired frames — the same scene
    name in several domains, as SynthWeather writes — on the same side of the split. Each domain with
    at least two frames keeps at least one on each side when ``val_fraction > 0``. ``val_names`` (from
    a SynthWeather ``pairs.json``) overrides the hash rule.
    """
    if split not in SPLITS:
        raise EdgecglError(f"unknown split '{split}'", f"choose one of: {', '.join(SPLITS)}")
    if not 0.0 <= val_fraction < 1.0:
        raise EdgecglError(f"val_fraction must be in [0, 1), got {val_fraction}")
    if split == "all":
        return list(records)
    if val_names is not None:
        want_val = split == "val"
        return [r for r in records if (r.name in val_names) == want_val]
    out: list[Record] = []
    for d in range(n_domains):
        items = sorted((r for r in records if r.domain == d), key=lambda r: order_key(seed, r.name or r.path))
        n = len(items)
        k = round(val_fraction * n)
        if val_fraction > 0 and n >= 2:
            k = min(max(k, 1), n - 1)
        val_set = {id(r) for r in items[:k]}
        out += [r for r in items if (id(r) in val_set) == (split == "val")]
    # Keep the loader's order (sorted paths), which makes indices stable across runs.
    keep = {id(r) for r in out}
    return [r for r in records if id(r) in keep]


class FrameDataset(Dataset):
    """Items are ``Sample``s. Unreadable images are skipped and counted, replaced by the next readable
    frame of the same domain (so per-domain sampling through ``domain_indices()`` stays correct).

    ``skipped`` is shared with forked DataLoader workers (a shared-memory counter), so the main process
    can log it; under the ``spawn`` start method each worker counts on its own copy. It counts skip
    events: fresh workers of a later epoch meet (and count) a bad file again.
    """

    def __init__(
        self,
        records: list[Record],
        domains: Sequence[str],
        *,
        size: tuple[int, int] | None,
        split: str,
        flip: bool,
        min_box: int,
        source: str,
        report: LoadReport | None = None,
        allow_empty_domains: bool = False,
        detail_scale: int = 1,
    ) -> None:
        self.records = records
        self.domains = list(domains)
        self.size = None if size is None else (int(size[0]), int(size[1]))
        if self.size is not None and (self.size[0] < 1 or self.size[1] < 1):
            raise EdgecglError(f"bad size {size}", "give (H, W) with positive sides")
        if detail_scale < 1 or (detail_scale > 1 and self.size is None):
            raise EdgecglError(f"bad detail_scale {detail_scale}", "give an integer >= 1, and a size with it")
        self.detail_scale = int(detail_scale)
        self._warned_small = False
        self.split = split
        self.flip = flip
        self.min_box = min_box
        self.source = source
        self.report = report or LoadReport()
        self._skipped_local = 0
        try:  # inherited by forked DataLoader workers; dropped when pickled (spawn)
            self._skipped_shared: Any = mp.get_context("fork").Value("q", 0)
        except (ValueError, OSError):  # pragma: no cover - no fork on this platform
            self._skipped_shared = None
        self._bad: set[int] = set()
        self._by_domain: list[list[int]] = [[] for _ in self.domains]
        self._pos: list[int] = []
        for i, r in enumerate(records):
            self._pos.append(len(self._by_domain[r.domain]))
            self._by_domain[r.domain].append(i)
        empty = [d for d, idx in zip(self.domains, self._by_domain, strict=True) if not idx]
        if empty and not allow_empty_domains:
            have = [d for d, idx in zip(self.domains, self._by_domain, strict=True) if idx]
            raise EdgecglError(
                f"domain '{empty[0]}' has no images in {source} (split '{split}')",
                f"add images for it, or train only the domains you have: --set data.domains=[{','.join(have)}]",
            )
        if not records:
            raise EdgecglError(f"no images in {source} (split '{split}')")

    @property
    def skipped(self) -> int:
        """Unreadable images skipped so far (all forked workers together)."""
        return self._skipped_local if self._skipped_shared is None else int(self._skipped_shared.value)

    def _count_skip(self) -> None:
        if self._skipped_shared is None:
            self._skipped_local += 1
        else:
            with self._skipped_shared.get_lock():
                self._skipped_shared.value += 1

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        if state["_skipped_shared"] is not None:
            state["_skipped_local"] = int(state["_skipped_shared"].value)
        state["_skipped_shared"] = None
        return state

    def __len__(self) -> int:
        return len(self.records)

    def domain_indices(self) -> list[int]:
        """The domain of every item, without decoding anything."""
        return [r.domain for r in self.records]

    def counts(self) -> dict[str, int]:
        """Images per domain name."""
        return {d: len(idx) for d, idx in zip(self.domains, self._by_domain, strict=True)}

    def summary(self) -> str:
        """One line for the run log: sizes per domain and everything that was dropped or skipped."""
        per = ", ".join(f"{d} {n}" for d, n in self.counts().items())
        parts = [f"{self.source} [{self.split}]: {len(self)} images ({per})"]
        r = self.report
        for n, what in (
            (r.excluded_frames, "frames excluded by the domain rules"),
            (r.rejected_labels, "malformed label values rejected"),
            (r.dropped_boxes, "boxes of other categories dropped"),
            (r.clipped_boxes, "label boxes past the frame edge clipped to it"),
            (self.skipped, "unreadable images skipped"),
        ):
            if n:
                parts.append(f"{n} {what}")
        return "; ".join(parts)

    def load(self, index: int) -> Sample:
        """Decode one record; raises ``UnreadableImage`` (``__getitem__`` is the skipping wrapper)."""
        r = self.records[index]
        s = self.detail_scale
        size = None if self.size is None else (self.size[0] * s, self.size[1] * s)
        img, (fh, fw) = decode(r.path, size)
        h, w = img.shape[:2]
        boxes = np.asarray(r.boxes, dtype=np.float32).reshape(-1, 4).copy()
        if r.normalized:
            boxes[:, 0::2] *= w
            boxes[:, 1::2] *= h
        elif (fh, fw) != (h, w):  # decoded at a reduced JPEG scale: pixel boxes follow
            boxes[:, 0::2] *= w / fw
            boxes[:, 1::2] *= h / fh
        boxes = clip_boxes(boxes, h, w, min_box=0.0)
        if s > 1 and size is not None and max(size[0] / fh, size[1] / fw) > 1.0 and not self._warned_small:
            self._warned_small = True
            warnings.warn(
                f"data.crop_scale {s}: {r.path} is {fh}x{fw}, smaller than the {size[0]}x{size[1]} window the"
                " crops are cut from, so they are upsampled; lower data.crop_scale",
                stacklevel=2,
            )
        img, boxes = resize_crop(img, boxes, size, random_crop=self.split == "train")
        if self.flip and random.random() < 0.5:
            img, boxes = hflip(img, boxes)
        detail = None
        if s > 1:  # the frame is the detail window shrunk s times: one crop offset, one flip for both
            assert self.size is not None
            detail = to_tensor(img)
            img = cv2.resize(img, (self.size[1], self.size[0]), interpolation=cv2.INTER_AREA)
            boxes = boxes / s
        boxes = clip_boxes(boxes, img.shape[0], img.shape[1], min_box=float(self.min_box))
        return Sample(
            image=to_tensor(img), domain=r.domain, boxes=torch.from_numpy(boxes), path=r.path, detail=detail
        )

    def __getitem__(self, index: int) -> Sample:
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        ring = self._by_domain[self.records[index].domain]
        start = self._pos[index]
        for k in range(len(ring)):
            i = ring[(start + k) % len(ring)]
            if i in self._bad:
                continue
            try:
                return self.load(i)
            except UnreadableImage as exc:
                self._bad.add(i)
                self._count_skip()
                warnings.warn(f"skipped unreadable image {exc}", stacklevel=2)
        raise EdgecglError(
            f"no readable image left in domain '{self.domains[self.records[index].domain]}' of {self.source}",
            f"{self.skipped} unreadable files skipped so far",
        )
