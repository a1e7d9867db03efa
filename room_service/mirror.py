"""The mirror: before the game, an enrolled player previews themselves in a sample body.

Sample bodies are portraits the operator puts in a folder (`BODYSWAP_SAMPLE_BODIES_DIR`), never a
player's enrollment. A mirror is one agent job with one body in a LiveKit room of its own
(`mirror-<room>-<player>`) that only that player may watch, driven by their private ingest room.
It stops when the player stops it, after `MIRROR_SECONDS`, when the game starts, or when the
player or the room goes.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from bodyswap_api import Enrollment, load_plugin
from PIL import Image

from agent.plan import SAMPLE_PREFIX, BodySeat, MediaPlan

from .game_master import AGENT_PROFILES_PATH
from .livekit_gateway import LiveKitGateway
from .records import PlayerRecord, RoomRecord

logger = logging.getLogger("bodyswap.rooms.mirror")

MIRROR_SECONDS = 90.0
MIRROR_BODY_IDENTITY = "body-mirror"
_SAMPLE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}


def mirror_room(room_id: str, player_id: str) -> str:
    return f"mirror-{room_id}-{player_id}"


@dataclass(frozen=True)
class SampleBody:
    id: str
    name: str
    path: Path


class SampleBodies:
    """The operator's portraits, and each plugin's profile of them (prepared once, kept in memory)."""

    def __init__(self, folder: Path | None) -> None:
        self._folder = folder
        self._profiles: dict[tuple[str, str], bytes] = {}
        self._lock = asyncio.Lock()

    def list(self) -> list[SampleBody]:
        if self._folder is None or not self._folder.is_dir():
            return []
        return [
            SampleBody(path.stem, path.stem.replace("_", " ").replace("-", " ").title(), path)
            for path in sorted(self._folder.iterdir())
            if path.suffix.lower() in _IMAGE_SUFFIXES and _SAMPLE_ID.match(path.stem)
        ]

    def get(self, sample_id: str) -> SampleBody | None:
        return next((s for s in self.list() if s.id == sample_id), None)

    async def profile(self, sample: SampleBody, plugin_name: str) -> bytes:
        """The plugin's target profile of the portrait, with no voice (the plugin's neutral one)."""
        key = (plugin_name, sample.id)
        async with self._lock:
            if key not in self._profiles:
                self._profiles[key] = await asyncio.to_thread(_prepare, plugin_name, sample.path)
            return self._profiles[key]


def _prepare(plugin_name: str, path: Path) -> bytes:
    with Image.open(io.BytesIO(path.read_bytes())) as image:
        photo = np.asarray(image.convert("RGB"))
    return load_plugin(plugin_name).prepare(Enrollment(photo_rgb=photo))


class Mirrors:
    """The mirrors running now, one per player at most, each with its stop timer."""

    def __init__(self, gateway: LiveKitGateway, service_url: str, default_plugin: str) -> None:
        self._gateway = gateway
        self._service_url = service_url
        self._default_plugin = default_plugin
        self._timers: dict[tuple[str, str], asyncio.Task] = {}

    def running(self, room_id: str, player_id: str) -> bool:
        return (room_id, player_id) in self._timers

    async def start(self, record: RoomRecord, player: PlayerRecord, sample: SampleBody) -> str:
        """Start (or restart in another body) the player's mirror; returns its LiveKit room."""
        await self.stop(record.id, player.id)
        room = mirror_room(record.id, player.id)
        plan = MediaPlan(
            kind="mirror",
            game_room=room,
            plugin=record.plugin or self._default_plugin,
            profiles_url=f"{self._service_url}{AGENT_PROFILES_PATH.format(room_id=record.id)}",
            seats=[
                BodySeat(
                    body_identity=MIRROR_BODY_IDENTITY,
                    body_name=sample.name,
                    driver_ingest_room=player.ingest_room,
                    driver_identity=player.id,
                    owner_id=SAMPLE_PREFIX + sample.id,
                )
            ],
        )
        await self._gateway.start_media(plan)
        self._timers[(record.id, player.id)] = asyncio.create_task(self._expire(record.id, player.id))
        return room

    async def _expire(self, room_id: str, player_id: str) -> None:
        await asyncio.sleep(MIRROR_SECONDS)
        self._timers.pop((room_id, player_id), None)
        await self._end(room_id, player_id)

    async def stop(self, room_id: str, player_id: str) -> bool:
        timer = self._timers.pop((room_id, player_id), None)
        if timer is None:
            return False
        timer.cancel()
        await self._end(room_id, player_id)
        return True

    async def stop_gone(self, room_id: str, present: set[str]) -> None:
        for key in [key for key in self._timers if key[0] == room_id and key[1] not in present]:
            await self.stop(*key)

    async def stop_room(self, room_id: str) -> None:
        for key in [key for key in self._timers if key[0] == room_id]:
            await self.stop(*key)

    async def _end(self, room_id: str, player_id: str) -> None:
        try:
            await self._gateway.end_media(mirror_room(room_id, player_id))  # the job ends with it
        except Exception as e:  # already gone
            logger.info("mirror room of a player in %s was already gone: %s", room_id, e)

    async def aclose(self) -> None:
        for key in list(self._timers):
            await self.stop(*key)
