"""The media a swap session consumes and produces: plain numpy buffers, no LiveKit types.

Plugins stay importable and testable without the worker or a LiveKit connection; the worker converts
between these and `livekit.rtc` frames at the edges.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

VideoFormat = Literal["rgb24", "i420"]


@dataclass(frozen=True)
class VideoFrame:
    """One camera frame.

    `data` is (height, width, 3) uint8 for rgb24, or the flat planar Y, U, V bytes
    (width * height * 3 / 2, uint8) for i420, which is what WebRTC decodes to and encodes from.
    """

    width: int
    height: int
    format: VideoFormat
    data: np.ndarray
    timestamp_us: int = 0

    def __post_init__(self) -> None:
        if self.data.dtype != np.uint8:
            raise ValueError(f"video data must be uint8, got {self.data.dtype}")
        expected = (
            (self.height, self.width, 3)
            if self.format == "rgb24"
            else (i420_size(self.width, self.height),)
        )
        if self.data.shape != expected:
            raise ValueError(
                f"{self.format} frame {self.width}x{self.height} needs shape {expected}, "
                f"got {self.data.shape}"
            )

    def luma(self) -> np.ndarray:
        """The Y plane (height, width) as uint8, whatever the format."""
        if self.format == "i420":
            return self.data[: self.width * self.height].reshape(self.height, self.width)
        rgb = self.data.astype(np.float32)
        y = 0.257 * rgb[..., 0] + 0.504 * rgb[..., 1] + 0.098 * rgb[..., 2] + 16.0
        return np.clip(y, 0, 255).astype(np.uint8)


def i420_size(width: int, height: int) -> int:
    chroma = ((width + 1) // 2) * ((height + 1) // 2)
    return width * height + 2 * chroma


@dataclass(frozen=True)
class AudioBlock:
    """A block of mono 16-bit PCM at `sample_rate`."""

    samples: np.ndarray
    sample_rate: int

    def __post_init__(self) -> None:
        if self.samples.dtype != np.int16 or self.samples.ndim != 1:
            raise ValueError("audio samples must be a 1-D int16 array (mono)")

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate
