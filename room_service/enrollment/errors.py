"""The one error enrollment raises: a code for the frontend and a sentence to show as is."""

from __future__ import annotations

from typing import Literal

ErrorCode = Literal[
    "unsupported_photo",
    "photo_too_large",
    "no_face",
    "several_faces",
    "face_too_small",
    "face_cut_off",
    "unsupported_audio",
    "too_short",
    "too_long",
    "too_quiet",
    "too_loud",
    "not_enough_speech",
    "not_you",
]


class EnrollmentError(Exception):
    """An enrollment the player must redo; `message` is a plain sentence for the player.

    Messages carry counts and durations only, never pixels, embeddings or audio.
    """

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
