"""The room service's HTTP API against a real livekit-server: tokens, refusals, data deletion."""

import asyncio
import base64
import hashlib
import json

import jwt
import pytest
from livekit import api

from tests.conftest import room_service_settings, serve
from tests.support.livekit_server import free_port

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def call(http, method, url, body=None, key=None, raw=None, headers=None):
    headers = dict(headers or {})
    if key:
        headers["Authorization"] = f"Bearer {key}"
    async with http.request(method, url, json=body, data=raw, headers=headers) as response:
        return response.status, await response.json()


async def create(http, base, name="Ann"):
    status, room = await call(http, "POST", f"{base}/api/rooms", {"name": name})
    assert status == 201, room
    return room


async def join(http, base, room, name):
    status, grant = await call(
        http, "POST", f"{base}/api/rooms/{room['room_id']}/join", {"name": name, "invite": room["invite_code"]}
    )
    assert status == 201, grant
    return grant


def refusal(result, status, code):
    got_status, payload = result
    assert (got_status, payload["error"]["code"]) == (status, code), payload
    assert payload["error"]["message"]


async def test_a_player_gets_a_publish_only_ingest_token_and_a_watch_only_game_token(
    http, room_service, livekit_server
):
    room = await create(http, room_service.url)
    assert room["invite_url"].startswith(f"{room_service.url}/join/{room['room_id']}?invite=")
    assert len(room["invite_code"]) >= 22  # 128 random bits, base64url
    verifier = api.TokenVerifier(livekit_server.api_key, livekit_server.api_secret)
    ingest = verifier.verify(room["ingest_token"]).video
    game = verifier.verify(room["game_token"]).video
    assert ingest.room.startswith("ingest-") and ingest.room != game.room
    assert ingest.can_publish and not ingest.can_subscribe and not ingest.can_publish_data
    assert sorted(ingest.can_publish_sources) == ["camera", "microphone"]
    assert game.room == f"game-{room['room_id']}"
    assert game.can_subscribe and not game.can_publish and game.can_publish_data
    assert verifier.verify(room["game_token"]).identity == room["player_id"]


async def test_public_state_names_players_and_reveals_no_credentials(http, room_service):
    room = await create(http, room_service.url)
    bo = await join(http, room_service.url, room, "  Bo   Bee ")
    status, state = await call(http, "GET", f"{room_service.url}/api/rooms/{room['room_id']}")
    assert status == 200 and state["phase"] == "lobby"
    assert [p["name"] for p in state["players"]] == ["Ann", "Bo Bee"]
    text = json.dumps(state)
    for secret in (room["player_key"], room["invite_code"], bo["player_key"], room["ingest_token"]):
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
    refusal(await call(http, "POST", f"{room_service.url}/api/rooms", body, raw=raw), 400, code)


async def test_an_oversized_request_is_refused_before_it_is_read(http, room_service):
    big = json.dumps({"name": "x" * 200_000}).encode()
    refusal(await call(http, "POST", f"{room_service.url}/api/rooms", raw=big), 413, "too_large")


async def test_a_wrong_or_missing_invite_is_refused_and_adds_nobody(http, room_service):
    room = await create(http, room_service.url)
    url = f"{room_service.url}/api/rooms/{room['room_id']}"
    refusal(await call(http, "POST", f"{url}/join", {"name": "Eve", "invite": "guess"}), 403, "bad_invite")
    refusal(await call(http, "POST", f"{url}/join", {"name": "Eve"}), 400, "bad_invite")
    assert [p["name"] for p in (await call(http, "GET", url))[1]["players"]] == ["Ann"]


