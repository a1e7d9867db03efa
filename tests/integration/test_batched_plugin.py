"""A plugin that batches video (gpu-face, here on ONNX Runtime's CPU provider with tiny stand-in
models of LivePortrait's shapes) in the real worker: the frames of a room's bodies go through the
plugin together, every body's video flows, and the worker's metrics say how many frames each call
carried."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import room_service_settings, serve
from tests.integration.test_first_swap import wait_for
from tests.support.agent_worker import start_agent_worker
from tests.support.livekit_server import free_port, stop_process
from tests.support.rooms import start_media_game
from tests.test_gpu_face import write_face_models

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

NAMES = ["Ann", "Bo", "Cy"]
AGENT_NAME = "bodyswap-batched"


def batch_counts(metrics: str, room: str) -> tuple[float, float]:
    """(calls, calls that carried one frame) of the room's batched plugin calls."""
    calls = single = 0.0
    for family in text_string_to_metric_families(metrics):
        for sample in family.samples:
            if sample.labels.get("room") != room:
                continue
            if sample.name == "bodyswap_room_batch_frames_count":
                calls = sample.value
            elif sample.name == "bodyswap_room_batch_frames_bucket" and float(sample.labels["le"]) == 1.0:
                single = sample.value
    return calls, single


async def test_a_rooms_bodies_go_through_a_batching_plugin_together(http, livekit_server, tmp_path, monkeypatch):
    models = write_face_models(tmp_path / "models")
    plugin_env = {"BODYSWAP_GPU_FACE_MODELS": str(models), "BODYSWAP_GPU_FACE_PROVIDERS": "cpu"}
    for name, value in plugin_env.items():
        monkeypatch.setenv(name, value)  # the room service prepares the profiles with the same models
    worker = start_agent_worker(livekit_server, tmp_path, AGENT_NAME, extra_env=plugin_env)
    settings = room_service_settings(livekit_server, free_port(), tmp_path / "data")
    settings.agent_name = AGENT_NAME
    settings.swap_plugin = "gpu-face+passthrough"
    runner = await serve(settings)
    base = f"http://127.0.0.1:{settings.port}"
    players: list = []
    try:
        game = await start_media_game(http, base, NAMES, 10.0, 256)
        players = game.players
        room = f"game-{game.host['room_id']}"
        await wait_for(lambda: all(p.wearing for p in players), 30, "everyone to be told their body")
        for owner in players:
            owner.watch(owner.name)
        await wait_for(
            lambda: all(p.bodies and len(p.body_named(p.name).thumbnails) > 20 for p in players),
            90,
            lambda: f"body video; agent log:\n{worker.log_text()[-3000:]}",
        )
        calls, single = batch_counts(worker.metrics_text(), room)
        assert calls > 0, "no batched call was counted"
        # Three bodies' frames arrive independently: while one call runs, others wait and go
        # together in the next; a call per frame would mean the batcher was bypassed.
        assert single < calls, (calls, single)
        assert "opening a session" in worker.log_text()
    finally:
        for player in players:
            await player.leave()
        stop_process(worker.process)
        await runner.cleanup()
