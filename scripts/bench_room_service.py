"""Room service capacity on this machine: concurrent rooms in active vote rounds, RPC latency,
error rate, rooms created per second, and memory per room. Writes its table into docs/benchmarks.md.

    .venv/bin/python scripts/bench_room_service.py                 # defaults: up to 10 rooms
    .venv/bin/python scripts/bench_room_service.py --max-rooms 3   # a quick check

What it runs, all on loopback: a private livekit-server (free ports, temp dir), the room service as
its own process (`python -m room_service`, rate limits raised), and one agent worker with the
passthrough plugin and just enough player slots for the `--media-rooms` rooms (default 1) of each
level. Players are Python rtc clients in the game room doing what the frontend does:

- light media, in the media rooms only: every player keeps a small camera (`--media-size`,
  `--media-fps`) on in their ingest room for the whole game, the worker turns them into bodies,
  and the host watches every body (frames received are counted). These games start first, so the
  worker's slots are theirs;
- the other rooms are data-only (auto_subscribe off). The game master holds a game's clock until
  its media agent joins, and the worker is full, so a stand-in joins each of their game rooms as
  an agent-kind participant without media (`StandInAgent`), as a job would: this bench measures
  the room service, and the worker only for the few media rooms;

- rooms are created and joined over HTTP (timed: rooms created per second);
- every player enrolls for real over HTTP, one at a time: the precomputed upload of a test-media
  player (tests/support/media.enrollment_upload), while a light camera (5 fps) runs in their
  ingest room for the consent check; the camera stops right after. The engine refuses to start a
  game with players who have not enrolled, and the bench adds no shortcut to the service, so this
  real cost is paid (and reported) for every player of every room;
- the host sets short settings, the others mark themselves ready, the host starts (RPCs);
- every round, in every room at once: the player in the hot seat (from `bodyswap.sync`'s private
  view) passes, until the vote opens; then all rooms wait at a common gate so their votes overlap,
  and every player sends `--drafts` unlocked ballots and one locked ballot (`bodyswap.vote`),
  around `bodyswap.sync` calls; the vote closes when all have locked, the reveal runs, and so on
  for `--rounds` rounds.

Each `perform_rpc` round trip is timed. Levels grow (1, 5, 10, 20, ... up to --max-rooms, fresh
rooms each level) and stop early when a level had failures, when vote or sync p99 passed 1 s, or
when the next level would not fit in --time-budget. Memory per room is the growth of the room
service's VmRSS (/proc/<pid>/status) from before a level's rooms are created to when all of them
are in their game, divided by the rooms; one warm-up enrollment first loads the face and voice
models, so that one-off cost is not charged to rooms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import aiohttp  # noqa: E402
from livekit import api, rtc  # noqa: E402

from scripts.benchmarks import DOC_PATH, cpu_delta, livekit_server_version, machine, reproduce_command, tree_cpu, write_section  # noqa: E402
from agent.plan import SET_PLAN_METHOD  # noqa: E402
from tests.support.agent_worker import start_agent_worker  # noqa: E402
from tests.support.livekit_server import LIVEKIT_SERVER_BIN, LiveKitServer, start_livekit_server, stop_process  # noqa: E402
from tests.support.media import Clip, enrollment_upload, load_clip, media_players  # noqa: E402
from tests.support.room_service_process import RoomServiceProcess  # noqa: E402

GAME_MASTER = "game-master"
STATE_TOPIC = "bodyswap.state"
SECTION = "room-service-capacity"
SECTION_INTRO = (
    "## Room service capacity\n\n"
    "Written by `scripts/bench_room_service.py`. Taken on a shared machine (other work ran on the "
    "same cores), so treat the figures as a floor and compare runs only on the same machine. "
    "The bench's own clients (every player) run on the same cores as the service and "
    "livekit-server.\n\n"
    "Reading it: a level is that many fresh rooms playing at once, their votes released together "
    "at a common gate each round, so every room is in an active vote at the same moment. "
    "Percentiles are nearest-rank over all the level's calls (with few calls, p99 is the "
    "slowest). RSS per room is the service's VmRSS growth from before the level's rooms were "
    "created to its peak during play, divided by the rooms: it holds the game master's own "
    "LiveKit connection to each room (opened when the room is created, lobby included) and the "
    "heap growth of that level's enrollments; the figure at the largest level is the one to "
    "plan with. Failed calls are transport errors, timeouts and refusals the bench did not "
    "expect, over all RPC and HTTP calls of the level.\n\n"
)
NAMES = ["Ann", "Bo", "Cy", "Di", "Ed", "Flo", "Gus", "Hal"]
RPC_TIMEOUT_S = 10.0
CONNECT_TIMEOUT_S = 10.0
SLOW_P99_S = 1.0
BENIGN_PASS_CODES = {"not_your_turn", "wrong_phase"}  # a turn timer that ran out first: a game race


# --- measurements -----------------------------------------------------------------------------


def percentile(samples: list[float], q: float) -> float | None:
    """Nearest-rank percentile; None without samples."""
    if not samples:
        return None
    ordered = sorted(samples)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f} ms" if value >= 0.1 else f"{value * 1000:.1f} ms"


@dataclass
class Stats:
    """Everything timed or counted during one level."""

    rpc: dict[str, list[float]] = field(default_factory=dict)  # method -> seconds
    http: dict[str, list[float]] = field(default_factory=dict)  # kind -> seconds
    calls: int = 0
    failures: list[str] = field(default_factory=list)  # transport errors, timeouts, unexpected refusals
    races: int = 0  # a pass refused because the turn timer ran out first
    enroll_s: list[float] = field(default_factory=list)
    connect_s: list[float] = field(default_factory=list)

    def fail(self, what: str) -> None:
        self.failures.append(what)


def vm_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cpu_seconds(pid: int) -> float:
    fields_ = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields_[11]) + int(fields_[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def own_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


# --- a data-only player -----------------------------------------------------------------------


class BenchPlayer:
    """A player as the frontend is in a game: the game room for data and RPCs only."""

    def __init__(self, grant: dict, name: str, slot: int, stats_ref: list[Stats], watch: bool = False) -> None:
        self.grant = grant
        self.watch = watch  # subscribe to the bodies (the host of a media room)
        self.bodies: BodyWatch | None = None
        self.name = name
        self.slot = slot
        self.id = grant["player_id"]
        self.room_id = grant["room_id"]
        self.game = rtc.Room()
        self.state: dict = {}
        self.changed = asyncio.Event()
        self._stats_ref = stats_ref  # [current level's Stats]; one list shared by everyone

    @property
    def stats(self) -> Stats:
        return self._stats_ref[0]

    async def connect(self) -> None:
        self.game.on("data_received", self._on_data)
        self.bodies = BodyWatch(self.game) if self.watch else None
        started = time.perf_counter()
        await self.game.connect(
            self.grant["livekit_url"],
            self.grant["game_token"],
            rtc.RoomOptions(auto_subscribe=self.watch, connect_timeout=CONNECT_TIMEOUT_S),
        )
        self.stats.connect_s.append(time.perf_counter() - started)

    def _on_data(self, packet: rtc.DataPacket) -> None:
        if packet.topic == STATE_TOPIC:
            try:
                self.state = json.loads(packet.data)
            except ValueError:
                return
            self.changed.set()

    async def wait_game_master(self, timeout: float) -> None:
        await self.wait(
            lambda: any(p.identity == GAME_MASTER for p in self.game.remote_participants.values()),
            timeout,
            "the game master in the game room",
        )

    async def wait(self, condition, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{self.name} in {self.room_id}: no {what} after {timeout:.0f} s")
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), min(left, 0.25))
            except TimeoutError:
                pass

    async def rpc(self, method: str, payload: dict | None = None) -> dict | None:
        """One timed round trip. Returns the reply, or None after counting the failure."""
        stats = self.stats
        stats.calls += 1
        started = time.perf_counter()
        try:
            response = await self.game.local_participant.perform_rpc(
                destination_identity=GAME_MASTER,
                method=method,
                payload=json.dumps(payload or {}),
                response_timeout=RPC_TIMEOUT_S,
            )
        except rtc.RpcError as e:
            stats.rpc.setdefault(method, []).append(time.perf_counter() - started)
            code = _rpc_code(e)
            if method == "bodyswap.pass" and code in BENIGN_PASS_CODES:
                stats.races += 1
            else:
                stats.fail(f"{method}: {code or e.code} {e.message}")
            return None
        except Exception as e:  # noqa: BLE001 - anything else is a failure to count, not to crash on
            stats.fail(f"{method}: {type(e).__name__} {e}")
            return None
        stats.rpc.setdefault(method, []).append(time.perf_counter() - started)
        return json.loads(response)


def _rpc_code(error: rtc.RpcError) -> str | None:
    try:
        return json.loads(error.data or "{}").get("code")
    except ValueError:
        return None


# --- HTTP -------------------------------------------------------------------------------------


class Http:
    def __init__(self, session: aiohttp.ClientSession, base: str, stats_ref: list[Stats]) -> None:
        self.session, self.base, self._stats_ref = session, base, stats_ref

    async def call(self, kind: str, method: str, path: str, **kwargs) -> tuple[int, dict]:
        stats = self._stats_ref[0]
        stats.calls += 1
        started = time.perf_counter()
        try:
            async with self.session.request(method, self.base + path, **kwargs) as response:
                body = await response.json(content_type=None)
                status = response.status
        except Exception as e:  # noqa: BLE001
            stats.fail(f"HTTP {kind}: {type(e).__name__} {e}")
            return 0, {}
        stats.http.setdefault(kind, []).append(time.perf_counter() - started)
        if status >= 300:
            stats.fail(f"HTTP {kind}: {status} {body.get('error', body)}")
        return status, body


# --- enrollment -------------------------------------------------------------------------------


class StandInAgent:
    """An agent-kind participant without media in a data-only room's game room: the game master
    runs a game's clock only once an agent is there. It accepts body plans and does nothing."""

    def __init__(self, server: LiveKitServer, room_id: str) -> None:
        self.token = (
            api.AccessToken(server.api_key, server.api_secret)
            .with_identity("bench-stand-in-agent")
            .with_kind("agent")
            .with_grants(api.VideoGrants(room_join=True, room=f"game-{room_id}", can_publish=False, can_subscribe=False))
            .to_jwt()
        )
        self.url = server.url
        self.room = rtc.Room()

    async def connect(self) -> None:
        await self.room.connect(self.url, self.token, rtc.RoomOptions(auto_subscribe=False, connect_timeout=CONNECT_TIMEOUT_S))
        self.room.local_participant.register_rpc_method(SET_PLAN_METHOD, lambda data: "ok")


