"""Properties of the game engine under random play: random actions, valid and invalid, from random
players at random times, checked after every step."""

from __future__ import annotations

import dataclasses
import json
import random

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from room_service.game import (
    CancelGame,
    GameError,
    GameSettings,
    GameState,
    Join,
    Kick,
    Leave,
    PassTurn,
    Phase,
    PlayAgain,
    RestartClock,
    SetEnrolled,
    SetReady,
    Start,
    Tick,
    UpdateSettings,
    Vote,
    apply,
    load_deck,
    media_assignment,
    new_game,
    private_view,
    public_view,
)
from room_service.game.model import Ballot
from tests.test_game_engine import NAMES, assert_round_trips

PLAYER_IDS = [f"p{i}" for i in range(1, 10)]
NAME_POOL = [*NAMES, "ann", " Bo ", "", "   ", "x" * 40, "Zed"]
KINDS = [  # repeats weight the draw toward moves that make progress
    *["join", "leave", "kick", "enroll", "ready", "settings", "start", "play_again", "vote", "cancel", "clock"],
    *["pass"] * 2,
    *["smart_vote"] * 3,
    *["tick"] * 6,
]
# Repeating one of these right after it took effect (and left the phase as it was) changes nothing.
IDEMPOTENT = (Join, SetEnrolled, SetReady, UpdateSettings, Vote, Leave, Kick)


def draw_action(data: st.DataObject, state: GameState):
    known = list(state.players) or ["p1"]
    anyone = st.sampled_from([*known, "ghost"])
    kind = data.draw(st.sampled_from(KINDS))
    match kind:
        case "join":
            return Join(data.draw(st.sampled_from(PLAYER_IDS)), data.draw(st.sampled_from(NAME_POOL)))
        case "leave":
            return Leave(data.draw(anyone))
        case "kick":
            return Kick(data.draw(anyone), data.draw(anyone))
        case "enroll":
            return SetEnrolled(data.draw(anyone), data.draw(st.booleans()))
        case "ready":
            return SetReady(data.draw(anyone), data.draw(st.booleans()))
        case "settings":
            changes = data.draw(
                st.dictionaries(
                    st.sampled_from(["rounds", "max_players", "min_players", "turn_seconds", "speed"]),
                    st.one_of(st.integers(0, 12), st.just("3")),
                    max_size=2,
                )
            )
            return UpdateSettings(data.draw(anyone), changes)
        case "start":
            return Start(data.draw(anyone))
        case "pass":
            return PassTurn(data.draw(st.sampled_from([*known, state.hot_seat_id or "p1"])))
        case "vote":
            bodies = st.sampled_from([*state.bodies, "body-bogus"])
            guesses = data.draw(st.dictionaries(bodies, anyone, max_size=4))
            return Vote(data.draw(anyone), guesses, data.draw(st.booleans()))
        case "smart_vote":
            return smart_vote(data, state)
        case "tick":
            return Tick()
        case "play_again":
            return PlayAgain(data.draw(anyone))
        case "cancel":
            return CancelGame(data.draw(anyone))
        case "clock":
            return RestartClock()
    raise AssertionError(kind)


def smart_vote(data: st.DataObject, state: GameState) -> Vote:
    """A ballot that follows the rules, from a player in the round (if any)."""
    if len(state.wearing) < 2:
        return Vote("p1", {}, True)
    voter = data.draw(st.sampled_from(list(state.wearing)))
    bodies = [b for b in state.wearing.values() if b != state.wearing[voter]]
    others = data.draw(st.permutations([p for p in state.wearing if p != voter]))
    chosen = data.draw(st.lists(st.sampled_from(bodies), unique=True, max_size=len(bodies)))
    return Vote(voter, dict(zip(chosen, others)), data.draw(st.booleans()))


def check_invariants(state: GameState, now: float) -> None:
    present = state.present_ids
    players = state.players.values()
    assert state.host_id in present if present else state.host_id is None
    assert len({p.name.casefold() for p in players}) == len(state.players) <= state.settings.max_players
    assert all(p.enrolled or not p.ready for p in players)
    assert (state.deadline is None) == (state.phase in (Phase.LOBBY, Phase.FINAL))
    if state.phase is Phase.LOBBY:
        assert all(p.present and p.score == 0 for p in players)
        assert (state.round, state.bodies, state.wearing, state.reveals) == (0, {}, {}, [])
    else:
        owners = list(state.bodies.values())
        assert len(set(owners)) == len(owners) and set(owners) <= set(state.players)
        assert sum(p.score for p in players) == sum(
            points["points"] for reveal in state.reveals for points in reveal["points"].values()
        )
    if state.phase in (Phase.TURNS, Phase.VOTE, Phase.REVEAL):
        assert sorted(state.wearing) == sorted(present) and len(present) >= 2
        assert len(set(state.wearing.values())) == len(state.wearing)
        assert all(state.bodies[body] != driver for driver, body in state.wearing.items())
        assert 1 <= state.round <= state.settings.rounds
    if state.phase is Phase.TURNS:
        assert state.hot_seat_id in state.wearing and state.prompt in load_deck()
    if state.phase is Phase.VOTE:
        check_ballots(state)
    json.dumps(public_view(state, now))
    for player_id in state.players:
        mine = private_view(state, player_id)
        assert (mine["body"] or {}).get("body_id") == state.wearing.get(player_id)


