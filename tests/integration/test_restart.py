"""Killing the room service mid-vote loses nothing: after a restart on the same data, the game
master is back in the room, the ballots already cast still count, and the game goes on."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from livekit import rtc

from tests.support.game_client import GamePlayer
from tests.support.room_service_process import RoomServiceProcess
from tests.support.rooms import enrolled_players, pass_every_turn, right_guesses

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

SETTINGS = {"rounds": 1, "turn_seconds": 10, "vote_seconds": 120, "reveal_seconds": 5}


async def sync_when_back(player: GamePlayer, timeout_s: float = 30.0) -> dict:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        try:
            return await player.rpc("bodyswap.sync", timeout=3)
        except rtc.RpcError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.5)


async def test_a_restart_mid_vote_keeps_every_ballot_and_the_game_goes_on(livekit_server, agent_worker, tmp_path):
    # With its media agent: a game without one holds its clock (the reveal would never end), and
    # that pause outlives a restart.
    service = RoomServiceProcess(livekit_server, tmp_path / "data", agent_name=agent_worker.agent_name)
    service.start()
    players: list[GamePlayer] = []
    async with aiohttp.ClientSession() as http:
        try:
            players = await enrolled_players(http, service.url, ["Ann", "Bo", "Cy"])
            await players[0].rpc("bodyswap.settings", {"settings": SETTINGS})
            for player in players:
                await player.rpc("bodyswap.ready", {"ready": True})
            await players[0].rpc("bodyswap.start")
            driver_of = await pass_every_turn(players)
            assert (await players[0].rpc("bodyswap.sync"))["public"]["phase"] == "vote"

            def true_ballot(voter: GamePlayer) -> dict[str, str]:
                return right_guesses(driver_of, voter)

            # Two of three lock in; then the service dies without a chance to clean up.
            for voter in players[:2]:
                await voter.rpc("bodyswap.vote", {"guesses": true_ballot(voter), "lock": True})
            service.kill()
            with pytest.raises(rtc.RpcError):
                await players[2].rpc("bodyswap.sync", timeout=3)

            service.start()
            for voter in players[:2]:
                view = await sync_when_back(voter)
                assert view["public"]["phase"] == "vote"
                assert view["private"]["locked"] and view["private"]["guesses"] == true_ballot(voter)
            assert sorted(view["public"]["locked"]) == sorted(p.id for p in players[:2])

            # The last ballot closes the vote, and all three ballots are scored.
            await sync_when_back(players[2])
            await players[2].rpc("bodyswap.vote", {"guesses": true_ballot(players[2]), "lock": True})
            reveal = (await players[0].rpc("bodyswap.sync"))["public"]
            assert reveal["phase"] == "reveal"
            assert {p["player_id"]: p["score"] for p in reveal["players"]} == {p.id: 200 for p in players}
            # The timers run on after the restart: the reveal ends by itself and the game is over.
            await players[0].wait_for(lambda: players[0].state.get("phase") == "final", 20, "final")
        finally:
            for player in players:
                await player.leave()
            service.stop()
