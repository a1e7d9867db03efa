"""The room service's HTTP API (aiohttp). The OpenAPI document at /api/openapi.json describes it."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path

import aiohttp
import yaml
from aiohttp import web
from bodyswap_api import load_plugin, plugin_names
from livekit import api

from agent.plan import AGENT_IDENTITY, SAMPLE_PREFIX

from . import enrollment
from .biometrics import BiometricStore
from . import game
from .game_master import AGENT_PROFILES_PATH, GameMaster
from .live_frame import CameraNotLive, grab_live_frame
from .livekit_gateway import LiveKitGateway
from .manager import RoomError, RoomManager
from .mirror import MIRROR_SECONDS, Mirrors, SampleBodies, mirror_room
from .observability import ServiceMetrics, log_game_events
from .rate_limit import RateLimiter
from .records import PlayerRecord, RoomRecord
from .settings import RoomServiceSettings
from .leases import RoomLeases, keep_leases, ownership_middleware
from .redis_store import RedisRoomStore
from .store import SqliteRoomStore
from .uploads import read_parts

logger = logging.getLogger("bodyswap.room_service")

MAX_NAME_LENGTH = 32
MAX_JSON_BYTES = 64 * 1024
EXPIRY_SWEEP_S = 60.0

SETTINGS = web.AppKey("settings", RoomServiceSettings)
MANAGER = web.AppKey("manager", RoomManager)
GATEWAY = web.AppKey("gateway", LiveKitGateway)
GAME_MASTER = web.AppKey("game_master", GameMaster)
LIMITS = web.AppKey("limits", dict)
OPENAPI = web.AppKey("openapi", dict)
EXPIRY_TASK = web.AppKey("expiry_task", asyncio.Task)
SAMPLES = web.AppKey("samples", SampleBodies)
MIRRORS = web.AppKey("mirrors", Mirrors)
METRICS = web.AppKey("metrics", ServiceMetrics)
LEASES = web.AppKey("leases", RoomLeases)
PLUGINS = web.AppKey("plugins", frozenset)  # names a room may ask for: fixed by what is installed
FORWARDER = web.AppKey("forwarder", dict)  # {"http": aiohttp.ClientSession, "task": lease upkeep}
READY_TIMEOUT_S = 3.0

# The players' web app (frontend/, built by `./bodyswap setup`). Until it is built, `/` serves STATUS_PAGE.
FRONTEND_DIST = Path(__file__).resolve().parents[1] / "frontend" / "dist"
SPA_ROUTES = ("/", "/join/{tail:.*}", "/room/{tail:.*}")  # the app's own addresses: all get index.html

STATUS_PAGE = """<!doctype html>
<html lang="en"><meta charset="utf-8"><title>Bodyswap</title>
<body style="font-family: system-ui; max-width: 40rem; margin: 3rem auto">
<h1>Bodyswap is running</h1>
<p>The room service, LiveKit server and media worker are up. The game's web app is not built yet;
until then, rooms are created through the JSON API described at
<a href="/api/openapi.json">/api/openapi.json</a>.</p>
</body></html>"""


def error_response(status: int, code: str, message: str, headers: dict | None = None) -> web.Response:
    return web.json_response(
        {"error": {"code": code, "message": message}}, status=status, headers=headers
    )


# Engine refusals are 409 (the request conflicts with the game's rules or phase), except these.
GAME_ERROR_STATUS = {"unknown_player": 404, "not_host": 403, "bad_payload": 400, "bad_name": 400}


@web.middleware
async def errors_as_json(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except RoomError as e:
        return error_response(e.status, e.code, e.message)
    except game.GameError as e:
        return error_response(GAME_ERROR_STATUS.get(e.code, 409), e.code, e.message)
    except enrollment.EnrollmentError as e:
        return error_response(422, e.code, e.message)
    except web.HTTPRequestEntityTooLarge:
        return error_response(413, "too_large", "The request is too large.")
    except web.HTTPException as e:
        if e.status >= 400 and e.content_type != "application/json":
            return error_response(e.status, "http_error", e.reason)
        raise


async def read_json(request: web.Request) -> dict:
    if request.content_length is not None and request.content_length > MAX_JSON_BYTES:
        raise RoomError(413, "too_large", "The request is too large.")
    raw = await request.content.read(MAX_JSON_BYTES + 1)
    if len(raw) > MAX_JSON_BYTES:
        raise RoomError(413, "too_large", "The request is too large.")
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise RoomError(400, "bad_json", "The request body must be a JSON object.") from None
    if not isinstance(body, dict):
        raise RoomError(400, "bad_json", "The request body must be a JSON object.")
    return body


CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # the rule openapi.yaml states too


def read_name(body: dict) -> str:
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise RoomError(400, "bad_name", "Enter a name.")
    if len(name) > MAX_NAME_LENGTH or CONTROL_CHARACTERS.search(name):
        raise RoomError(400, "bad_name", f"Names are 1 to {MAX_NAME_LENGTH} characters, without control characters.")
    return " ".join(name.split())


def rate_limited(request: web.Request, kind: str) -> None:
    wait = request.app[LIMITS][kind].allow(request.remote or "unknown")
    if wait:
        raise web.HTTPTooManyRequests(
            headers={"Retry-After": str(int(wait) + 1)},
            text=json.dumps({"error": {"code": "rate_limited", "message": "Too many requests; wait a moment."}}),
            content_type="application/json",
        )


def bearer_key(request: web.Request) -> str:
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise RoomError(401, "no_credential", "This action needs your player key.")
    return key.strip()


async def authenticated(request: web.Request) -> tuple[RoomRecord, PlayerRecord]:
    return await request.app[MANAGER].authenticate(request.match_info["room_id"], bearer_key(request))


def player_grant(request: web.Request, record: RoomRecord, player: PlayerRecord, key: str) -> dict:
    gateway, settings = request.app[GATEWAY], request.app[SETTINGS]
    return {
        "room_id": record.id,
        "player_id": player.id,
        "player_key": key,
        "livekit_url": settings.browser_livekit_url,
        "ingest_token": gateway.ingest_token(player.ingest_room, player.id, player.name),
        "game_token": gateway.game_token(record.game_room, player.id, player.name),
    }


def views(request: web.Request, record: RoomRecord, player_id: str) -> dict:
    state = game.GameState.from_dict(record.game)
    now = request.app[MANAGER].now()
    return {"public": game.public_view(state, now), "private": game.private_view(state, player_id)}


# --- handlers -------------------------------------------------------------------------------


async def create_room(request: web.Request) -> web.Response:
    rate_limited(request, "create")
    body = await read_json(request)
    name = read_name(body)
    settings = request.app[SETTINGS]
    plugin = body.get("plugin", settings.swap_plugin)
    if not isinstance(plugin, str) or plugin not in request.app[PLUGINS]:
        raise RoomError(
            400, "unknown_plugin", f"This server has no swap plugin called {str(plugin)[:64]!r}."
        )
    record, host, key = await request.app[MANAGER].create_room(name, plugin)
    if LEASES in request.app:
        await request.app[LEASES].claim(record.id)  # a new room belongs to the instance that made it
    request.app[METRICS].rooms_created.inc()
    logger.info("room created", extra={"room_id": record.id, "player_id": host.id})
    body = {
        "invite_url": f"{settings.public_url}/join/{record.id}?invite={record.invite_code}",
        "invite_code": record.invite_code,
        "invite_expires_at": record.invite_expires_at,
        **player_grant(request, record, host, key),
    }
    return web.json_response(body, status=201)


async def join_room(request: web.Request) -> web.Response:
    rate_limited(request, "join")
    body = await read_json(request)
    name = read_name(body)
    invite = body.get("invite")
    if not isinstance(invite, str) or not invite:
        raise RoomError(400, "bad_invite", "This invite link is not valid for this room.")
    record, player, key = await request.app[MANAGER].join(request.match_info["room_id"], invite, name)
    logger.info("player joined", extra={"room_id": record.id, "player_id": player.id})
    return web.json_response(player_grant(request, record, player, key), status=201)


async def room_state(request: web.Request) -> web.Response:
    manager = request.app[MANAGER]
    record = await manager.get(request.match_info["room_id"])
    return web.json_response(game.public_view(game.GameState.from_dict(record.game), manager.now()))


async def my_view(request: web.Request) -> web.Response:
    record, player = await authenticated(request)
    return web.json_response(views(request, record, player.id))


async def renew_grant(request: web.Request) -> web.Response:
    """Fresh LiveKit tokens for a player still in the room: a page reloaded or a connection lost
    after the old tokens expired (they last BODYSWAP_TOKEN_TTL_MINUTES) gets back in its seat."""
    record, player = await authenticated(request)
    return web.json_response(player_grant(request, record, player, bearer_key(request)))


async def act(request: web.Request, make_action: Callable[[str, dict], object]) -> web.Response:
    record, player = await authenticated(request)
    action = make_action(player.id, await read_json(request))
    record, _ = await request.app[MANAGER].act(record.id, action)
    return web.json_response(views(request, record, player.id))


def bool_field(body: dict, name: str) -> bool:
    value = body.get(name)
    if not isinstance(value, bool):
        raise RoomError(400, "bad_payload", f"'{name}' must be true or false.")
    return value


def str_field(body: dict, name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise RoomError(400, "bad_payload", f"'{name}' must be a non-empty string.")
    return value


async def set_ready(request: web.Request) -> web.Response:
    return await act(request, lambda who, body: game.SetReady(who, bool_field(body, "ready")))


async def start_game(request: web.Request) -> web.Response:
    return await act(request, lambda who, body: game.Start(who))


async def kick_player(request: web.Request) -> web.Response:
    return await act(request, lambda who, body: game.Kick(who, str_field(body, "player_id")))


async def update_settings(request: web.Request) -> web.Response:
    def action(who: str, body: dict) -> object:
        if not isinstance(body.get("settings"), dict):
            raise RoomError(400, "bad_payload", "'settings' must be an object.")
        return game.UpdateSettings(who, body["settings"])

    return await act(request, action)


async def leave_room(request: web.Request) -> web.Response:
    record, player = await authenticated(request)
    await request.app[MANAGER].act(record.id, game.Leave(player.id))
    return web.json_response({"room_id": record.id, "left": True})


async def end_room(request: web.Request) -> web.Response:
    record, player = await authenticated(request)
    state = game.GameState.from_dict(record.game)
    if state.host_id != player.id:
        raise RoomError(403, "not_host", "Only the host can end the room.")
    await request.app[MANAGER].end_room(record.id)
    return web.json_response({"room_id": record.id, "state": "ended"})


async def upload_enrollment(request: web.Request) -> web.Response:
    record, player = await authenticated(request)
    try:
        response = await _enroll(request, record, player)
    except (enrollment.EnrollmentError, RoomError) as e:
        # Counted by the refusal's code only: never what was in the photo or the voice.
        request.app[METRICS].enrollments.labels("refused", e.code).inc()
        logger.info("enrollment refused", extra={"room_id": record.id, "player_id": player.id, "code": e.code})
        raise
    request.app[METRICS].enrollments.labels("accepted", "").inc()
    logger.info("enrollment accepted", extra={"room_id": record.id, "player_id": player.id})
    return response


async def _enroll(request: web.Request, record: RoomRecord, player: PlayerRecord) -> web.Response:
    manager, settings, gateway = request.app[MANAGER], request.app[SETTINGS], request.app[GATEWAY]
    if game.GameState.from_dict(record.game).phase != game.Phase.LOBBY:
        # Refused before reading the upload: enrollment only ever changes in the lobby.
        raise RoomError(409, "wrong_phase", "Enrollment can only change in the lobby.")
    parts = await read_parts(
        request, {"photo": enrollment.MAX_PHOTO_BYTES, "voice": enrollment.MAX_VOICE_BYTES}
    )
    try:
        live_frame = await grab_live_frame(
            settings.livekit_url,
            gateway.camera_check_token(player.ingest_room),
            player.id,
            settings.camera_wait_s,
        )
    except CameraNotLive:
        raise RoomError(
            409,
            "camera_not_live",
            "Turn on your camera first: we check that the photo shows the person on it.",
        ) from None
    validated = await asyncio.to_thread(
        enrollment.validate_enrollment, parts["photo"], parts["voice"], live_frame
    )
    plugin = load_plugin(record.plugin or settings.swap_plugin)
    profile = await asyncio.to_thread(plugin.prepare, validated.enrollment)
    store = manager.biometrics
    store.put(record.id, player.id, "photo", parts["photo"])
    store.put(record.id, player.id, "voice", parts["voice"])
    store.put(record.id, player.id, f"profile-{plugin.name}", profile)
    record, _ = await manager.act(record.id, game.SetEnrolled(player.id, True))
    return web.json_response(
        {
            "enrolled": True,
            "speech_seconds": round(validated.speech_seconds, 1),
            **views(request, record, player.id),
        }
    )


async def delete_my_data(request: web.Request) -> web.Response:
    record, player = await authenticated(request)
    manager = request.app[MANAGER]
    manager.biometrics.delete_player(record.id, player.id)
    state = game.GameState.from_dict(record.game)
    if state.players[player.id].enrolled:
        await manager.act(record.id, game.SetEnrolled(player.id, False))
    return web.json_response({"room_id": record.id, "deleted": True})


async def agent_profile(request: web.Request) -> web.Response:
    """A player's enrolled profile, for the agent job of this very room and nobody else.

    The agent proves itself with a LiveKit token it signed with the API secret this service shares:
    identity `bodyswap-agent`, an agent grant, and this room's game room. Players hold tokens of
    their own identity, so none of theirs passes.
    """
    settings, manager = request.app[SETTINGS], request.app[MANAGER]
    record = await manager.get(request.match_info["room_id"])
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise RoomError(401, "no_credential", "This needs the room's agent token.")
    try:
        claims = api.TokenVerifier(settings.livekit_api_key, settings.livekit_api_secret).verify(token.strip())
    except Exception:
        raise RoomError(401, "bad_token", "This token is not valid.") from None
    video = claims.video
    rooms = {record.game_room} | {mirror_room(record.id, pid) for pid in record.players}
    if claims.identity != AGENT_IDENTITY or not (video and video.agent and video.room in rooms):
        raise RoomError(403, "not_this_rooms_agent", "Only this room's agent may read its profiles.")
    player_id = request.match_info["player_id"]
    plugin = record.plugin or settings.swap_plugin
    if player_id.startswith(SAMPLE_PREFIX):  # a mirror's sample body: the operator's portrait
        sample = request.app[SAMPLES].get(player_id.removeprefix(SAMPLE_PREFIX))
        if sample is None:
            raise RoomError(404, "no_profile", "There is no such sample body.")
        profile = await request.app[SAMPLES].profile(sample, plugin)
        return web.Response(body=profile, content_type="application/octet-stream")
    profile = manager.biometrics.get(record.id, player_id, f"profile-{plugin}") if player_id in record.players else None
    if profile is None:
        raise RoomError(404, "no_profile", "This player has no enrolled profile in this room.")
    return web.Response(body=profile, content_type="application/octet-stream")


async def list_samples(request: web.Request) -> web.Response:
    """The sample bodies a player may preview themselves in (the operator's portraits)."""
    samples = request.app[SAMPLES].list()
    return web.json_response(
        {"samples": [{"id": s.id, "name": s.name, "image_url": f"/api/samples/{s.id}/image"} for s in samples]}
    )


async def sample_image(request: web.Request) -> web.FileResponse:
    sample = request.app[SAMPLES].get(request.match_info["sample_id"])
    if sample is None:
        raise RoomError(404, "no_sample", "There is no such sample body.")
    return web.FileResponse(sample.path)


async def start_mirror(request: web.Request) -> web.Response:
    """Preview myself in a sample body: a private room only I can watch, for a minute and a half."""
    record, player = await authenticated(request)
    body = await read_json(request)
    state = game.GameState.from_dict(record.game)
    if state.phase != game.Phase.LOBBY:
        raise RoomError(409, "wrong_phase", "The mirror is only there before the game starts.")
    if not state.players[player.id].enrolled:
        raise RoomError(409, "not_enrolled", "Enroll first: then you can see yourself in a sample body.")
    sample = request.app[SAMPLES].get(body.get("sample")) if isinstance(body.get("sample"), str) else None
    if sample is None:
        raise RoomError(400, "no_sample", "Pick one of the sample bodies.")
    room = await request.app[MIRRORS].start(record, player, sample)
    return web.json_response(
        {
            "livekit_url": request.app[SETTINGS].browser_livekit_url,
            "mirror_token": request.app[GATEWAY].mirror_token(room, player.id, player.name),
            "body_name": sample.name,
            "seconds": MIRROR_SECONDS,
        }
    )


async def stop_mirror(request: web.Request) -> web.Response:
    record, player = await authenticated(request)
    stopped = await request.app[MIRRORS].stop(record.id, player.id)
    return web.json_response({"stopped": stopped})


async def livekit_webhook(request: web.Request) -> web.Response:
    """LiveKit's webhooks, accepted only with a valid signature (a JWT over the body's hash)."""
    settings = request.app[SETTINGS]
    body = (await request.content.read(MAX_JSON_BYTES + 1)).decode(errors="replace")
    receiver = api.WebhookReceiver(api.TokenVerifier(settings.livekit_api_key, settings.livekit_api_secret))
    try:
        event = receiver.receive(body, request.headers.get("Authorization", ""))
    except Exception:
        raise RoomError(401, "bad_signature", "The webhook signature is not valid.") from None
    if event.event == "participant_left" and event.room.name.startswith("game-"):
        request.app[GAME_MASTER].participant_left(
            event.room.name.removeprefix("game-"), event.participant.kind
        )
    return web.json_response({"ok": True})


async def openapi_document(request: web.Request) -> web.Response:
    return web.json_response(request.app[OPENAPI])


async def health(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def ready(request: web.Request) -> web.Response:
    """Ready to take players: the room store answers and so does LiveKit's server API."""
    checks: dict[str, str] = {}

    async def check(name: str, probe: Awaitable) -> None:
        try:
            await asyncio.wait_for(probe, READY_TIMEOUT_S)
            checks[name] = "ok"
        except Exception as e:
            checks[name] = f"failed: {type(e).__name__}"
            logger.warning("readiness: %s unreachable", name, extra={"reason": type(e).__name__})

    await check("store", request.app[MANAGER].store.room_ids())
    await check("livekit", request.app[GATEWAY].ping())
    ok = all(v == "ok" for v in checks.values())
    return web.json_response({"status": "ready" if ok else "not_ready", "checks": checks}, status=200 if ok else 503)


async def metrics(request: web.Request) -> web.Response:
    service_metrics = request.app[METRICS]
    await service_metrics.refresh(request.app[MANAGER].store)
    service_metrics.media_waiting.set(request.app[GAME_MASTER].media_waiting_count())
    return web.Response(body=service_metrics.exposition(), content_type="text/plain", charset="utf-8")


def frontend_handlers(dist: Path) -> tuple[Callable, Callable]:
    """Handlers for the built app: its index.html for every app address (the app routes itself),
    and its hashed assets. Checked on every request, so a build made while the service runs is
    served without a restart; the status page stands in until then."""
    root = dist.resolve()

    async def index(_: web.Request) -> web.StreamResponse:
        page = root / "index.html"
        if not page.is_file():
            return web.Response(text=STATUS_PAGE, content_type="text/html")
        return web.FileResponse(page, headers={"Cache-Control": "no-cache"})

    async def asset(request: web.Request) -> web.StreamResponse:
        path = (root / "assets" / request.match_info["path"]).resolve()
        if not path.is_relative_to(root / "assets") or not path.is_file():
            raise web.HTTPNotFound()
        # Vite names assets by content hash: they never change under one name.
        return web.FileResponse(path, headers={"Cache-Control": "public, max-age=31536000, immutable"})

    return index, asset


# --- assembly -------------------------------------------------------------------------------


def load_openapi(plugins: frozenset[str]) -> dict:
    document = yaml.safe_load(resources.files(__package__).joinpath("openapi.yaml").read_text())
    # The plugins a room may ask for are those installed here: the document says which.
    plugin = document["components"]["schemas"]["CreateRequest"]["properties"]["plugin"]
    plugin["enum"] = sorted(plugins)
    return document


def create_app(
    settings: RoomServiceSettings,
    rng: random.Random | None = None,
    clock: Callable[[], float] = time.time,
    frontend_dist: Path = FRONTEND_DIST,
) -> web.Application:
    app = web.Application(middlewares=[errors_as_json], client_max_size=MAX_JSON_BYTES)
    data_dir = settings.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    data_dir.chmod(0o700)
    store = RedisRoomStore(settings.redis_url) if settings.redis_url else SqliteRoomStore(data_dir / "rooms.sqlite3")
    manager = RoomManager(
        store,
        BiometricStore(data_dir / "biometrics"),
        settings,
        clock=clock,
        rng=rng,
    )
    gateway = LiveKitGateway(settings)
    service_metrics = app[METRICS] = ServiceMetrics()
    app[SETTINGS] = settings
    app[MANAGER] = manager
    app[GATEWAY] = gateway
    app[GAME_MASTER] = GameMaster(
        manager,
        gateway,
        settings.swap_plugin,
        settings.livekit_url,
        settings.agent_base_url,
        settings.agent_join_timeout_s,
        metrics=service_metrics,
    )
    app[LIMITS] = {
        "create": RateLimiter(settings.create_rate_per_minute, time.monotonic),
        "join": RateLimiter(settings.join_rate_per_minute, time.monotonic),
    }
    # Read once: finding the plugins loads every installed one (tens of ms, on the event loop).
    plugins = app[PLUGINS] = frozenset(plugin_names())
    app[OPENAPI] = load_openapi(plugins)
    app[SAMPLES] = SampleBodies(settings.sample_bodies_dir)
    mirrors = app[MIRRORS] = Mirrors(gateway, settings.agent_base_url, settings.swap_plugin)

    async def stop_mirrors_when_the_game_starts(record, state, _events) -> None:
        if state.phase != game.Phase.LOBBY:
            await mirrors.stop_room(record.id)
        else:
            await mirrors.stop_gone(record.id, set(record.players))  # players who left or were kicked

    async def stop_mirrors_when_the_room_ends(room_id: str) -> None:
        await mirrors.stop_room(room_id)

    async def observe(record, state, events) -> None:
        service_metrics.on_change(events)
        log_game_events(logger, record.id, state, events)

    manager.change_listeners.append(observe)
    manager.change_listeners.append(stop_mirrors_when_the_game_starts)
    manager.end_listeners.append(stop_mirrors_when_the_room_ends)

    if settings.redis_url:  # several instances may share these rooms: each room has one owner
        leases = app[LEASES] = RoomLeases(settings.redis_url, settings.agent_base_url, settings.room_lease_s)
        app[FORWARDER] = {}
        app.middlewares.append(
            ownership_middleware(leases, app[GAME_MASTER].adopt, lambda: app[FORWARDER]["http"])
        )

    index, asset = frontend_handlers(frontend_dist)
    for route in SPA_ROUTES:
        app.router.add_get(route, index)
    app.router.add_get("/assets/{path:.+}", asset)
    app.router.add_get("/healthz", health)
    app.router.add_get("/readyz", ready)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/api/openapi.json", openapi_document)
    app.router.add_post("/api/rooms", create_room)
    app.router.add_get("/api/rooms/{room_id}", room_state)
    app.router.add_post("/api/rooms/{room_id}/join", join_room)
    app.router.add_get("/api/rooms/{room_id}/me", my_view)
    app.router.add_post("/api/rooms/{room_id}/grant", renew_grant)
    app.router.add_put("/api/rooms/{room_id}/enrollment", upload_enrollment)
    app.router.add_delete("/api/rooms/{room_id}/enrollment", delete_my_data)
    app.router.add_post("/api/rooms/{room_id}/ready", set_ready)
    app.router.add_post("/api/rooms/{room_id}/settings", update_settings)
    app.router.add_post("/api/rooms/{room_id}/start", start_game)
    app.router.add_post("/api/rooms/{room_id}/kick", kick_player)
    app.router.add_post("/api/rooms/{room_id}/leave", leave_room)
    app.router.add_post("/api/rooms/{room_id}/end", end_room)
    app.router.add_post("/api/livekit/webhook", livekit_webhook)
    app.router.add_get(AGENT_PROFILES_PATH + "/{player_id}", agent_profile)
    app.router.add_get("/api/samples", list_samples)
    app.router.add_get("/api/samples/{sample_id}/image", sample_image)
    app.router.add_post("/api/rooms/{room_id}/mirror", start_mirror)
    app.router.add_delete("/api/rooms/{room_id}/mirror", stop_mirror)

    async def start_background(app: web.Application) -> None:
        if LEASES in app:  # take only the rooms no other instance holds, and keep them
            app[FORWARDER]["http"] = aiohttp.ClientSession()
            app[FORWARDER]["task"] = asyncio.create_task(
                keep_leases(
                    app[LEASES],
                    manager.store.room_ids,
                    app[GAME_MASTER].adopt,
                    app[GAME_MASTER].let_go,
                    min(settings.room_lease_s / 3, 2.0),
                )
            )
        else:
            await app[GAME_MASTER].restore()
        app[EXPIRY_TASK] = asyncio.create_task(sweep_expired(manager))

    async def stop_background(app: web.Application) -> None:
        app[EXPIRY_TASK].cancel()
        await mirrors.aclose()
        await app[GAME_MASTER].aclose()
        if LEASES in app:  # hand the rooms on at once rather than when the leases lapse
            app[FORWARDER]["task"].cancel()
            await app[LEASES].release_all()
            await app[LEASES].aclose()
            await app[FORWARDER]["http"].close()
        await gateway.aclose()
        await manager.store.aclose()

    app.on_startup.append(start_background)
    app.on_cleanup.append(stop_background)
    return app


async def sweep_expired(manager: RoomManager) -> None:
    while True:
        try:
            await manager.expire_rooms()
        except Exception:
            logger.exception("expiry sweep failed", extra={"event": "expiry_sweep"})
        await asyncio.sleep(EXPIRY_SWEEP_S)
