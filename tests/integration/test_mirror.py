"""The mirror, on a real livekit-server with the real agent worker: an enrolled player previews
themselves in a sample body (an operator's portrait), in a room only they can watch; it stops
when they stop it or the room ends."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from livekit import api, rtc

from tests.conftest import room_service_settings, serve
from tests.support.analysis import thumbnail
from tests.support.livekit_server import free_port
from tests.support.media import MEDIA_DIR, enrollment_upload, load_clip, load_voice, media_players, utterances
from tests.support.player import TestPlayer
from tests.support.rooms import enroll, open_room, post_status

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


async def call(http, method: str, url: str, key: str | None = None, body: dict | None = None):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with http.request(method, url, json=body, headers=headers) as response:
        return response.status, await response.json()


async def mirror_rooms(livekit_server) -> set[str]:
    async with api.LiveKitAPI(livekit_server.http_url, livekit_server.api_key, livekit_server.api_secret) as lk:
        rooms = await lk.room.list_rooms(api.ListRoomsRequest())
    return {room.name for room in rooms.rooms if room.name.startswith("mirror-")}


async def test_an_enrolled_player_sees_themselves_in_a_sample_body(http, livekit_server, agent_worker, tmp_path):
    settings = room_service_settings(livekit_server, free_port(), tmp_path / "data")
    settings.sample_bodies_dir = MEDIA_DIR / "photos"
    runner = await serve(settings)
    base = f"http://127.0.0.1:{settings.port}"
    source = media_players()[0]
    loop = asyncio.get_running_loop()
    clip = await loop.run_in_executor(None, load_clip, source.video, 6.0, 320)
    voice = await loop.run_in_executor(None, load_voice, utterances(source)[:3])
    upload = await loop.run_in_executor(None, enrollment_upload, source, clip)
    ann_grant, bo_grant = await open_room(http, base, ["Ann", "Bo"])
    ann = TestPlayer("Ann", ann_grant, clip, voice)
    viewer = rtc.Room()
    readers: list[asyncio.Task] = []
    try:
        status, listing = await call(http, "GET", f"{base}/api/samples")
        samples = {s["id"]: s for s in listing["samples"]}
        assert status == 200 and {"d30", "s9"} <= set(samples)
        async with http.get(base + samples["d30"]["image_url"]) as response:
            assert response.status == 200 and response.content_type == "image/jpeg"

        mirror_url = f"{base}/api/rooms/{ann_grant['room_id']}/mirror"
        # Refused: before enrolling, and a body that is not a sample (never another player).
        assert (await call(http, "POST", mirror_url, ann_grant["player_key"], {"sample": "d30"}))[0] == 409
        await ann.join()
        await ann.publish_camera_and_microphone()
        await enroll(http, base, ann, upload)
        status, body = await call(http, "POST", mirror_url, ann_grant["player_key"], {"sample": bo_grant["player_id"]})
        assert (status, body["error"]["code"]) == (400, "no_sample")
        assert (await call(http, "POST", mirror_url, bo_grant["player_key"], {"sample": "d30"}))[0] == 409

        status, mirror = await call(http, "POST", mirror_url, ann_grant["player_key"], {"sample": "d30"})
        assert status == 200, mirror
        assert mirror["body_name"] == "D30" and mirror["seconds"] > 0
        frames: list[tuple[str, str, int, np.ndarray]] = []  # identity, name, width, thumbnail

        async def read(track: rtc.Track, participant: rtc.RemoteParticipant) -> None:
            async for event in rtc.VideoStream(track, format=rtc.VideoBufferType.I420):
                f = event.frame
                luma = np.frombuffer(f.data, np.uint8)[: f.width * f.height].reshape(f.height, f.width)
                frames.append((participant.identity, participant.name, f.width, thumbnail(luma)))

        def on_track(track: rtc.Track, publication, participant: rtc.RemoteParticipant) -> None:
            if track.kind == rtc.TrackKind.KIND_VIDEO:
                readers.append(asyncio.create_task(read(track, participant)))

        viewer.on("track_subscribed", on_track)
        await viewer.connect(mirror["livekit_url"], mirror["mirror_token"])
        for _ in range(300):
            if sum(1 for f in frames if f[2] == clip.width and f[3].std() > 5) >= 10:
                break
            await asyncio.sleep(0.1)
        live = [f for f in frames if f[2] == clip.width and f[3].std() > 5]
        assert len(live) >= 10, f"mirror frames: {[(f[0], f[2]) for f in frames[-5:]]}"
        assert {(f[0], f[1]) for f in frames} == {("body-mirror", "D30")}
        # The agent wore the sample's profile (from the portrait) and Ann's own as the source.
        opened = [line for line in agent_worker.log_text().splitlines() if "body-mirror: opening a session" in line]
        assert opened and "driver enrolled: True, owner enrolled: True" in opened[-1]
        # The mirror token watches; it cannot publish into the mirror room.
        assert not viewer.local_participant.permissions.can_publish

        assert await mirror_rooms(livekit_server)
        status, stopped = await call(http, "DELETE", mirror_url, ann_grant["player_key"])
        assert status == 200 and stopped == {"stopped": True}
        for _ in range(100):
            if not await mirror_rooms(livekit_server):
                break
            await asyncio.sleep(0.1)
        assert not await mirror_rooms(livekit_server)

        # A mirror still running when the room ends goes with it.
        assert (await call(http, "POST", mirror_url, ann_grant["player_key"], {"sample": "s9"}))[0] == 200
        assert await mirror_rooms(livekit_server)
        status, _ = await post_status(http, f"{base}/api/rooms/{ann_grant['room_id']}/end", key=ann_grant["player_key"])
        assert status == 200
        assert not await mirror_rooms(livekit_server)
    finally:
        for reader in readers:
            reader.cancel()
        await viewer.disconnect()
        await ann.leave()
        await runner.cleanup()
