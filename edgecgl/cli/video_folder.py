"""``edgecgl video FOLDER``: every clip of a recorder's folder through one loaded pipeline.

Recorders write minute-long segments filed by date, so the folder is searched recursively and its layout
mirrored under ``--out``. Each clip is its own atomic output, and ``--out`` keeps a record of the run
(``.edgecgl-video.json``: the settings and each finished clip's stats). The same command again keeps the
recorded clips and continues an interrupted run; other settings (a ``--max-frames`` trial, another style)
are refused rather than mixed into the folder, and ``--overwrite`` redoes every clip. A clip that cannot be
read fails alone and is named at the end, as ``edgecgl image`` does with a folder's unreadable images.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgecgl import interrupt
from edgecgl.cli.common import log, progress
from edgecgl.domains import VIDEO_SUFFIXES, videos_under
from edgecgl.errors import EdgecglError


def plan_clips(src: Path, out: Path | None, domain: str) -> tuple[Path, list[tuple[Path, Path]]]:
    """The out folder (default ``SRC_<domain>/``) and (clip, output) pairs: every video under ``src``, the
    same relative path under the out folder, as .mp4; a sub-folder holding a run record is an earlier
    run's output (``video SRC/DCIM/`` writes ``SRC/DCIM_night/``), not clips to translate again."""
    dst_dir = out if out is not None else src.with_name(f"{src.name}_{domain}")
    s, o = src.resolve(), dst_dir.resolve()
    if o == s or s in o.parents:
        raise EdgecglError(
            f"output folder {dst_dir} is inside the input folder {src}",
            "choose an --out outside it (a rerun would take the translations for clips)",
        )
    if dst_dir.exists() and not dst_dir.is_dir():
        raise EdgecglError(f"--out {dst_dir} is a file, but {src} is a folder", "give --out a folder")
    if not dst_dir.exists() and dst_dir.suffix.lower() in VIDEO_SUFFIXES:
        raise EdgecglError(
            f"--out {dst_dir} names a video file, but {src} is a folder of clips",
            "give --out a folder for the translated clips",
        )
    clips, earlier = [], set()
    for clip in videos_under(src):  # an earlier run's output inside src (its default is SUB_night/): no input
        made = [d for d in clip.relative_to(src).parents if d != Path(".") and (src / d / RECORD).is_file()]
        if made:
            earlier.add(made[-1])
        else:
            clips.append(clip)
    if earlier:
        names = ", ".join(f"{d.as_posix()}/" for d in sorted(earlier))
        log(f"skipped {names} in {src}: translations of an earlier `edgecgl video` run ({RECORD})")
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


RECORD = ".edgecgl-video.json"


@dataclass
class RunRecord:
    """What ``--out`` holds: the settings its clips were made with, and each finished clip's stats
    (keyed by the output's path in the folder). Written after every clip, so an interrupted run's
    finished clips keep their stats."""

    path: Path
    settings: dict[str, Any]
    clips: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, rel: str, stats: dict[str, Any]) -> None:
        from edgecgl.atomic import write_text_atomic

        self.clips[rel] = stats
        doc = {"format": "edgecgl video folder", "settings": self.settings, "clips": self.clips}
        write_text_atomic(self.path, json.dumps(doc, indent=1))


def open_record(
    out: Path, pairs: list[tuple[Path, Path]], settings: dict[str, Any], overwrite: bool
) -> RunRecord:
    """The run record of ``out``, checked before any work: the same settings continue it; other settings,
    or a clip output the record does not know (a user's file, or a run killed before it recorded the clip),
    need ``--overwrite``, which starts a new record."""
    path = out / RECORD
    if overwrite:
        return RunRecord(path, settings)
    old: dict[str, Any] = {}
    if path.is_file():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            old = {}
    if old.get("settings", settings) != settings:
        from edgecgl.resume import settings_diff

        raise EdgecglError(
            f"{out} holds clips made with other settings: {settings_diff(old['settings'], settings)}",
            "pass --overwrite to translate every clip again with these, or choose another --out",
        )
    clips = dict(old.get("clips") or {})
    for _, dst in pairs:
        rel = dst.relative_to(out).as_posix()
        if dst.exists() and rel not in clips:
            raise EdgecglError(
                f"{dst} is in the way: {path.name} does not record it as a finished clip of this run",
                "pass --overwrite to translate it again, or move it away",
            )
    return RunRecord(path, settings, clips)


@dataclass
class FolderResult:
    done: list[dict[str, Any]] = field(default_factory=list)  # every finished clip, this run's and kept
    kept: list[str] = field(default_factory=list)  # finished by an earlier run with the same settings
    failed: list[dict[str, str]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {"clips": self.done, "kept": self.kept, "failed": self.failed}


def translate_folder(
    src: Path,
    out: Path,
    pairs: list[tuple[Path, Path]],
    translate: Callable[[Path, Path, Callable[[int], None]], Any],
    before_clip: Callable[[Path, str], None],
    record: RunRecord,
    stats_json: Path | None,
) -> FolderResult:
    """Run ``translate(clip, dst, on_frames)`` for each pair the record does not hold; ``before_clip(clip,
    name)`` sets the clip's style first (``name``: its path in the folder, so same-named clips of
    different days differ)."""
    from edgecgl.atomic import check_writable, write_text_atomic
    from edgecgl.video import probe

    check_writable(out)
    result = FolderResult()
    todo = []
    for clip, dst in pairs:
        rel = dst.relative_to(out).as_posix()
        if dst.exists() and rel in record.clips:
            result.kept.append(str(clip))
            result.done.append({"src": str(clip), "out": str(dst), "this_run": False, **record.clips[rel]})
        else:
            todo.append((clip, dst))
    if result.kept:
        log(f"{len(result.kept)} of {len(pairs)} clip(s) already translated with these settings, kept")
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
                log(f"warning: failed {name}: {exc}")
            else:
                frames += res.stats.frames
                s = {"warnings": res.warnings, **res.stats.summary()}
                record.add(dst.relative_to(out).as_posix(), s)
                result.done.append({"src": str(clip), "out": str(dst), "this_run": True, **s})
                log(f"{name}: {s['frames']} frames, {s['fps']} frames/s, {s['instances']} instances")
            bar.advance(clips_task)
    if todo and len(result.failed) == len(todo) and not result.kept:
        raise EdgecglError(
            f"none of the {len(todo)} clip(s) in {src} could be translated",
            f"e.g. {result.failed[0]['src']}: {result.failed[0]['error']}",
        )
    log(f"{len(todo) - len(result.failed)} clip(s), {frames} frames translated")
    if result.failed:
        log(
            f"warning: {len(result.failed)} clip(s) could not be translated (listed above"
            f"{' and in --stats-json' if stats_json else ''}), e.g. {result.failed[0]['src']}"
        )
    if stats_json is not None:
        write_text_atomic(stats_json, json.dumps(result.summary(), indent=1))
    return result
