"""The swap plugin interface.

A plugin turns one player's live media into another player's body. It has two phases:

- `prepare(enrollment)` runs once per player, ahead of the game and off the media path: it turns a
  photo and a voice recording into a target profile (opaque bytes the plugin alone understands, so
  the room service can cache and delete it without knowing its contents).
- `session(source, target)` opens a stateful converter for one driver wearing one body; the worker
  pushes every camera frame and audio block of the driver into it, from a worker thread, and
  publishes what comes out.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np

from .media import AudioBlock, VideoFormat, VideoFrame

Modality = Literal["video", "voice"]


@dataclass(frozen=True)
class Requirements:
    """What one session of the plugin needs, so the worker can place and count it."""

    device: Literal["cpu", "gpu"] = "cpu"
    memory_mb: int = 64


@dataclass(frozen=True)
class Enrollment:
    """What a player recorded to become a body: a photo and about two minutes of voice.

    Biometric data: never log it, never keep it past the game.
    """

    photo_rgb: np.ndarray | None = None  # (height, width, 3) uint8
    voice_pcm: np.ndarray | None = None  # mono float32 in [-1, 1]
    voice_sample_rate: int = 16000


class SwapSession(ABC):
    """One driver wearing one body.

    The worker calls `convert_video` from one thread and `convert_audio` from another: calls of
    the same kind never overlap, but a video and an audio call may run at the same time.
    """

    def convert_video(self, frame: VideoFrame) -> VideoFrame:
        """Return the body's frame for this driver frame. Only called if the plugin swaps video."""
        raise NotImplementedError

    def convert_audio(self, block: AudioBlock) -> AudioBlock:
        """Return the body's audio for this block (it may lag by the plugin's stated latency).

        Only called if the plugin swaps voice.
        """
        raise NotImplementedError

    def close(self) -> None:
        """Release what the session holds. Called once, after the last conversion."""


class SwapPlugin(ABC):
    """A swap model. Subclasses set the class attributes and implement the two phases."""

    name: ClassVar[str]
    swaps: ClassVar[frozenset[Modality]]
    requirements: ClassVar[Requirements] = Requirements()
    # The formats the worker hands the session; it converts on the native side, before Python.
    video_format: ClassVar[VideoFormat] = "i420"
    audio_sample_rate: ClassVar[int] = 48000
    audio_block_ms: ClassVar[int] = 10
    # How far converted audio lags its input beyond the call itself (look-ahead, overlap-add): the
    # worker delays video by as much so the body's voice stays on its lips.
    audio_latency_ms: ClassVar[int] = 0
    # True: the worker hands convert_video_batch the newest frame of every body of a room at once
    # (one GPU call for all players) instead of calling each session's convert_video.
    batches_video: ClassVar[bool] = False

    @abstractmethod
    def prepare(self, enrollment: Enrollment) -> bytes:
        """Build the target profile of one player once, ahead of the game."""

    @abstractmethod
    def session(self, source: bytes | None, target: bytes) -> SwapSession:
        """Open a converter for a driver (their own profile, if enrolled) wearing `target`."""

    def convert_video_batch(self, items: Sequence[tuple[SwapSession, VideoFrame]]) -> list[VideoFrame]:
        """Convert one frame for each of several sessions in one call, results in the same order.

        Only called when `batches_video` is set, from one worker thread per room. Override it to
        stack the frames into one tensor; the default converts them one by one.
        """
        return [session.convert_video(frame) for session, frame in items]