class BodyWatch:
    """Counts the body video frames one viewer of a media room receives, per body."""

    def __init__(self, room: rtc.Room) -> None:
        self.frames: Counter[str] = Counter()
        self._tasks: list[asyncio.Task] = []
        room.on("track_subscribed", self._on_track)

    def _on_track(self, track: rtc.Track, publication, participant: rtc.RemoteParticipant) -> None:
        if track.kind == rtc.TrackKind.KIND_VIDEO and participant.identity.startswith("body-"):
            self._tasks.append(asyncio.create_task(self._count(track, participant.identity)))

    async def _count(self, track: rtc.Track, body: str) -> None:
        stream = rtc.VideoStream(track)
        try:
            async for _ in stream:
                self.frames[body] += 1
        finally:
            await stream.aclose()

    def close(self) -> None:
        for task in self._tasks:
            task.cancel()


@dataclass
class Slot:
    """One seat of a room: the test-media person whose face and voice its player enrolls with."""

    clip: Clip
    photo: bytes
    voice: bytes


async def stream_camera(clip: Clip, source: rtc.VideoSource, fps: float) -> None:
    index = 0
    while True:
        data = clip.frames[int(index * clip.fps / fps) % len(clip.frames)]
        source.capture_frame(rtc.VideoFrame(clip.width, clip.height, rtc.VideoBufferType.I420, data.data))
        index += 1
        await asyncio.sleep(1 / fps)


