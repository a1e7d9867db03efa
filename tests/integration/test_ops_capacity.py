"""When no worker can take a game, players are told, the game is paused (nothing half-starts), and
the host can call it off and retry; a worker then takes the game and the clock starts with the
bodies. The worker's player slots show on its metrics."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from livekit import api, rtc
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import room_service_settings, serve
from tests.support.agent_worker import start_agent_worker
from tests.support.game_client import GamePlayer
from tests.support.livekit_server import free_port, stop_process
from tests.support.rooms import enrolled_players

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

AGENT_NAME = "bodyswap-ops-capacity"


def bodies(player: GamePlayer) -> set[str]:
    return {p.identity for p in player.game.remote_participants.values() if p.identity.startswith("body-")}


def kinds(player: GamePlayer) -> list[str]:
    return [e["kind"] for e in player.events]


def metric(text: str, name: str) -> float:
    return next(
        s.value for f in text_string_to_metric_families(text) for s in f.samples if s.name == name
    )


async def start_a_game(http, base: str) -> list[GamePlayer]:
    """Ann (the host), Bo and Cy enroll, get ready and start a game with 10 s turns."""
    players = await enrolled_players(http, base, ["Ann", "Bo", "Cy"])
    for player in players:
        await player.rpc("bodyswap.ready", {"ready": True})
    await players[0].rpc("bodyswap.settings", {"settings": {"turn_seconds": 10}})
    await players[0].rpc("bodyswap.start")
    return players


async def test_no_free_worker_pauses_the_game_tells_players_and_the_host_retries(http, livekit_server, tmp_path):
    settings = room_service_settings(livekit_server, free_port(), tmp_path / "data")
    settings.agent_name = AGENT_NAME  # no worker of this name runs yet: as if every worker were full
    settings.agent_join_timeout_s = 3.0
    runner = await serve(settings)
    base = f"http://127.0.0.1:{settings.port}"
    worker = None
    players: list[GamePlayer] = []
    try:
        players = await start_a_game(http, base)
        ann, bo = players[0], players[1]

        await bo.wait_for(lambda: "media_waiting" in kinds(bo), 30, "the media_waiting notice")
        notice = next(e for e in bo.events if e["kind"] == "media_waiting")
        assert "busy" in notice["message"] and "lobby" in notice["message"]
        assert kinds(bo).index("media_starting") < kinds(bo).index("media_waiting")
        await bo.wait_for(lambda: (bo.state.get("media") or {}).get("status") == "waiting", 10, "state")
        async with http.get(f"{base}/metrics") as response:
            assert metric(await response.text(), "bodyswap_rooms_media_waiting") == 1

        # Paused: the first turn's 10 s pass and the turn does not move on.
        deadline = bo.state["deadline"]
        await bo.wait_for(lambda: time.time() > deadline + 2, 20, "the held deadline to pass")
        synced = await bo.rpc("bodyswap.sync")
        assert synced["public"]["phase"] == "turns" and synced["public"]["hot_seat"]["turn"] == 1
        assert synced["public"]["media"]["status"] == "waiting"

        # Only the host calls it off; everyone is back in the lobby, still enrolled.
        with pytest.raises(rtc.RpcError) as refused:
            await bo.rpc("bodyswap.cancel")
        assert json.loads(refused.value.data)["code"] == "not_host"
        lobby = (await ann.rpc("bodyswap.cancel"))["public"]
        assert lobby["phase"] == "lobby" and lobby["media"] is None
        assert all(p["enrolled"] and not p["ready"] for p in lobby["players"])
        await bo.wait_for(lambda: "back_to_lobby" in kinds(bo), 10, "back_to_lobby")
        async with api.LiveKitAPI(livekit_server.http_url, livekit_server.api_key, livekit_server.api_secret) as lk:
            for _ in range(50):  # withdrawn right after the call-off, off the RPC's path
                if not await lk.agent_dispatch.list_dispatch(room_name=f"game-{lobby['room_id']}"):
                    break
                await asyncio.sleep(0.2)
            else:
                raise AssertionError("the called-off game's dispatch was not withdrawn")

        # A worker with free slots appears: nothing from the called-off game reaches it.
        worker = start_agent_worker(livekit_server, tmp_path, AGENT_NAME)
        with pytest.raises(AssertionError):
            await ann.wait_for(lambda: bool(bodies(ann)), 4, "no bodies in the lobby")
        assert "opening a session" not in worker.log_text()

        # The host retries: the bodies come, and the clock starts with them.
        for player in players[1:]:
            await player.rpc("bodyswap.ready", {"ready": True})
        bo.events.clear()
        await ann.rpc("bodyswap.start")
        await bo.wait_for(lambda: "media_ready" in kinds(bo), 60, "media_ready")
        ready_at = time.time()
        await ann.wait_for(lambda: len(bodies(ann)) == 3, 60, "three bodies")
        await bo.wait_for(lambda: (bo.state.get("media") or {}).get("status") == "ready", 10, "ready state")
        synced = (await bo.rpc("bodyswap.sync"))["public"]
        assert synced["hot_seat"]["turn"] == 1 and synced["deadline"] >= ready_at + 10 - 1.5

        # The worker's load in player slots, on its metrics endpoint (3 of 8 in use).
        def slots() -> tuple[float, float, float]:
            text = worker.metrics_text()
            return tuple(
                metric(text, name)
                for name in ("bodyswap_worker_player_slots_used", "bodyswap_worker_player_slots", "bodyswap_worker_load")
            )

        await ann.wait_for(lambda: slots()[0] == 3, 10, "3 slots used on the worker's metrics")
        assert slots() == (3, 8, 3 / 8)
    finally:
        for player in players:
            await player.leave()
        if worker is not None:
            stop_process(worker.process)
        await runner.cleanup()


async def test_a_game_paused_for_its_media_stays_paused_across_a_room_service_restart(http, livekit_server, tmp_path):
    """The pause lives in the room's record: a restarted (or taken-over) room service neither runs
    the clock without bodies nor forgets to tell the players, and starts it when the bodies come."""
    settings = room_service_settings(livekit_server, free_port(), tmp_path / "data")
    settings.agent_name = f"{AGENT_NAME}-restart"  # no worker yet: every worker full
    settings.agent_join_timeout_s = 3.0
    runner = await serve(settings)
    worker = None
    players: list[GamePlayer] = []
    try:
        players = await start_a_game(http, f"http://127.0.0.1:{settings.port}")
        ann, bo = players[0], players[1]
        await bo.wait_for(lambda: "media_waiting" in kinds(bo), 30, "the media_waiting notice")

        await runner.cleanup()
        bo.states.clear()
        runner = await serve(settings)
        await bo.wait_for(lambda: bool(bo.states), 30, "the restarted service's state")
        assert bo.state["phase"] == "turns" and bo.state["media"]["status"] == "waiting"
        deadline = bo.state["deadline"]
        await bo.wait_for(lambda: time.time() > deadline + 2, 20, "the held deadline to pass")
        synced = (await bo.rpc("bodyswap.sync"))["public"]
        assert synced["hot_seat"]["turn"] == 1 and synced["media"]["status"] == "waiting"

        worker = start_agent_worker(livekit_server, tmp_path, settings.agent_name)
        await bo.wait_for(lambda: "media_ready" in kinds(bo), 90, "media_ready")
        ready_at = time.time()
        await ann.wait_for(lambda: len(bodies(ann)) == 3, 60, "three bodies")
        synced = (await bo.rpc("bodyswap.sync"))["public"]
        assert synced["hot_seat"]["turn"] == 1 and synced["media"]["status"] == "ready"
        assert synced["deadline"] >= ready_at + 10 - 1.5  # the turn's clock started with the bodies
    finally:
        for player in players:
            await player.leave()
        if worker is not None:
            stop_process(worker.process)
        await runner.cleanup()
