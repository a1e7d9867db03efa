"""Passthrough: the body shows the driver's own camera and plays their own microphone.

It swaps nothing, so it is the smallest complete plugin: a template for authors, and the plugin the
end-to-end tests use to prove that media crosses the whole pipeline unchanged. Never run it in a
real game: it shows who is inside each body.
"""

from __future__ import annotations

from bodyswap_api import AudioBlock, Enrollment, Requirements, SwapPlugin, SwapSession, VideoFrame


class PassthroughSession(SwapSession):
    def convert_video(self, frame: VideoFrame) -> VideoFrame:
        return frame

    def convert_audio(self, block: AudioBlock) -> AudioBlock:
        return block


class PassthroughPlugin(SwapPlugin):
    name = "passthrough"
    swaps = frozenset({"video", "voice"})
    requirements = Requirements(device="cpu", memory_mb=16)
    video_format = "i420"  # what WebRTC decodes to: no conversion either way
    audio_sample_rate = 48000
    audio_block_ms = 10

    def prepare(self, enrollment: Enrollment) -> bytes:
        return b""  # nothing to learn from the enrollment

    def session(self, source: bytes | None, target: bytes) -> PassthroughSession:
        return PassthroughSession()
