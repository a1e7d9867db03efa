"""Shared fixtures: a private livekit-server, the real agent worker, and the room service."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web

from agent.native_logs import filter_native_logs_at_source
from room_service.app import create_app
from room_service.settings import RoomServiceSettings
from tests.support.agent_worker import AgentWorker, start_agent_worker
from tests.support.livekit_server import LiveKitServer, free_port, start_livekit_server, stop_process

TEST_AGENT_NAME = "bodyswap-test"
TEST_WORKER_SLOTS = 64


@pytest.fixture(scope="session", autouse=True)
def native_logs_filtered_at_source() -> None:
    """The test players are rtc clients like the agent's bodies: keep libwebrtc's per-packet debug
    logs out of this process's Python too (agent/native_logs.py says why)."""
    filter_native_logs_at_source()


@pytest.fixture(scope="session")
def livekit_server(tmp_path_factory: pytest.TempPathFactory) -> LiveKitServer:
    try:
        server = start_livekit_server(tmp_path_factory.mktemp("livekit"))
    except FileNotFoundError as e:
        pytest.fail(str(e), pytrace=False)  # a missing server fails, it never skips
    yield server
    stop_process(server.process)


@pytest.fixture(scope="session")
def agent_worker(
    livekit_server: LiveKitServer, tmp_path_factory: pytest.TempPathFactory
) -> AgentWorker:
    # One worker serves every test's rooms, and rooms whose players just left keep their job until
    # LiveKit closes them: capacity is tested with workers of its own (test_agent_capacity.py).
    worker = start_agent_worker(
        livekit_server,
        tmp_path_factory.mktemp("agent"),
        TEST_AGENT_NAME,
        extra_env={"BODYSWAP_AGENT_PLAYER_SLOTS": str(TEST_WORKER_SLOTS)},
    )
    yield worker
    stop_process(worker.process)


def room_service_settings(server: LiveKitServer, port: int, data_dir) -> RoomServiceSettings:
    return RoomServiceSettings(
        BODYSWAP_DATA_DIR=data_dir,
        BODYSWAP_CREATE_RATE_PER_MINUTE=10_000,
        BODYSWAP_JOIN_RATE_PER_MINUTE=10_000,
        BODYSWAP_ROOM_SERVICE_PORT=port,
        BODYSWAP_PUBLIC_URL=f"http://127.0.0.1:{port}",
        LIVEKIT_URL=server.url,
        LIVEKIT_API_KEY=server.api_key,
        LIVEKIT_API_SECRET=server.api_secret,
        BODYSWAP_AGENT_NAME=TEST_AGENT_NAME,
        BODYSWAP_SWAP_PLUGIN="passthrough",
    )


async def serve(settings: RoomServiceSettings) -> web.AppRunner:
    runner = web.AppRunner(create_app(settings, rng=random.Random(7)))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", settings.port).start()
    return runner


@dataclass
class RunningRoomService:
    url: str
    data_dir: Path

    def biometric_files(self, room_id: str) -> list[Path]:
        room = self.data_dir / "biometrics" / room_id
        return sorted(p for p in room.rglob("*") if p.is_file()) if room.exists() else []


@pytest_asyncio.fixture(loop_scope="session", scope="session")
async def room_service(livekit_server: LiveKitServer, tmp_path_factory) -> RunningRoomService:
    """The room service on a free port, in this process."""
    port = free_port()
    data_dir = tmp_path_factory.mktemp("rooms")
    runner = await serve(room_service_settings(livekit_server, port, data_dir))
    yield RunningRoomService(f"http://127.0.0.1:{port}", data_dir)
    await runner.cleanup()


@pytest_asyncio.fixture(loop_scope="session", scope="session")
async def http() -> aiohttp.ClientSession:
    async with aiohttp.ClientSession() as session:
        yield session
