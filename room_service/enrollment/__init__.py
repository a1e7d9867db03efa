"""Enrollment validation: a player's photo and voice recording, checked before the game.

Every refusal is an `EnrollmentError` whose `code` the frontend switches on and whose `message`
it shows as is. Nothing here logs or puts into messages any pixel, embedding or audio sample.
"""

from .consent import check_same_person
from .errors import EnrollmentError, ErrorCode
from .faces import FaceBox
from .photo import MAX_PHOTO_BYTES, MAX_PHOTO_PIXELS, decode_photo
from .validate import ValidatedEnrollment, validate_enrollment
from .voice import MAX_VOICE_BYTES, decode_voice

__all__ = [
    "MAX_PHOTO_BYTES",
    "MAX_PHOTO_PIXELS",
    "MAX_VOICE_BYTES",
    "EnrollmentError",
    "ErrorCode",
    "FaceBox",
    "ValidatedEnrollment",
    "check_same_person",
    "decode_photo",
    "decode_voice",
    "validate_enrollment",
]
