"""Latency the agent worker adds to video and audio, A/V skew per body, dropped frames, and CPU per
player, for 1 to 6 players. Writes its tables into docs/benchmarks.md.

    .venv/bin/python scripts/bench_agent.py                            # players 1, 2, 4, 6; 30 s each
    .venv/bin/python scripts/bench_agent.py --players 1 --duration 10  # a quick check

What it runs, all on loopback: a private livekit-server (free ports, temp dir) and the real agent
worker as its own process (`python -m agent start`, tests/support/agent_worker.py). No room
service: for each player count the bench creates a game room and dispatches the agent to it itself
with a `MediaPlan` (driver i wears body i; the seat mapping does not matter for latency), as the
room service's gateway does.

One measuring process (this one) plays every player and every viewer:

- each player publishes a marked camera (a real test-media face scaled to --width x --height, at
  --fps, with a frame counter painted into a band of black/white cells, scripts/marks.py) and a
  marked microphone (a quiet noise floor with a 40 ms tone burst every 0.5 s; the burst starts at
  the capture instant of a video frame) into their private ingest room;
- a hidden probe subscribes to that player's raw tracks in the ingest room: the direct, one-hop
  path (publisher -> SFU -> subscriber), the same path the agent's own subscription takes;
- a hidden viewer subscribes to every body in the game room: the path through the worker
  (publisher -> SFU -> worker: decode, plugin, encode -> SFU -> viewer).

Every arrival is stamped with this process's monotonic clock when the frame reaches Python. Added
latency of a mark = its arrival through the body minus its arrival on the direct path: the cost of
the worker's extra hop (decode, plugin, re-encode, a second SFU pass and jitter buffer), with the
publisher's own latency and this process's delivery cancelled out. The plugin's own compute is timed
separately in-process on the same frames and blocks and printed beside it. Audio arrival is the
onset sample of a burst, dated from the arrival of the 20 ms frame carrying it. A/V skew of a body =
audio latency minus video latency of the burst and the frame captured at the same instant
(positive: audio late; people do not notice audio up to 45 ms early or 125 ms late). The direct
path's skew is the reference: it holds the publisher's audio buffering, which the body inherits;
the skew the worker adds is the body's minus the direct path's, burst by burst.
Dropped by worker = frames that reached the direct probe but never came out of the body.

CPU per player = CPU seconds of the worker's whole process tree (worker, job and idle processes,
psutil) over the measured window, divided by the window and the players, in % of one core. The
measuring process (encoding and decoding every player twice) and livekit-server run on the same
cores; their CPU is reported beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import av  # noqa: E402
import numpy as np  # noqa: E402
import psutil  # noqa: E402
from bodyswap_api import AudioBlock, Enrollment, VideoFrame, load_plugin  # noqa: E402
from livekit import api, rtc  # noqa: E402

from agent.native_logs import filter_native_logs_at_source  # noqa: E402
from agent.plan import BodySeat, MediaPlan  # noqa: E402
from scripts.benchmarks import DOC_PATH, cpu_delta, gpu_names, livekit_server_version, machine, reproduce_command, tree_cpu, write_section  # noqa: E402
from scripts.marks import (  # noqa: E402
    TONES,
    BurstDetector,
    burst,
    noise_floor,
    paint_video_mark,
    read_video_mark,
)
from tests.support.agent_worker import start_agent_worker  # noqa: E402
from tests.support.livekit_server import (  # noqa: E402
    LIVEKIT_SERVER_BIN,
    free_port,
    start_livekit_server,
    stop_process,
)

SECTION = "agent-latency"
SECTION_INTRO = (
    "## Agent worker latency\n\n"
    "Written by `scripts/bench_agent.py`. Everything (livekit-server, the agent worker, and the "
    "bench's own publishers, probes and viewer, which encode and decode every stream) runs on the "
    "same cores, so on a small machine the figures include contention with the bench itself: "
    "compare runs only on the same machine, and prefer a quiet one.\n\n"
    "Reading it: a mark's added latency is its arrival at a viewer of the body in the game room "
    "minus its arrival at a hidden subscriber of the driver's raw track in the ingest room, both "
    "stamped by the same process when the frame reaches Python: the worker's whole extra hop "
    "(subscribe and decode, plugin, re-encode and publish, a second SFU pass and jitter buffer). "
    "Video marks are frame counters painted as black/white cells; audio marks are tone bursts "
    "located by their onset sample. A/V skew is audio latency minus video latency for a burst "
    "and the frame captured at the same instant (positive = audio late; unnoticed from -45 to "
    "+125 ms); the direct path's skew is the publisher's own (here: this Python publisher's audio "
    "queue, not a browser's), which the body inherits; the skew added by the worker is the body's "
    "minus the direct path's, burst by burst, independent of the publisher. "
    "Percentiles are nearest-rank over all marks of all bodies of a level. Frames dropped by "
    "the worker reached the direct probe but never came out of the body. CPU is in % of one "
    "core over the measured window: the worker's process tree per player, then the worker in "
    "total, this measuring process, and livekit-server.\n\n"

)
AGENT_NAME = "bodyswap-bench-latency"
AUDIO_RATE = 48000
# 20 ms blocks, one Opus packet's worth, sent and received: what reaches the worker is the same as
# with a browser's 10 ms blocks (Opus repacks them), and this process handles half the frames.
AUDIO_BLOCK = AUDIO_RATE // 50
AUDIO_LEAD_S = 0.04  # audio is pushed this far ahead of its capture instant, so short loop stalls
# never leave the microphone dry (how much of it the SDK's queue keeps is its own business: it shows
# in the direct path's skew, which the body inherits)
BURST_PERIOD_S = 0.5
BITS_PER_PIXEL = 0.12  # publisher's max bitrate: about 660 kbps at 640x360, 24 fps
CONNECT_TIMEOUT_S = 15.0
BODIES_TIMEOUT_S = 60.0
OVERLOAD_LAG_S = 0.02  # measurer loop lag p95 above this: the level's figures are not trustworthy
GRACE_S = 2.0  # after the window, late marks still count
SKEW_EARLY_MS, SKEW_LATE_MS = -45.0, 125.0  # ITU-R BT.1359: not noticed within this window
TARGET = {"players": 4, "fps": 24.0, "video_p95_ms": 30.0, "audio_p95_ms": 20.0}


# --- small helpers ----------------------------------------------------------------------------


def percentile(samples: list[float], q: float) -> float | None:
    """Nearest-rank percentile; None without samples."""
    if not samples:
        return None
    ordered = sorted(samples)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


def fmt_ms(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value * 1000:+.1f}" if signed else f"{value * 1000:.1f}"


# --- media ------------------------------------------------------------------------------------


def camera_frames(index: int, width: int, height: int, seconds: float = 2.0) -> tuple[list[np.ndarray], float]:
    """A test-media face clip scaled to width x height as flat I420 frames, and its frame rate.

    Real faces give the encoders a realistic bitrate; without the test media, moving noise."""
    try:
        from tests.support.media import media_players

        players = media_players()
        path = players[index % len(players)].video
        frames = []
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            fps = float(stream.average_rate or 25)
            for frame in container.decode(stream):
                if len(frames) >= seconds * fps:
                    break
                scaled = frame.reformat(width=width, height=height, format="yuv420p")
                frames.append(scaled.to_ndarray().reshape(-1).copy())
        if frames:
            return frames, fps
    except (FileNotFoundError, OSError, av.FFmpegError):
        pass
    rng = np.random.default_rng(index)
    base = rng.integers(16, 235, width * height * 3 // 2).astype(np.uint8)
    return [np.roll(base, 7 * i) for i in range(48)], 24.0


def to_plugin_frame(i420: np.ndarray, width: int, height: int, fmt: str) -> VideoFrame:
    if fmt == "rgb24":
        from tests.support.media import i420_to_rgb

        return VideoFrame(width, height, "rgb24", i420_to_rgb(i420, width, height))
    return VideoFrame(width, height, "i420", i420)


def plugin_compute(name: str, width: int, height: int) -> dict[str, float | None]:
    """The plugin's own conversion time per video frame and per audio block, in this process,
    on marked frames and bursts like the ones the bench sends (p50 and p95, seconds)."""
    plugin = load_plugin(name)
    session = plugin.session(None, plugin.prepare(Enrollment()))
    frames, _ = camera_frames(0, width, height)
    video, audio = [], []
    try:
        for i in range(60):
            data = frames[i % len(frames)].copy()
            paint_video_mark(data, width, height, i)
            frame = to_plugin_frame(data, width, height, plugin.video_format)
            started = time.perf_counter()
            session.convert_video(frame)
            video.append(time.perf_counter() - started)
        rate = plugin.audio_sample_rate
        block = rate * plugin.audio_block_ms // 1000
        rng = np.random.default_rng(0)
        signal = noise_floor(rate * 2, rng)
        b = burst(0, rate)
        signal[rate // 2 : rate // 2 + len(b)] += b
        for i in range(0, len(signal) - block + 1, block):
            started = time.perf_counter()
            session.convert_audio(AudioBlock(signal[i : i + block].copy(), rate))
            audio.append(time.perf_counter() - started)
    finally:
        session.close()
    return {
        "video_p50": percentile(video[5:], 50), "video_p95": percentile(video[5:], 95),
        "audio_p50": percentile(audio[5:], 50), "audio_p95": percentile(audio[5:], 95),
    }


# --- one player's lane: what was sent, and when each mark arrived on each path ----------------


@dataclass
class Lane:
    index: int
    ingest_room: str
    driver: str
    body: str
    frames: list[np.ndarray]
    clip_fps: float
    video_sent: dict[int, float] = field(default_factory=dict)  # counter -> capture time
    audio_sent: dict[int, float] = field(default_factory=dict)  # burst -> capture time
    video_frame_of_burst: dict[int, int] = field(default_factory=dict)  # burst -> counter
    direct_video: dict[int, float] = field(default_factory=dict)  # counter -> arrival
    body_video: dict[int, float] = field(default_factory=dict)
    direct_audio: dict[int, float] = field(default_factory=dict)  # burst -> arrival
    body_audio: dict[int, float] = field(default_factory=dict)
    body_resolutions: Counter = field(default_factory=Counter)
    unmarked_body_frames: int = 0
    publisher: rtc.Room = field(default_factory=rtc.Room)
    probe: rtc.Room = field(default_factory=rtc.Room)


class Level:
    """One player count: the rooms, the lanes, the tasks that send and receive."""

    def __init__(self, players: int, args: argparse.Namespace, server, lk: api.LiveKitAPI) -> None:
        self.n = players
        self.args = args
        self.server = server
        self.lk = lk
        run = secrets.token_hex(3)
        self.game_room = f"bench-game-{run}"
        self.lanes = [
            Lane(
                index=i,
                ingest_room=f"bench-ingest-{run}-{i}",
                driver=f"driver-{i}",
                body=f"body-{secrets.token_hex(6)}",
                frames=frames,
                clip_fps=clip_fps,
            )
            for i, (frames, clip_fps) in enumerate(
                camera_frames(i, args.width, args.height) for i in range(players)
            )
        ]
        self.viewer = rtc.Room()
        self.tasks: list[asyncio.Task] = []
        self.t0 = 0.0
        self.loop_lag: list[float] = []
        self.errors: list[str] = []  # sender or receiver tasks that died
        self.window: tuple[float, float] = (0.0, 0.0)

    def token(self, room: str, identity: str, *, publish: bool, subscribe: bool, hidden: bool) -> str:
        grants = api.VideoGrants(
            room_join=True, room=room, can_publish=publish, can_subscribe=subscribe,
            can_publish_data=False, hidden=hidden,
        )
        return (
            api.AccessToken(self.server.api_key, self.server.api_secret)
            .with_identity(identity).with_grants(grants).with_ttl(timedelta(hours=2)).to_jwt()
        )

    def spawn(self, coro) -> None:
        task = asyncio.create_task(coro)
        task.add_done_callback(self._note_crash)
        self.tasks.append(task)

    def _note_crash(self, task: asyncio.Task) -> None:
        if not task.cancelled() and task.exception() is not None:
            e = task.exception()
            self.errors.append(f"{task.get_coro().__qualname__}: {type(e).__name__}: {e}")
            print(f"  task failed: {self.errors[-1]}", flush=True)

    # setup

    async def start(self) -> None:
        for lane in self.lanes:
            await self.lk.room.create_room(api.CreateRoomRequest(name=lane.ingest_room, empty_timeout=60))
        await self.lk.room.create_room(
            api.CreateRoomRequest(name=self.game_room, empty_timeout=60, departure_timeout=10)
        )
        self.t0 = time.monotonic() + 1.0
        for lane in self.lanes:
            await self.start_lane(lane)
        bodies = {lane.body: lane for lane in self.lanes}
        self.viewer.on(
            "track_subscribed",
            lambda track, pub, participant: self.on_body_track(track, bodies.get(participant.identity)),
        )
        await self.viewer.connect(
            self.server.url,
            self.token(self.game_room, "bench-viewer", publish=False, subscribe=True, hidden=True),
            rtc.RoomOptions(auto_subscribe=True, connect_timeout=CONNECT_TIMEOUT_S),
        )
        plan = MediaPlan(
            game_room=self.game_room,
            plugin=self.args.plugin,
            seats=[
                BodySeat(
                    body_identity=lane.body,
                    body_name=f"Player {lane.index + 1}",
                    driver_ingest_room=lane.ingest_room,
                    driver_identity=lane.driver,
                )
                for lane in self.lanes
            ],
        )
        await self.lk.agent_dispatch.create_dispatch(
            api.CreateAgentDispatchRequest(
                agent_name=AGENT_NAME, room=self.game_room, metadata=plan.model_dump_json()
            )
        )
        self.spawn(self.watch_loop_lag())

    async def start_lane(self, lane: Lane) -> None:
        args = self.args
        await lane.publisher.connect(
            self.server.url,
            self.token(lane.ingest_room, lane.driver, publish=True, subscribe=False, hidden=False),
            rtc.RoomOptions(auto_subscribe=False, connect_timeout=CONNECT_TIMEOUT_S),
        )
        video_source = rtc.VideoSource(args.width, args.height)
        audio_source = rtc.AudioSource(AUDIO_RATE, 1, queue_size_ms=200)
        await lane.publisher.local_participant.publish_track(
            rtc.LocalVideoTrack.create_video_track("camera", video_source),
            rtc.TrackPublishOptions(
                source=rtc.TrackSource.SOURCE_CAMERA,
                simulcast=False,
                degradation_preference=rtc.DegradationPreference.MAINTAIN_RESOLUTION,
                # Explicit: LiveKit's default preset for 640x360 caps the frame rate at 20 fps.
                video_encoding=rtc.VideoEncoding(
                    max_framerate=args.fps,
                    max_bitrate=int(args.width * args.height * args.fps * BITS_PER_PIXEL),
                ),
            ),
        )
        await lane.publisher.local_participant.publish_track(
            rtc.LocalAudioTrack.create_audio_track("microphone", audio_source),
            rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE),
        )
        # Cameras are not in step with each other: spread the players' frames over a frame interval.
        phase = lane.index / (self.n * args.fps)
        self.spawn(self.send_video(lane, video_source, phase))
        self.spawn(self.send_audio(lane, audio_source, phase))

        def on_raw_track(track: rtc.Track, pub, participant: rtc.RemoteParticipant) -> None:
            if participant.identity != lane.driver:
                return
            if track.kind == rtc.TrackKind.KIND_VIDEO:
                self.spawn(self.receive_video(track, lane, lane.direct_video, None))
            else:
                self.spawn(self.receive_audio(track, lane, lane.direct_audio))

        lane.probe.on("track_subscribed", on_raw_track)
        await lane.probe.connect(
            self.server.url,
            self.token(lane.ingest_room, "bench-probe", publish=False, subscribe=True, hidden=True),
            rtc.RoomOptions(auto_subscribe=True, connect_timeout=CONNECT_TIMEOUT_S),
        )

    def on_body_track(self, track: rtc.Track, lane: Lane | None) -> None:
        if lane is None:
            return
        if track.kind == rtc.TrackKind.KIND_VIDEO:
            self.spawn(self.receive_video(track, lane, lane.body_video, lane))
        else:
            self.spawn(self.receive_audio(track, lane, lane.body_audio))

    # senders

    async def send_video(self, lane: Lane, source: rtc.VideoSource, phase: float) -> None:
        fps, width, height = self.args.fps, self.args.width, self.args.height
        n = 0
        while True:
            due = self.t0 + phase + n / fps
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -1.0 / fps:
                # Behind by more than a frame: a camera would not queue, it would skip.
                n = int((time.monotonic() - self.t0 - phase) * fps)
                continue
            data = lane.frames[int(n * lane.clip_fps / fps) % len(lane.frames)].copy()
            paint_video_mark(data, width, height, n)
            lane.video_sent[n] = time.monotonic()
            source.capture_frame(rtc.VideoFrame(width, height, rtc.VideoBufferType.I420, data.data))
            n += 1

    async def send_audio(self, lane: Lane, source: rtc.AudioSource, phase: float) -> None:
        """20 ms blocks of noise floor, pushed AUDIO_LEAD_S before their capture instant; burst k
        starts exactly at the capture instant of video frame round(k * period * fps)."""
        fps = self.args.fps
        rng = np.random.default_rng(lane.index)
        tones = [burst(k, AUDIO_RATE) for k in range(len(TONES))]
        length = len(tones[0])

        def burst_start(k: int) -> int:  # first sample of burst k, counted from t0
            frame = round(k * BURST_PERIOD_S * fps)
            lane.video_frame_of_burst[k] = frame
            return round((phase + frame / fps) * AUDIO_RATE)

        j = k = 0
        start = burst_start(0)
        while True:
            due = self.t0 + j * AUDIO_BLOCK / AUDIO_RATE - AUDIO_LEAD_S
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            lo, hi = j * AUDIO_BLOCK, (j + 1) * AUDIO_BLOCK
            while start + length <= lo:  # bursts are far shorter than their period
                k += 1
                start = burst_start(k)
            block = noise_floor(AUDIO_BLOCK, rng)
            a, z = max(lo, start), min(hi, start + length)
            if a < z:
                block[a - lo : z - lo] = tones[k % len(TONES)][a - start : z - start]
                if a == start:
                    lane.audio_sent[k] = self.t0 + start / AUDIO_RATE
            await source.capture_frame(rtc.AudioFrame(block.tobytes(), AUDIO_RATE, 1, AUDIO_BLOCK))
            j += 1

    # receivers

    async def receive_video(
        self, track: rtc.Track, lane: Lane, arrivals: dict[int, float], body: Lane | None
    ) -> None:
        stream = rtc.VideoStream(track, format=rtc.VideoBufferType.I420)
        try:
            async for event in stream:
                now = time.monotonic()
                frame = event.frame
                luma = np.frombuffer(frame.data, np.uint8, count=frame.width * frame.height)
                counter = read_video_mark(luma.reshape(frame.height, frame.width))
                if body is not None:
                    body.body_resolutions[(frame.width, frame.height)] += 1
                    if counter is None:
                        body.unmarked_body_frames += 1
                if counter is not None and counter not in arrivals:
                    arrivals[counter] = now
        finally:
            await stream.aclose()

    async def receive_audio(self, track: rtc.Track, lane: Lane, arrivals: dict[int, float]) -> None:
        stream = rtc.AudioStream(track, sample_rate=AUDIO_RATE, num_channels=1, frame_size_ms=1000 * AUDIO_BLOCK // AUDIO_RATE)
        detector = BurstDetector(AUDIO_RATE)
        try:
            async for event in stream:
                now = time.monotonic()
                samples = np.frombuffer(event.frame.data, np.int16)
                for onset in detector.feed(samples, now):
                    k = self.match_burst(lane, onset.tone, onset.time)
                    if k is not None and k not in arrivals:
                        arrivals[k] = onset.time
        finally:
            await stream.aclose()

    @staticmethod
    def match_burst(lane: Lane, tone: int, arrival: float) -> int | None:
        """The latest burst of this tone captured before the arrival (unambiguous below 2 s)."""
        best = None
        for k, captured in lane.audio_sent.items():
            if k % len(TONES) == tone and captured <= arrival + 0.05:
                if best is None or k > best:
                    best = k
        return best

    async def watch_loop_lag(self) -> None:
        """How late this process's event loop wakes up: if it lags, so do its arrival stamps."""
        while True:
            started = time.monotonic()
            await asyncio.sleep(0.01)
            self.loop_lag.append(time.monotonic() - started - 0.01)

    # phases

    async def wait_for_bodies(self) -> float:
        """Until every body delivers marked video and audio bursts; returns the seconds waited."""
        started = time.monotonic()
        deadline = started + BODIES_TIMEOUT_S
        while time.monotonic() < deadline:
            if all(lane.body_video and lane.body_audio for lane in self.lanes):
                return time.monotonic() - started
            await asyncio.sleep(0.1)
        missing = [
            f"{lane.body} (video {len(lane.body_video)}, audio {len(lane.body_audio)}, "
            f"direct video {len(lane.direct_video)}, direct audio {len(lane.direct_audio)})"
            for lane in self.lanes
            if not (lane.body_video and lane.body_audio)
        ]
        raise TimeoutError(f"no marks from {missing} after {BODIES_TIMEOUT_S:.0f} s")

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.viewer.disconnect()
        for lane in self.lanes:
            await lane.probe.disconnect()
            await lane.publisher.disconnect()
        for room in [self.game_room, *(lane.ingest_room for lane in self.lanes)]:
            try:
                await self.lk.room.delete_room(api.DeleteRoomRequest(room=room))
            except Exception:  # noqa: BLE001 - already gone
                pass