async def test_actions_need_a_valid_player_key_and_host_rights(http, room_service):
    room = await create(http, room_service.url)
    bo = await join(http, room_service.url, room, "Bo")
    url = f"{room_service.url}/api/rooms/{room['room_id']}"
    refusal(await call(http, "POST", f"{url}/start"), 401, "no_credential")
    refusal(await call(http, "POST", f"{url}/start", key="guess"), 403, "bad_credential")
    refusal(await call(http, "POST", f"{url}/start", key=bo["player_key"]), 403, "not_host")
    refusal(await call(http, "POST", f"{url}/kick", {"player_id": room["player_id"]}, key=bo["player_key"]), 403, "not_host")
    refusal(await call(http, "POST", f"{url}/end", key=bo["player_key"]), 403, "not_host")
    # The host with too few, unenrolled players: refused, nothing changes.
    status, payload = await call(http, "POST", f"{url}/start", key=room["player_key"])
    assert status == 409, payload
    assert (await call(http, "GET", url))[1]["phase"] == "lobby"


async def test_ready_is_idempotent_and_needs_a_boolean(http, room_service):
    room = await create(http, room_service.url)
    url = f"{room_service.url}/api/rooms/{room['room_id']}"
    refusal(await call(http, "POST", f"{url}/ready", {"ready": "yes"}, key=room["player_key"]), 400, "bad_payload")
    status, payload = await call(http, "POST", f"{url}/ready", {"ready": True}, key=room["player_key"])
    if status == 200:  # ready without enrollment may be allowed or refused; twice is the same
        again = await call(http, "POST", f"{url}/ready", {"ready": True}, key=room["player_key"])
        assert again == (status, payload) or again[1]["public"] == payload["public"]
    else:
        assert (await call(http, "POST", f"{url}/ready", {"ready": True}, key=room["player_key"]))[0] == status


async def test_settings_are_validated_by_the_host_only(http, room_service):
    room = await create(http, room_service.url)
    bo = await join(http, room_service.url, room, "Bo")
    url = f"{room_service.url}/api/rooms/{room['room_id']}"
    status, payload = await call(http, "POST", f"{url}/settings", {"settings": {"rounds": 2}}, key=room["player_key"])
    assert status == 200 and payload["public"]["settings"]["rounds"] == 2
    refusal(await call(http, "POST", f"{url}/settings", {"settings": {"rounds": 99}}, key=room["player_key"]), 409, "invalid_setting")
    refusal(await call(http, "POST", f"{url}/settings", {"settings": {"rounds": 2}}, key=bo["player_key"]), 403, "not_host")
    refusal(await call(http, "POST", f"{url}/settings", {"settings": 3}, key=room["player_key"]), 400, "bad_payload")


async def test_enrollment_upload_is_checked_before_any_face_or_voice_work(http, room_service):
    room = await create(http, room_service.url)
    url = f"{room_service.url}/api/rooms/{room['room_id']}/enrollment"
    key = room["player_key"]
    refusal(await call(http, "PUT", url, raw=b"{}", key=key, headers={"Content-Type": "application/json"}), 415, "not_multipart")

    async def upload(parts: dict[str, bytes]):
        import aiohttp

        form = aiohttp.FormData()
        for name, data in parts.items():
            form.add_field(name, data, filename=name)
        async with http.put(url, data=form, headers={"Authorization": f"Bearer {key}"}) as response:
            return response.status, await response.json()

    refusal(await upload({"photo": b"x"}), 400, "bad_upload")
    refusal(await upload({"photo": b"x", "voice": b"y", "extra": b"z"}), 400, "bad_upload")
    refusal(await upload({"photo": b"x" * (11 * 1024 * 1024), "voice": b"y"}), 413, "too_large")
    # Well-formed, but this player publishes no camera: nothing to check the photo against.
    refusal(await upload({"photo": b"x", "voice": b"y"}), 409, "camera_not_live")


async def test_leaving_revokes_the_key(http, room_service):
    room = await create(http, room_service.url)
    bo = await join(http, room_service.url, room, "Bo")
    url = f"{room_service.url}/api/rooms/{room['room_id']}"
    assert (await call(http, "POST", f"{url}/leave", key=bo["player_key"]))[0] == 200
    refusal(await call(http, "GET", f"{url}/me", key=bo["player_key"]), 403, "bad_credential")
    assert [p["name"] for p in (await call(http, "GET", url))[1]["players"]] == ["Ann"]


