"""Two room service instances on one Redis: a room belongs to one of them at a time. Requests to
the other are forwarded to its owner (join, enroll, state), the owner's game master runs the game,
and when the owner stops, the other takes the room over mid-vote without losing a ballot."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import room_service_settings, serve
from tests.support.cluster import start_redis
from tests.support.game_client import GamePlayer
from tests.support.livekit_server import free_port
from tests.support.media import enrollment_upload, load_clip, media_players
from tests.support.rooms import pass_every_turn, post, right_guesses

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


def bodies(player: GamePlayer) -> set[str]:
    return {p.identity for p in player.game.remote_participants.values() if p.identity.startswith("body-")}


async def test_two_instances_share_rooms_and_hand_a_game_over(http, livekit_server, agent_worker, tmp_path):
    redis = start_redis(tmp_path / "redis")
    instances = []
    for name in ("a", "b"):
        settings = room_service_settings(livekit_server, free_port(), tmp_path / name)
        settings.redis_url = f"redis://{redis.address}/0"
        settings.room_lease_s = 30.0  # outlasts event-loop stalls of a loaded test machine; a stop releases at once
        instances.append((settings, await serve(settings)))
    (settings_a, runner_a), (settings_b, runner_b) = instances
    url_a, url_b = (f"http://127.0.0.1:{s.port}" for s in (settings_a, settings_b))
    players: list[GamePlayer] = []
    try:
        host = await post(http, f"{url_a}/api/rooms", {"name": "Ann"})
        room_id = host["room_id"]
        grants = [host] + [  # the guests come in through the other instance
            await post(http, f"{url_b}/api/rooms/{room_id}/join", {"name": n, "invite": host["invite_code"]})
            for n in ("Bo", "Cy")
        ]
        loop = asyncio.get_running_loop()
        for grant, name, base, source in zip(grants, ["Ann", "Bo", "Cy"], [url_a, url_b, url_b], media_players()):
            player = GamePlayer(http, base, grant, name)
            players.append(player)
            clip = await loop.run_in_executor(None, load_clip, source.video, 2.0)
            upload = await loop.run_in_executor(None, enrollment_upload, source, clip)
            await player.connect(camera=clip)
            status, body = await player.enroll(*upload)  # forwarded to the owner (a multipart upload)
            assert status == 200, body
            await player.stop_camera()
        async with http.get(f"{url_b}/api/rooms/{room_id}") as response:
            state = await response.json()
        assert [p["enrolled"] for p in state["players"]] == [True, True, True]
        # The owner (a) stored the biometric data; b holds none.
        assert (tmp_path / "a" / "biometrics" / room_id).exists()
        assert not (tmp_path / "b" / "biometrics" / room_id).exists()

        ann, bo, cy = players
        for player in players:
            await player.rpc("bodyswap.ready", {"ready": True})
        await ann.rpc("bodyswap.settings", {"settings": {"rounds": 1, "turn_seconds": 10, "vote_seconds": 120, "reveal_seconds": 5}})
        await ann.rpc("bodyswap.start")
        await ann.wait_for(lambda: len(bodies(ann)) == 3, 90, "three bodies")
        driver_of = await pass_every_turn(players)

        def ballot(voter: GamePlayer) -> dict[str, str]:
            return right_guesses(driver_of, voter)

        for voter in (ann, bo):
            await voter.rpc("bodyswap.vote", {"guesses": ballot(voter), "lock": True})

        await runner_a.cleanup()  # a stops: b takes the room over
        instances.remove((settings_a, runner_a))
        for voter in (ann, bo):
            deadline = loop.time() + 30
            while True:
                try:
                    view = await voter.rpc("bodyswap.sync", timeout=3)
                    break
                except Exception:
                    if loop.time() > deadline:
                        raise
                    await asyncio.sleep(0.5)
            assert view["public"]["phase"] == "vote"
            assert view["private"]["locked"] and view["private"]["guesses"] == ballot(voter)
        await cy.rpc("bodyswap.vote", {"guesses": ballot(cy), "lock": True})
        reveal = (await cy.rpc("bodyswap.sync"))["public"]
        assert {p["player_id"]: p["score"] for p in reveal["players"]} == {p.id: 200 for p in players}
        await cy.wait_for(lambda: cy.state.get("phase") == "final", 30, "the final ranking, from b")
    finally:
        for player in players:
            await player.leave()
        for _, runner in instances:
            await runner.cleanup()
        redis.stop()
