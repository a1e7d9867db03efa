"""What operators see of the room service: /metrics, /readyz, and JSON log lines without secrets."""

from __future__ import annotations

import json
import logging

import pytest
from prometheus_client.parser import text_string_to_metric_families

from room_service import game
from room_service.observability import AccessLogger, JsonFormatter, log_game_events
from tests.conftest import room_service_settings, serve
from tests.support.livekit_server import free_port

asyncio = pytest.mark.asyncio(loop_scope="session")


def samples(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def get(http, url):
    async with http.get(url) as response:
        return response.status, await response.text()


@asyncio
async def test_metrics_count_rooms_by_phase_players_and_refused_enrollments(http, livekit_server, tmp_path):
    settings = room_service_settings(livekit_server, free_port(), tmp_path / "data")
    runner = await serve(settings)
    base = f"http://127.0.0.1:{settings.port}"
    try:
        async with http.post(f"{base}/api/rooms", json={"name": "Ann"}) as response:
            room = await response.json()
        async with http.post(
            f"{base}/api/rooms/{room['room_id']}/join", json={"name": "Bo", "invite": room["invite_code"]}
        ) as response:
            assert response.status == 201
        async with http.put(
            f"{base}/api/rooms/{room['room_id']}/enrollment",
            data=b"not a form",
            headers={"Authorization": f"Bearer {room['player_key']}", "Content-Type": "text/plain"},
        ) as response:
            assert response.status == 415
        status, text = await get(http, f"{base}/metrics")
        assert status == 200
        got = samples(text)
        assert got[("bodyswap_rooms", (("phase", "lobby"),))] == 1
        assert got[("bodyswap_rooms", (("phase", "vote"),))] == 0
        assert got[("bodyswap_players", (("phase", "lobby"),))] == 2
        assert got[("bodyswap_rooms_created_total", ())] == 1
        assert got[("bodyswap_enrollments_total", (("reason", "not_multipart"), ("result", "refused")))] == 1
        assert got[("bodyswap_rooms_media_waiting", ())] == 0
        for secret in (room["player_key"], room["invite_code"], room["game_token"]):
            assert secret not in text
    finally:
        await runner.cleanup()


@asyncio
async def test_readyz_checks_the_store_and_livekit(http, livekit_server, tmp_path):
    settings = room_service_settings(livekit_server, free_port(), tmp_path / "up")
    runner = await serve(settings)
    try:
        status, text = await get(http, f"http://127.0.0.1:{settings.port}/readyz")
        assert status == 200, text
        assert json.loads(text) == {"status": "ready", "checks": {"store": "ok", "livekit": "ok"}}
    finally:
        await runner.cleanup()

    # A LiveKit URL where nothing listens: alive (/healthz) but not ready (/readyz).
    down = room_service_settings(livekit_server, free_port(), tmp_path / "down")
    down.livekit_url = f"ws://127.0.0.1:{free_port()}"
    runner = await serve(down)
    try:
        assert (await get(http, f"http://127.0.0.1:{down.port}/healthz"))[0] == 200
        status, text = await get(http, f"http://127.0.0.1:{down.port}/readyz")
        body = json.loads(text)
        assert status == 503 and body["status"] == "not_ready"
        assert body["checks"]["store"] == "ok" and body["checks"]["livekit"].startswith("failed")
    finally:
        await runner.cleanup()


def test_log_lines_are_json_with_room_and_player_ids_only():
    record = logging.LogRecord("bodyswap.room_service", logging.INFO, __file__, 1, "player joined", (), None)
    record.room_id, record.player_id, record.player_key = "r1", "p-1", "SECRET-KEY"
    line = json.loads(JsonFormatter().format(record))
    assert line["msg"] == "player joined" and line["room_id"] == "r1" and line["player_id"] == "p-1"
    assert line["level"] == "INFO" and line["ts"].endswith("Z")
    assert "SECRET-KEY" not in json.dumps(line)  # only the listed fields ever leave


def test_private_events_are_never_logged(caplog):
    state = game.new_game("r1")
    events = [
        game.Event(None, "turn_started", {"body_id": "body-1", "round": 1}),
        game.Event("p-1", "your_body", {"body_id": "body-1", "body_name": "Bo"}),
    ]
    logger = logging.getLogger("test.ops")
    with caplog.at_level(logging.INFO, logger="test.ops"):
        log_game_events(logger, "r1", state, events)
    assert [r.getMessage() for r in caplog.records] == ["game event turn_started"]
    assert not hasattr(caplog.records[0], "player_id")


def test_access_log_leaves_out_query_strings(caplog):
    class Request:
        method, path, match_info = "GET", "/join/r1", {"room_id": "r1"}

    class Response:
        status = 200

    logger = logging.getLogger("test.access")
    with caplog.at_level(logging.INFO, logger="test.access"):
        AccessLogger(logger, "").log(Request(), Response(), 0.002)
    (entry,) = caplog.records
    assert entry.path == "/join/r1" and entry.status == 200 and entry.room_id == "r1"
    assert "invite" not in JsonFormatter().format(entry)
