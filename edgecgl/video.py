"""Video in, video out: PyAV decode -> pipeline -> libx264 encode, audio and subtitles remuxed untouched.

The stages run as threads joined by bounded queues (decode | detect | instances | inference | encode;
detect only with a detector, instances only with ``PipelineConfig.overlap_instances``), so decoding the
next frame, detecting in it, translating its instance crops and encoding the last overlap with the
frame's network. Items flow in demux order: passthrough packets travel through the same queues as frames,
so the output interleaves like the input. The detect stage passes (frame, detections) on; the instances
stage adds the translated crops, which inference pastes onto the translated frame.

``PipelineConfig.workers`` > 1 renders that many frames at once (``edgecgl video --workers``): inference
hands each frame to a thread pool and passes its future on in order, so encode still sees demux order.
Rendering is stateless (tracks and boxes live in the detect stage), so frames may finish out of order.
On a CPU, N frames each on 1/N of the cores beat one frame on all of them (docs/PERFORMANCE.md).

Kept from the input: every frame (output frame count = input frame count), each frame's timestamp,
the frame rate, the display rotation, the colour matrix, range, primaries and transfer (``colour.py``),
the recording's metadata (creation_time, location, languages), and every audio/subtitle packet byte for
byte.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from edgecgl import interrupt
from edgecgl.atomic import atomic_path, check_output
from edgecgl.colour import Colour
from edgecgl.detect import Detection
from edgecgl.errors import EdgecglError
from edgecgl.guided_cpu import one_blas_thread
from edgecgl.pipeline import FrameResult, Instances, Pipeline, RunStats

_END = object()
X264_PRESETS = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
)
_NO_VIDEO_HINT = "an audio-only file, or an MP4 cut off before its index (moov) was written"


# Containers that hold what the output keeps: per-frame presentation times with B-frames, and the
# recording's tags. AVI has neither: its frames came back with scrambled timestamps and no creation_time.
OUT_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv")


def check_video_out(dst: Path) -> None:
    """Refuse, before any work, an output container that would lose timestamps or tags."""
    if Path(dst).suffix.lower() not in OUT_SUFFIXES:
        raise EdgecglError(
            f"cannot write {dst}: the output is an MP4, MOV or MKV file",
            f"end --out in {', '.join(OUT_SUFFIXES)} (AVI keeps no per-frame timestamps or creation time)",
        )


@dataclass
class VideoOptions:
    """Encoder and range settings, checked when made: a bad --preset otherwise fails in avcodec_open2
    after the bundle, the detector and the video have been opened."""

    crf: int = 20
    preset: str = "veryfast"
    start: float | None = None  # seconds
    end: float | None = None  # seconds
    max_frames: int | None = None
    preview: bool = False  # write input | output side by side
    queue_size: int = 8

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise EdgecglError for the first flag libx264 or the range would refuse."""
        if not 0 <= self.crf <= 51:
            raise EdgecglError(
                f"--crf {self.crf} is out of range", "libx264 takes 0 (lossless) .. 51 (worst)"
            )
        if self.preset not in X264_PRESETS:
            raise EdgecglError(
                f"unknown --preset '{self.preset}'", f"choose one of {', '.join(X264_PRESETS)}"
            )
        for flag, t in (("--start", self.start), ("--end", self.end)):
            if t is not None and not (math.isfinite(t) and t >= 0):
                raise EdgecglError(f"{flag} {t} is not a time in the clip", "give seconds >= 0")
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise EdgecglError(f"--end {self.end} is not after --start {self.start}")
        if self.max_frames is not None and self.max_frames < 1:
            raise EdgecglError(f"--max-frames {self.max_frames} must be at least 1")
        if self.queue_size < 1:
            raise EdgecglError(f"queue size {self.queue_size} must be at least 1")


@dataclass
class VideoResult:
    out: Path
    stats: RunStats
    fps: Fraction | None
    size: tuple[int, int]  # (H, W) of the input frames
    copied_streams: list[str] = field(default_factory=list)
    dropped_streams: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # e.g. a truncated input (every decodable frame kept)


