"""A body under faults, on a real livekit-server: a plugin that throws, a driver who drops and
comes back. The Body runs in this process (the worker's code, without the worker's job process),
driven by a Python player who publishes a real clip and voice into a private ingest room and
watches the body from the game room."""

from __future__ import annotations

import asyncio
import secrets
from datetime import timedelta

import numpy as np
import pytest
import pytest_asyncio
from bodyswap_api import AudioBlock, VideoFrame, load_plugin
from bodyswap_api.plugin import SwapSession
from livekit import api

from agent.body import HOLDING_SIZE, Body
from agent.plan import AGENT_IDENTITY, BodySeat
from agent.settings import AgentSettings
from agent.worker import token_factory
from tests.support.analysis import rms
from tests.support.media import load_clip, load_voice, media_players, utterances
from tests.support.player import TestPlayer

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

OWNER = "Owner"  # the body's name: whose body it is (nobody in this test)


class FlakySession(SwapSession):
    """Passes media through, but raises on every `every`-th video frame and audio block."""

    def __init__(self, every: int) -> None:
        self.every = every
        self.video_calls = self.audio_calls = 0
        self.video_raised = self.audio_raised = 0

    def convert_video(self, frame: VideoFrame) -> VideoFrame:
        self.video_calls += 1
        if self.every and self.video_calls % self.every == 0:
            self.video_raised += 1
            raise RuntimeError("model hiccup")
        return frame

    def convert_audio(self, block: AudioBlock) -> AudioBlock:
        self.audio_calls += 1
        if self.every and self.audio_calls % self.every == 0:
            self.audio_raised += 1
            raise RuntimeError("model hiccup")
        return block


class DeadSession(FlakySession):
    def __init__(self) -> None:
        super().__init__(every=1)


def token(server, room: str, identity: str, *, publish: bool) -> str:
    grants = api.VideoGrants(
        room_join=True, room=room, can_publish=publish, can_subscribe=not publish, can_publish_data=False
    )
    return (
        api.AccessToken(server.api_key, server.api_secret)
        .with_identity(identity)
        .with_name(identity)
        .with_grants(grants)
        .with_ttl(timedelta(minutes=30))
        .to_jwt()
    )


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def media():
    source = media_players()[0]
    loop = asyncio.get_running_loop()
    clip = await loop.run_in_executor(None, load_clip, source.video, 10.0)
    voice = await loop.run_in_executor(None, load_voice, utterances(source)[:6])
    return clip, voice


async def running_body(livekit_server, media, session: SwapSession, plugin=None):
    """A body worn by a fresh driver who publishes and watches it; returns (body, driver)."""
    suffix = secrets.token_hex(4)
    game_room, ingest_room, driver_id = f"game-{suffix}", f"ingest-{suffix}", f"p-{suffix}"
    seat = BodySeat(
        body_identity=f"body-{suffix}", body_name=OWNER, driver_ingest_room=ingest_room, driver_identity=driver_id
    )
    settings = AgentSettings(
        LIVEKIT_URL=livekit_server.url,
        LIVEKIT_API_KEY=livekit_server.api_key,
        LIVEKIT_API_SECRET=livekit_server.api_secret,
    )
    body = Body(
        seat,
        plugin or load_plugin("passthrough"),
        session,
        livekit_url=livekit_server.url,
        game_room=game_room,
        issue_token=token_factory(settings),
        agent_identity=AGENT_IDENTITY,
    )
    await body.start()
    clip, voice = media
    grant = {
        "livekit_url": livekit_server.url,
        "ingest_token": token(livekit_server, ingest_room, driver_id, publish=True),
        "game_token": token(livekit_server, game_room, driver_id, publish=False),
    }
    driver = TestPlayer("Driver", grant, clip, voice)
    await driver.join()
    await driver.publish_camera_and_microphone()
    driver.watch(OWNER)
    return body, driver


def live(thumb: np.ndarray, resolution: tuple[int, int]) -> bool:
    """A camera frame, not the holding frame (uniform dark grey)."""
    return thumb.std() > 5


