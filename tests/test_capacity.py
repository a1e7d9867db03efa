"""Capacity in player slots: the load LiveKit sees, and the rooms a worker refuses."""

from agent.capacity import RESERVATION_TTL_S, PlayerSlots
from agent.plan import BodySeat, MediaPlan


def plan(players: int) -> str:
    seats = [
        BodySeat(body_identity=f"body-{i}", body_name=f"P{i}", driver_ingest_room=f"ingest-{i}", driver_identity=f"p-{i}")
        for i in range(players)
    ]
    return MediaPlan(game_room="game-x", plugin="passthrough", seats=seats).model_dump_json()


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def test_load_is_the_share_of_player_slots_in_use():
    slots = PlayerSlots(8)
    assert slots.load([]) == 0
    assert slots.load([("j1", plan(4))]) == 0.5
    assert slots.load([("j1", plan(4)), ("j2", plan(6))]) == 1.0  # never above 1


def test_a_room_that_does_not_fit_is_refused_and_reservations_count_until_running():
    clock = Clock()
    slots = PlayerSlots(10, clock=clock)
    assert slots.reserve("j1", plan(6), running=[])
    assert not slots.reserve("j2", plan(6), running=[])  # j1 is accepted but not running yet
    assert slots.reserve("j2", plan(4), running=[])
    assert slots.used([("j1", plan(6)), ("j2", plan(4))]) == 10  # running: counted once


def test_a_reservation_that_never_starts_frees_its_slots():
    clock = Clock()
    slots = PlayerSlots(6, clock=clock)
    assert slots.reserve("j1", plan(6), running=[])
    clock.now += RESERVATION_TTL_S + 1
    assert slots.used([]) == 0
    assert slots.reserve("j2", plan(6), running=[])


def test_a_job_with_an_unreadable_plan_holds_no_slots():
    assert PlayerSlots(4).used([("j1", "not a plan")]) == 0