async def enroll(
    http: Http, player: BenchPlayer, slot: Slot, fps: float, keep_camera: list | None = None
) -> bool:
    """Camera on in the ingest room, upload, camera off (or left on, added to `keep_camera`, for a
    media room's game). Timed from connecting to the answer."""
    stats = http._stats_ref[0]
    ingest = rtc.Room()
    camera: asyncio.Task | None = None
    ok = False
    started = time.perf_counter()
    try:
        await ingest.connect(
            player.grant["livekit_url"],
            player.grant["ingest_token"],
            rtc.RoomOptions(auto_subscribe=False, connect_timeout=CONNECT_TIMEOUT_S),
        )
        source = rtc.VideoSource(slot.clip.width, slot.clip.height)
        await ingest.local_participant.publish_track(
            rtc.LocalVideoTrack.create_video_track("camera", source),
            rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_CAMERA, simulcast=False),
        )
        camera = asyncio.create_task(stream_camera(slot.clip, source, fps))
        form = aiohttp.FormData()
        form.add_field("photo", slot.photo, filename="photo.jpg", content_type="image/jpeg")
        form.add_field("voice", slot.voice, filename="voice.wav", content_type="audio/wav")
        status, _ = await http.call(
            "enroll",
            "PUT",
            f"/api/rooms/{player.room_id}/enrollment",
            data=form,
            headers={"Authorization": f"Bearer {player.grant['player_key']}"},
            timeout=aiohttp.ClientTimeout(total=60),
        )
        if status == 200:
            stats.enroll_s.append(time.perf_counter() - started)
        ok = status == 200
        return ok
    except Exception as e:  # noqa: BLE001
        stats.fail(f"enroll: {type(e).__name__} {e}")
        return False
    finally:
        if ok and keep_camera is not None:
            keep_camera.append((ingest, camera))
        else:
            if camera is not None:
                camera.cancel()
            await ingest.disconnect()


# --- one room's game --------------------------------------------------------------------------


class Gate:
    """Lets every room's vote start together; never waits longer than `timeout`."""

    def __init__(self, parties: int, timeout: float) -> None:
        self.parties, self.timeout, self.arrived = parties, timeout, 0
        self.open = asyncio.Event()

    def leave(self) -> None:  # a room that failed no longer holds the others up
        self.parties -= 1
        if self.arrived >= self.parties:
            self.open.set()

    async def arrive(self) -> None:
        self.arrived += 1
        if self.arrived >= self.parties:
            self.open.set()
        try:
            await asyncio.wait_for(self.open.wait(), self.timeout)
        except TimeoutError:
            pass


def random_ballot(player: BenchPlayer, view: dict, rng: random.Random) -> dict[str, str] | None:
    own = (view["private"].get("body") or {}).get("body_id")
    bodies = [b["body_id"] for b in view["public"]["bodies"] if b["in_play"] and b["body_id"] != own]
    others = [p["player_id"] for p in view["public"]["players"] if p["present"] and p["player_id"] != player.id]
    if own is None or len(others) < len(bodies):
        return None
    rng.shuffle(others)
    return dict(zip(bodies, others))


