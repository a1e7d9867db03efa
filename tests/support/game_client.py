"""A player of the full game as the frontend will be: HTTP for joining and enrolling, LiveKit for
everything in the game (state and events on data topics, actions as RPCs to the game master)."""

from __future__ import annotations

import asyncio
import json

import aiohttp
from livekit import rtc

from .media import Clip

GAME_MASTER = "game-master"


class GamePlayer:
    def __init__(self, http: aiohttp.ClientSession, base_url: str, grant: dict, name: str) -> None:
        self.http = http
        self.base = f"{base_url}/api/rooms/{grant['room_id']}"
        self.grant = grant
        self.name = name
        self.id = grant["player_id"]
        self.ingest = rtc.Room()
        self.game = rtc.Room()
        self.states: list[dict] = []
        self.events: list[dict] = []
        self.private: list[dict] = []
        self.received_raw: list[tuple[str, str, str]] = []  # (topic, sender, payload) as received
        self._camera_task: asyncio.Task | None = None
        self.changed = asyncio.Event()

    @property
    def state(self) -> dict:
        return self.states[-1] if self.states else {}

    async def connect(self, camera: Clip | None = None, fps: float = 5.0) -> None:
        self.game.on("data_received", self._on_data)
        await self.game.connect(
            self.grant["livekit_url"], self.grant["game_token"], rtc.RoomOptions(auto_subscribe=False)
        )
        await self.ingest.connect(self.grant["livekit_url"], self.grant["ingest_token"])
        if camera is not None:
            source = rtc.VideoSource(camera.width, camera.height)
            await self.ingest.local_participant.publish_track(
                rtc.LocalVideoTrack.create_video_track("camera", source),
                rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_CAMERA, simulcast=False),
            )
            self._camera_task = asyncio.create_task(self._stream(camera, source, fps))

    async def _stream(self, clip: Clip, source: rtc.VideoSource, fps: float) -> None:
        index = 0
        while True:  # a light camera: a few frames a second is all the consent check needs
            data = clip.frames[int(index * clip.fps / fps) % len(clip.frames)]
            source.capture_frame(rtc.VideoFrame(clip.width, clip.height, rtc.VideoBufferType.I420, data.data))
            index += 1
            await asyncio.sleep(1 / fps)

    def _on_data(self, packet: rtc.DataPacket) -> None:
        text = packet.data.decode()
        sender = packet.participant.identity if packet.participant else ""
        self.received_raw.append((packet.topic, sender, text))
        message = json.loads(text)
        if packet.topic == "bodyswap.state":
            self.states.append(message)
        elif packet.topic == "bodyswap.event":
            self.events.append(message)
        elif packet.topic == "bodyswap.private":
            self.private.append(message)
        self.changed.set()

    async def rpc(self, method: str, payload: dict | None = None, timeout: float = 10.0) -> dict:
        response = await self.game.local_participant.perform_rpc(
            destination_identity=GAME_MASTER,
            method=method,
            payload=json.dumps(payload or {}),
            response_timeout=timeout,
        )
        return json.loads(response)

    async def enroll(self, photo: bytes, voice: bytes) -> tuple[int, dict]:
        form = aiohttp.FormData()
        form.add_field("photo", photo, filename="photo.jpg", content_type="image/jpeg")
        form.add_field("voice", voice, filename="voice.wav", content_type="audio/wav")
        async with self.http.put(
            f"{self.base}/enrollment", data=form, headers=self.auth()
        ) as response:
            return response.status, await response.json()

    def auth(self) -> dict:
        return {"Authorization": f"Bearer {self.grant['player_key']}"}

    async def wait_for(self, condition, timeout: float, what: str) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while not condition():
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise AssertionError(f"{self.name}: timed out waiting for {what}; state: {self.state}")
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), min(remaining, 0.5))
            except TimeoutError:
                pass

    async def stop_camera(self) -> None:
        if self._camera_task:
            self._camera_task.cancel()

    async def leave(self) -> None:
        await self.stop_camera()
        await self.ingest.disconnect()
        await self.game.disconnect()
