"""The whole enrollment check: photo, consent, voice. Synchronous and CPU-bound (0.1-0.35 s
for a photo, ~2 s when it shows no face; 0.2-0.4 s per minute of voice; a camera frame like a
photo): the HTTP layer runs it in a thread pool."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from bodyswap_api import Enrollment

from .consent import check_same_person
from .faces import FaceBox, face_models, find_enrollment_face
from .photo import decode_photo
from .voice import VOICE_SAMPLE_RATE, validate_voice


@dataclass(frozen=True)
class ValidatedEnrollment:
    """An enrollment that passed every check. Biometric data: never log it."""

    enrollment: Enrollment
    face_box: FaceBox  # in photo_rgb pixels
    face_embedding: np.ndarray  # (128,) float32, dlib
    speech_seconds: float
    level_dbfs: float  # RMS of the speech
    consent_distance: float | None  # photo vs live camera face; None when no frame was given

    def __repr__(self) -> str:  # keep pixels, embeddings and audio out of logs and tracebacks
        return (
            f"ValidatedEnrollment(face_box={self.face_box}, "
            f"speech_seconds={self.speech_seconds:.1f}, level_dbfs={self.level_dbfs:.1f}, "
            f"consent_distance={self.consent_distance})"
        )


def validate_enrollment(
    photo: bytes, voice: bytes, live_frame_rgb: np.ndarray | None
) -> ValidatedEnrollment:
    """Check a player's enrollment; raises EnrollmentError with the first problem found.

    `live_frame_rgb` is a frame of the player's own camera, taken during enrollment; without it
    the consent check is skipped.
    """
    photo_rgb = decode_photo(photo)
    face_box = find_enrollment_face(photo_rgb)
    face_embedding = face_models().embed(photo_rgb, face_box)
    consent_distance = None
    if live_frame_rgb is not None:
        consent_distance = check_same_person(face_embedding, live_frame_rgb)
    voice_check = validate_voice(voice)
    return ValidatedEnrollment(
        enrollment=Enrollment(
            photo_rgb=photo_rgb, voice_pcm=voice_check.pcm, voice_sample_rate=VOICE_SAMPLE_RATE
        ),
        face_box=face_box,
        face_embedding=face_embedding,
        speech_seconds=voice_check.speech_seconds,
        level_dbfs=voice_check.level_dbfs,
        consent_distance=consent_distance,
    )
