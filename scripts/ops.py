"""The operator's view of a running Bodyswap: every room and every worker, as a table.

    .venv/bin/python -m scripts.ops status                                  # the local stack
    .venv/bin/python -m scripts.ops status --service http://10.0.0.5:8080 \\
        --worker http://10.0.0.7:8082 --worker http://10.0.0.8:8082        # a fleet
    .venv/bin/python -m scripts.ops status --json                           # for scripts

Where it looks (read-only, nothing is changed):
- LiveKit's server API (LIVEKIT_URL, LIVEKIT_API_KEY, LIVEKIT_API_SECRET, as every process reads
  them): every room and its participants;
- the room service (`--service`, repeatable): `/readyz`, `/metrics` (rooms and players by phase,
  games waiting for media) and each game room's public state (`GET /api/rooms/{id}`: phase, round,
  players);
- each agent worker's metrics endpoint (`--worker`, repeatable; BODYSWAP_AGENT_METRICS_PORT):
  player slots, bodies, frames per second (two scrapes `--interval` apart), video latency p50/p95
  and drops.

It shows counts only: never which player drives which body.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import sys
import time
from collections import defaultdict

import aiohttp
from livekit import api
from prometheus_client.parser import text_string_to_metric_families

DEFAULT_SERVICE = "http://127.0.0.1:8080"
DEFAULT_WORKER = "http://127.0.0.1:8082"


# --- reading --------------------------------------------------------------------------------


def parse_metrics(text: str) -> list[tuple[str, dict, float]]:
    return [(s.name, s.labels, s.value) for f in text_string_to_metric_families(text) for s in f.samples]


def histogram_quantile(q: float, buckets: dict[float, float]) -> float | None:
    """Prometheus' histogram_quantile over cumulative bucket counts {upper bound: count}."""
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] == 0:
        return None
    rank = q * buckets[bounds[-1]]
    lower, below = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return lower
            return lower + (bound - lower) * ((rank - below) / (count - below) if count > below else 0)
        lower, below = bound, count
    return lower


def worker_summary(first: str, second: str, seconds: float) -> dict:
    """One worker from two scrapes `seconds` apart."""
    now = parse_metrics(second)
    before = parse_metrics(first)

    def total(samples, name: str) -> float:
        return sum(v for n, _, v in samples if n == name)

    def gauge(name: str) -> float | None:
        values = [v for n, _, v in now if n == name]
        return max(values) if values else None

    frames_out = total(now, "bodyswap_body_frames_out_total") - total(before, "bodyswap_body_frames_out_total")
    bodies = {(labels.get("room"), labels.get("body")) for n, labels, _ in now if n == "bodyswap_body_frames_in_total"}
    recent_bodies = {
        (labels.get("room"), labels.get("body"))
        for n, labels, v in now
        if n == "bodyswap_body_frames_in_total"
        and v > sum(
            bv for bn, bl, bv in before if bn == n and bl.get("body") == labels.get("body") and bl.get("room") == labels.get("room")
        )
    }
    buckets: dict[float, float] = defaultdict(float)
    for name, labels, value in now:
        if name == "bodyswap_body_video_latency_seconds_bucket":
            buckets[float(labels["le"])] += value
    p50, p95 = histogram_quantile(0.5, buckets), histogram_quantile(0.95, buckets)
    return {
        "slots_used": gauge("bodyswap_worker_player_slots_used"),
        "slots": gauge("bodyswap_worker_player_slots"),
        "load": gauge("bodyswap_worker_load"),
        "jobs": gauge("lk_agents_active_job_count"),
        "rooms": len({room for room, _ in recent_bodies}),
        "bodies_live": len(recent_bodies),
        "bodies_seen": len(bodies),
        "fps_out": frames_out / seconds if seconds > 0 else None,
        "video_p50_ms": None if p50 is None else p50 * 1000,
        "video_p95_ms": None if p95 is None else p95 * 1000,
        "frames_dropped": total(now, "bodyswap_body_frames_dropped_total"),
        "conversion_errors": total(now, "bodyswap_body_conversion_errors_total"),
    }