@dataclass
class _Frame:
    index: int
    pts: int | None
    image: np.ndarray
    rotation: int
    decode_ms: float
    result: FrameResult | None = None
    infer_ms: float = 0.0
    detections: list[Detection] | None = None  # set by the detect stage
    detect_ms: dict[str, float] = field(default_factory=dict)
    instances: Instances | None = None  # set by the instances stage (--overlap-instances)


class _Stop(Exception):
    pass


def _put(q: queue.Queue, item: Any, stop: threading.Event) -> None:
    while True:
        if stop.is_set():
            raise _Stop
        try:
            q.put(item, timeout=0.1)
            return
        except queue.Full:
            continue


def _get(q: queue.Queue, stop: threading.Event) -> Any:
    while True:
        if stop.is_set():
            raise _Stop
        try:
            return q.get(timeout=0.1)
        except queue.Empty:
            continue


def _result(fut: Future, stop: threading.Event) -> Any:
    """A pool frame's rendered item; a render error is raised here, in the encode thread."""
    while True:
        if stop.is_set():
            raise _Stop
        try:
            return fut.result(timeout=0.1)
        except FutureTimeout:
            continue


def probe(path: Path) -> dict[str, Any]:
    """Frame count estimate, rate, size and stream list of a video (for logs and checks)."""
    import av

    with _open_input(path) as c:
        v = _video_stream(c, path)
        rate = v.average_rate or v.guessed_rate
        frames = v.frames
        if not frames and v.duration and v.time_base and rate:
            frames = int(round(float(v.duration * v.time_base) * float(rate)))
        if not frames and c.duration and rate:  # e.g. Matroska: only the container knows its length
            frames = int(round(float(c.duration) / av.time_base * float(rate)))
        return {
            "frames": int(frames or 0),
            "fps": rate,
            "size": (v.codec_context.height, v.codec_context.width),
            "streams": [f"{s.type}:{s.codec_context.name if s.codec_context else '?'}" for s in c.streams],
            "av": av.__version__,
        }


def sample_frames(
    path: Path, n: int, start: float | None = None, end: float | None = None
) -> list[np.ndarray]:
    """Up to ``n`` RGB frames spread evenly over [start, end) (by default the whole clip), each the frame
    showing at the middle of its 1/n of the window: the probes ``video --keep-objects`` checks on."""
    import av

    with _open_input(path) as c:
        v = _video_stream(c, path)
        tb = v.time_base
        length = float(v.duration * tb) if v.duration and tb else None
        if length is None and c.duration:
            length = float(c.duration) / av.time_base
        t0 = start or 0.0
        bounds = [x for x in (end, length) if x is not None]
        t1 = min(bounds) if bounds else t0  # unknown length: the first frame only
        times = [t0 + max(t1 - t0, 0.0) * (i + 0.5) / n for i in range(n)]
        out: list[np.ndarray] = []
        seen: set[int | None] = set()
        for t in times:
            try:
                c.seek(int(t / tb), stream=v, backward=True, any_frame=False)
                shown = None
                for fr in c.decode(v):  # from the keyframe before t: the last frame not after t
                    if shown is not None and (fr.pts is None or float(fr.pts * tb) > t + 1e-6):
                        break
                    shown = fr
                if shown is not None and (shown.pts is None or shown.pts not in seen):  # a short window
                    seen.add(shown.pts)  # holds fewer frames than probes: each frame once
                    out.append(shown.to_ndarray(format="rgb24"))
            except av.error.FFmpegError:  # a probe the file cannot give: the others still count
                continue
        return out


def ffmpeg_reason(exc: BaseException) -> str:
    """FFmpeg's (or the OS's) words for an error, without PyAV's ``[Errno 1094995529]`` and the path the
    message names already."""
    return getattr(exc, "strerror", None) or str(exc)


def _open_input(path: Path) -> Any:
    import av

    try:
        return av.open(str(path))
    except (av.error.FFmpegError, OSError, ValueError) as exc:  # ValueError: undecodable metadata
        raise EdgecglError(
            f"cannot open video {path}: {ffmpeg_reason(exc)}", "give a video file FFmpeg can read"
        ) from None


