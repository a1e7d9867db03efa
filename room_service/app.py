"""The room service's HTTP API (aiohttp)."""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from .livekit_gateway import LiveKitGateway
from .rooms import Player, Room, RoomError, RoomRegistry
from .settings import RoomServiceSettings

logger = logging.getLogger("bodyswap.room_service")

MAX_NAME_LENGTH = 32
SETTINGS_KEY = web.AppKey("settings", RoomServiceSettings)
REGISTRY_KEY = web.AppKey("registry", RoomRegistry)
GATEWAY_KEY = web.AppKey("gateway", LiveKitGateway)
RNG_KEY = web.AppKey("rng", random.Random)

STATUS_PAGE = """<!doctype html>
<html lang="en"><meta charset="utf-8"><title>Bodyswap</title>
<body style="font-family: system-ui; max-width: 40rem; margin: 3rem auto">
<h1>Bodyswap is running</h1>
<p>The room service, LiveKit server and media worker are up. The game's web app is not built yet;
until then, rooms are created through the JSON API under <code>/api</code>.</p>
</body></html>"""


def error_response(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


@web.middleware
async def errors_as_json(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except RoomError as e:
        return error_response(e.status, e.code, e.message)


async def read_json(request: web.Request) -> dict:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise RoomError(400, "bad_json", "The request body must be a JSON object.") from None
    if not isinstance(body, dict):
        raise RoomError(400, "bad_json", "The request body must be a JSON object.")
    return body


def read_name(body: dict) -> str:
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise RoomError(400, "bad_name", "Enter a name.")
    name = " ".join(name.split())
    if len(name) > MAX_NAME_LENGTH or not name.isprintable():
        raise RoomError(400, "bad_name", f"Names are 1 to {MAX_NAME_LENGTH} printable characters.")
    return name


def bearer_key(request: web.Request) -> str:
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key:
        raise RoomError(401, "no_credential", "This action needs the room's host key.")
    return key


def player_grant(request: web.Request, room: Room, player: Player) -> dict:
    gateway, settings = request.app[GATEWAY_KEY], request.app[SETTINGS_KEY]
    return {
        "room_id": room.id,
        "player_id": player.id,
        "player_key": player.key,
        "livekit_url": settings.browser_livekit_url,
        "ingest_token": gateway.ingest_token(player.ingest_room, player.id, player.name),
        "game_token": gateway.game_token(room.game_room, player.id, player.name),
    }


async def create_room(request: web.Request) -> web.Response:
    name = read_name(await read_json(request))
    room, host = request.app[REGISTRY_KEY].create(name, now=time.time())
    settings = request.app[SETTINGS_KEY]
    body = {
        "invite_url": f"{settings.public_url}/join/{room.id}?invite={room.invite_code}",
        "invite_code": room.invite_code,
        "host_key": room.host_key,
        **player_grant(request, room, host),
    }
    return web.json_response(body, status=201)


async def join_room(request: web.Request) -> web.Response:
    body = await read_json(request)
    name = read_name(body)
    invite = body.get("invite")
    if not isinstance(invite, str):
        raise RoomError(400, "bad_invite", "This invite link is not valid for this room.")
    room, player = request.app[REGISTRY_KEY].join(
        request.match_info["room_id"], invite, name, now=time.time()
    )
    return web.json_response(player_grant(request, room, player), status=201)


async def room_state(request: web.Request) -> web.Response:
    return web.json_response(request.app[REGISTRY_KEY].get(request.match_info["room_id"]).public_state())


async def start_game(request: web.Request) -> web.Response:
    registry, settings = request.app[REGISTRY_KEY], request.app[SETTINGS_KEY]
    room = registry.start(
        request.match_info["room_id"], bearer_key(request), settings.swap_plugin, request.app[RNG_KEY]
    )
    assert room.plan is not None
    try:
        await request.app[GATEWAY_KEY].start_media(room.plan)
    except Exception:
        logger.exception("could not start media for room %s", room.id)
        room.state, room.plan = "lobby", None  # nothing half-starts: the host can retry
        raise RoomError(503, "media_unavailable", "The game could not start; try again.") from None
    return web.json_response(room.public_state())


async def end_game(request: web.Request) -> web.Response:
    room = request.app[REGISTRY_KEY].end(request.match_info["room_id"], bearer_key(request))
    await request.app[GATEWAY_KEY].end_media(room.game_room)
    return web.json_response({"room_id": room.id, "state": "ended"})


async def health(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def index(_: web.Request) -> web.Response:
    return web.Response(text=STATUS_PAGE, content_type="text/html")


def create_app(settings: RoomServiceSettings, rng: random.Random | None = None) -> web.Application:
    app = web.Application(middlewares=[errors_as_json], client_max_size=1024**2)
    app[SETTINGS_KEY] = settings
    app[REGISTRY_KEY] = RoomRegistry(settings.max_players)
    app[GATEWAY_KEY] = LiveKitGateway(settings)
    app[RNG_KEY] = rng or random.SystemRandom()
    app.router.add_get("/", index)
    app.router.add_get("/healthz", health)
    app.router.add_post("/api/rooms", create_room)
    app.router.add_get("/api/rooms/{room_id}", room_state)
    app.router.add_post("/api/rooms/{room_id}/join", join_room)
    app.router.add_post("/api/rooms/{room_id}/start", start_game)
    app.router.add_post("/api/rooms/{room_id}/end", end_game)

    async def close_gateway(app: web.Application) -> None:
        await app[GATEWAY_KEY].aclose()

    app.on_cleanup.append(close_gateway)
    return app
