"""Consent: the photo must show the player who took it, as seen live on their own camera."""

from __future__ import annotations

import numpy as np

from .errors import EnrollmentError
from .faces import SAME_PERSON_DISTANCE, face_distance, face_models


def check_same_person(photo_embedding: np.ndarray, live_frame_rgb: np.ndarray) -> float:
    """The distance between the photo's face and the largest face on the player's camera.

    Raises `not_you` when the camera shows no face or another person than the photo.
    """
    if live_frame_rgb.ndim != 3 or live_frame_rgb.shape[2] != 3 or live_frame_rgb.dtype != np.uint8:
        raise ValueError("live_frame_rgb must be (height, width, 3) uint8 RGB")
    models = face_models()
    faces = models.detect(live_frame_rgb)
    if not faces:
        raise EnrollmentError(
            "not_you", "We can't see your face on your camera; look into it and try again."
        )
    nearest_camera = max(faces, key=lambda face: face.width * face.height)
    distance = face_distance(photo_embedding, models.embed(live_frame_rgb, nearest_camera))
    if distance >= SAME_PERSON_DISTANCE:
        raise EnrollmentError(
            "not_you",
            "The photo doesn't look like the person on your camera. "
            "Take the photo yourself, of yourself.",
        )
    return distance
