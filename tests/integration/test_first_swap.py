"""A four-player round end to end on a real livekit-server with the real agent worker.

Four players join, enroll from the shared media (passing the consent check against their own live
camera), get ready, and the host starts. Each publishes a webcam clip and a voice into their
private ingest room; the agent wears each player's media as another player's body (passthrough
plugin). Every player receives the three bodies they do not wear, each showing and sounding like
its driver, and nothing raw; nothing LiveKit tells them ties a body to its driver.
"""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest
import pytest_asyncio
from livekit import api, rtc

from tests.support.analysis import best_frame_match, peak_normalized_xcorr, rms, thumbnail
from tests.support.player import AUDIO_RATE
from tests.support.rooms import post, start_media_game

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

FLOW_SECONDS = 12.0  # media must flow for at least 10 s
CLIP_SECONDS = 30.0
PLAYERS = 4
CLIP_SIZE = 320
# Video must keep flowing. The rate itself is measured by scripts/bench_agent.py, not asserted here:
# with four players' sixteen streams on two cores, WebRTC's encoders shed frames under CPU load.
MIN_FPS = 3.0
# Audio must be heard, and found nearly verbatim in the driver's voice. Both are well under what a
# quiet machine gives (speech at RMS 1000-3000, matches of 0.8-0.95): with four players' streams
# sent, converted and received on 2 cores, up to half of what a test client receives from a body
# is silence, though the agent sends continuous speech (whether the agent's unqueued source or the
# starved receiver loses it is not settled), and the rest is concealed imperfectly.
MIN_LEVEL = 100
VERBATIM = 0.6


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def game(http, room_service, agent_worker):
    # 320x320: sixteen streams to encode and decode on two cores, with the faces still large.
    started = await start_media_game(http, room_service.url, ["Alice", "Bob", "Cleo", "Dara"], CLIP_SECONDS, CLIP_SIZE)
    yield started.players
    for player in started.players:
        await player.leave()
    await post(http, f"{room_service.url}/api/rooms/{started.host['room_id']}/end", key=started.host["player_key"])


async def wait_for(condition, timeout_s: float, what) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what() if callable(what) else what}")
        await asyncio.sleep(0.1)


def live_frames(recording, clip) -> list[np.ndarray]:
    """Received thumbnails at the clip's resolution (the holding frame is 512x512 grey)."""
    return [
        thumb
        for thumb, res in zip(recording.thumbnails, recording.resolutions)
        if res == (clip.width, clip.height) and thumb.std() > 5
    ]


def loudest_segments(samples: np.ndarray, count: int = 8) -> list[np.ndarray]:
    """The loudest half seconds: where the voice is, not the pauses between sentences."""
    half = AUDIO_RATE // 2
    segments = [samples[i : i + half] for i in range(0, len(samples) - half, half)]
    return sorted(segments, key=rms, reverse=True)[:count]


def voice_votes(received: np.ndarray, voices: list[np.ndarray]) -> tuple[list[int], float]:
    """Which sent voice each of the loudest half seconds is found in (the index of its best
    match), and the best match overall. Short segments, because under CPU load the receiver's
    jitter buffer stretches time here and there, which breaks sample alignment over longer
    stretches; votes, because a segment it filled with concealment (a periodic extrapolation)
    can resemble any voice at the same pitch."""
    votes, best = [], 0.0
    for segment in loudest_segments(received):
        scores = [peak_normalized_xcorr(segment, voice) for voice in voices]
        votes.append(int(np.argmax(scores)))
        best = max(best, scores[0])
    return votes, best


