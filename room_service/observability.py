"""What operators see of the room service: Prometheus metrics and structured JSON logs.

Metrics live in a registry of each app's own (several apps may run in one test process), served at
`GET /metrics`. Counters and histograms are updated as things happen; the gauges of rooms and
players are counted from the store when scraped, so they are right after a restart too.

Logs are one JSON object per line, with `room_id` and `player_id` where they apply. Nothing
biometric, no player key, invite code or token ever goes into a metric or a log line; events the
engine addresses to one player (the body they wear, their turn) are not logged at all, so logs
never tie a driver to a body.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter as Tally

from aiohttp.abc import AbstractAccessLogger
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from . import game

RPC_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
# Fields a log line may carry besides its message: anything else passed as `extra` is dropped.
LOG_FIELDS = (
    "room_id", "player_id", "event", "phase", "round", "reason", "code", "method", "status",
    "path", "duration_ms", "dispatches", "players", "waited_s",
)


class ServiceMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.rooms = Gauge("bodyswap_rooms", "Rooms in the store, by game phase", ["phase"], registry=r)
        self.players = Gauge(
            "bodyswap_players", "Players present in the store's rooms, by game phase", ["phase"], registry=r
        )
        self.media_waiting = Gauge(
            "bodyswap_rooms_media_waiting",
            "Running games whose media agent has not joined (every worker may be full)",
            registry=r,
        )
        self.rooms_created = Counter("bodyswap_rooms_created", "Rooms created", registry=r)
        self.enrollments = Counter(
            "bodyswap_enrollments",
            "Enrollment uploads processed: result accepted or refused, with the refusal's code",
            ["result", "reason"],
            registry=r,
        )
        self.rpc_latency = Histogram(
            "bodyswap_rpc_latency_seconds",
            "Game master RPC handling time, by method",
            ["method"],
            buckets=RPC_BUCKETS,
            registry=r,
        )
        self.rpc_errors = Counter(
            "bodyswap_rpc_errors", "Game master RPCs refused, by method and code", ["method", "code"], registry=r
        )
        self.votes = Counter("bodyswap_votes", "Ballots accepted, locked in or not", ["locked"], registry=r)
        self.games_started = Counter("bodyswap_games_started", "Games started", registry=r)
        self.games_finished = Counter(
            "bodyswap_games_finished",
            "Games over: completed, not_enough_players, or cancelled by the host",
            ["reason"],
            registry=r,
        )
        self.dispatches = Counter(
            "bodyswap_agent_dispatches", "Media agent dispatches, first or again", ["kind"], registry=r
        )

    async def refresh(self, store) -> None:
        """Count rooms and players by phase from the store."""
        rooms: Tally[str] = Tally()
        players: Tally[str] = Tally()
        for room_id in await store.room_ids():
            record = await store.load(room_id)
            if record is None:
                continue
            phase = record.game.get("phase", "unknown")
            rooms[phase] += 1
            players[phase] += sum(1 for p in record.game.get("players", []) if p.get("present", True))
        for phase in [p.value for p in game.Phase]:
            self.rooms.labels(phase).set(rooms.get(phase, 0))
            self.players.labels(phase).set(players.get(phase, 0))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def on_change(self, events: list) -> None:
        for event in events:
            if event.kind == "round_started" and event.payload.get("round") == 1:
                self.games_started.inc()
            elif event.kind == "final":
                self.games_finished.labels(event.payload.get("reason", "unknown")).inc()
            elif event.kind == "back_to_lobby" and event.payload.get("reason") == "cancelled":
                self.games_finished.labels("cancelled").inc()


def log_game_events(logger: logging.Logger, room_id: str, state: game.GameState, events: list) -> None:
    """One line per public event; private ones (to a single player) are never logged."""
    for event in events:
        if event.to is not None:
            continue
        fields = {"room_id": room_id, "event": event.kind, "phase": state.phase.value, "round": state.round}
        if isinstance(event.payload.get("player_id"), str):
            fields["player_id"] = event.payload["player_id"]
        if isinstance(event.payload.get("reason"), str):
            fields["reason"] = event.payload["reason"]
        logger.info("game event %s", event.kind, extra=fields)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and the allowed context fields."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for name in LOG_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure_json_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


class AccessLogger(AbstractAccessLogger):
    """Requests as JSON lines: method, path without its query (invite links carry a code there),
    status and duration; never headers, which carry player keys."""

    def log(self, request, response, time: float) -> None:  # noqa: A002 (aiohttp's signature)
        self.logger.info(
            "%s %s", request.method, request.path,
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status,
                "duration_ms": round(time * 1000, 1),
                "room_id": request.match_info.get("room_id"),
            },
        )