# --- results ----------------------------------------------------------------------------------


@dataclass
class BodyResult:
    index: int
    frames_sent: int
    frames_direct: int
    frames_body: int
    dropped_by_worker: int
    video_added: list[float]
    video_direct: list[float]  # one-way, capture -> direct arrival
    bursts_sent: int
    bursts_direct: int
    bursts_body: int
    audio_added: list[float]
    audio_direct: list[float]
    skew_body: list[float]
    skew_direct: list[float]
    skew_added: list[float]  # body skew minus direct skew, burst by burst
    resolutions: str


@dataclass
class LevelResult:
    players: int
    window_s: float
    bodies: list[BodyResult]
    worker_cpu_s: float
    measurer_cpu_s: float
    livekit_cpu_s: float
    loop_lag: list[float]
    bodies_up_s: float
    raw: list[dict] = field(default_factory=list)  # per lane: every send and arrival time
    body_ids: list[str] = field(default_factory=list)
    worker_stats: list[str] = field(default_factory=list)  # the worker's own last report per body
    load_end: float = 0.0  # 1-minute load average at the end of the window
    errors: list[str] = field(default_factory=list)

    @property
    def overloaded(self) -> bool:
        """This process could not keep time: its stamps, and so every figure of the level, are off."""
        lag = percentile(self.loop_lag, 95)
        return bool(self.errors) or lag is None or lag > OVERLOAD_LAG_S

    def all(self, name: str) -> list[float]:
        return [x for body in self.bodies for x in getattr(body, name)]

    @property
    def dropped(self) -> int:
        return sum(b.dropped_by_worker for b in self.bodies)

    @property
    def direct(self) -> int:
        return sum(b.frames_direct for b in self.bodies)

    def cpu_per_player(self) -> float:
        return self.worker_cpu_s / self.window_s / self.players * 100


