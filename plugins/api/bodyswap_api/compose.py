"""Two plugins as one: the face from a video plugin, the voice from a voice plugin.

`load_plugin("cpu-face+cpu-voice")` builds one; the worker and the room service treat it like any
other plugin. Its profile packs both profiles (each length-prefixed), its session pairs both
sessions, and each media kind goes to the plugin that swaps it, in that plugin's own formats.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from .media import AudioBlock, VideoFrame
from .plugin import Enrollment, Requirements, SwapPlugin, SwapSession

_LENGTH = struct.Struct(">I")


def pack(parts: Sequence[bytes]) -> bytes:
    return b"".join(_LENGTH.pack(len(part)) + part for part in parts)


def unpack(data: bytes, count: int) -> list[bytes]:
    parts, offset = [], 0
    for _ in range(count):
        if offset + _LENGTH.size > len(data):
            raise ValueError("combined profile is truncated")
        (length,) = _LENGTH.unpack_from(data, offset)
        offset += _LENGTH.size
        if offset + length > len(data):
            raise ValueError("combined profile is truncated")
        parts.append(data[offset : offset + length])
        offset += length
    if offset != len(data):
        raise ValueError("combined profile has trailing bytes")
    return parts


class CombinedSession(SwapSession):
    def __init__(self, video: SwapSession, voice: SwapSession) -> None:
        self.video = video
        self.voice = voice

    def convert_video(self, frame: VideoFrame) -> VideoFrame:
        return self.video.convert_video(frame)

    def convert_audio(self, block: AudioBlock) -> AudioBlock:
        return self.voice.convert_audio(block)

    def close(self) -> None:
        try:
            self.video.close()
        finally:
            self.voice.close()


class CombinedPlugin(SwapPlugin):
    swaps = frozenset({"video", "voice"})

    def __init__(self, video: SwapPlugin, voice: SwapPlugin) -> None:
        if "video" not in video.swaps or "voice" not in voice.swaps:
            raise ValueError(f"{video.name}+{voice.name}: the first must swap video, the second voice")
        self.video, self.voice = video, voice
        self.name = f"{video.name}+{voice.name}"
        self.requirements = Requirements(
            device="gpu" if "gpu" in (video.requirements.device, voice.requirements.device) else "cpu",
            memory_mb=video.requirements.memory_mb + voice.requirements.memory_mb,
        )
        self.video_format = video.video_format
        self.batches_video = video.batches_video
        self.audio_sample_rate = voice.audio_sample_rate
        self.audio_block_ms = voice.audio_block_ms
        self.audio_latency_ms = voice.audio_latency_ms

    def prepare(self, enrollment: Enrollment) -> bytes:
        return pack([self.video.prepare(enrollment), self.voice.prepare(enrollment)])

    def session(self, source: bytes | None, target: bytes) -> SwapSession:
        video_source, voice_source = unpack(source, 2) if source is not None else (None, None)
        video_target, voice_target = unpack(target, 2)
        return CombinedSession(
            self.video.session(video_source, video_target),
            self.voice.session(voice_source, voice_target),
        )

    def convert_video_batch(self, items: Sequence[tuple[SwapSession, VideoFrame]]) -> list[VideoFrame]:
        return self.video.convert_video_batch([(session.video, frame) for session, frame in items])