def check_ballots(state: GameState) -> None:
    in_play = set(state.wearing.values())
    assert set(state.ballots) <= set(state.wearing)
    for voter, ballot in state.ballots.items():
        named = list(ballot.guesses.values())
        assert len(set(named)) == len(named)
        for body, guess in ballot.guesses.items():
            assert body in in_play and body != state.wearing[voter]
            assert guess in state.wearing and guess != voter


def check_secrets(state: GameState, now: float) -> None:
    """Before the reveal the public view ties no body to its driver and shows no ballot content."""
    if state.phase not in (Phase.TURNS, Phase.VOTE):
        return
    view = public_view(state, now)
    driver_of = {body: driver for driver, body in state.wearing.items()}
    current = {k: v for k, v in view.items() if k != "reveals"}  # past rounds' reveals are public
    for entry in dicts_in(current):
        if "body_id" in entry and entry["body_id"] in driver_of:
            assert driver_of[entry["body_id"]] not in json.dumps(list(entry.values()))
    # The same public facts with other drivers in the bodies and other guesses look exactly the same.
    drivers = list(state.wearing)
    rename = dict(zip(drivers, random.Random(len(drivers)).sample(drivers, len(drivers))))
    other = dataclasses.replace(
        state,
        wearing={rename[d]: body for d, body in state.wearing.items()},
        turn_order=[rename.get(p, p) for p in state.turn_order],
        ballots={p: Ballot({}, b.locked) for p, b in state.ballots.items()},
    )
    assert public_view(other, now) == view


def dicts_in(value: object):
    if isinstance(value, dict):
        yield value
        value = list(value.values())
    if isinstance(value, list):
        for item in value:
            yield from dicts_in(item)


def check_public_events(state: GameState, events) -> None:
    driver_of = {body: driver for driver, body in state.wearing.items()}
    for event in events:
        json.dumps(event.to_dict())
        if event.to is None and event.kind not in ("reveal", "final"):
            for entry in dicts_in(event.payload):
                if "body_id" in entry and entry["body_id"] in driver_of:
                    assert driver_of[entry["body_id"]] not in json.dumps(list(entry.values()))
        if event.kind == "your_body":
            assert event.payload["body_id"] == state.wearing[event.to]
        if event.kind == "round_started":
            assert sorted(state.wearing.values()) == sorted(state.own_body(p) for p in state.present_ids)


def lobby_with(n: int, game_settings: GameSettings) -> GameState:
    state, rng = new_game("room-p", game_settings), random.Random(0)
    for player_id, name in zip(PLAYER_IDS[:n], NAMES):
        for action in (Join(player_id, name), SetEnrolled(player_id, True), SetReady(player_id, True)):
            state = apply(state, action, 0.0, rng).state
    return state


@settings(
    max_examples=200,
    deadline=None,
    database=None,  # nothing written into the checkout
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    data=st.data(),
    players=st.integers(0, 8),
    start=st.sampled_from([True, True, True, False]),  # most examples start at once, to play deep
    rounds=st.integers(1, 3),
    turn_seconds=st.integers(10, 30),
    seed=st.integers(0, 2**32 - 1),
)
def test_random_play_keeps_every_rule(data, players, start, rounds, turn_seconds, seed):
    game_settings = GameSettings(rounds=rounds, turn_seconds=turn_seconds, vote_seconds=15, reveal_seconds=5)
    state, rng, now = lobby_with(players, game_settings), random.Random(seed), 0.0
    initial, script, all_events = state, [], []
    if start and players >= 3:
        outcome = apply(state, Start("p1"), now, rng)
        state, all_events = outcome.state, list(outcome.events)
        script.append((Start("p1"), now))
    for _ in range(data.draw(st.integers(1, 80), label="steps")):
        action = draw_action(data, state)
        if isinstance(action, Tick) and state.deadline is not None and data.draw(st.booleans()):
            now = max(now, state.deadline)  # let the timer run out
        now += data.draw(st.sampled_from([0.0, 0.5, 3.0, 11.0]))
        before, scores = state.to_dict(), {p.id: p.score for p in state.players.values()}
        try:
            outcome = apply(state, action, now, rng)
        except GameError as refusal:
            assert refusal.code and refusal.message
            assert state.to_dict() == before  # a refusal changes nothing
            script.append((action, now))
            continue
        assert state.to_dict() == before  # the input is never mutated
        script.append((action, now))
        repeatable = isinstance(action, IDEMPOTENT) and outcome.state.phase is state.phase
        if isinstance(action, Leave | Kick):
            repeatable = repeatable and state.phase is not Phase.LOBBY  # in the lobby a leaver is gone
        if repeatable:
            again = apply(outcome.state, action, now, random.Random(0))
            assert again.state is outcome.state and again.events == []
        if outcome.state.phase is not Phase.LOBBY:
            new_scores = {p.id: p.score for p in outcome.state.players.values()}
            assert all(new_scores[p] >= score for p, score in scores.items() if p in new_scores)
        state = outcome.state
        all_events.extend(outcome.events)
        assert_round_trips(state)
        check_invariants(state, now)
        check_secrets(state, now)
        check_public_events(state, outcome.events)
        assert media_assignment(state) == state.wearing
        event(f"reached {state.phase}")  # coverage, shown by --hypothesis-show-statistics

    # Same inputs, same outputs: replaying the script gives the same state and events.
    replay_state, replay_rng, replay_events = initial, random.Random(seed), []
    for action, at in script:
        try:
            outcome = apply(replay_state, action, at, replay_rng)
        except GameError:
            continue
        replay_state = outcome.state
        replay_events.extend(outcome.events)
    assert replay_state.to_dict() == state.to_dict()
    assert replay_events == all_events