def analyse(level: Level) -> list[BodyResult]:
    start, end = level.window
    results = []
    for lane in level.lanes:
        frames = [c for c, t in lane.video_sent.items() if start <= t < end]
        direct = [c for c in frames if c in lane.direct_video]
        body = [c for c in frames if c in lane.body_video]
        both = [c for c in direct if c in lane.body_video]
        bursts = [k for k, t in lane.audio_sent.items() if start <= t < end]
        both_audio = [k for k in bursts if k in lane.direct_audio and k in lane.body_audio]
        skew_body, skew_direct, skew_added = [], [], []
        for k in bursts:
            frame = lane.video_frame_of_burst.get(k)
            if frame is None or frame not in lane.video_sent:
                continue
            for audio, video, out in (
                (lane.body_audio, lane.body_video, skew_body),
                (lane.direct_audio, lane.direct_video, skew_direct),
            ):
                if k in audio and frame in video:
                    out.append((audio[k] - lane.audio_sent[k]) - (video[frame] - lane.video_sent[frame]))
            if k in lane.body_audio and k in lane.direct_audio and frame in lane.body_video and frame in lane.direct_video:
                skew_added.append(
                    (lane.body_audio[k] - lane.direct_audio[k]) - (lane.body_video[frame] - lane.direct_video[frame])
                )
        results.append(
            BodyResult(
                index=lane.index,
                frames_sent=len(frames),
                frames_direct=len(direct),
                frames_body=len(body),
                dropped_by_worker=len(direct) - len(both),
                video_added=[lane.body_video[c] - lane.direct_video[c] for c in both],
                video_direct=[lane.direct_video[c] - lane.video_sent[c] for c in direct],
                bursts_sent=len(bursts),
                bursts_direct=sum(k in lane.direct_audio for k in bursts),
                bursts_body=sum(k in lane.body_audio for k in bursts),
                audio_added=[lane.body_audio[k] - lane.direct_audio[k] for k in both_audio],
                audio_direct=[lane.direct_audio[k] - lane.audio_sent[k] for k in bursts if k in lane.direct_audio],
                skew_body=skew_body,
                skew_direct=skew_direct,
                skew_added=skew_added,
                resolutions=", ".join(f"{w}x{h}" for (w, h), _ in lane.body_resolutions.most_common(2)),
            )
        )
    return results


