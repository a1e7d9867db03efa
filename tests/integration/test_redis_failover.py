"""Rooms kept in Redis: the room service dies mid-vote and another one, with an empty disk of its
own (another machine), takes the game over from Redis; no ballot is lost and the game ends."""

from __future__ import annotations

import time

import aiohttp
import pytest

from tests.integration.test_restart import SETTINGS, sync_when_back
from tests.support.cluster import start_redis
from tests.support.game_client import GamePlayer
from tests.support.room_service_process import RoomServiceProcess
from tests.support.rooms import enrolled_players, pass_every_turn, right_guesses

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


async def test_a_standby_service_takes_a_game_over_from_redis(livekit_server, agent_worker, tmp_path):
    redis = start_redis(tmp_path / "redis")
    # A killed service cannot release its rooms: the standby takes them when the leases lapse.
    env = {"BODYSWAP_REDIS_URL": f"redis://{redis.address}/0", "BODYSWAP_ROOM_LEASE_S": "5"}
    # With its media agent: a game without one holds its clock, across the takeover too.
    first = RoomServiceProcess(livekit_server, tmp_path / "machine-1", agent_name=agent_worker.agent_name, **env)
    standby = RoomServiceProcess(livekit_server, tmp_path / "machine-2", agent_name=agent_worker.agent_name, **env)
    first.start()
    players: list[GamePlayer] = []
    async with aiohttp.ClientSession() as http:
        try:
            players = await enrolled_players(http, first.url, ["Ann", "Bo", "Cy"])
            await players[0].rpc("bodyswap.settings", {"settings": SETTINGS})
            for player in players:
                await player.rpc("bodyswap.ready", {"ready": True})
            await players[0].rpc("bodyswap.start")
            driver_of = await pass_every_turn(players)

            def ballot(voter: GamePlayer) -> dict[str, str]:
                return right_guesses(driver_of, voter)

            for voter in players[:2]:
                await voter.rpc("bodyswap.vote", {"guesses": ballot(voter), "lock": True})
            first.kill()  # the machine is gone, its disk with it
            killed_at = time.monotonic()
            standby.start()
            for voter in players[:2]:
                view = await sync_when_back(voter)
                assert view["public"]["phase"] == "vote"
                assert view["private"]["locked"] and view["private"]["guesses"] == ballot(voter)
            print(f"standby answering {time.monotonic() - killed_at:.1f} s after the first service died")
            assert not (tmp_path / "machine-2" / "rooms.sqlite3").exists()  # it read Redis, not a disk

            await sync_when_back(players[2])
            await players[2].rpc("bodyswap.vote", {"guesses": ballot(players[2]), "lock": True})
            reveal = (await players[0].rpc("bodyswap.sync"))["public"]
            assert {p["player_id"]: p["score"] for p in reveal["players"]} == {p.id: 200 for p in players}
            await players[0].wait_for(lambda: players[0].state.get("phase") == "final", 20, "final")
            async with http.get(f"{standby.url}/readyz") as response:
                assert response.status == 200
        finally:
            for player in players:
                await player.leave()
            first.stop()
            standby.stop()
            redis.stop()
