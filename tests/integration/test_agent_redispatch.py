"""The media worker dies mid-game: the game master dispatches the agent again, and every body is
back in the game room while the game goes on."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest

from tests.conftest import room_service_settings, serve
from tests.support.agent_worker import start_agent_worker
from tests.support.game_client import GamePlayer
from tests.support.livekit_server import free_port, stop_process
from tests.support.media import enrollment_upload, load_clip, media_players

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

AGENT_NAME = "bodyswap-redispatch"


async def post(http, url, body=None, key=None):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with http.post(url, json=body or {}, headers=headers) as response:
        payload = await response.json()
        assert response.status in (200, 201), payload
        return payload


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
        sources = media_players()[:3]
        clips = [load_clip(p.video, 2.0) for p in sources]
        host = await post(http, f"{base}/api/rooms", {"name": "Ann"})
        grants = [host] + [
            await post(http, f"{base}/api/rooms/{host['room_id']}/join", {"name": n, "invite": host["invite_code"]})
            for n in ("Bo", "Cy")
        ]
        players = [GamePlayer(http, base, g, n) for g, n in zip(grants, ("Ann", "Bo", "Cy"))]
        for player, source, clip in zip(players, sources, clips):
            await player.connect(camera=clip)
            assert (await player.enroll(*enrollment_upload(source, clip)))[0] == 200
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
