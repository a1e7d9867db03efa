"""cpu-face: the embedded face swap. The driver's live face moves the target's photo, on one core.

`prepare` turns the target's enrollment photo into a profile (landmarks, warp mesh, I420 planes,
eyelid and mouth-interior colours); a session tracks the driver's 68 dlib landmarks, smooths them,
transfers their motion relative to the driver's neutral face onto the target's, warps the photo
once, and draws what a warp cannot (closed lids, the inside of the mouth). Every output pixel comes
from the target's photo: with no face, several faces or a face half out of the frame the body eases
back to its neutral photo; the driver's own face is never shown.
"""

from __future__ import annotations

import cv2
from bodyswap_api import Enrollment, Requirements, SwapPlugin

from ._session import CpuFaceSession
from .profile import Profile, prepare_profile

__all__ = ["CpuFacePlugin", "CpuFaceSession", "Profile"]


class CpuFacePlugin(SwapPlugin):
    name = "cpu-face"
    swaps = frozenset({"video"})
    requirements = Requirements(device="cpu", memory_mb=120)
    video_format = "i420"  # tracking reads the Y plane as it comes; the body is drawn in I420 too
    audio_sample_rate = 48000
    audio_block_ms = 10

    def prepare(self, enrollment: Enrollment) -> bytes:
        """The body's profile. Without a photo (a room with no enrollments) the body is a neutral
        silhouette; with a photo where no face is found, the photo itself, still."""
        return prepare_profile(enrollment.photo_rgb).to_bytes()

    def session(self, source: bytes | None, target: bytes) -> CpuFaceSession:
        # One session is one core's work: OpenCV's own thread pool only adds overhead at this size.
        cv2.setNumThreads(1)
        driver = None
        if source:
            try:  # the driver's own profile only refines their neutral face: never fail without it
                driver = Profile.from_bytes(source)
            except (ValueError, KeyError, OSError):
                driver = None
        return CpuFaceSession(Profile.from_bytes(target), driver)
