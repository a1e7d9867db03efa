"""Capacity in player slots: the load LiveKit sees, and the rooms a worker refuses."""

import pytest
from pydantic import ValidationError

from agent.capacity import RESERVATION_TTL_S, PlayerSlots, RunningJob
from agent.plan import BodySeat, MediaPlan
from agent.settings import AgentSettings


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
    assert slots.load([RunningJob("j1", plan(4))]) == 0.5
    assert slots.load([RunningJob("j1", plan(4)), RunningJob("j2", plan(6))]) == 1.0  # never above 1


def test_a_room_that_does_not_fit_is_refused_and_reservations_count_until_running():
    clock = Clock()
    slots = PlayerSlots(10, clock=clock)
    assert slots.reserve("j1", plan(6), running=[])
    assert not slots.reserve("j2", plan(6), running=[])  # j1 is accepted but not running yet
    assert slots.reserve("j2", plan(4), running=[])
    assert slots.used([RunningJob("j1", plan(6)), RunningJob("j2", plan(4))]) == 10  # running: counted once


def test_a_reservation_that_never_starts_frees_its_slots():
    clock = Clock()
    slots = PlayerSlots(6, clock=clock)
    assert slots.reserve("j1", plan(6), running=[])
    clock.now += RESERVATION_TTL_S + 1
    assert slots.used([]) == 0
    assert slots.reserve("j2", plan(6), running=[])


def test_a_job_with_an_unreadable_plan_holds_no_slots():
    assert PlayerSlots(4).used([RunningJob("j1", "not a plan")]) == 0


def test_per_gpu_a_room_goes_whole_onto_the_emptiest_gpu():
    slots = PlayerSlots(4, devices=["0", "1"])
    assert slots.total == 8
    assert slots.reserve("j1", plan(3), running=[]) and slots.device_of("j1") == "0"
    assert slots.reserve("j2", plan(2), running=[]) and slots.device_of("j2") == "1"  # the emptier one
    running = [RunningJob("j1", plan(3), "0"), RunningJob("j2", plan(2), "1")]
    assert slots.free_by_pool(running) == {"0": 1, "1": 2}
    # 3 slots are free in all, but no GPU has 2 of them and a room is never split.
    assert not slots.reserve("j3", plan(3), running)
    assert slots.reserve("j3", plan(2), running) and slots.device_of("j3") == "1"
    assert slots.load(running + [RunningJob("j3", plan(2), "1")]) == 7 / 8


def test_without_gpus_there_is_one_pool_and_no_device():
    slots = PlayerSlots(8)
    assert slots.reserve("j1", plan(3), running=[]) and slots.device_of("j1") is None


def test_per_gpu_slots_and_gpus_come_together(monkeypatch):
    monkeypatch.setenv("BODYSWAP_AGENT_GPUS", "0, 1")
    monkeypatch.setenv("BODYSWAP_AGENT_PLAYER_SLOTS_PER_GPU", "6")
    settings = AgentSettings(_env_file=None)
    assert settings.gpu_devices == ["0", "1"] and settings.player_slots_per_gpu == 6
    monkeypatch.delenv("BODYSWAP_AGENT_PLAYER_SLOTS_PER_GPU")
    with pytest.raises(ValidationError, match="needs BODYSWAP_AGENT_PLAYER_SLOTS_PER_GPU"):
        AgentSettings(_env_file=None)
    monkeypatch.delenv("BODYSWAP_AGENT_GPUS")
    monkeypatch.setenv("BODYSWAP_AGENT_PLAYER_SLOTS_PER_GPU", "6")
    with pytest.raises(ValidationError, match="needs BODYSWAP_AGENT_GPUS"):
        AgentSettings(_env_file=None)