def service_summary(metrics_text: str) -> dict:
    rooms, players = {}, {}
    other: dict[str, float] = {}
    for name, labels, value in parse_metrics(metrics_text):
        if name == "bodyswap_rooms":
            rooms[labels["phase"]] = value
        elif name == "bodyswap_players":
            players[labels["phase"]] = value
        elif name in ("bodyswap_rooms_media_waiting", "bodyswap_games_started_total"):
            other[name] = value
        elif name == "bodyswap_games_finished_total":
            other[name] = other.get(name, 0) + value
    return {
        "rooms_by_phase": rooms,
        "players_by_phase": players,
        "media_waiting": other.get("bodyswap_rooms_media_waiting", 0),
        "games_started": other.get("bodyswap_games_started_total", 0),
        "games_finished": other.get("bodyswap_games_finished_total", 0),
    }


async def fetch_text(http: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    async with http.get(url, timeout=aiohttp.ClientTimeout(total=5)) as response:
        return response.status, await response.text()


async def collect(
    services: list[str], workers: list[str], livekit_url: str, api_key: str, api_secret: str, interval: float = 1.0
) -> dict:
    snapshot: dict = {"at": time.time(), "services": [], "workers": [], "rooms": [], "errors": []}
    async with aiohttp.ClientSession() as http:
        first: dict[str, str] = {}
        for url in workers:
            try:
                first[url] = (await fetch_text(http, f"{url}/metrics"))[1]
            except Exception as e:
                snapshot["errors"].append(f"worker {url}: {type(e).__name__} {e}")
        started = time.monotonic()

        for url in services:
            entry: dict = {"url": url}
            try:
                status, text = await fetch_text(http, f"{url}/readyz")
                entry["ready"] = json.loads(text) if status in (200, 503) else {"status": f"http {status}"}
                entry.update(service_summary((await fetch_text(http, f"{url}/metrics"))[1]))
            except Exception as e:
                entry["ready"] = {"status": f"unreachable: {type(e).__name__}"}
                snapshot["errors"].append(f"room service {url}: {type(e).__name__} {e}")
            snapshot["services"].append(entry)

        http_url = livekit_url.replace("ws://", "http://").replace("wss://", "https://")
        try:
            async with api.LiveKitAPI(http_url, api_key, api_secret) as lk:
                rooms = (await lk.room.list_rooms(api.ListRoomsRequest())).rooms
                for room in sorted(rooms, key=lambda r: r.name):
                    people = (await lk.room.list_participants(api.ListParticipantsRequest(room=room.name))).participants
                    snapshot["rooms"].append(await describe_room(http, services, room, people))
        except Exception as e:
            snapshot["errors"].append(f"livekit {livekit_url}: {type(e).__name__} {e}")

        await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))
        elapsed = time.monotonic() - started
        for url in workers:
            if url not in first:
                snapshot["workers"].append({"url": url, "error": "unreachable"})
                continue
            try:
                second = (await fetch_text(http, f"{url}/metrics"))[1]
                snapshot["workers"].append({"url": url, **worker_summary(first[url], second, elapsed)})
            except Exception as e:
                snapshot["workers"].append({"url": url, "error": f"{type(e).__name__}"})
    return snapshot


AGENT_KIND = 4  # livekit.protocol ParticipantInfo.Kind.AGENT


async def describe_room(http: aiohttp.ClientSession, services: list[str], room, people) -> dict:
    kind = room.name.split("-", 1)[0] if "-" in room.name else "other"
    entry = {
        "room": room.name,
        "kind": kind,
        "participants": len(people),
        "players": sum(1 for p in people if p.identity.startswith("p-")),
        "bodies": sum(1 for p in people if p.identity.startswith("body-")),
        "agents": sum(1 for p in people if p.kind == AGENT_KIND and not p.identity.startswith("body-")),
        "game_master": any(p.identity == "game-master" for p in people),
        "age_s": max(0, int(time.time() - room.creation_time)) if room.creation_time else None,
    }
    if kind == "game":
        room_id = room.name.removeprefix("game-")
        for url in services:  # any instance answers for any room it stores
            try:
                status, text = await fetch_text(http, f"{url}/api/rooms/{room_id}")
            except Exception:
                continue
            if status == 200:
                state = json.loads(text)
                entry.update(
                    phase=state["phase"],
                    round=f"{state['round']}/{state['rounds']}",
                    seated=sum(1 for p in state["players"] if p["present"]),
                )
                break
    return entry


