"""``edgecgl video FOLDER``: every clip of a recorder's folder through one loaded pipeline.

Recorders write minute-long segments filed by date, so the folder is searched recursively and its layout
mirrored under ``--out``. Each clip is its own atomic output: a rerun skips the clips already written (it
continues an interrupted run) and ``--overwrite`` redoes them. A clip that cannot be read is skipped and
named at the end, as ``edgecgl image`` does with a folder's unreadable images.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgecgl import interrupt
from edgecgl.cli.common import log, progress
from edgecgl.errors import EdgecglError

# what dashcams and phones record into; hidden files (macOS "._x.mp4" resource forks on SD cards) skipped
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".m4v", ".ts", ".mts", ".m2ts", ".webm")


def plan_clips(src: Path, out: Path | None, domain: str) -> tuple[Path, list[tuple[Path, Path]]]:
    """The out folder (default ``SRC_<domain>/``) and (clip, output) pairs: every video under ``src``, the
    same relative path under the out folder, as .mp4."""
    dst_dir = out if out is not None else src.with_name(f"{src.name}_{domain}")
    s, o = src.resolve(), dst_dir.resolve()
    if o == s or s in o.parents:
        raise EdgecglError(
            f"output folder {dst_dir} is inside the input folder {src}",
            "choose an --out outside it (a rerun would take the translations for clips)",
        )
    if dst_dir.exists() and not dst_dir.is_dir():
        raise EdgecglError(f"--out {dst_dir} is a file, but {src} is a folder", "give --out a folder")
    clips = sorted(
        p
        for p in src.rglob("*")
        if p.suffix.lower() in VIDEO_SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(src).parts)
        and p.is_file()
    )
    if not clips:
        raise EdgecglError(f"no videos in {src}", f"expected files ending in {', '.join(VIDEO_SUFFIXES)}")
    pairs: list[tuple[Path, Path]] = []
    taken: dict[Path, Path] = {}
    for clip in clips:
        dst = dst_dir / clip.relative_to(src).with_suffix(".mp4")
        if dst in taken:
            raise EdgecglError(
                f"{taken[dst]} and {clip} would both be written to {dst}", "rename one of them"
            )
        taken[dst] = clip
        pairs.append((clip, dst))
    return dst_dir, pairs


@dataclass
class FolderResult:
    done: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # outputs already there (an earlier run)
    failed: list[dict[str, str]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {"clips": self.done, "skipped": self.skipped, "failed": self.failed}


def translate_folder(
    src: Path,
    out: Path,
    pairs: list[tuple[Path, Path]],
    translate: Callable[[Path, Path, Callable[[int], None]], Any],
    before_clip: Callable[[Path, str], None],
    overwrite: bool,
    stats_json: Path | None,
) -> FolderResult:
    """Run ``translate(clip, dst, on_frames)`` for each pair; ``before_clip(clip, name)`` sets the clip's
    style first (``name``: its path in the folder, so same-named clips of different days differ)."""
    from edgecgl.atomic import check_writable, write_text_atomic
    from edgecgl.video import probe

    check_writable(out)
    result = FolderResult()
    todo = []
    for clip, dst in pairs:
        if dst.exists() and not overwrite:
            result.skipped.append(str(clip))
        else:
            todo.append((clip, dst))
    if result.skipped:
        log(
            f"{len(result.skipped)} of {len(pairs)} clip(s) already translated, kept (--overwrite redoes them)"
        )
    frames = 0
    with progress() as bar:
        clips_task = bar.add_task("clips", total=len(todo), rate="")
        frame_task = bar.add_task("", total=None, rate="")
        for clip, dst in todo:
            interrupt.check()
            name = clip.relative_to(src).as_posix()
            bar.reset(frame_task, total=None, description=name)
            try:
                total = probe(clip)["frames"] or None
                bar.update(frame_task, total=total)
                before_clip(clip, name)
                res = translate(clip, dst, lambda n: bar.update(frame_task, completed=n))
            except EdgecglError as exc:
                result.failed.append({"src": str(clip), "error": str(exc)})
                log(f"skipped {name}: {exc}")
            else:
                frames += res.stats.frames
                s = res.stats.summary()
                result.done.append({"src": str(clip), "out": str(dst), "warnings": res.warnings, **s})
                log(f"{name}: {s['frames']} frames, {s['fps']} frames/s, {s['instances']} instances")
            bar.advance(clips_task)
    if todo and len(result.failed) == len(todo) and not result.skipped:
        raise EdgecglError(
            f"none of the {len(todo)} clip(s) in {src} could be translated",
            f"e.g. {result.failed[0]['src']}: {result.failed[0]['error']}",
        )
    log(f"{len(result.done)} clip(s), {frames} frames translated")
    if result.failed:
        log(
            f"warning: skipped {len(result.failed)} clip(s) that could not be translated, e.g. {result.failed[0]['src']}"
        )
    if stats_json is not None:
        write_text_atomic(stats_json, json.dumps(result.summary(), indent=1))
    return result
