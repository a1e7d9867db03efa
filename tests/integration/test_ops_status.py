"""`python -m scripts.ops status`: the live state of every room and worker, from the room service's
and workers' metrics and LiveKit's server API."""

from __future__ import annotations

import pytest

from scripts import ops
from tests.conftest import TEST_WORKER_SLOTS
from tests.support.rooms import open_room

WORKER_METRICS = """
# TYPE bodyswap_worker_player_slots_used gauge
bodyswap_worker_player_slots_used 3.0
# TYPE bodyswap_worker_player_slots gauge
bodyswap_worker_player_slots 8.0
# TYPE bodyswap_worker_load gauge
bodyswap_worker_load 0.375
# TYPE bodyswap_body_frames_in counter
bodyswap_body_frames_in_total{room="game-r1",body="body-a"} {a_in}
bodyswap_body_frames_in_total{room="game-r1",body="body-b"} 10.0
# TYPE bodyswap_body_frames_out counter
bodyswap_body_frames_out_total{room="game-r1",body="body-a"} {a_out}
# TYPE bodyswap_body_frames_dropped counter
bodyswap_body_frames_dropped_total{room="game-r1",body="body-a"} 2.0
# TYPE bodyswap_body_video_latency_seconds histogram
bodyswap_body_video_latency_seconds_bucket{room="game-r1",body="body-a",le="0.01"} 50.0
bodyswap_body_video_latency_seconds_bucket{room="game-r1",body="body-a",le="0.02"} 100.0
bodyswap_body_video_latency_seconds_bucket{room="game-r1",body="body-a",le="+Inf"} 100.0
bodyswap_body_video_latency_seconds_count{room="game-r1",body="body-a"} 100.0
bodyswap_body_video_latency_seconds_sum{room="game-r1",body="body-a"} 1.2
"""


def scrape(a_in: float, a_out: float) -> str:
    return WORKER_METRICS.replace("{a_in}", str(a_in)).replace("{a_out}", str(a_out))


def test_worker_summary_rates_bodies_and_latency_percentiles():
    summary = ops.worker_summary(scrape(100, 90), scrape(130, 120), seconds=1.0)
    assert (summary["slots_used"], summary["slots"], summary["load"]) == (3, 8, 0.375)
    assert summary["fps_out"] == 30.0
    assert summary["bodies_live"] == 1 and summary["bodies_seen"] == 2  # body-b sent nothing lately
    assert summary["video_p50_ms"] == pytest.approx(10.0) and summary["video_p95_ms"] == pytest.approx(19.0)
    assert summary["frames_dropped"] == 2


@pytest.mark.integration
@pytest.mark.asyncio(loop_scope="session")
async def test_status_lists_rooms_services_and_workers(http, room_service, agent_worker, livekit_server):
    players = await open_room(http, room_service.url, ["Ann", "Bo", "Cy"])
    room_id = players[0]["room_id"]
    for _ in range(20):  # the game master joins the game room at the room's first change
        snapshot = await ops.collect(
            [room_service.url],
            [f"http://127.0.0.1:{agent_worker.metrics_port}"],
            livekit_server.url,
            livekit_server.api_key,
            livekit_server.api_secret,
            interval=0.5,
        )
        rooms = {r["room"]: r for r in snapshot["rooms"]}
        if f"game-{room_id}" in rooms:
            break
    assert snapshot["errors"] == []
    (service,) = snapshot["services"]
    assert service["ready"]["status"] == "ready" and service["rooms_by_phase"]["lobby"] >= 1
    (worker,) = snapshot["workers"]
    assert worker["slots"] == TEST_WORKER_SLOTS and worker["slots_used"] is not None
    game = rooms[f"game-{room_id}"]
    assert game["kind"] == "game" and game["phase"] == "lobby" and game["seated"] == 3
    assert game["game_master"] and game["bodies"] == 0
    text = ops.render(snapshot)
    assert "Room services" in text and "Workers" in text and "LiveKit rooms" in text
    for grant in players:  # no credential ever shows
        assert grant["player_key"] not in text and grant["game_token"] not in text