async def wait_until(condition, timeout_s: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


def received(driver: TestPlayer):
    return next(iter(driver.bodies.values()), None)


async def test_a_plugin_exception_costs_one_frame_not_the_session(livekit_server, media):
    session = FlakySession(every=5)
    body, driver = await running_body(livekit_server, media, session)
    try:
        await wait_until(lambda: received(driver) and len(received(driver).thumbnails) > 10, 30, "body video")
        await asyncio.sleep(6)
        recording = received(driver)
        mark = len(recording.thumbnails)  # what arrived while the driver was live
        voice_tail = recording.audio_samples()[-48000 * 3 :]
        await driver.drop_ingest()
        await asyncio.sleep(1)  # let frames in flight (conversion, lip-sync delay) come out
        # Every raise was counted and cost exactly its own frame or block: the rest came out.
        assert session.video_raised >= 4 and session.audio_raised >= 60
        assert body.stats.video_errors == session.video_raised
        assert body.stats.audio_errors == session.audio_raised
        assert body.frames_out == session.video_calls - session.video_raised
        # The viewer kept seeing the driver: once live, the body never fell back to holding.
        first_live = next(i for i, (t, r) in enumerate(zip(recording.thumbnails, recording.resolutions)) if live(t, r))
        later = list(zip(recording.thumbnails, recording.resolutions))[first_live:mark]
        assert len(later) >= 20
        assert all(live(t, r) for t, r in later)
        assert rms(voice_tail) > 300  # the voice still came through
    finally:
        await driver.leave()
        await body.aclose()


async def test_a_session_that_always_fails_shows_the_holding_frame_and_silence(livekit_server, media):
    body, driver = await running_body(livekit_server, media, DeadSession())
    try:
        await wait_until(lambda: received(driver) and len(received(driver).thumbnails) >= 4, 30, "body video")
        await asyncio.sleep(4)
        recording = received(driver)
        assert body.frames_out == 0 and body.stats.video_errors > 5
        # Never the raw camera: only the holding frame, and silence where the voice would be.
        assert all(r == (HOLDING_SIZE, HOLDING_SIZE) and not live(t, r) for t, r in zip(recording.thumbnails, recording.resolutions))
        assert rms(recording.audio_samples()) < 30
    finally:
        await driver.leave()
        await body.aclose()


async def test_a_driver_who_drops_and_rejoins_gets_their_body_back(livekit_server, media):
    body, driver = await running_body(livekit_server, media, FlakySession(every=0))
    try:
        recording_ready = lambda: received(driver) and sum(  # noqa: E731
            live(t, r) for t, r in zip(received(driver).thumbnails, received(driver).resolutions)
        ) > 10
        await wait_until(recording_ready, 30, "body video")
        await driver.drop_ingest()
        # The body stays in the call and falls back to its holding frame, never a frozen face.
        mark = len(received(driver).thumbnails)
        await wait_until(
            lambda: any(not live(t, r) for t, r in zip(received(driver).thumbnails[mark:], received(driver).resolutions[mark:])),
            10,
            "the holding frame after the drop",
        )
        frames_before = body.frames_out
        await driver.rejoin_ingest()
        mark = len(received(driver).thumbnails)
        await wait_until(
            lambda: sum(live(t, r) for t, r in zip(received(driver).thumbnails[mark:], received(driver).resolutions[mark:])) > 10,
            20,
            "the driver's face back in the body",
        )
        assert body.frames_out > frames_before
        assert len(driver.bodies) == 1  # the same body participant throughout: no new identity
    finally:
        await driver.leave()
        await body.aclose()


async def test_a_voice_plugin_at_16_khz_in_20_ms_blocks_is_heard(livekit_server, media):
    """The worker resamples to the plugin's rate and sends its blocks in 10 ms frames."""
    plugin = load_plugin("passthrough")
    plugin.audio_sample_rate, plugin.audio_block_ms = 16000, 20
    session = FlakySession(every=0)
    body, driver = await running_body(livekit_server, media, session, plugin)
    try:
        await wait_until(lambda: received(driver) and len(received(driver).audio) > 100, 30, "body audio")
        await asyncio.sleep(3)
        assert session.audio_calls > 100
        assert rms(received(driver).audio_samples()[-48000 * 2 :]) > 300
    finally:
        await driver.leave()
        await body.aclose()
