"""Decode an uploaded photo into RGB pixels, refusing anything that is not a plain image."""

from __future__ import annotations

import io
from typing import Literal

import numpy as np
from PIL import Image, ImageOps

from .errors import EnrollmentError

MAX_PHOTO_BYTES = 10 * 1024 * 1024  # enforced by the HTTP layer, before the body is read
MAX_PHOTO_PIXELS = 40_000_000  # above every phone camera in common use; 120 MB as RGB

PhotoFormat = Literal["JPEG", "PNG", "WEBP"]  # Pillow's format names

_UNSUPPORTED = "The photo must be a JPEG, PNG or WebP image."
_UNREADABLE = "We could not read the photo; it may be damaged. Please take it again."


def sniff_photo_format(data: bytes) -> PhotoFormat | None:
    """The format the bytes announce; declared content types and file names are not trusted."""
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def decode_photo(data: bytes) -> np.ndarray:
    """Return the photo upright (EXIF orientation applied) as (height, width, 3) uint8 RGB."""
    photo_format = sniff_photo_format(data)
    if photo_format is None:
        raise EnrollmentError("unsupported_photo", _UNSUPPORTED)
    try:
        # formats= stops Pillow from trying other decoders on bytes that merely start right.
        with Image.open(io.BytesIO(data), formats=[photo_format]) as image:
            _check_pixel_count(*image.size)  # from the header, before any pixel is decoded
            image.load()
            rgb = image if image.mode == "RGB" else image.convert("RGB")
            ImageOps.exif_transpose(rgb, in_place=True)  # in place: no copy of an upright photo
            return np.asarray(rgb, dtype=np.uint8)
    except Image.DecompressionBombError:  # Pillow's own, far higher limit, also hit at open
        raise EnrollmentError("photo_too_large", _too_large_message()) from None
    except (OSError, SyntaxError, ValueError, EOFError) as error:  # what Pillow raises on bad data
        raise EnrollmentError("unsupported_photo", _UNREADABLE) from error


def _check_pixel_count(width: int, height: int) -> None:
    if width * height > MAX_PHOTO_PIXELS:
        raise EnrollmentError("photo_too_large", _too_large_message(width, height))


def _too_large_message(width: int | None = None, height: int | None = None) -> str:
    limit = f"at most {MAX_PHOTO_PIXELS // 1_000_000} megapixels"
    if width is None or height is None:
        return f"The photo has too many pixels; please use one of {limit}."
    return f"The photo is {width} x {height} pixels; please use one of {limit}."
