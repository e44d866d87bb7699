"""The input video's colour description, kept on the translated output.

PyAV decodes Y'CbCr to RGB with the matrix and range the input is tagged with. Fed RGB, libx264 gets
BT.601 limited range from swscale and writes no tags, and players take untagged HD video for BT.709: a
BT.709 dashcam clip came back with its saturated reds and greens up to 28 luma levels off, a full-range
(``yuvj420p``) one in another range. So the output is converted with the input's matrix and range and
tagged with the input's matrix, range, primaries and transfer. An untagged input stays untagged and is
converted with the decoder's default (BT.601), so any player treats input and output alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# FFmpeg's AVColorSpace -> the swscale matrix PyAV decodes it with (sws_getCoefficients: AVCOL_SPC
# values index its table; unknown ones get the BT.601 default)
_MATRIX = {1: "ITU709", 4: "FCC", 5: "ITU601", 6: "ITU601", 7: "SMPTE240M", 9: "BT2020", 10: "BT2020"}
_FULL = 2  # AVCOL_RANGE_JPEG


@dataclass(frozen=True)
class Colour:
    """FFmpeg's enum values (AVColorSpace, AVColorRange, AVColorPrimaries, AVColorTransferCharacteristic)."""

    space: int = 2
    range: int = 0
    primaries: int = 2
    trc: int = 2

    @classmethod
    def of(cls, stream: Any) -> Colour:
        """The tags of a decoded video stream (read from its parameters when the container is opened)."""
        cc = stream.codec_context
        return cls(int(cc.colorspace), int(cc.color_range), int(cc.color_primaries), int(cc.color_trc))

    @property
    def matrix(self) -> str:
        return _MATRIX.get(self.space, "ITU601")

    @property
    def full_range(self) -> bool:
        return self.range == _FULL

    def tag(self, codec_context: Any) -> None:
        """Write the tags into an encoder's context before its first frame (libx264 reads them at open)."""
        codec_context.colorspace = self.space
        codec_context.color_range = self.range
        codec_context.color_primaries = self.primaries
        codec_context.color_trc = self.trc

    def to_yuv(self, rgb_frame: Any, pix_fmt: str) -> Any:
        """An RGB ``av.VideoFrame`` as ``pix_fmt`` in this matrix and range, tagged like the input."""
        frame = rgb_frame.reformat(
            format=pix_fmt,
            dst_colorspace=self.matrix,
            dst_color_range="JPEG" if self.full_range else "MPEG",
        )
        frame.colorspace = self.space
        frame.color_range = self.range
        frame.color_primaries = self.primaries
        frame.color_trc = self.trc
        return frame
