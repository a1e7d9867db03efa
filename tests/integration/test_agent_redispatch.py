"""The media worker dies mid-game: the game master dispatches the agent again, and every body is
back in the game room while the game goes on."""

from __future__ import annotations

import os
import signal
import time

import pytest

from tests.conftest import room_service_settings, serve
from tests.support.agent_worker import start_agent_worker
from tests.support.game_client import GamePlayer
from tests.support.livekit_server import free_port, stop_process
from tests.support.rooms import enrolled_players

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

AGENT_NAME = "bodyswap-redispatch"


def bodies(player: GamePlayer) -> set[str]:
    return {p.identity for p in player.game.remote_participants.values() if p.identity.startswith("body-")}


async def test_bodies_come_back_after_the_worker_is_killed(http, livekit_server, tmp_path):
    settings = room_service_settings(livekit_server, free_port(), tmp_path / "data")
    settings.agent_name = AGENT_NAME
    runner = await serve(settings)
    base = f"http://127.0.0.1:{settings.port}"
    workers = [start_agent_worker(livekit_server, tmp_path, AGENT_NAME)]
    players: list[GamePlayer] = []
    try:
        players = await enrolled_players(http, base, ["Ann", "Bo", "Cy"])
        for player in players:
            await player.rpc("bodyswap.ready", {"ready": True})
        await players[0].rpc("bodyswap.settings", {"settings": {"turn_seconds": 120}})
        await players[0].rpc("bodyswap.start")
        ann = players[0]
        await ann.wait_for(lambda: len(bodies(ann)) == 3, 60, "three bodies")
        before = bodies(ann)

        os.killpg(workers[0].process.pid, signal.SIGKILL)  # the worker and its job processes
        workers[0].process.wait()
        killed_at = time.monotonic()
        await ann.wait_for(lambda: not bodies(ann), 60, "the dead worker's bodies to leave")
        workers.append(start_agent_worker(livekit_server, tmp_path, AGENT_NAME))
        await ann.wait_for(lambda: len(bodies(ann)) == 3, 90, "the bodies to come back")
        print(f"bodies back {time.monotonic() - killed_at:.1f} s after the worker was killed")
        assert bodies(ann) == before  # the same opaque bodies, the same seats
        assert (await ann.rpc("bodyswap.sync"))["public"]["phase"] == "turns"  # the game went on
    finally:
        for player in players:
            await player.leave()
        for worker in workers:
            stop_process(worker.process)
        await runner.cleanup()
