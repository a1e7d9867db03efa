"""Rooms expire: past their lifetime the record and every biometric file are deleted."""

import dataclasses
import random

import pytest

from room_service import game
from room_service.biometrics import BiometricStore
from room_service.manager import RoomError, RoomManager
from room_service.settings import RoomServiceSettings
from room_service.store import SqliteRoomStore

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_an_expired_room_and_its_biometric_data_are_deleted(tmp_path):
    now = [1000.0]
    settings = RoomServiceSettings(BODYSWAP_ROOM_TTL_MINUTES=60)
    store = SqliteRoomStore(tmp_path / "rooms.sqlite3")
    biometrics = BiometricStore(tmp_path / "bio")
    manager = RoomManager(store, biometrics, settings, clock=lambda: now[0], rng=random.Random(1))
    record, host, _key = await manager.create_room("Ann")
    kept, _, _ = await manager.create_room("Bo")
    biometrics.put(record.id, host.id, "photo", b"jpeg")
    biometrics.put("orphan-room", "p-1", "photo", b"jpeg")  # left by a crash: no record

    now[0] += 59 * 60
    assert await manager.expire_rooms() == []
    assert biometrics.get(record.id, host.id, "photo") == b"jpeg"
    assert biometrics.room_ids() == [record.id]  # the orphan is swept

    now[0] += 2 * 60
    assert sorted(await manager.expire_rooms()) == sorted([record.id, kept.id])
    assert biometrics.room_ids() == []
    assert await store.room_ids() == []
    with pytest.raises(RoomError) as info:
        await manager.get(record.id)
    assert info.value.status == 404
    await store.aclose()


async def test_the_sweep_deletes_files_left_by_an_instance_that_lost_its_rooms(tmp_path):
    """With rooms in Redis another instance may take a room over while files recorded here stay on
    this disk; the deletion the new owner makes (game over, player gone) never reaches them."""
    settings = RoomServiceSettings(BODYSWAP_ROOM_TTL_MINUTES=60)
    store = SqliteRoomStore(tmp_path / "rooms.sqlite3")  # stands in for the shared store
    biometrics = BiometricStore(tmp_path / "bio")
    manager = RoomManager(store, biometrics, settings, rng=random.Random(1))
    playing, host, _ = await manager.create_room("Ann")
    over, _, _ = await manager.create_room("Bo")
    biometrics.put(playing.id, host.id, "photo", b"jpeg")
    biometrics.put(playing.id, "p-left-meanwhile", "photo", b"jpeg")  # no longer in the record
    biometrics.put(over.id, "p-1", "photo", b"jpeg")

    record = await store.load(over.id)  # the other instance ended this game
    state = game.GameState.from_dict(record.game)
    record.game = dataclasses.replace(state, phase=game.Phase.FINAL).to_dict()
    await store.save(record)

    assert await manager.expire_rooms() == []
    assert biometrics.room_ids() == [playing.id]
    assert biometrics.player_ids(playing.id) == [host.id]
    assert biometrics.get(playing.id, host.id, "photo") == b"jpeg"  # a player still in a game keeps theirs
    await store.aclose()
