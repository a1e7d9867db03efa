"""Opening rooms through the room service's HTTP API, as the frontend does."""

from __future__ import annotations

import asyncio

import aiohttp

from .game_client import GamePlayer
from .media import enrollment_upload, load_clip, media_players


async def post_status(
    http: aiohttp.ClientSession, url: str, body: dict | None = None, key: str | None = None
) -> tuple[int, dict]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with http.post(url, json=body or {}, headers=headers) as response:
        return response.status, await response.json()


async def post(http: aiohttp.ClientSession, url: str, body: dict | None = None, key: str | None = None) -> dict:
    """POST that must succeed; returns the JSON body."""
    status, payload = await post_status(http, url, body, key)
    assert status in (200, 201), payload
    return payload


async def open_room(http: aiohttp.ClientSession, base: str, names: list[str]) -> list[dict]:
    """The first name creates the room (and hosts it); the others join through the invite."""
    host = await post(http, f"{base}/api/rooms", {"name": names[0]})
    guests = [
        await post(http, f"{base}/api/rooms/{host['room_id']}/join", {"name": n, "invite": host["invite_code"]})
        for n in names[1:]
    ]
    return [host, *guests]


async def enrolled_players(http: aiohttp.ClientSession, base: str, names: list[str]) -> list[GamePlayer]:
    """Players of a new room, each enrolled from the shared media against their own live camera
    (published only while enrolling) and connected to the game room."""
    sources = media_players()[: len(names)]
    loop = asyncio.get_running_loop()
    clips = [await loop.run_in_executor(None, load_clip, s.video, 2.0) for s in sources]
    uploads = [await loop.run_in_executor(None, enrollment_upload, s, c) for s, c in zip(sources, clips)]
    players = [GamePlayer(http, base, g, n) for g, n in zip(await open_room(http, base, names), names)]
    for player, clip, upload in zip(players, clips, uploads):
        await player.connect(camera=clip)
        status, body = await player.enroll(*upload)
        assert status == 200, body
        await player.stop_camera()
    return players
