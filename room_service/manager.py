"""Runs every room action through the game engine: one action at a time per room, persisted
before anybody is told, so a restart loses nothing that was acknowledged."""

from __future__ import annotations

import asyncio
import random
import secrets
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable

from .biometrics import BiometricStore
from . import game
from .records import PlayerRecord, RoomRecord, hash_key, new_key
from .settings import RoomServiceSettings
from .store import RoomStore


class RoomError(Exception):
    """A request refused outside the game rules (credentials, invites); maps to an HTTP status."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


# Told after every change, with the room as persisted and what the engine said happened.
ChangeListener = Callable[[RoomRecord, "game.GameState", list["game.Event"]], Awaitable[None]]
EndListener = Callable[[str], Awaitable[None]]


class RoomManager:
    def __init__(
        self,
        store: RoomStore,
        biometrics: BiometricStore,
        settings: RoomServiceSettings,
        *,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.biometrics = biometrics
        self._settings = settings
        self._clock = clock
        self._rng = rng or random.SystemRandom()
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self.change_listeners: list[ChangeListener] = []
        self.end_listeners: list[EndListener] = []

    def now(self) -> float:
        return self._clock()

    async def get(self, room_id: str) -> RoomRecord:
        record = await self.store.load(room_id)
        if record is None or record.expires_at < self.now():
            raise RoomError(404, "room_not_found", "This room does not exist or has ended.")
        return record

    async def create_room(self, host_name: str, plugin: str | None = None) -> tuple[RoomRecord, PlayerRecord, str]:
        now = self.now()
        room_id = secrets.token_urlsafe(12)
        record = RoomRecord(
            id=room_id,
            invite_code=secrets.token_urlsafe(16),  # 128 bits
            invite_expires_at=now + self._settings.invite_ttl_minutes * 60,
            created_at=now,
            expires_at=now + self._settings.room_ttl_minutes * 60,
            game=game.new_game(room_id).to_dict(),
            plugin=plugin,
        )
        async with self._locks[room_id]:
            return await self._add_player(record, host_name)

    async def _locked_room(self, room_id: str) -> asyncio.Lock:
        """The room's lock, made only for a room that exists: made-up ids leave nothing behind."""
        await self.get(room_id)
        return self._locks[room_id]

    async def join(self, room_id: str, invite_code: str, name: str) -> tuple[RoomRecord, PlayerRecord, str]:
        async with await self._locked_room(room_id):
            record = await self.get(room_id)
            if not secrets.compare_digest(invite_code.encode(), record.invite_code.encode()):
                raise RoomError(403, "bad_invite", "This invite link is not valid for this room.")
            if self.now() > record.invite_expires_at:
                raise RoomError(410, "invite_expired", "This invite link has expired.")
            return await self._add_player(record, name)

    async def _add_player(self, record: RoomRecord, name: str) -> tuple[RoomRecord, PlayerRecord, str]:
        key = new_key()
        player = PlayerRecord(
            id=f"p-{secrets.token_hex(8)}",
            name=name,
            key_hash=hash_key(key),
            ingest_room=f"ingest-{secrets.token_urlsafe(12)}",
        )
        state = game.GameState.from_dict(record.game)
        outcome = game.apply(state, game.Join(player.id, name), self.now(), self._rng)
        record.players[player.id] = player
        await self._commit(record, outcome)
        return record, player, key

    async def authenticate(self, room_id: str, key: str) -> tuple[RoomRecord, PlayerRecord]:
        record = await self.get(room_id)
        player = record.player_by_key(key)
        if player is None:
            raise RoomError(403, "bad_credential", "This key is not valid for this room.")
        return record, player

    async def act(self, room_id: str, action: object) -> tuple[RoomRecord, game.GameState]:
        """Apply one engine action; `game.GameError` propagates and changes nothing."""
        async with await self._locked_room(room_id):
            record = await self.get(room_id)
            before = game.GameState.from_dict(record.game)
            outcome = game.apply(before, action, self.now(), self._rng)
            if outcome.state.phase == game.Phase.FINAL and before.phase != game.Phase.FINAL:
                # The game is over: every biometric byte recorded for it goes now.
                self.biometrics.delete_room(room_id)
            if before.phase == game.Phase.FINAL and outcome.state.phase == game.Phase.LOBBY:
                outcome = self._forget_enrollments(outcome)  # a new game needs a new enrollment
            for gone in set(record.players) - set(outcome.state.present_ids):
                # A player who left or was kicked loses their credential and biometric data now.
                del record.players[gone]
                self.biometrics.delete_player(room_id, gone)
            await self._commit(record, outcome)
            return record, outcome.state

    def _forget_enrollments(self, outcome: game.Outcome) -> game.Outcome:
        state, events = outcome.state, list(outcome.events)
        for player_id in state.present_ids:
            if state.players[player_id].enrolled:
                step = game.apply(state, game.SetEnrolled(player_id, False), self.now(), self._rng)
                state, events = step.state, events + step.events
        return game.Outcome(state, events)

    async def _commit(self, record: RoomRecord, outcome: game.Outcome) -> None:
        record.game = outcome.state.to_dict()
        await self.store.save(record)
        for listener in self.change_listeners:
            await listener(record, outcome.state, outcome.events)

    async def update_record(self, room_id: str, change: Callable[[RoomRecord], None]) -> RoomRecord:
        """Change bookkeeping outside the game rules (e.g. count a dispatch), under the room lock."""
        async with await self._locked_room(room_id):
            record = await self.get(room_id)
            change(record)
            await self.store.save(record)
            return record

    async def end_room(self, room_id: str) -> None:
        """Delete the room, its credentials and every biometric byte recorded in it."""
        async with self._locks[room_id]:
            await self.store.delete(room_id)
            self.biometrics.delete_room(room_id)
        self._locks.pop(room_id, None)
        for listener in self.end_listeners:
            await listener(room_id)

    async def expire_rooms(self) -> list[str]:
        """End every room past its lifetime, then sweep the biometric data the rules say is gone."""
        expired = []
        for room_id in await self.store.room_ids():
            record = await self.store.load(room_id)
            if record is not None and record.expires_at < self.now():
                await self.end_room(room_id)
                expired.append(room_id)
        await self._sweep_biometrics()
        return expired

    async def _sweep_biometrics(self) -> None:
        """Delete what this instance's disk still holds for a room that no longer exists, a game that
        is over or a player who left. Each is deleted at the moment it happens, but only by the
        instance that owns the room then: files recorded here before a crash, while another instance
        took the room over from the shared store, are caught here."""
        for room_id in self.biometrics.room_ids():
            record = await self.store.load(room_id)
            if record is None or game.GameState.from_dict(record.game).phase == game.Phase.FINAL:
                self.biometrics.delete_room(room_id)
                continue
            for gone in set(self.biometrics.player_ids(room_id)) - set(record.players):
                self.biometrics.delete_player(room_id, gone)