async def play_room(
    players: list[BenchPlayer], rounds: int, drafts: int, gates: list[Gate], settings: dict, rng: random.Random
) -> bool:
    """Play every round of one room's game; True when it reached the final."""
    host = players[0]
    stats = host.stats
    vote_gate_left = set(range(rounds))
    try:
        for round_number in range(1, rounds + 1):
            # Hot seat: whoever sync says is in it passes, until the vote opens.
            for _ in range(len(players) * 3):
                views = await asyncio.gather(*(p.rpc("bodyswap.sync") for p in players))
                if any(v is None for v in views):
                    await asyncio.sleep(0.2)
                    continue
                phase = views[0]["public"]["phase"]
                if phase != "turns":
                    break
                hot = [p for p, v in zip(players, views) if v["private"]["in_hot_seat"]]
                if hot:
                    await hot[0].rpc("bodyswap.pass")
                else:
                    await asyncio.sleep(0.1)  # a turn changing hands between two syncs
            await host.wait(
                lambda: host.state.get("phase") == "vote" and host.state.get("round") == round_number,
                settings["turn_seconds"] * len(players) + 10,
                f"round {round_number}'s vote",
            )
            vote_gate_left.discard(round_number - 1)
            await gates[round_number - 1].arrive()

            async def vote(player: BenchPlayer) -> None:
                view = await player.rpc("bodyswap.sync")
                if view is None:
                    return
                for draft in range(drafts + 1):
                    ballot = random_ballot(player, view, rng)
                    if ballot is None:
                        stats.fail(f"vote: no ballot possible for {player.name} in {player.room_id}")
                        return
                    reply = await player.rpc("bodyswap.vote", {"guesses": ballot, "lock": draft == drafts})
                    if reply is None:
                        return
                    view = reply

            await asyncio.gather(*(vote(p) for p in players))
            await host.wait(
                lambda: host.state.get("phase") in ("reveal", "final")
                or (host.state.get("round") or 0) > round_number,
                settings["vote_seconds"] + 10,
                f"round {round_number}'s reveal",
            )
            await host.wait(
                lambda: host.state.get("phase") == "final" or (host.state.get("round") or 0) > round_number,
                settings["reveal_seconds"] + 15,
                f"the end of round {round_number}",
            )
        await host.wait(lambda: host.state.get("phase") == "final", 15, "the final")
        return True
    except Exception as e:  # noqa: BLE001
        stats.fail(f"game in {host.room_id}: {type(e).__name__} {e}")
        return False
    finally:
        for index in vote_gate_left:
            gates[index].leave()


# --- one level: N rooms at once ---------------------------------------------------------------


@dataclass
class Level:
    rooms: int
    players: int
    stats: Stats
    create_rate: float
    join_rate: float
    rss_before_kib: int
    rss_in_game_kib: int
    rss_after_end_kib: int
    finished: int
    play_s: float
    service_cpu_play_s: float
    livekit_cpu_play_s: float
    clients_cpu_play_s: float
    setup_s: float
    media_rooms: int = 0
    bodies_live: int = 0  # bodies of the media rooms whose video reached their host during play
    body_fps: list[float] = field(default_factory=list)  # per body, frames received / play time
    worker_cpu_play_s: float = 0.0

    @property
    def rss_per_room_kib(self) -> float:
        return (self.rss_in_game_kib - self.rss_before_kib) / self.rooms

    def p(self, method: str, q: float) -> float | None:
        return percentile(self.stats.rpc.get(method, []), q)

    @property
    def slow(self) -> bool:
        return any((self.p(m, 99) or 0) > SLOW_P99_S for m in ("bodyswap.vote", "bodyswap.sync"))

    @property
    def error_rate(self) -> float:
        return len(self.stats.failures) / max(1, self.stats.calls)


