"""One frame of a player's live camera, taken from their own ingest room for the consent check.

The frame comes from the camera track the player publishes with their own token, so a photo can
only be checked against the person actually in front of that player's camera.
"""

from __future__ import annotations

import asyncio

import numpy as np
from livekit import rtc

SKIP_FRAMES = 5  # the first frames of a fresh subscription can be blank or still warming up


class CameraNotLive(Exception):
    pass


async def grab_live_frame(url: str, token: str, player_identity: str, timeout_s: float) -> np.ndarray:
    """Return an RGB frame (height, width, 3) of `player_identity`'s camera."""
    room = rtc.Room()
    video_track: asyncio.Future[rtc.Track] = asyncio.get_running_loop().create_future()

    def on_track(track: rtc.Track, _pub: rtc.RemoteTrackPublication, participant: rtc.RemoteParticipant) -> None:
        if (
            participant.identity == player_identity
            and track.kind == rtc.TrackKind.KIND_VIDEO
            and not video_track.done()
        ):
            video_track.set_result(track)

    room.on("track_subscribed", on_track)
    try:
        # The connect is bounded by its own timeout and never cancelled from outside: the rtc SDK
        # aborts the process when a connection it completed is never picked up.
        await room.connect(url, token, rtc.RoomOptions(connect_timeout=timeout_s))
        async with asyncio.timeout(timeout_s):
            stream = rtc.VideoStream(await video_track, format=rtc.VideoBufferType.RGB24)
            try:
                seen = 0
                async for event in stream:
                    seen += 1
                    if seen > SKIP_FRAMES:
                        frame = event.frame
                        data = np.frombuffer(frame.data, np.uint8)
                        return data.reshape(frame.height, frame.width, 3).copy()
            finally:
                await stream.aclose()
    except (TimeoutError, rtc.ConnectError):
        raise CameraNotLive from None
    finally:
        await room.disconnect()
    raise CameraNotLive
