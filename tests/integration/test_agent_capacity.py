"""Capacity in player slots, through a real livekit-server and room service: a worker too full for
a room refuses it; LiveKit offers a job to each registered worker once and then drops it, so the
game master dispatches it again until a worker with slots for all its players takes it."""

from __future__ import annotations

import pytest

from tests.conftest import room_service_settings, serve
from tests.support.agent_worker import start_agent_worker
from tests.support.game_client import GamePlayer
from tests.support.livekit_server import free_port, stop_process
from tests.support.rooms import enrolled_players

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

AGENT_NAME = "bodyswap-capacity"


def bodies(player: GamePlayer) -> set[str]:
    return {p.identity for p in player.game.remote_participants.values() if p.identity.startswith("body-")}


async def test_a_room_waits_for_a_worker_with_slots_for_all_its_players(http, livekit_server, tmp_path):
    settings = room_service_settings(livekit_server, free_port(), tmp_path / "data")
    settings.agent_name = AGENT_NAME
    settings.agent_join_timeout_s = 3.0
    runner = await serve(settings)
    base = f"http://127.0.0.1:{settings.port}"
    small = start_agent_worker(
        livekit_server, tmp_path, AGENT_NAME, extra_env={"BODYSWAP_AGENT_PLAYER_SLOTS": "2"}, log_name="small"
    )
    large = None
    players: list[GamePlayer] = []
    try:
        players = await enrolled_players(http, base, ["Ann", "Bo", "Cy"])
        for player in players:
            await player.rpc("bodyswap.ready", {"ready": True})
        await players[0].rpc("bodyswap.settings", {"settings": {"turn_seconds": 120}})
        await players[0].rpc("bodyswap.start")
        ann = players[0]
        # The only worker has 2 slots: it refuses the 3-player room (again at every re-dispatch).
        await ann.wait_for(lambda: small.log_text().count("needs 3 player slots, 2 of 2 free") >= 2, 30, "refusals")
        assert not bodies(ann)

        large = start_agent_worker(
            livekit_server, tmp_path, AGENT_NAME, extra_env={"BODYSWAP_AGENT_PLAYER_SLOTS": "8"}, log_name="large"
        )
        await ann.wait_for(lambda: len(bodies(ann)) == 3, 60, "the bodies, from the worker with room")
        assert "opening a session" in large.log_text()
        assert "opening a session" not in small.log_text()
    finally:
        for player in players:
            await player.leave()
        for worker in (small, large):
            if worker is not None:
                stop_process(worker.process)
        await runner.cleanup()


async def test_per_gpu_slots_place_each_room_whole_on_one_gpu(http, livekit_server, tmp_path):
    """With BODYSWAP_AGENT_GPUS each room's job gets one GPU (CUDA_VISIBLE_DEVICES in its process,
    shown as the agent's `bodyswap.gpu` attribute); rooms spread over the GPUs. No GPU is needed:
    the passthrough plugin ignores the device."""
    settings = room_service_settings(livekit_server, free_port(), tmp_path / "data")
    settings.agent_name = f"{AGENT_NAME}-gpus"
    runner = await serve(settings)
    base = f"http://127.0.0.1:{settings.port}"
    worker = start_agent_worker(
        livekit_server, tmp_path, settings.agent_name, log_name="gpus",
        extra_env={"BODYSWAP_AGENT_GPUS": "0,1", "BODYSWAP_AGENT_PLAYER_SLOTS_PER_GPU": "2"},
    )
    rooms: list[list[GamePlayer]] = []
    try:
        for names in (["Ann", "Bo"], ["Cy", "Di"]):
            players = await enrolled_players(http, base, names)
            rooms.append(players)
            await players[1].rpc("bodyswap.ready", {"ready": True})
            await players[0].rpc("bodyswap.start")
            await players[0].wait_for(lambda p=players[0]: len(bodies(p)) == 2, 60, "the room's two bodies")

        def placed(player: GamePlayer) -> list[str]:
            return [a for p in player.game.remote_participants.values() if (a := p.attributes.get("bodyswap.gpu"))]

        def gpu_of(player: GamePlayer) -> str:
            (gpu,) = placed(player)
            return gpu

        for players in rooms:  # the agent's attributes may reach a player after its bodies do
            await players[0].wait_for(lambda p=players[0]: bool(placed(p)), 30, "the agent's GPU attribute")
        assert sorted(gpu_of(room[0]) for room in rooms) == ["0", "1"]
        log = worker.log_text()
        assert "placed on GPU 0 (2 players)" in log and "placed on GPU 1 (2 players)" in log
    finally:
        for players in rooms:
            for player in players:
                await player.leave()
        stop_process(worker.process)
        await runner.cleanup()