async def run_level(
    n_rooms: int,
    args: argparse.Namespace,
    http: Http,
    service_pid: int,
    server: LiveKitServer,
    worker_pid: int | None,
    slots: list[Slot],
    media_slots: list[Slot],
    stats_ref: list[Stats],
    rng: random.Random,
) -> Level:
    stats = stats_ref[0] = Stats()
    settings = {
        "rounds": args.rounds,
        "turn_seconds": args.turn_seconds,
        "vote_seconds": args.vote_seconds,
        "reveal_seconds": args.reveal_seconds,
    }
    rss_before = vm_rss_kib(service_pid)
    level_started = time.monotonic()

    # Rooms over HTTP, all at once; then the other players join, all at once.
    started = time.perf_counter()
    created = await asyncio.gather(
        *(http.call("create", "POST", "/api/rooms", json={"name": NAMES[0]}) for _ in range(n_rooms))
    )
    create_rate = n_rooms / (time.perf_counter() - started)
    hosts = [body for status, body in created if status == 201]
    media_ids = {host["room_id"] for host in hosts[: args.media_rooms if worker_pid else 0]}
    started = time.perf_counter()
    joined = await asyncio.gather(
        *(
            http.call(
                "join",
                "POST",
                f"/api/rooms/{host['room_id']}/join",
                json={"name": NAMES[seat], "invite": host["invite_code"]},
            )
            for host in hosts
            for seat in range(1, args.players)
        )
    )
    join_rate = len(joined) / max(1e-9, time.perf_counter() - started)
    rooms: list[list[BenchPlayer]] = []
    for index, host in enumerate(hosts):
        grants = [host] + [
            body for status, body in joined[index * (args.players - 1) : (index + 1) * (args.players - 1)]
            if status == 201
        ]
        if len(grants) == args.players:
            watch = host["room_id"] in media_ids
            rooms.append(
                [BenchPlayer(g, NAMES[seat], seat, stats_ref, watch and seat == 0) for seat, g in enumerate(grants)]
            )

    finished = 0
    play_s = cpu_play = cpu_livekit = cpu_clients = cpu_worker = setup_s = 0.0
    rss_in_game = rss_before
    stand_ins: list[StandInAgent] = []
    cameras: list = []  # (ingest room, camera task) of every media room player
    body_fps: list[float] = []
    bodies_live = 0
    try:
        # Everyone into their game room (a few at a time: connects are the heaviest thing here).
        connect_limit = asyncio.Semaphore(8)

        async def connect(player: BenchPlayer) -> bool:
            async with connect_limit:
                try:
                    await player.connect()
                    await player.wait_game_master(15)
                    return True
                except Exception as e:  # noqa: BLE001
                    stats.fail(f"connect: {type(e).__name__} {e}")
                    return False

        ok = await asyncio.gather(*(connect(p) for room in rooms for p in room))
        flat = [p for room in rooms for p in room]
        good = {p.room_id for p, fine in zip(flat, ok) if fine}
        rooms = [room for room in rooms if all(p.room_id in good for p in room)]

        # Data-only rooms get their stand-in agent (the worker is kept for the media rooms).
        for room in rooms:
            if room[0].room_id not in media_ids:
                stand_ins.append(StandInAgent(server, room[0].room_id))
        joined_ok = await asyncio.gather(*(s.connect() for s in stand_ins), return_exceptions=True)
        for result in joined_ok:
            if isinstance(result, BaseException):
                stats.fail(f"stand-in agent: {type(result).__name__} {result}")

        # Real enrollment, one player at a time; a media room's cameras stay on for its game.
        enrolled_rooms = []
        for room in rooms:
            media = room[0].room_id in media_ids
            results = []
            for player in room:
                if media:
                    slot = media_slots[player.slot % len(media_slots)]
                    results.append(await enroll(http, player, slot, args.media_fps, cameras))
                else:
                    results.append(await enroll(http, player, slots[player.slot % len(slots)], args.camera_fps))
            if all(results):
                enrolled_rooms.append(room)
        rooms = enrolled_rooms

        # Lobby over RPC: short settings, ready, start.
        async def open_game(room: list[BenchPlayer]) -> list[BenchPlayer] | None:
            if await room[0].rpc("bodyswap.settings", {"settings": settings}) is None:
                return None
            readies = await asyncio.gather(*(p.rpc("bodyswap.ready", {"ready": True}) for p in room[1:]))
            if any(r is None for r in readies) or await room[0].rpc("bodyswap.start") is None:
                return None
            return room

        # Media rooms first, until their bodies are live: the worker's slots are theirs.
        media_rooms = [r for r in rooms if r[0].room_id in media_ids]
        media_rooms = [room for room in await asyncio.gather(*(open_game(r) for r in media_rooms)) if room]

        async def bodies_live_for(host: BenchPlayer) -> bool:
            try:
                await host.wait(lambda: sum(1 for n in host.bodies.frames.values() if n) >= args.players,
                                90, "every body's video")
                return True
            except TimeoutError as e:
                stats.fail(f"media room: {e}")
                return False

        live = await asyncio.gather(*(bodies_live_for(room[0]) for room in media_rooms))
        media_rooms = [room for room, ok in zip(media_rooms, live) if ok]
        data_rooms = [r for r in rooms if r[0].room_id not in media_ids]
        data_rooms = [room for room in await asyncio.gather(*(open_game(r) for r in data_rooms)) if room]
        rooms = media_rooms + data_rooms
        setup_s = time.monotonic() - level_started

        gates = [Gate(len(rooms), timeout=8.0) for _ in range(args.rounds)]
        rss_samples: list[int] = []

        async def sample_rss() -> None:
            while True:
                rss_samples.append(vm_rss_kib(service_pid))
                await asyncio.sleep(0.5)

        sampler = asyncio.create_task(sample_rss())
        cpu_before = cpu_seconds(service_pid)
        livekit_before = cpu_seconds(server.process.pid)
        clients_before = own_cpu_seconds()
        worker_before = tree_cpu(worker_pid) if worker_pid else {}
        frames_before = [dict(room[0].bodies.frames) for room in media_rooms]
        started = time.perf_counter()
        try:
            results = await asyncio.gather(
                *(
                    play_room(room, args.rounds, args.drafts, gates, settings, random.Random(rng.random()))
                    for room in rooms
                )
            )
        finally:
            sampler.cancel()
        play_s = time.perf_counter() - started
        cpu_play = cpu_seconds(service_pid) - cpu_before
        cpu_livekit = cpu_seconds(server.process.pid) - livekit_before
        cpu_clients = own_cpu_seconds() - clients_before
        cpu_worker = cpu_delta(worker_before, tree_cpu(worker_pid)) if worker_pid else 0.0
        for room, before in zip(media_rooms, frames_before):
            after = room[0].bodies.frames
            rates = [(after[b] - before.get(b, 0)) / play_s for b in after]
            body_fps += rates
            bodies_live += sum(1 for r in rates if r > 0)
        finished = sum(results)
        rss_in_game = max(rss_samples) if rss_samples else vm_rss_kib(service_pid)
    finally:
        # Leave, then end every room (the host's HTTP call deletes the game room on LiveKit).
        everyone = [p for room in rooms for p in room]
        for player in everyone:
            if player.bodies is not None:
                player.bodies.close()
        for _, camera in cameras:
            camera.cancel()
        await asyncio.gather(
            *(p.game.disconnect() for p in everyone),
            *(s.room.disconnect() for s in stand_ins),
            *(ingest.disconnect() for ingest, _ in cameras),
            return_exceptions=True,
        )
        await asyncio.gather(
            *(
                http.call(
                    "end",
                    "POST",
                    f"/api/rooms/{host['room_id']}/end",
                    headers={"Authorization": f"Bearer {host['player_key']}"},
                )
                for host in hosts
            )
        )
        await asyncio.sleep(1.0)
    return Level(
        rooms=n_rooms,
        players=args.players,
        stats=stats,
        create_rate=create_rate,
        join_rate=join_rate,
        rss_before_kib=rss_before,
        rss_in_game_kib=rss_in_game,
        rss_after_end_kib=vm_rss_kib(service_pid),
        finished=finished,
        play_s=play_s,
        service_cpu_play_s=cpu_play,
        livekit_cpu_play_s=cpu_livekit,
        clients_cpu_play_s=cpu_clients,
        setup_s=setup_s or time.monotonic() - level_started,
        media_rooms=len(media_ids),
        bodies_live=bodies_live,
        body_fps=body_fps,
        worker_cpu_play_s=cpu_worker,
    )