async def run_level(players: int, args, server, lk, worker_pid: int) -> LevelResult:
    level = Level(players, args, server, lk)
    own = psutil.Process()
    try:
        await level.start()
        bodies_up_s = await level.wait_for_bodies()
        await asyncio.sleep(args.warmup)
        level.loop_lag.clear()
        start = time.monotonic()
        cpu_before = (tree_cpu(worker_pid), sum(own.cpu_times()[:2]), tree_cpu(server.process.pid))
        await asyncio.sleep(args.duration)
        end = time.monotonic()
        load_end = os.getloadavg()[0]
        cpu_after = (tree_cpu(worker_pid), sum(own.cpu_times()[:2]), tree_cpu(server.process.pid))
        lag = list(level.loop_lag)
        level.window = (start, end)
        await asyncio.sleep(GRACE_S)
    finally:
        await level.stop()
    return LevelResult(
        players=players,
        window_s=end - start,
        bodies=analyse(level),
        worker_cpu_s=cpu_delta(cpu_before[0], cpu_after[0]),
        measurer_cpu_s=cpu_after[1] - cpu_before[1],
        livekit_cpu_s=cpu_delta(cpu_before[2], cpu_after[2]),
        loop_lag=lag,
        bodies_up_s=bodies_up_s,
        raw=[raw_times(lane, start, end) for lane in level.lanes],
        body_ids=[lane.body for lane in level.lanes],
        load_end=load_end,
        errors=list(level.errors),
    )