async def test_every_body_shows_and_sounds_like_its_driver_to_the_other_players(game, agent_worker):
    players = game
    await wait_for(lambda: all(p.wearing for p in players), 30, "everyone to be told their body")
    # Every player receives the three bodies they do not wear.
    watching = []
    for viewer in players:
        for body_name in (p.name for p in players if p.name != viewer.wearing["body_name"]):
            viewer.watch(body_name)
            watching.append((viewer, body_name))
    await wait_for(
        lambda: all(
            any(b.name == body and b.thumbnails for b in viewer.bodies.values()) for viewer, body in watching
        ),
        timeout_s=30,
        what=lambda: f"body video; agent log:\n{agent_worker.log_text()[-3000:]}",
    )
    counts_before = {(v.name, body): len(v.body_named(body).thumbnails) for v, body in watching}
    await asyncio.sleep(FLOW_SECONDS)
    recordings = {(viewer.name, body): viewer.body_named(body).frozen() for viewer, body in watching}

    received = {}
    for viewer, body_name in watching:
        assert len(viewer.bodies) == PLAYERS - 1, [b.name for b in viewer.bodies.values()]
        recording = recordings[(viewer.name, body_name)]
        new_frames = len(recording.thumbnails) - counts_before[(viewer.name, body_name)]
        received[(viewer.name, body_name)] = (new_frames, round(rms(recording.audio_samples()[-8 * AUDIO_RATE :])))
    for (viewer_name, body_name), (new_frames, level) in received.items():
        assert new_frames >= FLOW_SECONDS * MIN_FPS, (viewer_name, body_name, received)
        assert level > MIN_LEVEL, (viewer_name, body_name, received)

    # Each body is checked closely by its owner: the player whose face it wears, never the one inside.
    checks = []
    for driver in players:
        body_name = driver.wearing["body_name"]
        assert body_name != driver.name  # nobody wears their own body
        checks.append((driver, next(p for p in players if p.name == body_name), body_name))
    for driver, viewer, body_name in checks:
        others = [p for p in players if p is not driver]
        recording = recordings[(viewer.name, body_name)]
        assert recording.identity.startswith("body-")

        # Video: the driver's clip, at its resolution.
        frames = live_frames(recording, driver.clip)
        assert len(frames) >= FLOW_SECONDS * MIN_FPS, recording.resolutions[-5:]
        sample = frames[len(frames) // 4 :: max(1, len(frames) // 40)]
        driver_refs = [thumbnail(driver.clip.luma(i)) for i in range(len(driver.clip.frames))]
        to_driver = np.median([best_frame_match(t, driver_refs) for t in sample])
        for other in others:
            other_refs = [thumbnail(other.clip.luma(i)) for i in range(len(other.clip.frames))]
            to_other = np.median([best_frame_match(t, other_refs) for t in sample])
            assert to_driver > to_other + 0.05, (to_driver, to_other)
        assert to_driver > 0.95, to_driver

        # Audio: the driver's voice, audible, and found verbatim in what the driver sent.
        received = recording.audio_samples()
        assert len(received) >= FLOW_SECONDS * AUDIO_RATE * 0.8
        tail = received[-8 * AUDIO_RATE :]
        assert rms(tail) > MIN_LEVEL, rms(tail)
        window = (int(len(received) / AUDIO_RATE) + 5) * AUDIO_RATE
        votes, to_driver_voice = voice_votes(tail, [p.voice[:window] for p in [driver, *others]])
        assert to_driver_voice > VERBATIM, to_driver_voice  # found in what the driver sent
        # And in nobody else's voice: most loud segments match the driver's. (Under CPU starvation
        # the receiver conceals late packets with extrapolations that match any voice at the same
        # pitch. Analysing a frozen copy, 6 to 8 of the 8 segments voted for the driver in every run
        # on 2 cores.)
        assert votes.count(0) > len(votes) / 2, votes
        assert all(votes.count(0) > votes.count(i) for i in range(1, len(players))), votes


async def test_players_never_receive_raw_media_and_cannot_publish_into_the_game(game, livekit_server):
    players = game
    await wait_for(
        lambda: all(
            sum(1 for q in p.game.remote_participants.values() if q.track_publications) == PLAYERS
            for p in players
        ),
        30,
        "every player to see every body",
    )
    for viewer in players:
        for participant in viewer.game.remote_participants.values():
            if participant.track_publications:
                assert participant.identity.startswith("body-"), participant.identity
                names = {p.name for p in participant.track_publications.values()}
                assert names <= {"body-video", "body-audio"}, names
        # The other players are in the game room only as watchers, with nothing published.
        for other in players:
            if other is not viewer:
                watcher = viewer.game.remote_participants[other.grant["player_id"]]
                assert not watcher.track_publications

    # What LiveKit itself tells players names bodies only: speaker updates, and no metadata or
    # attributes on the bodies that could point at a driver.
    driver_ids = {p.grant["player_id"] for p in players}
    for viewer in players:
        assert viewer.speakers, "the bodies speak: LiveKit should have named them as speakers"
        assert all(s.startswith("body-") for s in viewer.speakers), viewer.speakers
        for participant in viewer.game.remote_participants.values():
            if participant.identity.startswith("body-"):
                assert not participant.metadata and not participant.attributes
                assert participant.name in {p.name for p in players}  # the owner's name: public
                assert not driver_ids & {participant.identity, participant.name}

    bob = players[1]
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
        .with_grants(api.VideoGrants(room_join=True, room=players[0].ingest.name))
        .to_jwt()
    )
    intruder = rtc.Room()
    with pytest.raises(Exception):
        await asyncio.wait_for(intruder.connect(livekit_server.url, forged), 10)


