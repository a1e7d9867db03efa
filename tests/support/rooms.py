"""Opening rooms through the room service's HTTP API, as the frontend does."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import aiohttp

from .game_client import GamePlayer
from .media import enrollment_upload, load_clip, load_voice, media_players, utterances
from .player import TestPlayer


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



async def pass_every_turn(players: list[GamePlayer]) -> dict[str, str]:
    """The round's hot-seat turns, each passed by whoever is in the seat (which opens the vote);
    returns who is inside each body: body id -> its driver's player id."""
    for _ in players:
        for player in players:
            if (await player.rpc("bodyswap.sync"))["private"]["in_hot_seat"]:
                await player.rpc("bodyswap.pass")
                break
    views = {p.id: await p.rpc("bodyswap.sync") for p in players}
    return {v["private"]["body"]["body_id"]: pid for pid, v in views.items()}


def right_guesses(driver_of: dict[str, str], voter: GamePlayer) -> dict[str, str]:
    """A ballot naming the true driver of every body but the one the voter wears."""
    return {body: driver for body, driver in driver_of.items() if driver != voter.id}

async def enroll(http: aiohttp.ClientSession, base: str, player: TestPlayer, upload: tuple[bytes, bytes]) -> None:
    """PUT the photo and voice, as the web app does; the upload must be accepted."""
    form = aiohttp.FormData()
    form.add_field("photo", upload[0], filename="photo.jpg", content_type="image/jpeg")
    form.add_field("voice", upload[1], filename="voice.wav", content_type="audio/wav")
    url = f"{base}/api/rooms/{player.grant['room_id']}/enrollment"
    headers = {"Authorization": f"Bearer {player.grant['player_key']}"}
    async with http.put(url, data=form, headers=headers) as response:
        assert response.status == 200, await response.text()


@dataclass
class MediaGame:
    players: list[TestPlayer]  # the first is the host
    uploads: list[tuple[bytes, bytes]]  # each player's enrollment (photo JPEG, voice WAV)

    @property
    def host(self) -> dict:
        return self.players[0].grant


async def start_media_game(
    http: aiohttp.ClientSession, base: str, names: list[str], clip_seconds: float, clip_size: int,
    settings: dict | None = None,
) -> MediaGame:
    """A game whose players publish the shared media for real: each joins, publishes a webcam clip
    (clip_size x clip_size) and their held-out voice into their ingest room, enrolls against that
    live camera and gets ready; then the host starts (after `settings`, if given)."""
    sources = media_players()[: len(names)]
    loop = asyncio.get_running_loop()
    clips = [await loop.run_in_executor(None, load_clip, s.video, clip_seconds, clip_size) for s in sources]
    voices = [await loop.run_in_executor(None, load_voice, utterances(s)[s.enroll_utterances :]) for s in sources]
    uploads = [await loop.run_in_executor(None, enrollment_upload, s, c) for s, c in zip(sources, clips)]
    grants = await open_room(http, base, names)
    game = MediaGame([TestPlayer(n, g, c, v) for n, g, c, v in zip(names, grants, clips, voices)], uploads)
    room = f"{base}/api/rooms/{game.host['room_id']}"
    for player, upload in zip(game.players, uploads):
        await player.join()
        await player.publish_camera_and_microphone()
        await enroll(http, base, player, upload)
        await post(http, f"{room}/ready", {"ready": True}, key=player.grant["player_key"])
    if settings:
        await post(http, f"{room}/settings", {"settings": settings}, key=game.host["player_key"])
    await post(http, f"{room}/start", key=game.host["player_key"])
    return game