async def test_ending_a_room_deletes_its_livekit_room_and_its_record(http, room_service, livekit_server):
    room = await create(http, room_service.url)
    url = f"{room_service.url}/api/rooms/{room['room_id']}"
    lk = api.LiveKitAPI(livekit_server.http_url, livekit_server.api_key, livekit_server.api_secret)
    names = lambda rooms: [r.name for r in rooms.rooms]  # noqa: E731
    try:
        for _ in range(50):  # the game master joins the game room in the background
            if f"game-{room['room_id']}" in names(await lk.room.list_rooms(api.ListRoomsRequest())):
                break
            await __import__("asyncio").sleep(0.1)
        assert f"game-{room['room_id']}" in names(await lk.room.list_rooms(api.ListRoomsRequest()))
        assert (await call(http, "POST", f"{url}/end", key=room["player_key"]))[0] == 200
        assert f"game-{room['room_id']}" not in names(await lk.room.list_rooms(api.ListRoomsRequest()))
    finally:
        await lk.aclose()
    refusal(await call(http, "GET", url), 404, "room_not_found")


async def test_creating_rooms_is_rate_limited_per_client(http, livekit_server, tmp_path):
    settings = room_service_settings(livekit_server, free_port(), tmp_path)
    settings.create_rate_per_minute = 2
    runner = await serve(settings)
    try:
        base = f"http://127.0.0.1:{settings.port}"
        for _ in range(2):
            await create(http, base)
        async with http.post(f"{base}/api/rooms", json={"name": "Cy"}) as response:
            assert response.status == 429 and int(response.headers["Retry-After"]) >= 1
            assert (await response.json())["error"]["code"] == "rate_limited"
    finally:
        await runner.cleanup()


async def test_livekit_webhooks_need_a_valid_signature(http, room_service, livekit_server):
    url = f"{room_service.url}/api/livekit/webhook"
    body = json.dumps({"event": "room_started", "room": {"name": "game-x"}})
    digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()

    def signed(secret: str) -> str:
        return api.AccessToken(livekit_server.api_key, secret).with_sha256(digest).to_jwt()

    headers = {"Content-Type": "application/webhook+json"}
    refusal(await call(http, "POST", url, raw=body.encode(), headers=headers), 401, "bad_signature")
    forged = {**headers, "Authorization": signed("not-the-secret-of-this-server-0123456789")}
    refusal(await call(http, "POST", url, raw=body.encode(), headers=forged), 401, "bad_signature")
    tampered = {**headers, "Authorization": signed(livekit_server.api_secret)}
    refusal(await call(http, "POST", url, raw=body.replace("x", "y").encode(), headers=tampered), 401, "bad_signature")
    good = {**headers, "Authorization": signed(livekit_server.api_secret)}
    assert (await call(http, "POST", url, raw=body.encode(), headers=good))[0] == 200


async def test_the_openapi_document_is_served(http, room_service):
    status, doc = await call(http, "GET", f"{room_service.url}/api/openapi.json")
    assert status == 200 and doc["openapi"].startswith("3.")
    assert "/api/rooms/{room_id}/enrollment" in doc["paths"]


