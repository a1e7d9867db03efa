"""One body: a driver's raw camera and microphone in, the body they wear out.

Media path per seat:

    driver's ingest room --(raw tracks)--> plugin session (worker threads) --> body participant
                                                                              in the game room

Video keeps only the newest frame: when a conversion is still running, newer frames replace the
waiting one, so the body lags its driver by at most one conversion and never falls behind.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from bodyswap_api import AudioBlock, SwapPlugin, SwapSession, VideoFrame, i420_size
from livekit import rtc

from .plan import BodySeat

logger = logging.getLogger("bodyswap.agent.body")

HOLDING_SIZE = 512
HOLDING_INTERVAL_S = 0.5  # how often the holding frame is repeated while nothing live arrives
LIVE_TIMEOUT_S = 1.0  # no swapped frame for this long: the body falls back to its holding frame
VIDEO_TRACK_NAME = "body-video"  # the same for every body: track names must not tell them apart
AUDIO_TRACK_NAME = "body-audio"

_BUFFER_TYPE = {"i420": rtc.VideoBufferType.I420, "rgb24": rtc.VideoBufferType.RGB24}

# Issues a LiveKit token: (room, identity, name, can_publish, can_subscribe, hidden) -> JWT.
TokenFactory = Callable[..., str]
# Opens the plugin session for the seat's current driver wearing the seat's body.
SessionFactory = Callable[[BodySeat], SwapSession]


def holding_frame(size: int = HOLDING_SIZE) -> rtc.VideoFrame:
    """A neutral dark frame the body shows before its first swapped frame and when a session fails.

    It must never be the raw camera: that would reveal the driver.
    """
    data = np.full(i420_size(size, size), 128, dtype=np.uint8)
    data[: size * size] = 40
    return rtc.VideoFrame(size, size, rtc.VideoBufferType.I420, data.tobytes())


def to_plugin_frame(frame: rtc.VideoFrame, fmt: str, timestamp_us: int) -> VideoFrame:
    data = np.frombuffer(frame.data, dtype=np.uint8)
    if fmt == "rgb24":
        data = data.reshape(frame.height, frame.width, 3)
    return VideoFrame(frame.width, frame.height, fmt, data, timestamp_us)


def to_rtc_frame(frame: VideoFrame) -> rtc.VideoFrame:
    data = np.ascontiguousarray(frame.data).reshape(-1)
    return rtc.VideoFrame(frame.width, frame.height, _BUFFER_TYPE[frame.format], data.data)


class Body:
    def __init__(
        self,
        seat: BodySeat,
        plugin: SwapPlugin,
        open_session: SessionFactory,
        *,
        livekit_url: str,
        game_room: str,
        issue_token: TokenFactory,
        agent_identity: str,
    ) -> None:
        self.seat = seat
        self._plugin = plugin
        self._open_session = open_session
        self._session = open_session(seat)
        self._url = livekit_url
        self._game_room_name = game_room
        self._issue_token = issue_token
        self._agent_identity = agent_identity

        self._game = rtc.Room()
        self._ingest = rtc.Room()
        self._video_source = rtc.VideoSource(HOLDING_SIZE, HOLDING_SIZE)
        self._audio_source = rtc.AudioSource(plugin.audio_sample_rate, 1, queue_size_ms=200)
        # One thread per direction: a session's video calls never overlap each other, nor its audio
        # calls, and a slow video conversion never stalls the audio.
        self._video_thread = ThreadPoolExecutor(1, thread_name_prefix="body-video")
        self._audio_thread = ThreadPoolExecutor(1, thread_name_prefix="body-audio")
        self._tasks: set[asyncio.Task[None]] = set()
        self._driver_tasks: set[asyncio.Task[None]] = set()  # tied to the current driver's tracks
        self._pending_frame: rtc.VideoFrame | None = None
        self._driver_generation = 0  # bumps on every driver change; stale conversions are dropped
        self._frame_ready = asyncio.Event()
        self._last_live_frame = 0.0
        self._closed = False

        self.frames_in = 0
        self.frames_out = 0
        self.frames_dropped = 0
        self.conversion_errors = 0

    async def start(self) -> None:
        """Join the game room as the body and the driver's ingest room as a hidden subscriber."""
        await self._game.connect(
            self._url,
            self._issue_token(
                room=self._game_room_name,
                identity=self.seat.body_identity,
                name=self.seat.body_name,
                can_publish=True,
                can_subscribe=False,
            ),
            rtc.RoomOptions(auto_subscribe=False),
        )
        await self._publish_tracks()
        self._spawn(self._hold_when_idle())
        self._spawn(self._convert_video())

        await self._connect_driver()
        logger.info("body %s is up", self.seat.body_identity)

    async def _connect_driver(self) -> None:
        self._ingest = rtc.Room()
        self._ingest.on("track_subscribed", self._on_track_subscribed)
        await self._ingest.connect(
            self._url,
            self._issue_token(
                room=self.seat.driver_ingest_room,
                identity=self._agent_identity,
                name="bodyswap",
                can_publish=False,
                can_subscribe=True,
                hidden=True,
            ),
        )

    async def change_driver(self, seat: BodySeat) -> None:
        """Put another player inside this body without touching its published tracks.

        Viewers keep their subscription; the body shows its holding frame until the new driver's
        first converted frame, never a frame of the old driver after the switch.
        """
        if seat.body_identity != self.seat.body_identity:
            raise ValueError("a body keeps its identity; build a new Body for a new one")
        if seat == self.seat:
            return
        for task in list(self._driver_tasks):
            task.cancel()
        await asyncio.gather(*self._driver_tasks, return_exceptions=True)
        await self._ingest.disconnect()
        self._driver_generation += 1
        self._pending_frame = None
        self._last_live_frame = 0.0
        old_session, self.seat = self._session, seat
        self._session = self._open_session(seat)
        # The old session may be mid-conversion on its threads: close it there, after that call.
        self._video_thread.submit(old_session.close)
        await self._connect_driver()

    async def _publish_tracks(self) -> None:
        video = rtc.LocalVideoTrack.create_video_track(VIDEO_TRACK_NAME, self._video_source)
        audio = rtc.LocalAudioTrack.create_audio_track(AUDIO_TRACK_NAME, self._audio_source)
        # One stream name for both tracks so browsers lip-sync them; it is the opaque body identity.
        # Under load the encoder drops frames rather than resolution: a face needs its detail.
        video_options = rtc.TrackPublishOptions(
            source=rtc.TrackSource.SOURCE_CAMERA,
            stream=self.seat.body_identity,
            simulcast=False,
            degradation_preference=rtc.DegradationPreference.MAINTAIN_RESOLUTION,
        )
        audio_options = rtc.TrackPublishOptions(
            source=rtc.TrackSource.SOURCE_MICROPHONE, stream=self.seat.body_identity
        )
        self._video_source.capture_frame(holding_frame())
        await self._game.local_participant.publish_track(video, video_options)
        await self._game.local_participant.publish_track(audio, audio_options)

    def _on_track_subscribed(
        self,
        track: rtc.Track,
        publication: rtc.RemoteTrackPublication,
        participant: rtc.RemoteParticipant,
    ) -> None:
        if participant.identity != self.seat.driver_identity:
            return  # only the driver may publish here; ignore anything else
        if track.kind == rtc.TrackKind.KIND_VIDEO:
            self._spawn(self._receive_video(track), self._driver_tasks)
        elif track.kind == rtc.TrackKind.KIND_AUDIO:
            self._spawn(self._convert_audio(track), self._driver_tasks)

    async def _receive_video(self, track: rtc.Track) -> None:
        stream = rtc.VideoStream(
            track, capacity=1, format=_BUFFER_TYPE[self._plugin.video_format]
        )
        try:
            async for event in stream:
                self.frames_in += 1
                if self._pending_frame is not None:
                    self.frames_dropped += 1  # a newer frame replaces one still waiting
                self._pending_frame = event.frame
                self._frame_ready.set()
        finally:
            await stream.aclose()

    async def _convert_video(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._frame_ready.wait()
            self._frame_ready.clear()
            frame, self._pending_frame = self._pending_frame, None
            if frame is None:
                continue
            plugin_frame = to_plugin_frame(
                frame, self._plugin.video_format, int(time.monotonic() * 1e6)
            )
            generation = self._driver_generation
            try:
                out = await loop.run_in_executor(
                    self._video_thread, self._session.convert_video, plugin_frame
                )
            except Exception:
                self._note_conversion_error("video")
                continue  # the holding task shows the holding frame once the body goes quiet
            if generation != self._driver_generation:
                continue  # converted from the previous driver: never show it after a switch
            self._video_source.capture_frame(to_rtc_frame(out))
            self._last_live_frame = time.monotonic()
            self.frames_out += 1

    async def _convert_audio(self, track: rtc.Track) -> None:
        loop = asyncio.get_running_loop()
        rate, block_ms = self._plugin.audio_sample_rate, self._plugin.audio_block_ms
        stream = rtc.AudioStream(track, sample_rate=rate, num_channels=1, frame_size_ms=block_ms)
        try:
            async for event in stream:
                block = AudioBlock(np.frombuffer(event.frame.data, dtype=np.int16).copy(), rate)
                try:
                    out = await loop.run_in_executor(
                        self._audio_thread, self._session.convert_audio, block
                    )
                except Exception:
                    self._note_conversion_error("audio")
                    out = AudioBlock(np.zeros_like(block.samples), rate)  # silence, not the raw voice
                await self._audio_source.capture_frame(
                    rtc.AudioFrame(out.samples.tobytes(), out.sample_rate, 1, len(out.samples))
                )
        finally:
            await stream.aclose()

    async def _hold_when_idle(self) -> None:
        holding = holding_frame()
        while True:
            if time.monotonic() - self._last_live_frame > LIVE_TIMEOUT_S:
                self._video_source.capture_frame(holding)
            await asyncio.sleep(HOLDING_INTERVAL_S)

    def _note_conversion_error(self, kind: str) -> None:
        self.conversion_errors += 1
        if self.conversion_errors == 1 or self.conversion_errors % 100 == 0:
            logger.exception(
                "%s conversion failed for body %s (%d failures so far)",
                kind,
                self.seat.body_identity,
                self.conversion_errors,
            )

    def _spawn(self, coro, *groups: set[asyncio.Task[None]]) -> None:
        task = asyncio.create_task(coro)
        for group in (self._tasks, *groups):
            group.add(task)
            task.add_done_callback(group.discard)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._ingest.disconnect()
        await self._game.disconnect()
        self._video_thread.shutdown(wait=True)
        self._audio_thread.shutdown(wait=True)
        self._session.close()
