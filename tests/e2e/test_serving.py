"""The room service serves the built web app on one URL with its API: index.html for the app's
own addresses (so an invite link opened cold works), hashed assets, the status page until the app
is built; nothing outside the build folder, and the API untouched."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient, TestServer

from room_service.app import create_app
from room_service.settings import RoomServiceSettings

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def client_for(tmp_path, dist) -> TestClient:
    settings = RoomServiceSettings(
        BODYSWAP_DATA_DIR=tmp_path / "data",
        LIVEKIT_URL="ws://127.0.0.1:9",  # never reached by these requests
        LIVEKIT_API_KEY="testkey",
        LIVEKIT_API_SECRET="bodyswap-test-secret-0123456789abcdefghij",
    )
    client = TestClient(TestServer(create_app(settings, frontend_dist=dist)))
    await client.start_server()
    return client


async def test_the_built_app_is_served_for_its_addresses(tmp_path) -> None:
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<!doctype html><title>app</title>")
    (dist / "assets" / "index-abc123.js").write_text("console.log(1)")
    (tmp_path / "secret.txt").write_text("not for you")
    client = await client_for(tmp_path, dist)
    try:
        for path in ("/", "/join/room1?invite=code", "/room/room1"):
            response = await client.get(path)
            assert response.status == 200, path
            assert "<title>app</title>" in await response.text()
            assert response.headers["Cache-Control"] == "no-cache"
        asset = await client.get("/assets/index-abc123.js")
        assert asset.status == 200 and "immutable" in asset.headers["Cache-Control"]
        assert (await client.get("/assets/missing.js")).status == 404
        assert (await client.get("/assets/..%2F..%2Fsecret.txt")).status == 404
        assert (await client.get("/healthz")).status == 200
        assert (await client.get("/api/rooms/nope")).status == 404  # the API, not the app
        assert (await client.get("/api/openapi.json")).status == 200
    finally:
        await client.close()


async def test_the_status_page_stands_in_until_the_app_is_built(tmp_path) -> None:
    client = await client_for(tmp_path, tmp_path / "not-built")
    try:
        response = await client.get("/")
        assert response.status == 200
        assert "Bodyswap is running" in await response.text()
    finally:
        await client.close()
