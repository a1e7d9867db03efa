"""The first vertical slice, end to end on a real livekit-server with the real agent worker.

Two players each publish a webcam clip and a voice into their private ingest room; the room service
starts the game; the agent wears each player's media as the other's body (passthrough plugin); each
player must receive the other player's camera and voice on the body they see, and nothing raw.
"""

from __future__ import annotations

import asyncio

import aiohttp
import numpy as np
import pytest
import pytest_asyncio
from livekit import api, rtc

from tests.support.analysis import best_frame_match, peak_normalized_xcorr, rms, thumbnail
from tests.support.media import load_clip, load_voice, media_players, utterances
from tests.support.player import AUDIO_RATE, TestPlayer

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

FLOW_SECONDS = 12.0  # media must flow both ways for at least 10 s
CLIP_SECONDS = 30.0


async def post(http: aiohttp.ClientSession, url: str, body: dict, key: str | None = None) -> dict:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with http.post(url, json=body, headers=headers) as response:
        payload = await response.json()
        assert response.status in (200, 201), payload
        return payload


async def make_players(http, room_service) -> tuple[TestPlayer, TestPlayer, dict]:
    sources = media_players()[:2]
    loop = asyncio.get_running_loop()
    clips = [await loop.run_in_executor(None, load_clip, p.video, CLIP_SECONDS) for p in sources]
    voices = [
        await loop.run_in_executor(None, load_voice, utterances(p)[p.enroll_utterances :])
        for p in sources
    ]
    host = await post(http, f"{room_service}/api/rooms", {"name": "Alice"})
    guest = await post(
        http,
        f"{room_service}/api/rooms/{host['room_id']}/join",
        {"name": "Bob", "invite": host["invite_code"]},
    )
    alice = TestPlayer("Alice", host, clips[0], voices[0])
    bob = TestPlayer("Bob", guest, clips[1], voices[1])
    return alice, bob, host


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def game(http, room_service, agent_worker):
    alice, bob, host = await make_players(http, room_service)
    for player in (alice, bob):
        await player.join()
        await player.publish_camera_and_microphone()
    await post(http, f"{room_service}/api/rooms/{host['room_id']}/start", {}, key=host["host_key"])
    yield alice, bob
    await alice.leave()
    await bob.leave()
    await post(http, f"{room_service}/api/rooms/{host['room_id']}/end", {}, key=host["host_key"])


async def wait_for(condition, timeout_s: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


def live_frames(recording, clip) -> list[np.ndarray]:
    """Received thumbnails at the clip's resolution (the holding frame is 512x512 grey)."""
    return [
        thumb
        for thumb, res in zip(recording.thumbnails, recording.resolutions)
        if res == (clip.width, clip.height) and thumb.std() > 5
    ]


async def test_each_player_receives_the_other_players_media_as_their_body(game, agent_worker):
    alice, bob = game
    # Alice wears Bob's body and Bob wears Alice's: each sees the other's camera on their own body.
    worn = {"Bob": (alice, bob), "Alice": (bob, alice)}  # body name -> (driver, viewer)
    await wait_for(
        lambda: all(
            any(b.name == name and b.thumbnails for b in viewer.bodies.values())
            for name, (_, viewer) in worn.items()
        ),
        timeout_s=30,
        what=f"body video to arrive; agent log:\n{agent_worker.log_text()[-3000:]}",
    )
    counts_before = {name: len(viewer.body_named(name).thumbnails) for name, (_, viewer) in worn.items()}
    await asyncio.sleep(FLOW_SECONDS)

    for body_name, (driver, viewer) in worn.items():
        other = viewer  # the viewer's own clip: the wrong answer
        recording = viewer.body_named(body_name)
        assert recording.identity.startswith("body-")

        # Video: the driver's clip, at its resolution, at a steady frame rate.
        new_frames = len(recording.thumbnails) - counts_before[body_name]
        assert new_frames >= FLOW_SECONDS * driver.clip.fps * 0.5, new_frames
        frames = live_frames(recording, driver.clip)
        assert len(frames) >= FLOW_SECONDS * driver.clip.fps * 0.5, recording.resolutions[-5:]
        driver_refs = [thumbnail(driver.clip.luma(i)) for i in range(len(driver.clip.frames))]
        other_refs = [thumbnail(other.clip.luma(i)) for i in range(len(other.clip.frames))]
        sample = frames[len(frames) // 4 :: max(1, len(frames) // 40)]
        to_driver = np.median([best_frame_match(t, driver_refs) for t in sample])
        to_other = np.median([best_frame_match(t, other_refs) for t in sample])
        assert to_driver > 0.95, (to_driver, to_other)
        assert to_driver > to_other + 0.05, (to_driver, to_other)

        # Audio: the driver's voice, audible, and found verbatim in what the driver sent.
        received = recording.audio_samples()
        assert len(received) >= FLOW_SECONDS * AUDIO_RATE * 0.8
        tail = received[-8 * AUDIO_RATE :]
        assert rms(tail) > 300, rms(tail)
        sent_seconds = int(len(received) / AUDIO_RATE) + 5
        segment = loudest_second(tail)
        to_driver_voice = peak_normalized_xcorr(segment, driver.voice[: sent_seconds * AUDIO_RATE])
        to_other_voice = peak_normalized_xcorr(segment, other.voice[: sent_seconds * AUDIO_RATE])
        assert to_driver_voice > 0.6, (to_driver_voice, to_other_voice)
        assert to_driver_voice > to_other_voice + 0.3, (to_driver_voice, to_other_voice)


def loudest_second(samples: np.ndarray) -> np.ndarray:
    seconds = [samples[i : i + AUDIO_RATE] for i in range(0, len(samples) - AUDIO_RATE, AUDIO_RATE // 2)]
    return max(seconds, key=rms)


async def test_players_never_receive_raw_media_and_cannot_publish_into_the_game(game, livekit_server):
    alice, bob = game
    await wait_for(lambda: len(bob.bodies) == 2, 30, "both bodies")
    for viewer in (alice, bob):
        for participant in viewer.game.remote_participants.values():
            if participant.track_publications:
                assert participant.identity.startswith("body-"), participant.identity
                names = {p.name for p in participant.track_publications.values()}
                assert names <= {"body-video", "body-audio"}, names
        # The other player is in the game room only as a watcher, with nothing published.
        other = bob if viewer is alice else alice
        other_id = other.grant["player_id"]
        assert other_id in viewer.game.remote_participants
        assert not viewer.game.remote_participants[other_id].track_publications

    # A player's ingest room shows them nobody: the agent there is hidden and subscribing is denied.
    assert not bob.ingest.remote_participants

    # The game-room token cannot publish media.
    source = rtc.VideoSource(64, 64)
    track = rtc.LocalVideoTrack.create_video_track("sneaky", source)
    with pytest.raises(Exception):
        await asyncio.wait_for(bob.game.local_participant.publish_track(track), 10)

    # Nor can a player mint their way into another's ingest room without the server's secret.
    forged = (
        api.AccessToken(livekit_server.api_key, "not-the-secret-of-this-server-0123456789")
        .with_identity("intruder")
        .with_grants(api.VideoGrants(room_join=True, room=alice_ingest_room(alice)))
        .to_jwt()
    )
    intruder = rtc.Room()
    with pytest.raises(Exception):
        await asyncio.wait_for(intruder.connect(livekit_server.url, forged), 10)


def alice_ingest_room(alice: TestPlayer) -> str:
    return alice.ingest.name
