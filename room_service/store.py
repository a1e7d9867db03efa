"""Persistence of rooms: one JSON record per room, written after every change.

SQLite (one file, WAL) by default. The interface is async so a networked backend (Redis, for
several service instances) can stand behind it.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Protocol

from .records import RoomRecord


class RoomStore(Protocol):
    async def load(self, room_id: str) -> RoomRecord | None: ...
    async def save(self, record: RoomRecord) -> None: ...
    async def delete(self, room_id: str) -> None: ...
    async def room_ids(self) -> list[str]: ...
    async def aclose(self) -> None: ...


class SqliteRoomStore:
    """Writes are small (a few kB) and take well under a millisecond, so they run inline."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL survives a process crash
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS rooms (id TEXT PRIMARY KEY, record TEXT NOT NULL, updated_at REAL)"
        )
        path.chmod(0o600)

    async def load(self, room_id: str) -> RoomRecord | None:
        row = self._db.execute("SELECT record FROM rooms WHERE id = ?", (room_id,)).fetchone()
        return RoomRecord.model_validate_json(row[0]) if row else None

    async def save(self, record: RoomRecord) -> None:
        self._db.execute(
            "INSERT INTO rooms (id, record, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT(id) DO UPDATE SET record = excluded.record, updated_at = excluded.updated_at",
            (record.id, record.model_dump_json(), time.time()),
        )

    async def delete(self, room_id: str) -> None:
        self._db.execute("DELETE FROM rooms WHERE id = ?", (room_id,))

    async def room_ids(self) -> list[str]:
        return [row[0] for row in self._db.execute("SELECT id FROM rooms ORDER BY updated_at")]

    async def aclose(self) -> None:
        self._db.close()
