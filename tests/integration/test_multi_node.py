"""A game across two LiveKit nodes in distributed mode (Redis): the room service talks to node A,
the agent worker is registered with node B, and the players are split between the nodes. Every
player sees the bodies, the vote closes and is scored, whichever node each one is connected to."""

from __future__ import annotations

import asyncio

import pytest
from livekit import api

from tests.conftest import room_service_settings, serve
from tests.support.agent_worker import start_agent_worker
from tests.support.cluster import start_livekit_node, start_redis
from tests.support.game_client import GamePlayer
from tests.support.livekit_server import free_port, stop_process
from tests.support.media import enrollment_upload, load_clip, media_players
from tests.support.rooms import open_room, pass_every_turn, right_guesses

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

AGENT_NAME = "bodyswap-multi-node"


def bodies(player: GamePlayer) -> set[str]:
    return {p.identity for p in player.game.remote_participants.values() if p.identity.startswith("body-")}


async def room_names(node) -> set[str]:
    async with api.LiveKitAPI(node.http_url, node.api_key, node.api_secret) as lk:
        return {r.name for r in (await lk.room.list_rooms(api.ListRoomsRequest())).rooms}


async def test_a_game_across_two_livekit_nodes(http, tmp_path):
    redis = start_redis(tmp_path / "redis")
    node_a = start_livekit_node(tmp_path / "node-a", redis)
    node_b = start_livekit_node(tmp_path / "node-b", redis)
    settings = room_service_settings(node_a, free_port(), tmp_path / "data")
    settings.agent_name = AGENT_NAME
    runner = await serve(settings)
    base = f"http://127.0.0.1:{settings.port}"
    worker = start_agent_worker(node_b, tmp_path, AGENT_NAME)  # registered with node B only
    players: list[GamePlayer] = []
    try:
        names = ["Ann", "Bo", "Cy"]
        grants = await open_room(http, base, names)
        nodes = [node_a, node_b, node_b]  # the host on A, the guests on B
        loop = asyncio.get_running_loop()
        for grant, name, node, source in zip(grants, names, nodes, media_players()):
            player = GamePlayer(http, base, {**grant, "livekit_url": node.url}, name)
            players.append(player)
            clip = await loop.run_in_executor(None, load_clip, source.video, 2.0)
            upload = await loop.run_in_executor(None, enrollment_upload, source, clip)
            await player.connect(camera=clip)  # the consent check reads this camera through node A
            status, body = await player.enroll(*upload)
            assert status == 200, body
            await player.stop_camera()
        ann, bo, cy = players

        for player in players:
            await player.rpc("bodyswap.ready", {"ready": True})
        await ann.rpc("bodyswap.settings", {"settings": {"rounds": 1, "turn_seconds": 10, "vote_seconds": 120}})
        await ann.rpc("bodyswap.start")
        for player in players:  # each sees the two bodies it does not wear, whichever its node
            await player.wait_for(lambda p=player: len(bodies(p)) >= 2, 90, "the bodies")
        await ann.wait_for(lambda: (ann.state.get("media") or {}).get("status") == "ready", 30, "media ready")

        # Both nodes know every room: the rooms live in Redis, not in one node's memory.
        game_room = f"game-{ann.grant['room_id']}"
        assert game_room in await room_names(node_a) and game_room in await room_names(node_b)

        driver_of = await pass_every_turn(players)
        assert (await ann.rpc("bodyswap.sync"))["public"]["phase"] == "vote"
        for player in players:  # everyone guesses right
            await player.rpc("bodyswap.vote", {"guesses": right_guesses(driver_of, player), "lock": True})
        reveal = (await bo.rpc("bodyswap.sync"))["public"]
        assert reveal["phase"] == "reveal"
        assert {p["player_id"]: p["score"] for p in reveal["players"]} == {p.id: 200 for p in players}
        await cy.wait_for(lambda: cy.state.get("phase") == "final", 30, "the final ranking on node B")
    finally:
        for player in players:
            await player.leave()
        stop_process(worker.process)
        await runner.cleanup()
        for node in (node_a, node_b):
            stop_process(node.process)
        redis.stop()