def _video_stream(container: Any, path: Path) -> Any:
    """The first video stream, or a user error when there is none or it cannot be decoded."""
    if not container.streams.video:
        raise EdgecglError(f"{path} has no video stream", _NO_VIDEO_HINT)
    v = container.streams.video[0]
    if v.codec_context is None or not (v.codec_context.width and v.codec_context.height):
        raise EdgecglError(
            f"cannot decode the video stream of {path}",
            "the file is corrupt, or its codec is not in this FFmpeg build",
        )
    return v


def translate_video(
    src: Path,
    dst: Path,
    pipeline: Pipeline,
    opts: VideoOptions | None = None,
    overwrite: bool = False,
    on_frame: Callable[[int, np.ndarray, FrameResult], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
    log: Callable[[str], None] | None = None,
) -> VideoResult:
    """Translate ``src`` into ``dst`` (written atomically). Returns the run's stats."""
    import av

    opts = opts or VideoOptions()
    say = log or (lambda _m: None)
    src, dst = Path(src), Path(dst)
    if not src.is_file():
        raise EdgecglError(f"video {src} does not exist")
    check_video_out(dst)
    check_output(dst, [src], overwrite)
    opts.validate()  # again: fields may have been changed since it was made
    reset = getattr(pipeline, "reset", None)
    if reset is not None:  # tracks and motion start fresh with each video
        reset()

    inp = _open_input(src)
    try:
        vin = _video_stream(inp, src)
        vin.thread_type = "AUTO"
        H, W = vin.codec_context.height, vin.codec_context.width
        rate = vin.average_rate or vin.guessed_rate or Fraction(25)
        with atomic_path(dst) as tmp:
            try:
                out = av.open(str(tmp), "w")
            except (av.error.FFmpegError, ValueError) as exc:
                raise EdgecglError(
                    f"cannot write {dst}: {ffmpeg_reason(exc)}", "use a .mp4, .mkv or .mov output"
                ) from None
            try:
                # BLAS held here, once, for every thread of the run (guided_cpu.one_blas_thread)
                with one_blas_thread():
                    result = _run(inp, vin, out, pipeline, opts, rate, (H, W), on_frame, on_progress, say)
            finally:
                out.close()
        result.out = dst
        return result
    finally:
        inp.close()


def _run(
    inp: Any,
    vin: Any,
    out: Any,
    pipeline: Pipeline,
    opts: VideoOptions,
    rate: Fraction,
    hw: tuple[int, int],
    on_frame: Callable[[int, np.ndarray, FrameResult], None] | None,
    on_progress: Callable[[int], None] | None,
    say: Callable[[str], None],
) -> VideoResult:
    import av

    H, W = hw
    result = VideoResult(Path(), RunStats(), rate, hw)
    out_w = 2 * W if opts.preview else W
    vout = out.add_stream("libx264", rate=rate)
    vout.width, vout.height = out_w, H
    # 4:2:0 needs even sides; odd-sized sources keep their exact size in 4:4:4 instead of being cropped
    vout.pix_fmt = "yuv420p" if H % 2 == 0 and out_w % 2 == 0 else "yuv444p"
    vout.time_base = vin.time_base
    # Variable frame rate: encode on the input's own clock; 1/fps ticks would merge close frames.
    vout.codec_context.time_base = vin.time_base
    vout.options = {"crf": str(int(opts.crf)), "preset": opts.preset}
    colour = Colour.of(vin)  # encode in the input's matrix and range, tagged like it (edgecgl/colour.py)
    colour.tag(vout.codec_context)
    out.metadata.update(_kept_tags(inp.metadata))  # recording time, camera, location
    vout.metadata.update(_kept_tags(vin.metadata))
    passthrough: dict[int, Any] = {}
    for s in inp.streams:
        if s.index == vin.index:
            continue
        label = f"#{s.index} {s.type}:{s.codec_context.name if s.codec_context else '?'}"
        if s.type not in ("audio", "subtitle"):
            result.dropped_streams.append(label)
            continue
        try:
            passthrough[s.index] = out.add_stream_from_template(s)
            passthrough[s.index].metadata.update(_kept_tags(s.metadata))  # language, title
            result.copied_streams.append(label)
        except (av.error.FFmpegError, ValueError) as exc:
            result.dropped_streams.append(f"{label} ({ffmpeg_reason(exc)})")
    if result.dropped_streams:
        say(f"not copied (the output container cannot hold them): {', '.join(result.dropped_streams)}")

    q_dec: queue.Queue = queue.Queue(maxsize=opts.queue_size)
    q_det: queue.Queue = queue.Queue(maxsize=opts.queue_size)
    q_ins: queue.Queue = queue.Queue(maxsize=opts.queue_size)
    q_inf: queue.Queue = queue.Queue(maxsize=opts.queue_size)
    detect_stage = getattr(pipeline, "detector", None) is not None
    cfg = getattr(pipeline, "cfg", None)
    instance_stage = detect_stage and bool(getattr(cfg, "overlap_instances", False))
    workers = int(getattr(cfg, "workers", 1))
    stop = threading.Event()
    errors: list[BaseException] = []
    bad = [0]  # packets the decoder or demuxer rejected (a cut or corrupt file)

    def reader() -> None:
        _read(inp, vin, set(passthrough), opts, q_dec, stop, bad)

    def detect() -> None:
        while True:
            item = _get(q_dec, stop)
            if item is _END:
                break
            if isinstance(item, _Frame):
                try:
                    item.detections, item.detect_ms = pipeline.detect(item.image)
                except EdgecglError:
                    raise
                except Exception as exc:  # a bug in or below the detector: one line, --debug shows the rest
                    raise _detector_error(exc, item.index) from exc
            _put(q_det, item, stop)

    def instances() -> None:
        while True:
            item = _get(q_det, stop)
            if item is _END:
                break
            if isinstance(item, _Frame) and item.detections is not None:
                item.instances = pipeline.translate_instances(item.image, item.detections)
            _put(q_ins, item, stop)

    def render(item: _Frame) -> _Frame:
        t0 = time.perf_counter()
        if item.detections is not None:
            item.result = pipeline.render(item.image, item.detections, item.detect_ms, item.instances)
        else:
            item.result = pipeline(item.image)
        item.infer_ms = (time.perf_counter() - t0) * 1000.0
        return item

    pool = ThreadPoolExecutor(workers, "edgecgl-render") if workers > 1 else None

    def worker() -> None:
        q_in = q_ins if instance_stage else q_det if detect_stage else q_dec
        while True:
            item = _get(q_in, stop)
            if item is _END:
                break
            if isinstance(item, _Frame):
                # with a pool the future goes on in demux order; the encode thread waits for it there
                _put(q_inf, pool.submit(render, item) if pool is not None else render(item), stop)
            else:
                _put(q_inf, item, stop)

    threads = [_stage(reader, q_dec, stop, errors)]
    if detect_stage:
        threads.append(_stage(detect, q_det, stop, errors))
    if instance_stage:
        threads.append(_stage(instances, q_ins, stop, errors))
    threads.append(_stage(worker, q_inf, stop, errors))
    t_start = time.perf_counter()
    for t in threads:
        t.start()
    # Passthrough packets wait until the video has reached their time: the header waits for the first
    # frame (its rotation), and a clip cut by --max-frames/--end must not keep audio past its last frame.
    held: list[Any] = []
    video_until = -math.inf  # seconds: end of the last encoded frame
    frame_dur = 1.0 / float(rate)
    trimmed = opts.max_frames is not None or opts.end is not None
    started = False

    def release(until: float) -> None:
        keep = []
        for pkt in held:
            if _time(pkt) < until:
                out.mux(pkt)
            else:
                keep.append(pkt)
        held[:] = keep

    try:
        while True:
            interrupt.check()
            item = _get(q_inf, stop)
            if item is _END:
                break
            if isinstance(item, Future):
                item = _result(item, stop)
            if not isinstance(item, _Frame):
                pkt = item
                pkt.stream = passthrough[pkt.stream_index]
                if started and _time(pkt) < video_until:
                    out.mux(pkt)
                else:
                    held.append(pkt)
                continue
            if not started:
                if item.rotation:
                    vout.set_display_rotation(item.rotation)
                started = True
            assert item.result is not None
            t0 = time.perf_counter()
            img = item.result.image
            if opts.preview:
                img = np.concatenate([item.image, img], axis=1)
            frame = colour.to_yuv(
                av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24"), vout.pix_fmt
            )
            frame.pts = item.pts
            frame.time_base = vin.time_base
            out.mux(vout.encode(frame))
            item.result.ms["decode"] = item.decode_ms
            item.result.ms["encode"] = (time.perf_counter() - t0) * 1000.0
            result.stats.add(item.result)
            video_until = float((item.pts or 0) * vin.time_base) + frame_dur
            release(video_until)
            if on_frame is not None:
                on_frame(item.index, item.image, item.result)
            if on_progress is not None:
                on_progress(result.stats.frames)
        if errors:
            raise errors[0]
        if not started:
            if bad[0] or not (trimmed or opts.start):
                raise EdgecglError(
                    "no decodable video frames in the input", "the file is truncated or corrupt"
                )
            raise EdgecglError("no video frames in the selected range", "check --start/--end")
        out.mux(vout.encode(None))
        expected = int(vin.frames or 0) if not (trimmed or opts.start) else 0
        damaged = bool(bad[0]) or result.stats.frames < expected
        # a cut recording keeps its audio only as far as its pictures: a frozen last frame under
        # seconds of sound is not the drive that was recorded
        release(video_until if trimmed or damaged else math.inf)
        if damaged:
            result.warnings.append(
                f"the input is truncated or corrupt: translated every decodable frame "
                f"({result.stats.frames} of {expected or '?'}), skipped {bad[0]} bad packet(s)"
            )
            say(f"warning: {result.warnings[-1]}")
    except _Stop:
        if errors:
            raise errors[0] from errors[0].__cause__  # keeps the cause --debug shows
        raise EdgecglError("video translation stopped") from None
    finally:
        stop.set()
        if pool is not None:  # frames not started yet are dropped; running ones finish in the background
            pool.shutdown(wait=False, cancel_futures=True)
        for t in threads:
            t.join(timeout=5)
    result.stats.wall_s = time.perf_counter() - t_start
    return result


# written by the muxer/encoder of this output, or stream statistics a cut would make wrong (mkvmerge)
_MUXER_TAGS = ("major_brand", "minor_version", "compatible_brands", "encoder", "handler_name", "vendor_id")
_STAT_TAGS = ("duration", "bps", "number_of_", "_statistics")


def _kept_tags(meta: dict[str, str]) -> dict[str, str]:
    """The input's metadata a user keeps (creation_time: dashcam logs are aligned by it), minus the
    tags that describe the input's muxer, encoder or byte counts rather than the recording."""
    return {
        k: v
        for k, v in meta.items()
        if k.lower() not in _MUXER_TAGS and not any(t in k.lower() for t in _STAT_TAGS)
    }


def _stage(
    body: Callable[[], None], q_out: queue.Queue, stop: threading.Event, errors: list[BaseException]
) -> threading.Thread:
    """A pipeline stage thread: runs ``body``, hands any error to the main thread, always ends ``q_out``."""

    def run() -> None:
        try:
            body()
        except _Stop:
            pass
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            errors.append(exc)
            stop.set()
        finally:
            _safe_put(q_out, _END, stop)

    return threading.Thread(target=run, daemon=True)


def _detector_error(exc: Exception, index: int) -> EdgecglError:
    lines = str(exc).strip().splitlines()
    first = lines[0][:200] if lines else ""
    return EdgecglError(
        f"the detector failed on frame {index}: {type(exc).__name__}{': ' + first if first else ''}",
        "--debug shows the traceback",
    )


def _safe_put(q: queue.Queue, item: Any, stop: threading.Event) -> None:
    """Deliver the end marker unless the consumer is gone (then nobody needs it)."""
    while True:
        try:
            q.put(item, timeout=0.1)
            return
        except queue.Full:
            if stop.is_set():
                return


def _read(
    inp: Any,
    vin: Any,
    keep: set[int],
    opts: VideoOptions,
    q: queue.Queue,
    stop: threading.Event,
    bad: list[int],
) -> None:
    """Demux once; decode video frames in the range, forward passthrough packets in the range.

    A packet the decoder rejects is skipped and counted in ``bad[0]``; a container that breaks off
    (a cut file) ends the input there. Either way every decodable frame is still translated.
    """
    import av

    vtb = vin.time_base
    start = opts.start or 0.0
    if opts.start:
        inp.seek(int(opts.start / vtb), stream=vin, backward=True, any_frame=False)
    st = {
        "stop_time": opts.end if opts.end is not None else math.inf,
        "index": 0,
        "next_pts": 0,
        "done": False,
    }

    def frames(decoded: list[Any], t0: float) -> None:
        for fr in decoded:
            pts = fr.pts if fr.pts is not None else st["next_pts"]
            t = float(pts * vtb)
            if opts.start and t < start - 1e-6:
                continue
            if t >= st["stop_time"] - 1e-9:
                st["done"] = True
                return
            image = fr.to_ndarray(format="rgb24")
            ms = (time.perf_counter() - t0) * 1000.0
            out_pts = pts - int(round(start / vtb)) if opts.start else pts
            _put(q, _Frame(st["index"], out_pts, image, int(fr.rotation or 0), ms), stop)
            st["index"] += 1
            st["next_pts"] = pts + 1
            t0 = time.perf_counter()
            if opts.max_frames is not None and st["index"] >= opts.max_frames:
                st["done"] = True
                dur = float(fr.duration * vtb) if fr.duration else 1.0 / float(vin.average_rate or 25)
                st["stop_time"] = min(st["stop_time"], t + dur)
                return

    streams = [vin] + [s for s in inp.streams if s.index in keep]
    for pkt in _demux(inp, streams, bad):
        if pkt.stream_index != vin.index:
            if pkt.dts is None or pkt.size == 0:
                continue
            t = _time(pkt)
            if opts.start and t < start:
                continue
            if t >= st["stop_time"]:
                if st["done"]:
                    break
                continue
            if opts.start:
                _shift(pkt, start)
            _put(q, pkt, stop)
            continue
        if st["done"]:
            if not keep or (pkt.pts is not None and float(pkt.pts * vtb) > st["stop_time"] + 2.0):
                break  # every passthrough packet up to stop_time has been demuxed by now
            continue
        try:
            decoded = pkt.decode()
        except av.error.FFmpegError:
            bad[0] += 1
            continue
        frames(decoded, time.perf_counter())
    if not st["done"]:
        # Demuxing several streams yields no flush packet for the video: drain the decoder's
        # frame-threading pipeline explicitly, or its last frames are lost.
        try:
            tail = vin.decode(None)
        except EOFError:  # av.error.EOFError: the demuxer's flush packet already drained it
            tail = []
        except av.error.FFmpegError:  # the last packets were cut off or corrupt
            bad[0] += 1
            tail = []
        frames(tail, time.perf_counter())


def decodable_frames(path: Path, bad: list[int]) -> Iterator[Any]:
    """Every frame FFmpeg can decode from the first video stream of ``path``, in order, for readers
    other than the translation loop (calibration sets). Packets it rejects and a container that breaks
    off are counted in ``bad[0]``, as ``edgecgl video`` does; an unreadable file or one with no video
    stream is an EdgecglError."""
    import av

    inp = _open_input(Path(path))
    try:
        vin = _video_stream(inp, Path(path))
        for pkt in _demux(inp, [vin], bad):
            try:
                yield from pkt.decode()  # the demuxer's last (empty) packet flushes the decoder
            except EOFError:
                return
            except av.error.FFmpegError:
                bad[0] += 1
    finally:
        inp.close()


def _demux(inp: Any, streams: list[Any], bad: list[int]) -> Any:
    """Packets until the end, or until the container breaks off (a cut or corrupt file; counted)."""
    import av

    packets = inp.demux(streams)
    while True:
        try:
            pkt = next(packets)
        except StopIteration:
            return
        except av.error.FFmpegError:
            bad[0] += 1
            return
        yield pkt


def _time(pkt: Any) -> float:
    ts = pkt.pts if pkt.pts is not None else pkt.dts
    return float(ts * pkt.time_base) if ts is not None else -math.inf


def _shift(pkt: Any, start: float) -> None:
    """Move a passthrough packet's timestamps so the clip starts at 0 like its video."""
    off = int(round(start / pkt.time_base))
    if pkt.pts is not None:
        pkt.pts -= off
    if pkt.dts is not None:
        pkt.dts -= off