def raw_times(lane: Lane, start: float, end: float) -> dict:
    def rel(d: dict[int, float]) -> dict[int, float]:
        return {k: round(t - start, 6) for k, t in sorted(d.items())}

    return {
        "body": lane.index + 1,
        "window_s": round(end - start, 6),
        "video_sent": rel(lane.video_sent), "direct_video": rel(lane.direct_video),
        "body_video": rel(lane.body_video), "audio_sent": rel(lane.audio_sent),
        "direct_audio": rel(lane.direct_audio), "body_audio": rel(lane.body_audio),
        "video_frame_of_burst": dict(sorted(lane.video_frame_of_burst.items())),
        "unmarked_body_frames": lane.unmarked_body_frames,
    }


def p50_p95(values: list[float]) -> str:
    return f"{fmt_ms(percentile(values, 50))} / {fmt_ms(percentile(values, 95))}"


def skew_text(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{fmt_ms(percentile(values, 50), True)} [{fmt_ms(min(values), True)}, {fmt_ms(max(values), True)}]"


def render(info, command, args, compute, results: list[LevelResult], failures: list[str], problems: list[str], total_s) -> str:
    lines = [
        f"Machine: {info['cpu']}, {info['cores']} cores, GPU: {info['gpu']}; Python {info['python']}, "
        f"{info['livekit']}; {info['date']}; load average at start {info['load']}.",
        "",
        f"Command (from the repository root): `{command}`",
        "",
        f"Each player: {args.width}x{args.height} I420 at {args.fps:g} fps (a test-media face with the "
        f"mark band), 48 kHz mono audio in 20 ms blocks with a tone burst every {BURST_PERIOD_S:g} s; "
        f"plugin `{args.plugin}`; {args.warmup:g} s warm-up after every body delivered marks, then "
        f"{args.duration:g} s measured. Plugin compute in this process (not subtracted below): video "
        f"{fmt_ms(compute['video_p50'])} / {fmt_ms(compute['video_p95'])} ms p50 / p95 per frame, audio "
        f"{fmt_ms(compute['audio_p50'])} / {fmt_ms(compute['audio_p95'])} ms per block.",
        "",
        "| players | video added p50 / p95 / max (ms) | audio added p50 / p95 / max (ms) "
        "| A/V skew body p50 [min, max] (ms) | A/V skew direct p50 (ms) | A/V skew added by worker p50 [min, max] (ms) "
        "| frames dropped by worker | worker CPU per player | worker / measurer / livekit CPU | measurer loop lag p95 | load avg at end |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        va, aa = r.all("video_added"), r.all("audio_added")
        cores = lambda s: f"{s / r.window_s * 100:.0f} %"  # noqa: E731
        lines.append(
            f"| {r.players}{' (overloaded)' if r.overloaded else ''} | {p50_p95(va)} / {fmt_ms(max(va) if va else None)} "
            f"| {p50_p95(aa)} / {fmt_ms(max(aa) if aa else None)} "
            f"| {skew_text(r.all('skew_body'))} | {fmt_ms(percentile(r.all('skew_direct'), 50), True)} "
            f"| {skew_text(r.all('skew_added'))} | {r.dropped} of {r.direct} ({r.dropped / max(1, r.direct) * 100:.1f} %) "
            f"| {r.cpu_per_player():.0f} % of a core "
            f"| {cores(r.worker_cpu_s)} / {cores(r.measurer_cpu_s)} / {cores(r.livekit_cpu_s)} "
            f"| {fmt_ms(percentile(r.loop_lag, 95))} ms | {r.load_end:.2f} |"
        )
    lines += [
        "",
        "Per body (video frames: sent in the window / reached the direct probe / came out of the body; "
        "audio bursts likewise; one-way direct latency is capture to arrival on the direct path):",
        "",
        "| players | body | frames sent / direct / body | dropped by worker | video added p50 / p95 (ms) "
        "| video direct one-way p50 (ms) | bursts sent / direct / body | audio added p50 / p95 (ms) "
        "| audio direct one-way p50 (ms) | A/V skew body p50 [min, max] (ms) | A/V skew direct p50 (ms) "
        "| A/V skew added p50 (ms) | body resolution |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        for b in r.bodies:
            lines.append(
                f"| {r.players} | {b.index + 1} | {b.frames_sent} / {b.frames_direct} / {b.frames_body} "
                f"| {b.dropped_by_worker} | {p50_p95(b.video_added)} | {fmt_ms(percentile(b.video_direct, 50))} "
                f"| {b.bursts_sent} / {b.bursts_direct} / {b.bursts_body} | {p50_p95(b.audio_added)} "
                f"| {fmt_ms(percentile(b.audio_direct, 50))} | {skew_text(b.skew_body)} "
                f"| {fmt_ms(percentile(b.skew_direct, 50), True)} | {fmt_ms(percentile(b.skew_added, 50), True)} "
                f"| {b.resolutions or '-'} |"
            )
    if any(r.overloaded for r in results):
        lines += [
            "",
            f"(overloaded): this measuring process's event loop woke up more than {OVERLOAD_LAG_S * 1000:.0f} ms "
            "late at p95 (or one of its tasks died), so it could not keep time: its publishers fell behind "
            "and its arrival stamps are late. Read those rows as what an overloaded machine does, not as "
            "the worker's cost.",
        ]
        lines += [f"- {r.players} players: {e}" for r in results for e in r.errors[:3]]
    if any(r.worker_stats for r in results):
        lines += ["", "The worker's own last per-body report in each level (its `body stats` log line, as logged):", ""]
        for r in results:
            for b, stats in zip(r.bodies, r.worker_stats):
                lines.append(f"- {r.players} players, body {b.index + 1}: {stats}")
    lines += ["", target_verdict(args, results)]
    lines.append(
        "Time for every body to deliver its first marks after the dispatch: "
        + ", ".join(f"{r.players} players {r.bodies_up_s:.1f} s" for r in results)
        + f". Whole run: {total_s:.0f} s."
    )
    if failures:
        lines += ["", "Levels that failed:", ""] + [f"- `{f[:300]}`" for f in failures]
    if problems:
        lines += ["", "Agent worker log, warnings and errors (count x line; first 5 distinct):", ""]
        lines += [f"- `{line[:200]}`" for line in problems[:5]]
    return "\n".join(lines)


def target_verdict(args, results: list[LevelResult]) -> str:
    t = TARGET
    goal = (
        f"Target (issue 4): with {t['players']} players at {t['fps']:g} fps, added video p95 at most "
        f"{t['video_p95_ms']:.0f} ms, audio p95 at most {t['audio_p95_ms']:.0f} ms, no dropped frames"
    )
    r = next((r for r in results if r.players == t["players"]), None)
    if r is None or args.fps != t["fps"]:
        return goal + ": not measured by this run."
    v, a = percentile(r.all("video_added"), 95), percentile(r.all("audio_added"), 95)
    ok_v = v is not None and v * 1000 <= t["video_p95_ms"]
    ok_a = a is not None and a * 1000 <= t["audio_p95_ms"]
    verdict = "met" if ok_v and ok_a and r.dropped == 0 else "**not met**"
    return (
        f"{goal}: {verdict} (video p95 {fmt_ms(v)} ms {'ok' if ok_v else 'over'}, audio p95 "
        f"{fmt_ms(a)} ms {'ok' if ok_a else 'over'}, {r.dropped} frames dropped by the worker)."
    )


# The native WebRTC library's own lines (env_logger's format; agent/native_logs.py says why they
# are not JSON): "[2026-11-21T16:32:42Z ERROR livekit::rtc_engine::rtc_session] message".
NATIVE_LOG_LINE = re.compile(r"^\[\S+ (ERROR|WARN|INFO|DEBUG|TRACE) +([^\]]+)\] (.*)$")


def log_records(log_path: Path) -> list[dict]:
    """The worker's log lines (JSON, one a line; native lines parsed; anything else as a bare
    message)."""
    if not log_path.exists():
        return []
    records = []
    for line in log_path.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            native = NATIVE_LOG_LINE.match(line)
            if native:
                level, target, message = native.groups()
                record = {"message": message, "level": "WARNING" if level == "WARN" else level, "name": target}
            else:
                record = {"message": line, "level": "ERROR" if line.startswith("Traceback") else ""}
        if isinstance(record, dict):
            records.append(record)
    return records


def log_problems(records: list[dict]) -> list[str]:
    counts = Counter(
        f"{r.get('level')} {r.get('name', '')}: {str(r.get('message', ''))[:200]}"
        for r in records
        if r.get("level") in ("WARNING", "ERROR", "CRITICAL")
    )
    return [f"{count} x {line}" for line, count in counts.most_common()]


STATS_SKIP = {"message", "level", "name", "room", "body", "pid", "timestamp", "job_id", "room_id", "agent_name"}


def worker_body_stats(records: list[dict], body: str) -> str:
    """The worker's own last 'body stats' report for a body, as it logged it (fields vary with the
    worker's version; numbers only)."""
    last = None
    for r in records:
        if r.get("message") == "body stats" and r.get("body") == body:
            last = r
    if last is None:
        return "-"
    return ", ".join(
        f"{k} {v}" for k, v in last.items()
        if k not in STATS_SKIP and not k.startswith("code.") and isinstance(v, (int, float))
    )


# --- main -------------------------------------------------------------------------------------


async def bench(args: argparse.Namespace) -> int:
    run_started = time.monotonic()
    filter_native_logs_at_source()  # the measuring players too, as the worker's jobs do
    info = machine(gpu=gpu_names(), livekit=livekit_server_version(LIVEKIT_SERVER_BIN))
    command = reproduce_command(__file__)
    print(f"machine: {info}", flush=True)
    compute = await asyncio.get_running_loop().run_in_executor(
        None, plugin_compute, args.plugin, args.width, args.height
    )
    print(
        f"plugin {args.plugin} compute: video p50 {fmt_ms(compute['video_p50'])} ms, "
        f"audio p50 {fmt_ms(compute['audio_p50'])} ms",
        flush=True,
    )
    workdir = Path(tempfile.mkdtemp(prefix="bench-agent-"))
    server = worker = None
    results: list[LevelResult] = []
    failures: list[str] = []
    problems: list[str] = []
    lk = None
    try:
        server = start_livekit_server(workdir)
        # The worker's metrics endpoint on a free port too: a stack or test run may hold the default.
        os.environ["BODYSWAP_AGENT_METRICS_PORT"] = str(free_port())
        worker = start_agent_worker(server, workdir, AGENT_NAME)
        lk = api.LiveKitAPI(server.http_url, server.api_key, server.api_secret)
        for players in args.players:
            print(f"level: {players} players ...", flush=True)
            try:
                result = await run_level(players, args, server, lk, worker.process.pid)
            except Exception as e:  # noqa: BLE001 - report it and go on with the next level
                failures.append(f"{players} players: {type(e).__name__}: {e}")
                print(f"  failed: {failures[-1]}", flush=True)
                continue
            results.append(result)
            va, aa = result.all("video_added"), result.all("audio_added")
            print(
                f"  video added p50/p95 {p50_p95(va)} ms, audio added p50/p95 {p50_p95(aa)} ms, "
                f"skew body p50 {fmt_ms(percentile(result.all('skew_body'), 50), True)} ms, "
                f"dropped {result.dropped}/{result.direct}, worker CPU/player "
                f"{result.cpu_per_player():.0f} %, measurer "
                f"{result.measurer_cpu_s / result.window_s * 100:.0f} %",
                flush=True,
            )
            await asyncio.sleep(2.0)  # let the job of this level end before the next
        records = log_records(worker.log_path)
        problems = log_problems(records)
        for result in results:
            result.worker_stats = [worker_body_stats(records, body) for body in result.body_ids]
    finally:
        if lk is not None:
            await lk.aclose()
        if worker is not None:
            stop_process(worker.process)
        if server is not None:
            stop_process(server.process)
        if args.keep_workdir:
            print(f"logs kept in {workdir}", flush=True)
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    if args.dump:
        args.dump.write_text(json.dumps({str(r.players): r.raw for r in results}))
        print(f"raw times written to {args.dump}", flush=True)
    section = render(info, command, args, compute, results, failures, problems, time.monotonic() - run_started)
    print()
    print(section)
    if args.write_doc and results:
        write_section(SECTION, SECTION_INTRO + section, args.doc)
        print(f"\nwritten to {args.doc}")
    return 0 if results and not failures else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--players", type=int, nargs="+", default=[1, 2, 4, 6], help="player counts (1-6)")
    parser.add_argument("--duration", type=float, default=30.0, help="measured seconds per player count")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds after every body is live")
    parser.add_argument("--fps", type=float, default=24.0)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=360)
    parser.add_argument("--plugin", default="passthrough", help="swap plugin the bodies run")
    parser.add_argument("--doc", type=Path, default=DOC_PATH)
    parser.add_argument("--no-doc", dest="write_doc", action="store_false", help="print only")
    parser.add_argument("--keep-workdir", action="store_true", help="keep the server and worker logs")
    parser.add_argument("--dump", type=Path, help="write every mark's send and arrival times here (JSON)")
    args = parser.parse_args()
    if any(not 1 <= n <= 6 for n in args.players):
        parser.error("--players must be from 1 to 6")
    if args.width % 2 or args.height % 2 or args.width < 192 or args.height < 64:
        parser.error("--width and --height must be even, at least 192x64")
    if not 1 <= args.fps <= 60:
        parser.error("--fps must be from 1 to 60")
    return asyncio.run(bench(args))


if __name__ == "__main__":
    sys.exit(main())