async def create_burst(http: Http, count: int, concurrency: int, stats_ref: list[Stats]) -> dict:
    """Rooms created as fast as `concurrency` clients can, then ended."""
    stats = stats_ref[0] = Stats()
    limit = asyncio.Semaphore(concurrency)

    async def create() -> dict | None:
        async with limit:
            status, body = await http.call("create", "POST", "/api/rooms", json={"name": "Host"})
            return body if status == 201 else None

    started = time.perf_counter()
    hosts = await asyncio.gather(*(create() for _ in range(count)))
    wall = time.perf_counter() - started
    await asyncio.sleep(1.0)  # the game master joins each new room in the background
    started_end = time.perf_counter()

    async def end(host: dict) -> None:
        async with limit:
            await http.call(
                "end", "POST", f"/api/rooms/{host['room_id']}/end",
                headers={"Authorization": f"Bearer {host['player_key']}"},
            )

    await asyncio.gather(*(end(h) for h in hosts if h))
    end_wall = time.perf_counter() - started_end
    return {
        "count": count,
        "concurrency": concurrency,
        "rate": sum(1 for h in hosts if h) / wall,
        "end_rate": sum(1 for h in hosts if h) / max(1e-9, end_wall),
        "p50": percentile(stats.http.get("create", []), 50),
        "p99": percentile(stats.http.get("create", []), 99),
        "end_p50": percentile(stats.http.get("end", []), 50),
        "end_p99": percentile(stats.http.get("end", []), 99),
        "failures": list(stats.failures),
    }


# --- report -----------------------------------------------------------------------------------


def level_sizes(max_rooms: int) -> list[int]:
    sizes = [n for n in (1, 5, 10, 20, 40, 80) if n < max_rooms]
    return sizes + [max_rooms]


