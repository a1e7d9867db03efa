"""The media plan the room service hands its agent: bodies, drivers, owners, plugin, profiles."""

import random

from room_service import game
from room_service.game_master import media_plan
from room_service.records import PlayerRecord, RoomRecord


def started_room(plugin: str | None) -> tuple[RoomRecord, game.GameState]:
    rng = random.Random(3)
    state = game.new_game("r1")
    players = {}
    for i, name in enumerate(["Ann", "Bo", "Cy", "Di"]):
        pid = f"p-{i}"
        state = game.apply(state, game.Join(pid, name), 0.0, rng).state
        state = game.apply(state, game.SetEnrolled(pid, True), 0.0, rng).state
        players[pid] = PlayerRecord(id=pid, name=name, key_hash="x", ingest_room=f"ingest-{i}")
    for pid in players:
        state = game.apply(state, game.SetReady(pid, True), 0.0, rng).state
    state = game.apply(state, game.Start("p-0"), 0.0, rng).state
    record = RoomRecord(
        id="r1", invite_code="c", invite_expires_at=1, created_at=0, expires_at=1,
        players=players, game=state.to_dict(), plugin=plugin,
    )
    return record, state


def test_each_seat_names_its_driver_and_owner_and_where_their_profiles_are():
    record, state = started_room(plugin=None)
    plan = media_plan(record, state, "passthrough", "http://rooms.internal:8080")
    assert plan.plugin == "passthrough"
    assert plan.profiles_url == "http://rooms.internal:8080/api/agent/rooms/r1/profiles"
    assert len(plan.seats) == 4
    for seat in plan.seats:
        assert seat.owner_id == state.bodies[seat.body_identity]
        assert seat.owner_id != seat.driver_identity  # nobody wears their own body
        assert seat.body_name == state.players[seat.owner_id].name
        assert seat.driver_ingest_room == record.players[seat.driver_identity].ingest_room


def test_a_room_runs_the_plugin_it_was_created_with():
    record, state = started_room(plugin="fancy")
    assert media_plan(record, state, "passthrough", "http://x").plugin == "fancy"