async def test_each_body_reports_its_rates_and_latencies_and_names_nobody(game, agent_worker):
    """Prometheus metrics and the structured stats lines: per body, by opaque identity only."""
    players = game
    await wait_for(lambda: all(p.wearing for p in players), 30, "everyone to be told their body")
    loop = asyncio.get_running_loop()

    room = f'room="{players[0].game.name}"'  # the worker serves other tests' rooms too

    def frames_out() -> dict[str, float]:
        out = {}
        for line in agent_worker.metrics_text().splitlines():
            if line.startswith("bodyswap_body_frames_out_total{") and room in line:
                labels, value = line.rsplit(" ", 1)
                out[labels.split('body="')[1].split('"')[0]] = float(value)
        return out

    await wait_for(lambda: len(frames_out()) == PLAYERS and min(frames_out().values()) > 0, 30, frames_out)
    first = await loop.run_in_executor(None, frames_out)
    await asyncio.sleep(3)
    second = await loop.run_in_executor(None, frames_out)
    assert all(second[body] > first[body] for body in first), (first, second)  # still flowing
    text = agent_worker.metrics_text()
    for metric in ("video_latency_seconds_bucket", "audio_latency_seconds_bucket", "av_skew_seconds_bucket"):
        assert f"bodyswap_body_{metric}" in text
    await wait_for(lambda: '"message": "body stats"' in agent_worker.log_text(), 30, "a stats log line")
    stats = [json.loads(line) for line in agent_worker.log_text().splitlines() if '"message": "body stats"' in line]
    assert {"fps_out", "video_latency_p95_ms", "audio_underruns", "av_skew_p50_ms"} <= set(stats[-1])
    # Nothing in metrics or logs names a player: no ids, names, or ingest rooms.
    secrets = [p.grant["player_id"] for p in players] + [p.ingest.name for p in players]
    for secret in secrets:
        assert secret not in text
        assert secret not in agent_worker.log_text()


async def test_every_session_wears_the_enrolled_profiles_of_its_owner_and_driver(game, agent_worker):
    """The agent fetched both profiles of every body from the room service (the plugin got them)."""
    await wait_for(lambda: agent_worker.log_text().count("opening a session") >= PLAYERS, 30, "sessions")
    opened = [line for line in agent_worker.log_text().splitlines() if "opening a session" in line]
    assert all("driver enrolled: True, owner enrolled: True" in line for line in opened[-PLAYERS:]), opened
