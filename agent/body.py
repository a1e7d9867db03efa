"""One body: a driver's raw camera and microphone in, the body they wear out.

Media path per seat:

    driver's ingest room --(raw tracks)--> plugin session (worker threads) --> body participant
                                                                              in the game room

Video keeps only the newest frame: when a conversion is still running, newer frames replace the
waiting one, so the body lags its driver by at most one conversion and never falls behind. The
faster of audio and video is then delayed to match the slower (agent/av_sync.py), so the body's
voice stays on its lips whatever the plugin costs.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from bodyswap_api import AudioBlock, SwapPlugin, SwapSession, VideoFrame, i420_size
from livekit import rtc

from .av_sync import AvSync
from .batching import VideoBatcher
from .metrics import BodyStats
from .plan import BodySeat

logger = logging.getLogger("bodyswap.agent.body")

HOLDING_SIZE = 512
HOLDING_INTERVAL_S = 0.5  # how often the holding frame is repeated while nothing live arrives
LIVE_TIMEOUT_S = 1.0  # no swapped frame for this long: the body falls back to its holding frame
REPORT_INTERVAL_S = 10.0  # one structured stats line per body this often
MAX_FPS = 30
MAX_VIDEO_BITRATE = 2_000_000  # bits/s: a 512x512 face at 30 fps with its detail intact
VIDEO_TRACK_NAME = "body-video"  # the same for every body: track names must not tell them apart
AUDIO_TRACK_NAME = "body-audio"

_BUFFER_TYPE = {"i420": rtc.VideoBufferType.I420, "rgb24": rtc.VideoBufferType.RGB24}

# Issues a LiveKit token: (room, identity, name, can_publish, can_subscribe, hidden) -> JWT.
TokenFactory = Callable[..., str]


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


def ten_ms_frames(frame: rtc.AudioFrame) -> list[rtc.AudioFrame]:
    step = frame.sample_rate // 100
    if frame.samples_per_channel == step:
        return [frame]
    samples = np.frombuffer(frame.data, dtype=np.int16)
    return [
        rtc.AudioFrame(samples[i : i + step].tobytes(), frame.sample_rate, 1, len(samples[i : i + step]))
        for i in range(0, len(samples), step)
    ]


class Body:
    def __init__(
        self,
        seat: BodySeat,
        plugin: SwapPlugin,
        session: SwapSession,
        *,
        livekit_url: str,
        game_room: str,
        issue_token: TokenFactory,
        agent_identity: str,
        batcher: VideoBatcher | None = None,
    ) -> None:
        self.seat = seat
        self._batcher = batcher  # the room's shared GPU batch, for plugins that batch video
        self._plugin = plugin
        self._session = session
        self._url = livekit_url
        self._game_room_name = game_room
        self._issue_token = issue_token
        self._agent_identity = agent_identity

        self._game = rtc.Room()
        self._ingest = rtc.Room()
        self._video_source = rtc.VideoSource(HOLDING_SIZE, HOLDING_SIZE)
        # No queue in the source: each 10 ms frame goes to WebRTC as it is captured, like a
        # microphone's. A queue would keep every burst (a stalled loop) as latency for good; the
        # viewers' jitter buffers absorb bursts and catch up by themselves.
        self._audio_source = rtc.AudioSource(plugin.audio_sample_rate, 1, queue_size_ms=0)
        # One thread per direction: a session's video calls never overlap each other, nor its audio
        # calls, and a slow video conversion never stalls the audio.
        self._video_thread = ThreadPoolExecutor(1, thread_name_prefix="body-video")
        self._audio_thread = ThreadPoolExecutor(1, thread_name_prefix="body-audio")
        self._tasks: set[asyncio.Task[None]] = set()
        self._track_tasks: dict[str, asyncio.Task[None]] = {}  # per driver track, by track sid
        self._pending: tuple[rtc.VideoFrame, float] | None = None  # newest frame, its arrival
        self._driver_generation = 0  # bumps on every driver change; stale conversions are dropped
        self._frame_ready = asyncio.Event()
        self._last_live_frame = 0.0
        self._closed = False

        block_s = plugin.audio_block_ms / 1000
        self.sync = AvSync(block_s)
        self.stats = BodyStats(game_room, seat.body_identity)
        self._audio_delay_line: deque[rtc.AudioFrame] = deque()
        self._audio_play_end = 0.0  # when the audio sent so far has played out, if sent steadily

    # Counters the worker and tests read.
    @property
    def frames_in(self) -> int:
        return self.stats.frames_in

    @property
    def frames_out(self) -> int:
        return self.stats.frames_out

    @property
    def frames_dropped(self) -> int:
        return self.stats.frames_dropped

    @property
    def conversion_errors(self) -> int:
        return self.stats.video_errors + self.stats.audio_errors

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
        self._spawn(self._report())

        await self._connect_driver()
        logger.info("body %s is up", self.seat.body_identity)

    async def _connect_driver(self) -> None:
        self._ingest = rtc.Room()
        self._ingest.on("track_subscribed", self._on_track_subscribed)
        self._ingest.on("track_unsubscribed", self._on_track_unsubscribed)
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

    async def change_driver(self, seat: BodySeat, session: SwapSession) -> None:
        """Put another player inside this body without touching its published tracks.

        Viewers keep their subscription; the body shows its holding frame until the new driver's
        first converted frame, never a frame of the old driver after the switch.
        """
        if seat.body_identity != self.seat.body_identity:
            raise ValueError("a body keeps its identity; build a new Body for a new one")
        await self._stop_driver_tracks()
        await self._ingest.disconnect()
        self._driver_generation += 1
        self._pending = None
        self._last_live_frame = 0.0
        self._audio_delay_line.clear()
        self.sync.reset()
        old_session, self.seat, self._session = self._session, seat, session
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
            # Without an explicit encoding the SDK caps this size at 20 fps: a 24-30 fps driver
            # would lose every sixth frame or more on the way out.
            video_encoding=rtc.VideoEncoding(max_framerate=MAX_FPS, max_bitrate=MAX_VIDEO_BITRATE),
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
            self._track_tasks[publication.sid] = self._spawn(self._receive_video(track))
        elif track.kind == rtc.TrackKind.KIND_AUDIO:
            self._track_tasks[publication.sid] = self._spawn(self._convert_audio(track))

    def _on_track_unsubscribed(
        self,
        track: rtc.Track,
        publication: rtc.RemoteTrackPublication,
        participant: rtc.RemoteParticipant,
    ) -> None:
        # The driver left or unpublished: stop reading the dead track. When they come back, their
        # new tracks arrive through _on_track_subscribed and the body lives on (holding frame between).
        task = self._track_tasks.pop(publication.sid, None)
        if task is not None:
            task.cancel()

    async def _stop_driver_tracks(self) -> None:
        tasks = list(self._track_tasks.values())
        self._track_tasks.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _receive_video(self, track: rtc.Track) -> None:
        stream = rtc.VideoStream(
            track, capacity=1, format=_BUFFER_TYPE[self._plugin.video_format]
        )
        try:
            async for event in stream:
                self.stats.frame_in()
                if self._pending is not None:
                    self.stats.frame_dropped()  # a newer frame replaces one still waiting
                self._pending = (event.frame, time.monotonic())
                self._frame_ready.set()
        finally:
            await stream.aclose()

    async def _convert_video(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._frame_ready.wait()
            self._frame_ready.clear()
            pending, self._pending = self._pending, None
            if pending is None:
                continue
            frame, arrived = pending
            plugin_frame = to_plugin_frame(frame, self._plugin.video_format, int(arrived * 1e6))
            generation = self._driver_generation
            try:
                if self._batcher is not None:
                    out = await self._batcher.convert(self._session, plugin_frame)
                else:
                    out = await loop.run_in_executor(
                        self._video_thread, self._session.convert_video, plugin_frame
                    )
            except Exception:
                self._note_conversion_error("video")
                continue  # one frame lost; the holding task covers a session that keeps failing
            if generation != self._driver_generation:
                continue  # converted from the previous driver: never show it after a switch
            latency = time.monotonic() - arrived
            self.sync.note_video(latency)
            rtc_frame = to_rtc_frame(out)
            if self.sync.video_delay_s > 0:
                loop.call_later(
                    self.sync.video_delay_s, self._publish_video, rtc_frame, generation, latency
                )
            else:
                self._publish_video(rtc_frame, generation, latency)

    def _publish_video(self, frame: rtc.VideoFrame, generation: int, latency_s: float) -> None:
        if self._closed or generation != self._driver_generation:
            return
        self._video_source.capture_frame(frame)
        self._last_live_frame = time.monotonic()
        self.stats.frame_out(latency_s)

    async def _convert_audio(self, track: rtc.Track) -> None:
        loop = asyncio.get_running_loop()
        rate, block_ms = self._plugin.audio_sample_rate, self._plugin.audio_block_ms
        plugin_latency_s = self._plugin.audio_latency_ms / 1000
        stream = rtc.AudioStream(track, sample_rate=rate, num_channels=1, frame_size_ms=block_ms)
        self._audio_play_end = 0.0
        try:
            async for event in stream:
                arrived = time.monotonic()
                block = AudioBlock(np.frombuffer(event.frame.data, dtype=np.int16).copy(), rate)
                try:
                    out = await loop.run_in_executor(
                        self._audio_thread, self._session.convert_audio, block
                    )
                except Exception:
                    self._note_conversion_error("audio")
                    out = AudioBlock(np.zeros_like(block.samples), rate)  # silence, not the raw voice
                self.stats.audio_levels(block.samples, out.samples)
                frame = rtc.AudioFrame(out.samples.tobytes(), out.sample_rate, 1, len(out.samples))
                await self._send_audio(frame, arrived, plugin_latency_s)
        finally:
            await stream.aclose()

    async def _send_audio(self, frame: rtc.AudioFrame, arrived: float, plugin_latency_s: float) -> None:
        """Send a converted block through the lip-sync delay line, and account for its latency."""
        self._audio_delay_line.append(frame)
        while len(self._audio_delay_line) > self.sync.audio_delay_blocks + 1:
            self._audio_delay_line.popleft()  # the delay shrank: drop a block to catch up
        if len(self._audio_delay_line) <= self.sync.audio_delay_blocks:
            return  # the delay grew (or is filling): hold this block back
        outgoing = self._audio_delay_line.popleft()
        now = time.monotonic()
        if self._audio_play_end and now - self._audio_play_end > outgoing.duration:
            self.stats.underrun()  # the body went silent for more than a block
        self._audio_play_end = max(now, self._audio_play_end) + outgoing.duration
        for chunk in ten_ms_frames(outgoing):  # an unqueued source takes 10 ms frames only
            await self._audio_source.capture_frame(chunk)
        latency = (now - arrived) + plugin_latency_s
        self.stats.audio_out(latency)
        # The skew moves only as fast as the medians it comes from: sample it at decision points.
        # Per block, with four bodies, its percentiles were a sixth of the job's event loop.
        if self.sync.note_audio(latency):
            skew = self.sync.residual_skew_s()
            if skew is not None:
                self.stats.av_skew(skew)

    async def _hold_when_idle(self) -> None:
        holding = holding_frame()
        while True:
            if time.monotonic() - self._last_live_frame > LIVE_TIMEOUT_S:
                self._video_source.capture_frame(holding)
            await asyncio.sleep(HOLDING_INTERVAL_S)

    async def _report(self) -> None:
        while True:
            await asyncio.sleep(REPORT_INTERVAL_S)
            logger.info(
                "body stats",
                extra={
                    "room": self._game_room_name,
                    "body": self.seat.body_identity,
                    "video_delay_ms": round(self.sync.video_delay_s * 1000, 1),
                    "audio_delay_ms": round(self.sync.audio_delay_s * 1000, 1),
                    **self.stats.report(),
                },
            )

    def _note_conversion_error(self, kind: str) -> None:
        count = self.stats.conversion_error(kind)
        if count == 1 or count % 100 == 0:
            logger.exception(
                "%s conversion failed for body %s (%d failures so far)",
                kind,
                self.seat.body_identity,
                count,
            )

    def _spawn(self, coro) -> asyncio.Task[None]:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._ingest.disconnect()
        await self._game.disconnect()
        # Never wait on the plugin here: a hung call would hold the job's event loop. The session
        # closes on its video thread after whatever call runs there; idle threads just end.
        self._video_thread.submit(self._session.close)
        self._video_thread.shutdown(wait=False, cancel_futures=False)
        self._audio_thread.shutdown(wait=False, cancel_futures=True)
