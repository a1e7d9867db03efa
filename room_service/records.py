"""What the room service persists about a room: credentials and the game engine's state."""

from __future__ import annotations

import hashlib
import secrets

from pydantic import BaseModel, Field


def hash_key(key: str) -> str:
    """Player keys are stored hashed: a leaked database does not let anyone act as a player."""
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    return secrets.token_urlsafe(24)


class PlayerRecord(BaseModel):
    id: str
    name: str
    key_hash: str
    ingest_room: str  # the player's private room: only they (publishing) and the agent join it


class RoomRecord(BaseModel):
    id: str
    invite_code: str
    invite_expires_at: float
    created_at: float
    expires_at: float  # after this the room and everything recorded in it are deleted
    players: dict[str, PlayerRecord] = Field(default_factory=dict)
    game: dict  # room_service.game.GameState.to_dict()
    media_dispatches: int = 0  # agent dispatches made for this game (re-dispatch counts up)
    # Wall-clock time the game was paused for its first agent; None once the bodies came (or no game).
    # Stored, so a game whose room service restarts or is taken over stays paused.
    media_held_since: float | None = None
    plugin: str | None = None  # the swap plugin this room runs; None: the service's default

    @property
    def game_room(self) -> str:
        return f"game-{self.id}"

    def player_by_key(self, key: str) -> PlayerRecord | None:
        wanted = hash_key(key)
        for player in self.players.values():
            if secrets.compare_digest(player.key_hash, wanted):
                return player
        return None
