"""Room records survive a new process; biometric files are owner-only and really deleted."""

import stat

import pytest

from room_service.biometrics import BiometricStore
from room_service.rate_limit import RateLimiter
from room_service.records import PlayerRecord, RoomRecord, hash_key
from room_service.store import SqliteRoomStore

KEY = "a-players-secret-key-123"


def record(room_id: str = "r1") -> RoomRecord:
    return RoomRecord(
        id=room_id,
        invite_code="invite",
        invite_expires_at=100.0,
        created_at=0.0,
        expires_at=1000.0,
        players={"p-1": PlayerRecord(id="p-1", name="Ann", key_hash=hash_key(KEY), ingest_room="ingest-x")},
        game={"phase": "lobby", "anything": [1, 2, 3]},
    )


@pytest.mark.asyncio(loop_scope="session")
async def test_a_saved_room_is_read_back_by_a_new_store_on_the_same_file(tmp_path):
    store = SqliteRoomStore(tmp_path / "rooms.sqlite3")
    await store.save(record())
    await store.aclose()
    reopened = SqliteRoomStore(tmp_path / "rooms.sqlite3")
    assert await reopened.load("r1") == record()
    assert await reopened.room_ids() == ["r1"]
    await reopened.delete("r1")
    assert await reopened.load("r1") is None
    assert stat.S_IMODE((tmp_path / "rooms.sqlite3").stat().st_mode) == 0o600


def test_player_keys_are_stored_hashed_and_checked():
    room = record()
    assert KEY not in room.model_dump_json()  # only the hash is kept
    assert room.player_by_key(KEY).id == "p-1"
    assert room.player_by_key("wrong") is None


def test_biometric_files_are_owner_only_and_deleted_per_player_and_per_room(tmp_path):
    store = BiometricStore(tmp_path / "bio")
    store.put("r1", "p-1", "photo", b"jpeg")
    store.put("r1", "p-2", "photo", b"jpeg2")
    path = tmp_path / "bio" / "r1" / "p-1" / "photo"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "bio").stat().st_mode) == 0o700
    assert store.get("r1", "p-1", "photo") == b"jpeg"

    store.delete_player("r1", "p-1")
    assert not path.exists() and store.get("r1", "p-2", "photo") == b"jpeg2"
    store.delete_room("r1")
    assert not (tmp_path / "bio" / "r1").exists()


@pytest.mark.parametrize("bad", ["../x", "a/b", "", ".."])
def test_biometric_store_refuses_path_tricks(tmp_path, bad):
    store = BiometricStore(tmp_path / "bio")
    with pytest.raises(ValueError):
        store.put("r1", bad, "photo", b"x")
    with pytest.raises(ValueError):
        store.put(bad, "p-1", "photo", b"x")


def test_rate_limiter_allows_a_burst_then_asks_to_wait_and_refills():
    now = [0.0]
    limiter = RateLimiter(per_minute=3, clock=lambda: now[0])
    assert [limiter.allow("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.allow("a")
    assert wait == pytest.approx(20.0)
    assert limiter.allow("b") == 0.0  # per client
    now[0] += 20.0
    assert limiter.allow("a") == 0.0
