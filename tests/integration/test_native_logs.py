"""The native WebRTC stack's log records stay out of Python (agent/native_logs.py says why).

The worker's jobs and the test players both filter them at the source. Connecting to a room makes
the native library log at info level (signalling, room state), which livekit's Python SDK would
otherwise hand to the `livekit` logger one FFI event at a time."""

from __future__ import annotations

import logging

import pytest
from livekit import api, rtc

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


async def test_connecting_to_a_room_forwards_no_native_log_records(livekit_server, caplog):
    token = (
        api.AccessToken(livekit_server.api_key, livekit_server.api_secret)
        .with_identity("log-probe")
        .with_grants(api.VideoGrants(room_join=True, room="native-logs"))
        .to_jwt()
    )
    room = rtc.Room()
    with caplog.at_level(logging.DEBUG, logger="livekit"):
        await room.connect(livekit_server.url, token)
        source = rtc.AudioSource(48000, 1)
        await room.local_participant.publish_track(rtc.LocalAudioTrack.create_audio_track("probe", source))
        for _ in range(50):  # half a second of audio through the native encoder
            await source.capture_frame(rtc.AudioFrame(bytes(960), 48000, 1, 480))
        await room.disconnect()
    native = [r.getMessage() for r in caplog.records if r.name == "livekit" and "::" in r.getMessage().split(" - ")[0]]
    assert native == []