def render(
    info: dict, command: str, args: argparse.Namespace, levels: list[Level], burst: dict | None,
    warmup_s: float | None, stop_reason: str, service_log: list[str], total_s: float,
) -> str:
    lines = [
        f"Machine: {info['cpu']}, {info['cores']} cores, Python {info['python']}, {info['livekit']}; "
        f"{info['date']}; load average at start {info['load']}.",
        "",
        f"Command (from the repository root): `{command}`",
        "",
        f"Each room: {args.players} players, {args.rounds} rounds, turn/vote/reveal "
        f"{args.turn_seconds}/{args.vote_seconds}/{args.reveal_seconds} s; per player per round "
        f"{args.drafts} draft ballots + 1 locked ballot. Latencies are `perform_rpc` round trips "
        "from a client to the game master through livekit-server. Fresh rooms per level.",
        "",
        "| rooms in vote at once | players | games finished | vote RPCs | vote p50 | vote p99 "
        "| sync p50 | sync p99 | pass p50 / p99 | failed calls | RSS per room "
        "| CPU in play: service / livekit / clients |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for lv in levels:
        votes = lv.stats.rpc.get("bodyswap.vote", [])
        def pct(cpu: float) -> str:
            return f"{100 * cpu / lv.play_s:.0f} %" if lv.play_s else "-"

        lines.append(
            f"| {lv.rooms} | {lv.rooms * lv.players} | {lv.finished}/{lv.rooms} | {len(votes)} "
            f"| {ms(lv.p('bodyswap.vote', 50))} | {ms(lv.p('bodyswap.vote', 99))} "
            f"| {ms(lv.p('bodyswap.sync', 50))} | {ms(lv.p('bodyswap.sync', 99))} "
            f"| {ms(lv.p('bodyswap.pass', 50))} / {ms(lv.p('bodyswap.pass', 99))} "
            f"| {len(lv.stats.failures)}/{lv.stats.calls} ({100 * lv.error_rate:.1f} %) "
            f"| {lv.rss_per_room_kib / 1024:.2f} MiB "
            f"| {pct(lv.service_cpu_play_s)} / {pct(lv.livekit_cpu_play_s)} / {pct(lv.clients_cpu_play_s)} "
            f"of one core over {lv.play_s:.0f} s |"
        )
    media_levels = [lv for lv in levels if lv.media_rooms]
    if media_levels:
        lines += [
            "",
            f"Light media in {args.media_rooms} room(s) of each level: every player's {args.media_size}x"
            f"{args.media_size} camera at {args.media_fps:.0f} fps into their ingest room for the whole game, "
            "the agent worker (passthrough plugin) publishing the bodies, the host watching them. The other "
            "rooms are data-only with a stand-in agent. Body fps is what reached the host, per body.",
            "",
            "| rooms | media rooms | bodies live / watched | body fps received p50 / min | worker CPU in play |",
            "|---|---|---|---|---|",
        ]
        for lv in media_levels:
            watched = lv.media_rooms * lv.players  # the host watches every body, its own included
            fps = sorted(lv.body_fps)
            fps_text = f"{percentile(fps, 50):.1f} / {fps[0]:.1f}" if fps else "-"
            worker_cpu = f"{100 * lv.worker_cpu_play_s / lv.play_s:.0f} % of one core" if lv.play_s else "-"
            lines.append(
                f"| {lv.rooms} | {lv.media_rooms} | {lv.bodies_live} / {watched} | {fps_text} | {worker_cpu} |"
            )
    lines += [
        "",
        "| setup, per level | rooms created/s | joins/s | enrollment per player p50 / max "
        "| game-room connect p50 / max | service RSS before → in game → after end |",
        "|---|---|---|---|---|---|",
    ]
    for lv in levels:
        s = lv.stats
        lines.append(
            f"| {lv.rooms} rooms ({lv.setup_s:.0f} s) | {lv.create_rate:.1f} | {lv.join_rate:.1f} "
            f"| {ms(percentile(s.enroll_s, 50))} / {ms(max(s.enroll_s, default=None))} "
            f"| {ms(percentile(s.connect_s, 50))} / {ms(max(s.connect_s, default=None))} "
            f"| {lv.rss_before_kib / 1024:.0f} → {lv.rss_in_game_kib / 1024:.0f} → "
            f"{lv.rss_after_end_kib / 1024:.0f} MiB |"
        )
    lines.append("")
    if burst:
        lines.append(
            f"Room creation burst: {burst['count']} rooms over HTTP by {burst['concurrency']} concurrent "
            f"clients: **{burst['rate']:.1f} rooms/s** (POST p50 {ms(burst['p50'])}, p99 {ms(burst['p99'])}), "
            f"{len(burst['failures'])} failed; ending them 1 s later, same concurrency: "
            f"{burst['end_rate']:.1f} rooms/s (POST end p50 {ms(burst['end_p50'])}, p99 {ms(burst['end_p99'])})."
        )
    if warmup_s is not None:
        lines.append(
            f"Warm-up enrollment (first use loads the face and voice models): {warmup_s:.1f} s, "
            "not counted above."
        )
    ok = [lv for lv in levels if not lv.stats.failures and not lv.slow and lv.finished == lv.rooms]
    capacity = max((lv.rooms for lv in ok), default=0)
    at_least = "at least " if levels and capacity == levels[-1].rooms else ""
    lines.append(
        f"Capacity: **{at_least}{capacity} concurrent rooms** ({capacity * args.players} players) voting "
        f"with no failed call and vote/sync p99 under {SLOW_P99_S:.0f} s. Stopped: {stop_reason}. "
        f"Whole run: {total_s:.0f} s."
    )
    failures = [f for lv in levels for f in lv.stats.failures] + (burst["failures"] if burst else [])
    if failures:
        lines += ["", "Failures (first 5):", ""] + [f"- `{f[:200]}`" for f in failures[:5]]
    races = sum(lv.stats.races for lv in levels)
    if races:
        lines.append(f"Passes refused because the turn timer had already moved on (a game race, not counted): {races}.")
    if service_log:
        lines += ["", "Room service log, warnings and errors (count x line; first 5 distinct):", ""]
        lines += [f"- `{line[:200]}`" for line in service_log[:5]]
    return "\n".join(lines)


def service_problems(log_path: Path) -> list[str]:
    """The room service's warning and error lines, each distinct message once with its count."""
    if not log_path.exists():
        return []
    counts = Counter(
        line.strip()
        for line in map(plain_log_line, log_path.read_text(errors="replace").splitlines())
        if re.match(r"(WARNING|ERROR|CRITICAL)\b", line) or line.startswith("Traceback")
    )
    return [f"{count} x {line}" for line, count in counts.most_common()]


def plain_log_line(line: str) -> str:
    """The service logs JSON lines (room_service/observability.py): as `LEVEL logger: message`."""
    if line.startswith("{"):
        try:
            entry = json.loads(line)
            return f"{entry['level']} {entry['logger']}: {entry['msg']}"
        except (ValueError, KeyError, TypeError):
            pass
    return line


# --- main -------------------------------------------------------------------------------------


async def bench(args: argparse.Namespace) -> int:
    run_started = time.monotonic()
    info = machine(livekit=livekit_server_version(LIVEKIT_SERVER_BIN))
    command = reproduce_command(__file__)
    print(f"machine: {info}", flush=True)
    rng = random.Random(args.seed)

    sources = media_players()
    loop = asyncio.get_running_loop()
    slots = []
    media_slots = []
    for source in sources[: min(args.players, len(sources))]:
        clip = await loop.run_in_executor(None, load_clip, source.video, 2.0)
        photo, voice = await loop.run_in_executor(None, enrollment_upload, source, clip)
        slots.append(Slot(clip, photo, voice))
        small = await loop.run_in_executor(None, load_clip, source.video, 4.0, args.media_size)
        media_slots.append(Slot(small, photo, voice))

    workdir = Path(tempfile.mkdtemp(prefix="bench-room-service-"))
    server = service = worker = None
    levels: list[Level] = []
    burst = None
    warmup_s = None
    stop_reason = "reached --max-rooms"
    problems: list[str] = []
    try:
        server = start_livekit_server(workdir)
        if args.media_rooms > 0:  # slots for the media rooms only: it refuses every other game
            worker = start_agent_worker(
                server, workdir, "bodyswap-bench",
                extra_env={"BODYSWAP_AGENT_PLAYER_SLOTS": str(args.media_rooms * args.players)},
            )
        service = RoomServiceProcess(
            server,
            workdir / "rooms",
            "bodyswap-bench",
            BODYSWAP_CREATE_RATE_PER_MINUTE="1000000",
            BODYSWAP_JOIN_RATE_PER_MINUTE="1000000",
        )
        service.start()
        pid = service.process.pid
        stats_ref = [Stats()]
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            http = Http(session, service.url, stats_ref)

            # Warm-up: one enrollment loads the models once, then the room goes.
            status, host = await http.call("create", "POST", "/api/rooms", json={"name": NAMES[0]})
            if status == 201:
                player = BenchPlayer(host, NAMES[0], 0, stats_ref)
                started = time.perf_counter()
                if await enroll(http, player, slots[0], args.camera_fps):
                    warmup_s = time.perf_counter() - started
                await http.call(
                    "end", "POST", f"/api/rooms/{host['room_id']}/end",
                    headers={"Authorization": f"Bearer {host['player_key']}"},
                )
            if stats_ref[0].failures:
                raise RuntimeError(f"warm-up failed: {stats_ref[0].failures}")
            enroll_estimate = max(1.0, warmup_s or 3.0)
            game_estimate = args.rounds * (args.reveal_seconds + 10) + 15.0

            for n in level_sizes(args.max_rooms):
                elapsed = time.monotonic() - run_started
                needed = n * args.players * enroll_estimate + game_estimate + 10
                if elapsed + needed > args.time_budget:
                    stop_reason = (
                        f"{n} rooms would take about {needed:.0f} s more (enrollment "
                        f"{enroll_estimate:.1f} s a player), over --time-budget {args.time_budget:.0f} s"
                    )
                    break
                print(f"level: {n} rooms x {args.players} players ...", flush=True)
                level = await run_level(
                    n, args, http, pid, server, worker.process.pid if worker else None, slots, media_slots, stats_ref, rng
                )
                levels.append(level)
                print(
                    f"  finished {level.finished}/{n}, vote p50 {ms(level.p('bodyswap.vote', 50))} "
                    f"p99 {ms(level.p('bodyswap.vote', 99))}, sync p99 {ms(level.p('bodyswap.sync', 99))}, "
                    f"failures {len(level.stats.failures)}/{level.stats.calls}, "
                    f"RSS/room {level.rss_per_room_kib / 1024:.2f} MiB, setup {level.setup_s:.0f} s, "
                    f"play {level.play_s:.0f} s",
                    flush=True,
                )
                if level.stats.enroll_s:
                    enroll_estimate = sum(level.stats.enroll_s) / len(level.stats.enroll_s)
                game_estimate = max(game_estimate, level.play_s + 5)
                if level.stats.failures or level.finished < n:
                    stop_reason = f"{n} rooms had failures"
                    break
                if level.slow:
                    stop_reason = f"{n} rooms had a vote or sync p99 over {SLOW_P99_S:.0f} s"
                    break

            if args.burst > 0:
                print(f"create burst: {args.burst} rooms ...", flush=True)
                burst = await create_burst(http, args.burst, args.burst_concurrency, stats_ref)
        problems = service_problems(service.log_path)
    finally:
        if service is not None:
            service.stop()
        if worker is not None:
            stop_process(worker.process)
        if server is not None:
            stop_process(server.process)
        if args.keep_workdir:
            print(f"logs kept in {workdir}", flush=True)
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    section = render(
        info, command, args, levels, burst, warmup_s, stop_reason, problems, time.monotonic() - run_started
    )
    print()
    print(section)
    if args.write_doc and levels:
        write_section(SECTION, SECTION_INTRO + section, args.doc)
        print(f"\nwritten to {args.doc}")
    return 0 if levels else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-rooms", type=int, default=10, help="largest level (levels: 1, 5, 10, 20, ...)")
    parser.add_argument("--players", type=int, default=4, help="players per room (3-8)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--turn-seconds", type=int, default=10)
    parser.add_argument("--vote-seconds", type=int, default=15)
    parser.add_argument("--reveal-seconds", type=int, default=5)
    parser.add_argument("--drafts", type=int, default=2, help="unlocked ballots before the locked one")
    parser.add_argument("--camera-fps", type=float, default=5.0, help="frame rate of the enrollment camera")
    parser.add_argument("--media-rooms", type=int, default=1, help="rooms per level with cameras on and a real worker")
    parser.add_argument("--media-size", type=int, default=256, help="the media rooms' cameras: size x size")
    parser.add_argument("--media-fps", type=float, default=10.0, help="the media rooms' camera frame rate")
    parser.add_argument("--time-budget", type=float, default=420.0, help="seconds; no level starts that would not fit")
    parser.add_argument("--burst", type=int, default=20, help="rooms in the creation burst (0: none)")
    parser.add_argument("--burst-concurrency", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--doc", type=Path, default=DOC_PATH)
    parser.add_argument("--no-doc", dest="write_doc", action="store_false", help="print only")
    parser.add_argument("--keep-workdir", action="store_true", help="keep the servers' logs")
    args = parser.parse_args()
    if not 3 <= args.players <= len(NAMES):
        parser.error(f"--players must be from 3 to {len(NAMES)}")
    if args.max_rooms < 1:
        parser.error("--max-rooms must be at least 1")
    return asyncio.run(bench(args))


if __name__ == "__main__":
    sys.exit(main())
