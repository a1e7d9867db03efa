"""The room service's HTTP API against a real livekit-server: tokens, errors, start and end."""

import random

import pytest
from aiohttp import web
from livekit import api

from room_service.app import create_app
from tests.conftest import room_service_settings
from tests.support.livekit_server import free_port

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def call(http, method, url, body=None, key=None, raw=None):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with http.request(method, url, json=body, data=raw, headers=headers) as response:
        return response.status, await response.json()


async def create(http, base, name="Ann"):
    status, room = await call(http, "POST", f"{base}/api/rooms", {"name": name})
    assert status == 201, room
    return room


async def test_a_player_gets_a_publish_only_ingest_token_and_a_watch_only_game_token(
    http, room_service, livekit_server
):
    room = await create(http, room_service)
    assert room["invite_url"].startswith(f"{room_service}/join/{room['room_id']}?invite=")
    verifier = api.TokenVerifier(livekit_server.api_key, livekit_server.api_secret)
    ingest = verifier.verify(room["ingest_token"]).video
    game = verifier.verify(room["game_token"]).video
    assert ingest.room.startswith("ingest-") and ingest.room != game.room
    assert ingest.can_publish and not ingest.can_subscribe and not ingest.can_publish_data
    assert sorted(ingest.can_publish_sources) == ["camera", "microphone"]
    assert game.room == f"game-{room['room_id']}"
    assert game.can_subscribe and not game.can_publish
    assert verifier.verify(room["game_token"]).identity == room["player_id"]


async def test_public_state_names_players_and_reveals_no_credentials(http, room_service):
    room = await create(http, room_service)
    await call(
        http, "POST", f"{room_service}/api/rooms/{room['room_id']}/join",
        {"name": "  Bo   Bee ", "invite": room["invite_code"]},
    )
    status, state = await call(http, "GET", f"{room_service}/api/rooms/{room['room_id']}")
    assert status == 200
    assert state["players"] == [{"name": "Ann"}, {"name": "Bo Bee"}]
    text = str(state)
    for secret in (room["host_key"], room["invite_code"], room["player_id"], room["player_key"]):
        assert secret not in text


@pytest.mark.parametrize(
    "body, raw, code",
    [
        ({"name": ""}, None, "bad_name"),
        ({"name": "x" * 33}, None, "bad_name"),
        ({"name": "a\x00b"}, None, "bad_name"),
        ({}, None, "bad_name"),
        (None, b"{not json", "bad_json"),
        (None, b"[1, 2]", "bad_json"),
    ],
)
async def test_malformed_requests_get_a_clear_400(http, room_service, body, raw, code):
    status, payload = await call(http, "POST", f"{room_service}/api/rooms", body, raw=raw)
    assert status == 400
    assert payload["error"]["code"] == code and payload["error"]["message"]


async def test_an_oversized_request_is_refused(http, room_service):
    async with http.post(f"{room_service}/api/rooms", data=b"x" * (2 * 1024**2)) as response:
        assert response.status == 413


async def test_joining_with_a_wrong_invite_is_refused_and_adds_nobody(http, room_service):
    room = await create(http, room_service)
    url = f"{room_service}/api/rooms/{room['room_id']}"
    status, payload = await call(http, "POST", f"{url}/join", {"name": "Eve", "invite": "guess"})
    assert (status, payload["error"]["code"]) == (403, "bad_invite")
    assert [p["name"] for p in (await call(http, "GET", url))[1]["players"]] == ["Ann"]


async def test_start_needs_the_host_key_and_two_players(http, room_service):
    room = await create(http, room_service)
    url = f"{room_service}/api/rooms/{room['room_id']}"
    assert (await call(http, "POST", f"{url}/start"))[0] == 401
    assert (await call(http, "POST", f"{url}/start", key=room["player_key"]))[0] == 403
    status, payload = await call(http, "POST", f"{url}/start", key=room["host_key"])
    assert (status, payload["error"]["code"]) == (409, "not_enough_players")


async def test_start_when_livekit_is_down_fails_cleanly_and_can_be_retried(http, livekit_server):
    port = free_port()
    settings = room_service_settings(livekit_server, port)
    settings.livekit_url = f"ws://127.0.0.1:{free_port()}"  # nothing listens there
    runner = web.AppRunner(create_app(settings, rng=random.Random(0)))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        base = f"http://127.0.0.1:{port}"
        room = await create(http, base)
        url = f"{base}/api/rooms/{room['room_id']}"
        await call(http, "POST", f"{url}/join", {"name": "Bo", "invite": room["invite_code"]})
        status, payload = await call(http, "POST", f"{url}/start", key=room["host_key"])
        assert (status, payload["error"]["code"]) == (503, "media_unavailable")
        state = (await call(http, "GET", url))[1]
        assert state["state"] == "lobby" and len(state["players"]) == 2
    finally:
        await runner.cleanup()


async def test_ending_a_game_deletes_its_livekit_room_and_the_room_record(http, room_service, livekit_server):
    room = await create(http, room_service)
    url = f"{room_service}/api/rooms/{room['room_id']}"
    await call(http, "POST", f"{url}/join", {"name": "Bo", "invite": room["invite_code"]})
    assert (await call(http, "POST", f"{url}/start", key=room["host_key"]))[0] == 200
    lk = api.LiveKitAPI(livekit_server.http_url, livekit_server.api_key, livekit_server.api_secret)
    try:
        names = lambda rooms: [r.name for r in rooms.rooms]  # noqa: E731
        assert f"game-{room['room_id']}" in names(await lk.room.list_rooms(api.ListRoomsRequest()))
        assert (await call(http, "POST", f"{url}/end", key=room["host_key"]))[0] == 200
        assert f"game-{room['room_id']}" not in names(await lk.room.list_rooms(api.ListRoomsRequest()))
    finally:
        await lk.aclose()
    assert (await call(http, "GET", url))[0] == 404