async def test_only_the_rooms_own_agent_reads_an_enrolled_profile(http, room_service, livekit_server):
    from agent.profiles import agent_token
    from room_service.biometrics import BiometricStore

    room = await create(http, room_service.url)
    other = await create(http, room_service.url, "Cy")
    profile = b"\x00opaque profile bytes\xff"
    BiometricStore(room_service.data_dir / "biometrics").put(
        room["room_id"], room["player_id"], "profile-passthrough", profile
    )
    url = f"{room_service.url}/api/agent/rooms/{room['room_id']}/profiles/{room['player_id']}"
    key, secret = livekit_server.api_key, livekit_server.api_secret

    async def fetch(token, target=url):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with http.get(target, headers=headers) as response:
            return response.status, await response.read()

    status, body = await fetch(agent_token(key, secret, f"game-{room['room_id']}"))
    assert (status, body) == (200, profile)
    # A mirror job of this room's player may read it too (their own preview); another room's may not.
    assert (await fetch(agent_token(key, secret, f"mirror-{room['room_id']}-{room['player_id']}")))[0] == 200
    assert (await fetch(agent_token(key, secret, f"mirror-{other['room_id']}-{other['player_id']}")))[0] == 403
    # Refused: no token, a player's own tokens, another room's agent, a token signed elsewhere.
    assert (await fetch(None))[0] == 401
    assert (await fetch(room["game_token"]))[0] == 403
    assert (await fetch(room["ingest_token"]))[0] == 403
    assert (await fetch(agent_token(key, secret, f"game-{other['room_id']}")))[0] == 403
    assert (await fetch(agent_token(key, "another-secret-of-another-server-0123456789", f"game-{room['room_id']}")))[0] == 401
    # Nothing enrolled, or not a player of this room: 404 with the usual error body.
    token = agent_token(key, secret, f"game-{room['room_id']}")
    status, body = await fetch(token, url.replace(room["player_id"], other["player_id"]))
    assert status == 404 and json.loads(body)["error"]["code"] == "no_profile"
    status, body = await fetch(token, url.replace(room["player_id"], "../../etc"))
    assert status == 404


async def test_a_room_runs_the_plugin_its_creator_picked_if_the_server_has_it(http, room_service):
    refusal(
        await call(http, "POST", f"{room_service.url}/api/rooms", {"name": "Ann", "plugin": "nope"}),
        400,
        "unknown_plugin",
    )
    refusal(
        await call(http, "POST", f"{room_service.url}/api/rooms", {"name": "Ann", "plugin": 7}),
        400,
        "unknown_plugin",
    )
    status, room = await call(http, "POST", f"{room_service.url}/api/rooms", {"name": "Ann", "plugin": "passthrough"})
    assert status == 201, room


async def test_a_seated_player_renews_its_tokens_and_nobody_else_can(http, room_service, livekit_server):
    room = await create(http, room_service.url)
    bo = await join(http, room_service.url, room, "Bo")
    url = f"{room_service.url}/api/rooms/{room['room_id']}/grant"
    await asyncio.sleep(1.1)  # token expiry has a resolution of one second
    status, renewed = await call(http, "POST", url, key=bo["player_key"])
    assert status == 200
    verifier = api.TokenVerifier(livekit_server.api_key, livekit_server.api_secret)
    for name in ("ingest_token", "game_token"):
        old, new = verifier.verify(bo[name]), verifier.verify(renewed[name])
        assert (new.identity, new.video.room) == (old.identity, old.video.room)
        assert new.video == old.video  # the same rights, no more
        expiry = jwt.decode(renewed[name], options={"verify_signature": False})["exp"]
        assert expiry > jwt.decode(bo[name], options={"verify_signature": False})["exp"]
    assert {k: renewed[k] for k in ("room_id", "player_id", "player_key", "livekit_url")} == {
        k: bo[k] for k in ("room_id", "player_id", "player_key", "livekit_url")
    }

    refusal(await call(http, "POST", url), 401, "no_credential")
    refusal(await call(http, "POST", url, key="not-a-key"), 403, "bad_credential")
    other = await create(http, room_service.url, "Cy")
    refusal(await call(http, "POST", url, key=other["player_key"]), 403, "bad_credential")
    assert (await call(http, "POST", f"{room_service.url}/api/rooms/{room['room_id']}/leave", key=bo["player_key"]))[0] == 200
    refusal(await call(http, "POST", url, key=bo["player_key"]), 403, "bad_credential")  # left: no way back
