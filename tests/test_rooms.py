"""Room rules: invites, capacity, who may start, and the body assignment."""

import random
from collections import Counter

import pytest

from room_service.rooms import INVITE_TTL_S, RoomError, RoomRegistry, random_derangement


@pytest.mark.parametrize("n", range(2, 9))
def test_derangement_is_a_permutation_without_fixed_points(n):
    rng = random.Random(n)
    for _ in range(200):
        order = random_derangement(n, rng)
        assert sorted(order) == list(range(n))
        assert all(order[i] != i for i in range(n))


def test_derangement_of_three_covers_both_possibilities_evenly():
    rng = random.Random(1)
    counts = Counter(tuple(random_derangement(3, rng)) for _ in range(3000))
    assert set(counts) == {(1, 2, 0), (2, 0, 1)}
    assert abs(counts[(1, 2, 0)] - 1500) < 150


def test_derangement_needs_two_players():
    with pytest.raises(ValueError):
        random_derangement(1, random.Random(0))


def refusal(call) -> RoomError:
    with pytest.raises(RoomError) as info:
        call()
    return info.value


def test_invites_are_long_and_checked():
    registry = RoomRegistry(max_players=3)
    room, host = registry.create("Ann", now=0)
    assert len(room.invite_code) >= 22  # 16 random bytes, base64url
    assert refusal(lambda: registry.join(room.id, "wrong", "Bo", now=1)).code == "bad_invite"
    assert refusal(lambda: registry.join(room.id, room.invite_code, "Bo", now=INVITE_TTL_S + 1)).code == (
        "invite_expired"
    )
    assert refusal(lambda: registry.join("nope", room.invite_code, "Bo", now=1)).status == 404


def test_a_full_room_refuses_another_player():
    registry = RoomRegistry(max_players=2)
    room, _ = registry.create("Ann", now=0)
    registry.join(room.id, room.invite_code, "Bo", now=1)
    assert refusal(lambda: registry.join(room.id, room.invite_code, "Cy", now=2)).code == "room_full"
    assert len(room.players) == 2


def test_only_the_host_starts_and_only_with_two_players():
    registry = RoomRegistry(max_players=8)
    room, _ = registry.create("Ann", now=0)
    rng = random.Random(0)
    assert refusal(lambda: registry.start(room.id, room.host_key, "passthrough", rng)).code == (
        "not_enough_players"
    )
    registry.join(room.id, room.invite_code, "Bo", now=1)
    assert refusal(lambda: registry.start(room.id, "guess", "passthrough", rng)).code == "not_host"
    assert room.state == "lobby"


def test_start_gives_every_player_another_players_body_under_an_opaque_identity():
    registry = RoomRegistry(max_players=8)
    room, host = registry.create("Ann", now=0)
    for name in ("Bo", "Cy", "Di"):
        registry.join(room.id, room.invite_code, name, now=1)
    registry.start(room.id, room.host_key, "passthrough", random.Random(3))
    assert room.state == "playing" and room.plan is not None
    drivers = {p.id: p for p in room.players.values()}
    seats = room.plan.seats
    assert sorted(s.body_name for s in seats) == sorted(p.name for p in drivers.values())
    for seat in seats:
        driver = drivers[seat.driver_identity]
        assert seat.body_name != driver.name
        assert seat.driver_ingest_room == driver.ingest_room
        assert driver.id not in seat.body_identity and driver.name not in seat.body_identity
    assert len({s.body_identity for s in seats}) == len(seats)
    assert refusal(lambda: registry.join(room.id, room.invite_code, "Ed", now=2)).code == "game_started"