# --- showing --------------------------------------------------------------------------------


def table(rows: list[dict], columns: list[tuple[str, str]]) -> str:
    def cell(value) -> str:
        if value is None:
            return "-"
        if isinstance(value, float):
            return f"{value:.2f}" if value < 10 else f"{value:.0f}"
        if isinstance(value, bool):
            return "yes" if value else "no"
        return str(value)

    cells = [[title for _, title in columns]] + [[cell(row.get(key)) for key, _ in columns] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def render(snapshot: dict, show_ingest: bool = False) -> str:
    out = [f"Bodyswap status at {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(snapshot['at']))}", ""]
    services = []
    for s in snapshot["services"]:
        rooms = s.get("rooms_by_phase", {})
        players = s.get("players_by_phase", {})
        services.append(
            {
                "url": s["url"],
                "ready": s["ready"].get("status"),
                "checks": ", ".join(f"{k} {v}" for k, v in s["ready"].get("checks", {}).items()),
                "rooms": int(sum(rooms.values())) if rooms else None,
                "by_phase": " ".join(f"{k}:{int(v)}" for k, v in rooms.items() if v) or None,
                "players": int(sum(players.values())) if players else None,
                "media_waiting": int(s["media_waiting"]) if "media_waiting" in s else None,
                "games": f"{int(s['games_finished'])}/{int(s['games_started'])}" if "games_started" in s else None,
            }
        )
    out += ["Room services", table(services, [
        ("url", "url"), ("ready", "ready"), ("checks", "checks"), ("rooms", "rooms"), ("by_phase", "by phase"),
        ("players", "players"), ("media_waiting", "waiting for media"), ("games", "games done/started"),
    ]), ""]
    out += ["Workers", table(snapshot["workers"], [
        ("url", "url"), ("slots_used", "slots used"), ("slots", "slots"), ("load", "load"), ("jobs", "jobs"),
        ("rooms", "rooms"), ("bodies_live", "bodies"), ("fps_out", "fps out"), ("video_p50_ms", "video p50 ms"),
        ("video_p95_ms", "video p95 ms"), ("frames_dropped", "dropped"), ("conversion_errors", "plugin errors"),
        ("error", "error"),
    ]), ""]
    rooms = [r for r in snapshot["rooms"] if show_ingest or r["kind"] != "ingest"]
    hidden = len(snapshot["rooms"]) - len(rooms)
    title = f"LiveKit rooms ({len(snapshot['rooms'])}" + (f", {hidden} ingest rooms not shown: --ingest)" if hidden else ")")
    out += [title, table(rooms, [
        ("room", "room"), ("kind", "kind"), ("phase", "phase"), ("round", "round"), ("seated", "players seated"),
        ("players", "players in call"), ("bodies", "bodies"), ("agents", "agents"), ("game_master", "game master"),
        ("participants", "participants"), ("age_s", "age s"),
    ])]
    if snapshot["errors"]:
        out += ["", "Errors", *snapshot["errors"]]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.ops", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    status = sub.add_parser("status", help="print every room and worker")
    status.add_argument("--service", action="append", help=f"room service base URL (default {DEFAULT_SERVICE})")
    status.add_argument("--worker", action="append", help=f"worker metrics URL (default {DEFAULT_WORKER})")
    status.add_argument("--livekit-url", default=os.environ.get("LIVEKIT_URL", "ws://127.0.0.1:7880"))
    status.add_argument("--interval", type=float, default=1.0, help="seconds between worker scrapes (rates)")
    status.add_argument("--ingest", action="store_true", help="list players' private ingest rooms too")
    status.add_argument("--json", action="store_true", help="the snapshot as JSON")
    args = parser.parse_args(argv)
    from room_service.settings import DEV_API_KEY, DEV_API_SECRET

    snapshot = asyncio.run(
        collect(
            args.service or [DEFAULT_SERVICE],
            args.worker or [DEFAULT_WORKER],
            args.livekit_url,
            os.environ.get("LIVEKIT_API_KEY", DEV_API_KEY),
            os.environ.get("LIVEKIT_API_SECRET", DEV_API_SECRET),
            args.interval,
        )
    )
    print(json.dumps(snapshot, indent=2) if args.json else render(snapshot, args.ingest))
    return 1 if snapshot["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
