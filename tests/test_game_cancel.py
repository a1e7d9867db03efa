"""The host calls a game off (no media server free, or any other reason), and the room service
restarts a late turn's clock: pure engine rules."""

from __future__ import annotations

import pytest

from room_service.game import CancelGame, Leave, Phase, RestartClock, SetReady, Start, Tick
from tests.test_game_engine import lobby, started, voting


def test_the_host_cancels_a_game_back_to_the_lobby_keeping_enrollments():
    table = started(4)
    table.do(Leave("p4"))
    table.do(CancelGame("p1"))
    state = table.state
    assert state.phase is Phase.LOBBY and state.round == 0
    assert state.bodies == {} and state.wearing == {} and state.deadline is None and state.reveals == []
    assert list(state.players) == ["p1", "p2", "p3"]  # who left is gone; the others stay
    assert all(p.enrolled and not p.ready and p.score == 0 for p in state.players.values())
    assert table.event("back_to_lobby").payload == {"reason": "cancelled"}


def test_a_cancelled_game_can_start_again_without_a_new_enrollment():
    table = voting(3)
    table.do(CancelGame("p1"))
    for player in ("p2", "p3"):
        table.do(SetReady(player, True))
    table.do(Start("p1"))
    assert table.state.phase is Phase.TURNS and table.state.round == 1


@pytest.mark.parametrize("who, code", [("p2", "not_host"), ("ghost", "unknown_player")])
def test_only_the_host_cancels(who, code):
    started(3).refuse(CancelGame(who), code)


def test_there_is_nothing_to_cancel_in_the_lobby():
    lobby(3).refuse(CancelGame("p1"), "no_game")


def test_restart_clock_gives_the_running_turn_its_full_time_from_now():
    table = started(3, turn_seconds=30)
    turn = table.state.turn_index
    table.do(RestartClock(), at=table.now + 25)
    assert table.state.deadline == table.now + 30
    table.do(Tick(), at=table.now + 29)  # not yet: the clock started again
    assert table.state.turn_index == turn and table.state.phase is Phase.TURNS


def test_restart_clock_changes_nothing_outside_a_timed_phase():
    lobby(3).noop(RestartClock())
