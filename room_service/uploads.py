"""Reading a multipart enrollment upload with size limits enforced while reading, never after."""

from __future__ import annotations

from aiohttp import BodyPartReader, web

from .manager import RoomError

MULTIPART_OVERHEAD = 64 * 1024


async def read_parts(request: web.Request, limits: dict[str, int]) -> dict[str, bytes]:
    """Return the named file parts of a multipart/form-data body; each must be within its limit."""
    declared = request.content_length
    if declared is not None and declared > sum(limits.values()) + MULTIPART_OVERHEAD:
        raise RoomError(413, "too_large", "The upload is too large.")
    if not request.content_type.startswith("multipart/form-data"):
        raise RoomError(415, "not_multipart", "Send the photo and voice as multipart/form-data.")
    try:
        reader = await request.multipart()
    except (AssertionError, ValueError):
        raise RoomError(400, "bad_upload", "The upload could not be read.") from None
    parts: dict[str, bytes] = {}
    while True:
        try:
            part = await reader.next()
        except (AssertionError, ValueError):
            raise RoomError(400, "bad_upload", "The upload could not be read.") from None
        if part is None:
            break
        if not isinstance(part, BodyPartReader) or part.name not in limits or part.name in parts:
            raise RoomError(400, "bad_upload", "Send exactly one 'photo' and one 'voice' part.")
        parts[part.name] = await _read_capped(part, limits[part.name])
    missing = [name for name in limits if name not in parts]
    if missing:
        raise RoomError(400, "bad_upload", f"The upload is missing the {' and '.join(missing)}.")
    return parts


async def _read_capped(part: BodyPartReader, limit: int) -> bytes:
    chunks, size = [], 0
    while chunk := await part.read_chunk(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise RoomError(
                413, "too_large", f"The {part.name} is larger than {limit // (1024 * 1024)} MiB."
            )
        chunks.append(chunk)
    return b"".join(chunks)
