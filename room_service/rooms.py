"""Rooms and their players, in memory: who is in which room, and who wears which body.

No I/O and no clock or randomness of its own: callers pass `now` and a `random.Random`, so the
rules are testable and deterministic.
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass, field

from agent.plan import BodySeat, MediaPlan

INVITE_TTL_S = 2 * 3600


class RoomError(Exception):
    """A request the rules refuse; `status` is the HTTP status it maps to."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class Player:
    id: str
    name: str
    key: str  # bearer credential of this player
    ingest_room: str  # private room only this player and the agent can join


@dataclass
class Room:
    id: str
    invite_code: str
    invite_expires_at: float
    host_key: str
    max_players: int
    players: dict[str, Player] = field(default_factory=dict)
    state: str = "lobby"  # lobby -> playing
    plan: MediaPlan | None = None

    @property
    def game_room(self) -> str:
        return f"game-{self.id}"

    def public_state(self) -> dict:
        return {
            "room_id": self.id,
            "state": self.state,
            "players": [{"name": p.name} for p in self.players.values()],
            "max_players": self.max_players,
        }


def random_derangement(n: int, rng: random.Random) -> list[int]:
    """A uniformly random permutation with no fixed point: nobody wears their own body."""
    if n < 2:
        raise ValueError("a derangement needs at least two players")
    while True:  # rejection sampling: about e tries on average, and uniform over derangements
        order = list(range(n))
        rng.shuffle(order)
        if all(order[i] != i for i in range(n)):
            return order


class RoomRegistry:
    def __init__(self, max_players: int) -> None:
        self._rooms: dict[str, Room] = {}
        self._max_players = max_players

    def get(self, room_id: str) -> Room:
        room = self._rooms.get(room_id)
        if room is None:
            raise RoomError(404, "room_not_found", "This room does not exist or has ended.")
        return room

    def create(self, host_name: str, now: float) -> tuple[Room, Player]:
        room = Room(
            id=secrets.token_urlsafe(12),
            invite_code=secrets.token_urlsafe(16),  # 128 bits
            invite_expires_at=now + INVITE_TTL_S,
            host_key=secrets.token_urlsafe(24),
            max_players=self._max_players,
        )
        self._rooms[room.id] = room
        return room, self._add_player(room, host_name)

    def join(self, room_id: str, invite_code: str, name: str, now: float) -> tuple[Room, Player]:
        room = self.get(room_id)
        if not secrets.compare_digest(invite_code, room.invite_code):
            raise RoomError(403, "bad_invite", "This invite link is not valid for this room.")
        if now > room.invite_expires_at:
            raise RoomError(410, "invite_expired", "This invite link has expired.")
        if room.state != "lobby":
            raise RoomError(409, "game_started", "The game has already started.")
        if len(room.players) >= room.max_players:
            raise RoomError(409, "room_full", f"The room is full ({room.max_players} players).")
        return room, self._add_player(room, name)

    def start(self, room_id: str, host_key: str, plugin: str, rng: random.Random) -> Room:
        room = self.get(room_id)
        if not secrets.compare_digest(host_key, room.host_key):
            raise RoomError(403, "not_host", "Only the host can start the game.")
        if room.state != "lobby":
            raise RoomError(409, "game_started", "The game has already started.")
        players = list(room.players.values())
        if len(players) < 2:
            raise RoomError(409, "not_enough_players", "At least two players are needed.")
        wears = random_derangement(len(players), rng)
        room.plan = MediaPlan(
            game_room=room.game_room,
            plugin=plugin,
            seats=[
                BodySeat(
                    body_identity=f"body-{secrets.token_hex(8)}",
                    body_name=players[wears[i]].name,
                    driver_ingest_room=driver.ingest_room,
                    driver_identity=driver.id,
                )
                for i, driver in enumerate(players)
            ],
        )
        room.state = "playing"
        return room

    def end(self, room_id: str, host_key: str) -> Room:
        room = self.get(room_id)
        if not secrets.compare_digest(host_key, room.host_key):
            raise RoomError(403, "not_host", "Only the host can end the game.")
        return self._rooms.pop(room_id)

    @staticmethod
    def _add_player(room: Room, name: str) -> Player:
        player = Player(
            id=f"p-{secrets.token_hex(8)}",
            name=name,
            key=secrets.token_urlsafe(24),
            ingest_room=f"ingest-{secrets.token_urlsafe(12)}",
        )
        room.players[player.id] = player
        return player
