"""The per-room store of biometric data: enrollment uploads and the profiles derived from them.

Files live under <root>/<room>/<player>/ with owner-only permissions. Nothing here is ever logged.
It is deleted when the game ends, the room expires, the player leaves or is kicked, or on request.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

_SAFE_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.+-]{0,95}$")  # no leading dot: no "." or ".."


class BiometricStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o700)

    def _dir(self, room_id: str, player_id: str | None = None) -> Path:
        for part in (room_id, player_id):
            if part is not None and not _SAFE_NAME.match(part):
                raise ValueError("unsafe path component")
        room = self.root / room_id
        return room / player_id if player_id else room

    def put(self, room_id: str, player_id: str, name: str, data: bytes) -> None:
        if not _SAFE_NAME.match(name):
            raise ValueError("unsafe file name")
        directory = self._dir(room_id, player_id)
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        directory.parent.chmod(0o700)
        path = directory / name
        temp = path.with_suffix(path.suffix + ".tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        temp.replace(path)  # readers never see a half-written file

    def get(self, room_id: str, player_id: str, name: str) -> bytes | None:
        path = self._dir(room_id, player_id) / name
        return path.read_bytes() if path.exists() else None

    def has_player(self, room_id: str, player_id: str) -> bool:
        return self._dir(room_id, player_id).exists()

    def delete_player(self, room_id: str, player_id: str) -> None:
        shutil.rmtree(self._dir(room_id, player_id), ignore_errors=True)

    def delete_room(self, room_id: str) -> None:
        shutil.rmtree(self._dir(room_id), ignore_errors=True)

    def room_ids(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if p.is_dir())

    def player_ids(self, room_id: str) -> list[str]:
        room = self._dir(room_id)
        return sorted(p.name for p in room.iterdir() if p.is_dir()) if room.is_dir() else []
