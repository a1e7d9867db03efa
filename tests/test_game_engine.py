"""Game engine rules, one by one: lobby, start, turns, vote, scoring, ranks, leaving, views, persistence."""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import fields

import pytest

from room_service.game import (
    Event,
    GameError,
    GameSettings,
    GameState,
    Join,
    Kick,
    Leave,
    PassTurn,
    Phase,
    PlayAgain,
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
    next_deadline,
    private_view,
    public_view,
)
from room_service.game.assignment import assign_bodies
from room_service.game.deck import draw_prompt
from room_service.game.model import SETTING_BOUNDS, Ballot, Player
from room_service.game.scoring import rank_players, score_round

NAMES = ["Ann", "Bo", "Cy", "Di", "Ed", "Flo", "Gus", "Hal"]
T0 = 1000.0


def assert_round_trips(state: GameState) -> None:
    data = json.loads(json.dumps(state.to_dict()))
    again = GameState.from_dict(data)
    assert again == state
    assert again.to_dict() == state.to_dict()


class Table:
    """A game under test: applies actions at a clock, checking purity and persistence at every step."""

    def __init__(self, seed: int = 0, settings: GameSettings | None = None) -> None:
        self.state = new_game("room-1", settings)
        self.rng = random.Random(seed)
        self.now = T0
        self.events: list[Event] = []

    def do(self, action, at: float | None = None) -> list[Event]:
        self.now = self.now if at is None else at
        before = self.state.to_dict()
        outcome = apply(self.state, action, self.now, self.rng)
        assert self.state.to_dict() == before  # the input state is never mutated
        assert_round_trips(outcome.state)
        json.dumps([e.to_dict() for e in outcome.events])
        json.dumps(public_view(outcome.state, self.now))
        self.state, self.events = outcome.state, outcome.events
        return self.events

    def refuse(self, action, code: str) -> GameError:
        snapshot, rng_state = self.state.to_dict(), self.rng.getstate()
        with pytest.raises(GameError) as info:
            apply(self.state, action, self.now, self.rng)
        assert info.value.code == code, info.value
        assert self.state.to_dict() == snapshot  # a refusal changes nothing...
        assert self.rng.getstate() == rng_state  # ...and draws no randomness
        assert info.value.message.endswith("."), info.value.message  # a sentence for a player
        return info.value

    def noop(self, action) -> None:
        outcome = apply(self.state, action, self.now, self.rng)
        assert outcome.state is self.state
        assert outcome.events == []

    def tick_out(self) -> list[Event]:
        """Let the current timer run out."""
        return self.do(Tick(), at=self.state.deadline)

    def kinds(self) -> list[str]:
        return [e.kind for e in self.events]

    def event(self, kind: str) -> Event:
        (found,) = [e for e in self.events if e.kind == kind]
        return found

    @property
    def hot_seat(self) -> str | None:
        return self.state.hot_seat_id

    def driver_of(self, body: str) -> str:
        return next(d for d, b in self.state.wearing.items() if b == body)

    def correct_ballot(self, voter: str) -> dict[str, str]:
        return {body: driver for driver, body in self.state.wearing.items() if driver != voter}

    def to_vote(self) -> None:
        while self.state.phase is Phase.TURNS:
            self.tick_out()


def lobby(n: int, seed: int = 0, **settings: int) -> Table:
    """Players p1..pn (p1 the host), all enrolled and ready."""
    table = Table(seed, GameSettings(**settings))
    for i in range(1, n + 1):
        table.do(Join(f"p{i}", NAMES[i - 1]))
        table.do(SetEnrolled(f"p{i}", True))
        if i > 1:
            table.do(SetReady(f"p{i}", True))
    return table


def started(n: int, seed: int = 0, **settings: int) -> Table:
    table = lobby(n, seed, **settings)
    table.do(Start("p1"))
    return table


def voting(n: int, seed: int = 0, **settings: int) -> Table:
    table = started(n, seed, **settings)
    table.to_vote()
    return table


# --- settings ---------------------------------------------------------------------------------


def test_default_settings():
    assert GameSettings() == GameSettings(
        min_players=2, max_players=8, rounds=3, turn_seconds=30, vote_seconds=45, reveal_seconds=20
    )
    assert {f.name for f in fields(GameSettings)} == set(SETTING_BOUNDS)


def test_validated_settings_take_partial_values():
    assert GameSettings.validated(rounds=5).rounds == 5
    assert GameSettings.validated(rounds=5).turn_seconds == 30


@pytest.mark.parametrize(
    ("values", "code", "says"),
    [
        ({"min_players": 1}, "invalid_setting", "from 2 to 8"),
        ({"max_players": 9}, "invalid_setting", "from 2 to 8"),
        ({"rounds": 0}, "invalid_setting", "number of rounds"),
        ({"turn_seconds": "30"}, "invalid_setting", "whole number"),
        ({"vote_seconds": 45.5}, "invalid_setting", "whole number"),
        ({"reveal_seconds": True}, "invalid_setting", "whole number"),
        ({"reveal_seconds": None}, "invalid_setting", "whole number"),
        ({"min_players": 6, "max_players": 5}, "invalid_setting", "cannot be more than the maximum"),
        ({"speed": 2}, "unknown_setting", "'speed'"),
    ],
)
def test_settings_are_validated(values, code, says):
    with pytest.raises(GameError) as info:
        GameSettings.validated(**values)
    assert info.value.code == code
    assert says in info.value.message


# --- deck and body assignment ------------------------------------------------------------------


def test_deck_loads_with_enough_distinct_short_prompts():
    deck = load_deck()
    assert len(deck) >= 60
    assert all(isinstance(p, str) and 10 <= len(p) <= 80 and p == p.strip() for p in deck)
    assert len({p.casefold().rstrip(".?!") for p in deck}) == len(deck)


def test_prompts_do_not_repeat_until_the_deck_is_exhausted():
    rng, used, drawn = random.Random(3), [], []
    for _ in range(len(load_deck())):
        prompt, used = draw_prompt(used, rng)
        drawn.append(prompt)
    assert sorted(drawn) == sorted(load_deck())
    prompt, used = draw_prompt(used, rng)
    assert prompt != drawn[-1]  # starting over never repeats the last prompt at once
    assert used == [drawn[-1], prompt]


@pytest.mark.parametrize("n", range(2, 9))
def test_assignment_is_a_derangement_of_the_players_bodies(n):
    players = [f"p{i}" for i in range(n)]
    own = {p: f"b{p}" for p in players}
    rng = random.Random(n)
    for _ in range(100):
        wearing = assign_bodies(players, own, {}, rng)
        assert list(wearing) == players
        assert sorted(wearing.values()) == sorted(own.values())
        assert all(wearing[p] != own[p] for p in players)


def test_assignment_is_uniform_over_derangements():
    players = ["a", "b", "c", "d"]  # 9 derangements of 4
    own = {p: p.upper() for p in players}
    rng = random.Random(11)
    counts = Counter(tuple(assign_bodies(players, own, {}, rng).values()) for _ in range(4500))
    assert len(counts) == 9
    assert all(380 < c < 620 for c in counts.values()), counts


@pytest.mark.parametrize("n", range(3, 9))
def test_reshuffle_avoids_last_rounds_bodies(n):
    players = [f"p{i}" for i in range(n)]
    own = {p: f"b{p}" for p in players}
    rng = random.Random(n)
    previous = assign_bodies(players, own, {}, rng)
    for _ in range(100):
        wearing = assign_bodies(players, own, previous, rng)
        assert all(wearing[p] not in (own[p], previous[p]) for p in players)
        previous = wearing


def test_reshuffle_falls_back_to_any_derangement_when_a_fresh_one_is_impossible():
    own = {"a": "A", "b": "B"}
    assert assign_bodies(["a", "b"], own, {"a": "B", "b": "A"}, random.Random(0)) == {"a": "B", "b": "A"}
    # Three players after a departure: both 3-cycles clash with last round, so any derangement will do.
    own3 = {"a": "A", "b": "B", "c": "C"}
    wearing = assign_bodies(["a", "b", "c"], own3, {"a": "B", "b": "A"}, random.Random(0))
    assert all(wearing[p] != own3[p] for p in own3)


def test_assignment_needs_two_players_and_is_deterministic():
    with pytest.raises(ValueError):
        assign_bodies(["a"], {"a": "A"}, {}, random.Random(0))
    own = {p: p.upper() for p in "abcdef"}
    first, second = (assign_bodies(list(own), own, {}, random.Random(9)) for _ in range(2))
    assert first == second


# --- lobby -------------------------------------------------------------------------------------


def test_first_joiner_is_host_and_joins_are_announced():
    table = Table()
    table.do(Join("p1", "  Ann "))
    assert table.events == [Event(None, "player_joined", {"player_id": "p1", "name": "Ann"})]
    table.do(Join("p2", "Bo"))
    assert table.state.host_id == "p1"
    assert list(table.state.players) == ["p1", "p2"]


def test_joining_twice_with_the_same_id_is_idempotent():
    table = lobby(3)
    table.noop(Join("p2", "Bo"))
    table.refuse(Join("p2", "Bob"), "already_joined")


@pytest.mark.parametrize(
    ("name", "code"), [("", "bad_payload"), ("   ", "bad_name"), ("x" * 33, "bad_name"), ("bO", "name_taken")]
)
def test_names_must_be_sensible_and_unique(name, code):
    lobby(3).refuse(Join("p9", name), code)


def test_a_full_room_refuses_another_player():
    table = lobby(3, max_players=3)
    assert table.refuse(Join("p4", "Di"), "room_full").message == "The room is full (3 players)."


def test_nobody_joins_a_game_under_way():
    started(3).refuse(Join("p9", "Zed"), "game_in_progress")


def test_leaving_the_lobby_removes_the_player_and_hands_over_the_host():
    table = lobby(3)
    table.do(Leave("p1"))
    assert list(table.state.players) == ["p2", "p3"]
    assert table.state.host_id == "p2"
    assert table.event("player_left").payload == {
        "player_id": "p1", "name": "Ann", "reason": "left", "host_id": "p2"
    }
    table.do(Leave("p2"))
    table.do(Leave("p3"))
    assert table.state.host_id is None
    table.do(Join("p7", "Gus"))
    assert table.state.host_id == "p7"
    table.refuse(Leave("p1"), "unknown_player")


def test_only_the_host_kicks_and_never_themselves():
    table = lobby(4)
    table.refuse(Kick("p2", "p3"), "not_host")
    table.refuse(Kick("p1", "p1"), "cannot_kick_self")
    table.refuse(Kick("p1", "p9"), "unknown_player")
    table.refuse(Kick("p9", "p2"), "unknown_player")
    table.do(Kick("p1", "p3"))
    assert "p3" not in table.state.players
    assert table.event("player_left").payload["reason"] == "kicked"


def test_enrollment_and_readiness():
    table = Table()
    table.do(Join("p1", "Ann"))
    table.do(Join("p2", "Bo"))
    table.refuse(SetReady("p2", True), "not_enrolled")
    table.refuse(SetEnrolled("p9", True), "unknown_player")
    table.do(SetEnrolled("p2", True))
    table.do(SetReady("p2", True))
    table.noop(SetReady("p2", True))
    table.noop(SetEnrolled("p2", True))
    table.do(SetEnrolled("p2", False))  # a redone enrollment: ready again once it is complete
    assert not table.state.players["p2"].ready
    table.do(SetReady("p2", False))


def test_enrollment_and_readiness_are_lobby_only():
    table = started(3)
    table.refuse(SetEnrolled("p2", False), "wrong_phase")
    table.refuse(SetReady("p2", False), "wrong_phase")


def test_the_host_changes_settings_in_the_lobby():
    table = lobby(4)
    table.refuse(UpdateSettings("p2", {"rounds": 2}), "not_host")
    table.refuse(UpdateSettings("p1", {"round": 2}), "unknown_setting")
    table.refuse(UpdateSettings("p1", {"turn_seconds": 5}), "invalid_setting")
    table.refuse(UpdateSettings("p1", {"max_players": 3}), "too_many_players")
    table.do(UpdateSettings("p1", {"rounds": 2, "turn_seconds": 20}))
    assert table.state.settings == GameSettings(rounds=2, turn_seconds=20)
    table.noop(UpdateSettings("p1", {"rounds": 2}))
    table.do(Start("p1"))
    table.refuse(UpdateSettings("p1", {"rounds": 4}), "wrong_phase")


def test_start_needs_the_host_enough_players_and_everyone_enrolled_and_ready():
    table = lobby(2, min_players=3)
    table.refuse(Start("p2"), "not_host")
    assert table.refuse(Start("p1"), "too_few_players").message == (
        "At least 3 players are needed to start; there are 2."
    )
    table.do(Join("p3", "Cy"))
    table.do(Join("p4", "Di"))
    refusal = table.refuse(Start("p1"), "players_not_enrolled")
    assert refusal.message == "Waiting for Cy and Di to finish enrolling."
    table.do(SetEnrolled("p3", True))
    table.do(SetEnrolled("p4", True))
    table.do(SetReady("p3", True))
    assert table.refuse(Start("p1"), "players_not_ready").message == "Waiting for Di to be ready."
    table.do(SetReady("p4", True))
    assert not table.state.players["p1"].ready  # the host's Start is their ready
    table.do(Start("p1"))
    table.refuse(Start("p1"), "wrong_phase")


def test_two_players_can_play_a_whole_game_each_in_the_others_body():
    """The default minimum, so one person can try the game in two browser windows."""
    table = lobby(1)
    assert table.refuse(Start("p1"), "too_few_players").message == (
        "At least 2 players are needed to start; there are 1."
    )
    table = started(2, rounds=2)
    for round_number in (1, 2):
        state = table.state
        assert state.round == round_number
        assert state.wearing == {"p1": state.own_body("p2"), "p2": state.own_body("p1")}
        table.to_vote()
        table.tick_out()
        table.tick_out()
    assert table.state.phase is Phase.FINAL


def test_min_players_setting_is_respected():
    table = lobby(3, min_players=4)
    table.refuse(Start("p1"), "too_few_players")


@pytest.mark.parametrize(
    "action",
    [
        Join(123, "Zed"),
        Join("", "Zed"),
        Join("p" * 201, "Zed"),
        Leave(None),
        Kick("p1", ["p2"]),
        SetEnrolled("p2", "yes"),
        SetReady("p2", 1),
        UpdateSettings("p1", "rounds=2"),
        UpdateSettings("p1", {3: 2}),
        Start(None),
        PassTurn(b"p1"),
        Vote("p1", [], False),
        Vote("p1", {"body-x": 3}, False),
        Vote("p1", {}, "true"),
    ],
)
def test_malformed_payloads_are_refused(action):
    lobby(3).refuse(action, "bad_payload")


def test_unknown_actions_are_refused():
    lobby(3).refuse(object(), "unknown_action")


# --- start -------------------------------------------------------------------------------------



def test_start_gives_everyone_a_body_and_tells_each_player_privately_which_they_wear():
    table = lobby(4)
    events = table.do(Start("p1"), at=T0 + 5)
    state = table.state
    assert (state.phase, state.round) == (Phase.TURNS, 1)
    assert sorted(state.bodies.values()) == ["p1", "p2", "p3", "p4"]
    assert all(len(body) == len("body-") + 16 and body.startswith("body-") for body in state.bodies)
    assert list(state.wearing) == ["p1", "p2", "p3", "p4"]
    assert sorted(state.wearing.values()) == sorted(state.bodies)
    assert all(state.bodies[body] != driver for driver, body in state.wearing.items())
    assert table.kinds() == ["round_started"] + ["your_body"] * 4 + ["turn_started", "your_turn"]
    assert events[0] == Event(None, "round_started", {"round": 1, "rounds": 3, "multiplier": 1})
    for event in events[1:5]:
        body = state.wearing[event.to]
        owner = state.players[state.bodies[body]]
        assert event.payload == {"round": 1, "body_id": body, "body_name": owner.name}
    turn = table.event("turn_started")
    assert turn.to is None
    assert turn.payload["body_id"] == state.wearing[table.hot_seat]
    assert turn.payload["prompt"] == state.prompt in load_deck()
    assert turn.payload["deadline"] == T0 + 35 == next_deadline(state)
    assert (turn.payload["turn"], turn.payload["turns"]) == (1, 4)
    assert table.hot_seat not in json.dumps(turn.payload)  # publicly the hot seat is a body, not a player
    assert table.event("your_turn").to == table.hot_seat


def test_same_inputs_give_the_same_outputs():
    def play(seed: int) -> tuple[dict, list[Event]]:
        table = started(5, seed)
        table.do(PassTurn("p1"), at=T0 + 3)
        table.tick_out()
        return table.state.to_dict(), table.events

    assert play(4) == play(4)
    assert play(4) != play(5)


# --- turns -------------------------------------------------------------------------------------


def test_every_player_takes_one_turn_per_round_in_a_random_order():
    orders = set()
    for seed in range(6):
        table = started(5, seed)
        seats = [table.hot_seat]
        while table.state.phase is Phase.TURNS:
            table.tick_out()
            seats.append(table.hot_seat)
        assert sorted(seats[:-1]) == ["p1", "p2", "p3", "p4", "p5"]
        orders.add(tuple(seats[:-1]))
    assert len(orders) > 1


def test_the_hot_seat_player_or_the_host_may_pass():
    table = next(t for t in (started(4, seed) for seed in range(20)) if t.hot_seat != "p1")
    first = table.hot_seat
    table.do(PassTurn(first), at=T0 + 7)
    assert table.kinds() == ["turn_started", "your_turn"]
    assert table.state.turn_index == 1 and table.hot_seat != first
    assert next_deadline(table.state) == T0 + 37
    table.refuse(PassTurn(first), "not_your_turn")  # a late double click never skips someone else's turn
    bystander = next(p for p in table.state.present_ids if p not in (table.hot_seat, "p1"))
    table.refuse(PassTurn(bystander), "not_your_turn")
    table.refuse(PassTurn("p9"), "unknown_player")
    table.do(PassTurn("p1"))
    assert table.state.turn_index == 2


def test_passing_is_only_for_turns():
    lobby(3).refuse(PassTurn("p1"), "wrong_phase")
    voting(3).refuse(PassTurn("p1"), "wrong_phase")


def test_a_tick_moves_on_only_once_the_deadline_has_passed():
    table = started(3)
    deadline = next_deadline(table.state)
    table.now = deadline - 0.001
    table.noop(Tick())
    table.do(Tick(), at=deadline + 100)  # one step per Tick, and the next deadline counts from now
    assert table.state.turn_index == 1
    assert next_deadline(table.state) == deadline + 130
    lobby(3).noop(Tick())


def test_prompts_do_not_repeat_within_a_game():
    table = started(8, rounds=3)
    prompts = []
    while table.state.phase is not Phase.FINAL:
        if table.state.phase is Phase.TURNS:
            prompts.append(table.state.prompt)
        table.tick_out()
    assert len(prompts) == 24 == len(set(prompts))


def test_the_vote_opens_after_the_last_turn():
    table = started(3)
    table.tick_out()
    table.tick_out()
    events = table.tick_out()
    assert table.state.phase is Phase.VOTE and table.state.prompt is None
    assert events == [
        Event(
            None, "vote_opened", {"round": 1, "deadline": table.now + 45, "bodies": list(table.state.bodies)}
        )
    ]


# --- vote --------------------------------------------------------------------------------------


def test_voting_opens_only_after_the_turns():
    table = started(3)
    table.refuse(Vote("p1", {}, True), "wrong_phase")
    lobby(3).refuse(Vote("p1", {}, True), "wrong_phase")


def test_ballots_are_checked():
    table = voting(4)
    wearing = table.state.wearing
    own = table.state.own_body
    worn_by_p1 = wearing["p1"]
    other = next(body for body in table.state.bodies if body != worn_by_p1)
    another = next(body for body in table.state.bodies if body not in (worn_by_p1, other))
    table.refuse(Vote("p1", {worn_by_p1: "p2"}, False), "own_body")
    table.refuse(Vote("p1", {other: "p1"}, False), "self_guess")
    table.refuse(Vote("p1", {"body-0000000000000000": "p2"}, False), "unknown_body")
    table.refuse(Vote("p1", {other: "p9"}, False), "unknown_player")
    table.refuse(Vote("p1", {other: "p2", another: "p2"}, False), "duplicate_guess")
    table.refuse(Vote("p9", {}, False), "unknown_player")
    assert own("p1") != worn_by_p1
    table.do(Vote("p1", {own("p1"): table.driver_of(own("p1"))}, False))  # naming who wears your own body


def test_guesses_change_until_locked_and_repeats_are_idempotent():
    table = voting(4)
    ballot = table.correct_ballot("p1")
    partial = dict(list(ballot.items())[:1])
    assert table.do(Vote("p1", partial, False)) == []  # nothing public: what someone votes is secret
    table.noop(Vote("p1", partial, False))
    table.do(Vote("p1", ballot, False))
    assert private_view(table.state, "p1")["guesses"] == ballot
    table.do(Vote("p1", ballot, True))
    assert table.events == [Event(None, "vote_locked", {"round": 1, "player_id": "p1"})]
    table.noop(Vote("p1", ballot, True))
    table.refuse(Vote("p1", partial, True), "already_locked")
    table.refuse(Vote("p1", ballot, False), "already_locked")
    assert public_view(table.state, table.now)["locked"] == ["p1"]


def test_the_vote_closes_early_once_everyone_has_locked_in():
    table = voting(3)
    for voter in ["p1", "p2"]:
        table.do(Vote(voter, table.correct_ballot(voter), True))
    assert table.state.phase is Phase.VOTE
    table.do(Vote("p3", {}, True))  # locking in an empty ballot: abstaining on every body
    assert table.kinds() == ["vote_locked", "reveal", "scores"]
    assert table.state.phase is Phase.REVEAL
    assert next_deadline(table.state) == table.now + 20
    assert [p.score for p in table.state.players.values()] == [200, 200, 0]


def test_the_vote_closes_at_its_deadline_and_missing_answers_are_abstentions():
    table = voting(3)
    table.do(Vote("p1", table.correct_ballot("p1"), False))  # not locked: still counted
    table.tick_out()
    assert table.state.phase is Phase.REVEAL
    points = table.state.reveals[0]["points"]
    assert {p: v["points"] for p, v in points.items()} == {"p1": 200, "p2": 0, "p3": 0}
    table.refuse(Vote("p2", {}, True), "vote_closed")


# --- scoring and ranks -------------------------------------------------------------------------


def four_players_voting_in_round(round_number: int) -> Table:
    """A, B, C, D own bodies a, b, c, d; A wears b, B wears a, C wears d, D wears c."""
    table = Table()
    table.state = GameState(
        room_id="room-1",
        phase=Phase.VOTE,
        players={pid: Player(pid, name, enrolled=True) for pid, name in zip("ABCD", NAMES)},
        host_id="A",
        round=round_number,
        bodies={"a": "A", "b": "B", "c": "C", "d": "D"},
        wearing={"A": "b", "B": "a", "C": "d", "D": "c"},
        turn_order=list("ABCD"),
        turn_index=3,
        deadline=T0 + 45,
    )
    return table


def test_scoring_example_with_exact_numbers():
    table = four_players_voting_in_round(2)  # multiplier 2
    table.do(Vote("A", {"a": "B", "c": "C", "d": "D"}, True))  # 1 right (a); wrong on c and d
    table.do(Vote("B", {"b": "A", "c": "D"}, True))  # 2 right; abstains on d
    table.do(Vote("C", {}, True))  # abstains on everything
    table.do(Vote("D", {"a": "C", "b": "A", "d": "B"}, True))  # 1 right (b); wrong on a and d
    reveal = table.event("reveal").payload
    assert [(b["body_id"], b["driver_id"], b["guessed_right"], b["fooled"]) for b in reveal["bodies"]] == [
        ("a", "B", ["A"], ["D"]),
        ("b", "A", ["B", "D"], []),
        ("c", "D", ["B"], ["A"]),
        ("d", "C", [], ["A", "D"]),
    ]
    assert (reveal["bodies"][0]["body_name"], reveal["bodies"][0]["driver_name"]) == ("Ann", "Bo")
    # A: 2 x 100 x 1 = 200. B: 2 x (100 x 2 + 50 x 1) = 500. C: 2 x 50 x 2 = 200. D: 2 x (100 + 50) = 300.
    assert reveal["points"] == {
        "A": {"correct": 1, "fooled": 0, "points": 200},
        "B": {"correct": 2, "fooled": 1, "points": 500},
        "C": {"correct": 0, "fooled": 2, "points": 200},
        "D": {"correct": 1, "fooled": 1, "points": 300},
    }
    assert table.event("scores").payload == {"round": 2, "scores": {"A": 200, "B": 500, "C": 200, "D": 300}}
    scores = [(p.score, p.correct) for p in table.state.players.values()]
    assert scores == [(200, 1), (500, 2), (200, 0), (300, 1)]


def test_the_multiplier_is_the_round_number():
    for round_number in (1, 2, 3):
        table = four_players_voting_in_round(round_number)
        table.do(Vote("A", {"a": "B"}, False))
        table.tick_out()
        assert table.state.players["A"].score == 100 * round_number
        assert table.state.reveals[-1]["multiplier"] == round_number


def test_score_round_three_players():
    # A wears b, B wears c, C wears a. A gets both wrong; B gets both right; C abstains.
    result = score_round(
        1,
        {"A": "b", "B": "c", "C": "a"},
        {"A": {"a": "B", "c": "C"}, "B": {"a": "C", "b": "A"}, "C": {}},
        {"a": "A", "b": "B", "c": "C"},
        {"A": "Ann", "B": "Bo", "C": "Cy"},
    )
    assert {p: v["points"] for p, v in result["points"].items()} == {"A": 0, "B": 250, "C": 50}


def test_ties_break_on_correct_identifications_then_share_the_rank():
    players = [
        Player("w", "Wen", score=300, correct=3),
        Player("x", "Xia", score=500, correct=2),
        Player("y", "Yan", score=500, correct=3, present=False),
        Player("z", "Zoe", score=500, correct=2),
    ]
    ranks = [(r["player_id"], r["rank"]) for r in rank_players(players)]
    assert ranks == [("y", 1), ("x", 2), ("z", 2), ("w", 4)]
    assert rank_players(players)[0] == {
        "rank": 1, "player_id": "y", "name": "Yan", "score": 500, "correct": 3, "present": False
    }


# --- reveal, reshuffle, final, play again -------------------------------------------------------


def test_results_are_public_only_from_the_reveal():
    table = voting(4)
    assert public_view(table.state, table.now)["reveals"] == []
    for voter in table.state.present_ids:
        table.do(Vote(voter, table.correct_ballot(voter), True))
    view = public_view(table.state, table.now)
    assert view["reveals"] == [table.event("reveal").payload]
    assert {b["driver_id"] for b in view["reveals"][0]["bodies"]} == {"p1", "p2", "p3", "p4"}
    assert [p["score"] for p in view["players"]] == [300] * 4


def test_the_next_round_reshuffles_so_nobody_wears_the_same_body_again():
    table = voting(4, seed=2)
    before = dict(table.state.wearing)
    table.tick_out()
    events = table.tick_out()
    state = table.state
    assert (state.phase, state.round) == (Phase.TURNS, 2)
    assert events[0] == Event(None, "round_started", {"round": 2, "rounds": 3, "multiplier": 2})
    assert {e.to: e.payload["body_id"] for e in events if e.kind == "your_body"} == state.wearing
    assert all(state.wearing[p] != before[p] and state.wearing[p] != state.own_body(p) for p in state.wearing)


def test_after_the_last_round_the_game_ends_with_ranks():
    table = started(3, rounds=2)
    while table.state.phase is not Phase.FINAL:
        table.tick_out()
    assert table.event("final").payload["reason"] == "completed"
    assert [r["rank"] for r in table.event("final").payload["ranks"]] == [1, 1, 1]  # everyone abstained
    assert next_deadline(table.state) is None
    assert public_view(table.state, table.now)["ranks"] == table.event("final").payload["ranks"]
    table.noop(Tick())
    table.refuse(Vote("p1", {}, True), "vote_closed")


def test_play_again_goes_back_to_the_lobby_with_scores_reset():
    table = started(4, rounds=1)
    table.to_vote()
    for voter in table.state.present_ids:
        table.do(Vote(voter, table.correct_ballot(voter), True))
    table.do(Leave("p4"), at=table.now + 1)
    table.tick_out()
    used = list(table.state.used_prompts)
    table.refuse(PlayAgain("p2"), "not_host")
    table.do(PlayAgain("p1"))
    state = table.state
    assert table.kinds() == ["back_to_lobby"]
    assert state == GameState(
        room_id="room-1",
        settings=GameSettings(rounds=1),
        players={p: Player(p, name, enrolled=True) for p, name in zip(["p1", "p2", "p3"], NAMES)},
        host_id="p1",
        used_prompts=used,
    )
    table.refuse(PlayAgain("p1"), "wrong_phase")
    table.do(Join("p4", "Di"))  # whoever left can join the next game
    table.do(SetEnrolled("p4", True))
    for p in ["p2", "p3", "p4"]:
        table.do(SetReady(p, True))
    table.do(Start("p1"))
    assert table.state.prompt not in used  # the next game gets fresh prompts


# --- leaving and kicking mid-game ---------------------------------------------------------------


def test_a_hot_seat_player_who_leaves_ends_their_turn_at_once():
    table = started(4, seed=3)
    leaver = table.hot_seat
    body = table.state.wearing[leaver]
    events = table.do(Leave(leaver), at=T0 + 4)
    assert [e.kind for e in events] == ["player_left", "turn_started", "your_turn"]
    assert table.state.turn_index == 1 and next_deadline(table.state) == T0 + 34
    assert leaver not in media_assignment(table.state)
    view = public_view(table.state, table.now)
    assert next(b for b in view["bodies"] if b["body_id"] == body)["in_play"] is False
    assert next(p for p in view["players"] if p["player_id"] == leaver)["present"] is False


def test_a_player_who_leaves_before_their_turn_is_skipped():
    table = started(5, seed=4)
    leaver = table.state.turn_order[2]
    table.do(Kick("p1", leaver) if leaver != "p1" else Leave(leaver))
    seats = [table.hot_seat]
    while table.state.phase is Phase.TURNS:
        table.tick_out()
        seats.append(table.hot_seat)
    assert leaver not in seats and len(seats[:-1]) == 4


def test_leaving_mid_vote_takes_the_body_out_and_may_close_the_vote():
    table = voting(4, seed=5)
    leaver = "p4"
    their_body = table.state.wearing[leaver]
    for voter in ["p1", "p2", "p3"]:
        table.do(Vote(voter, table.correct_ballot(voter), voter != "p3"))
    assert all(their_body in table.state.ballots[v].guesses for v in ["p1", "p2"])
    table.do(Vote("p3", table.correct_ballot("p3"), False))
    table.do(Kick("p1", leaver))
    ballots = table.state.ballots
    assert all(their_body not in b.guesses and leaver not in b.guesses.values() for b in ballots.values())
    assert table.state.phase is Phase.VOTE  # p3 has not locked in yet
    table.refuse(Vote("p3", {their_body: "p1"}, True), "body_not_in_play")
    table.refuse(Vote("p3", {table.state.wearing["p1"]: leaver}, True), "player_left")
    table.refuse(Vote(leaver, {}, True), "player_left")
    table.do(Leave("p3"))  # and now everyone still here has locked in
    assert table.kinds() == ["player_left", "reveal", "scores"]
    reveal = table.event("reveal").payload
    assert {b["driver_id"] for b in reveal["bodies"]} == {"p1", "p2"}
    assert reveal["points"] == {p: {"correct": 1, "fooled": 0, "points": 100} for p in ["p1", "p2"]}


def test_the_next_reshuffle_uses_present_players_only():
    table = started(4, seed=6)
    table.do(Leave("p2"))
    table.to_vote()
    table.tick_out()
    table.tick_out()
    state = table.state
    assert state.round == 2 and sorted(state.wearing) == ["p1", "p3", "p4"]
    assert sorted(state.wearing.values()) == sorted(state.own_body(p) for p in ["p1", "p3", "p4"])
    assert all(state.wearing[p] != state.own_body(p) for p in state.wearing)
    assert len(state.turn_order) == 3


def test_the_game_ends_when_fewer_than_two_players_remain():
    table = started(3)
    table.do(Leave("p2"))
    assert table.state.phase is Phase.TURNS
    table.do(Leave("p3"))
    assert table.state.phase is Phase.FINAL
    assert table.event("final").payload["reason"] == "not_enough_players"
    assert [r["player_id"] for r in table.event("final").payload["ranks"]] == ["p1", "p2", "p3"]


def test_a_departing_host_hands_over_to_the_earliest_joiner_still_here():
    table = started(4)
    table.do(Leave("p1"))
    assert table.state.host_id == "p2"
    assert table.event("player_left").payload["host_id"] == "p2"
    table.do(PassTurn("p2"))
    table.refuse(Kick("p1", "p3"), "player_left")


def test_leaving_twice_is_idempotent_and_the_departed_cannot_act_or_rejoin():
    table = started(4)
    table.do(Leave("p3"))
    table.noop(Leave("p3"))
    table.noop(Kick("p1", "p3"))
    table.refuse(Join("p3", "Cy"), "player_left")
    table.refuse(PassTurn("p3"), "player_left")
    table.refuse(Leave("p9"), "unknown_player")


def test_leaving_after_the_game_keeps_the_ranks():
    table = started(3, rounds=1)
    while table.state.phase is not Phase.FINAL:
        table.tick_out()
    table.do(Leave("p1"))
    assert table.state.phase is Phase.FINAL and table.state.host_id == "p2"
    assert len(public_view(table.state, table.now)["ranks"]) == 3


# --- views -------------------------------------------------------------------------------------


def test_public_view_names_no_driver_before_the_reveal():
    table = voting(5, seed=8)
    table.do(Vote("p1", table.correct_ballot("p1"), True))
    view = public_view(table.state, table.now)
    for body in view["bodies"]:
        assert set(body) == {"body_id", "body_name", "in_play"}
    assert view["hot_seat"] is None and view["locked"] == ["p1"]
    text = json.dumps(view)
    assert "guesses" not in text and "wearing" not in text and "driver" not in text


def test_public_view_counts_down_and_shows_the_hot_seat_by_body():
    table = started(3)
    view = public_view(table.state, T0 + 10.2)
    assert view["seconds_left"] == 20 and view["deadline"] == T0 + 30
    assert public_view(table.state, T0 + 99)["seconds_left"] == 0
    assert view["hot_seat"] == {
        "body_id": table.state.wearing[table.hot_seat],
        "body_name": table.state.body_name(table.state.wearing[table.hot_seat]),
        "turn": 1,
        "turns": 3,
    }
    assert public_view(lobby(3).state, T0)["seconds_left"] is None


def test_private_view_shows_only_your_body_and_your_ballot():
    table = voting(3)
    ballot = table.correct_ballot("p2")
    table.do(Vote("p2", ballot, False))
    body = table.state.wearing["p2"]
    assert private_view(table.state, "p2") == {
        "player_id": "p2",
        "name": "Bo",
        "is_host": False,
        "present": True,
        "body": {"body_id": body, "body_name": table.state.body_name(body)},
        "in_hot_seat": False,
        "guesses": ballot,
        "locked": False,
    }
    assert private_view(table.state, "p1")["guesses"] == {}
    with pytest.raises(GameError) as info:
        private_view(table.state, "p9")
    assert info.value.code == "unknown_player"


def test_private_view_tells_the_hot_seat_player():
    table = started(3)
    assert [private_view(table.state, p)["in_hot_seat"] for p in table.state.present_ids].count(True) == 1
    assert private_view(table.state, table.hot_seat)["in_hot_seat"]


def test_media_assignment_is_this_rounds_wearing():
    table = lobby(3)
    assert media_assignment(table.state) == {}
    table.do(Start("p1"))
    assert media_assignment(table.state) == table.state.wearing
    assert media_assignment(table.state) is not table.state.wearing


# --- persistence -------------------------------------------------------------------------------


def test_a_restart_mid_game_loses_nothing():
    straight, restarted = voting(4, seed=12), voting(4, seed=12)
    restarted.state = GameState.from_dict(json.loads(json.dumps(restarted.state.to_dict())))
    for table in (straight, restarted):
        table.do(Vote("p1", table.correct_ballot("p1"), True))
        table.tick_out()
        table.tick_out()
    assert straight.state.to_dict() == restarted.state.to_dict()
    assert straight.events == restarted.events


def test_an_unknown_state_version_is_refused():
    data = new_game("room-1").to_dict() | {"version": 99}
    with pytest.raises(ValueError):
        GameState.from_dict(data)


def test_ballots_round_trip():
    table = voting(3)
    table.do(Vote("p1", table.correct_ballot("p1"), True))
    assert table.state.ballots["p1"] == Ballot(table.correct_ballot("p1"), True)


# --- whole games -------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [3, 6])
def test_a_whole_game(n):
    """Three rounds driven by passes and timers. Everyone always names every driver correctly,
    except the last player, who abstains in round 2."""
    table = lobby(n, seed=n)
    table.do(Start("p1"), at=T0 + 180)
    players = [f"p{i}" for i in range(1, n + 1)]
    last = players[-1]
    all_wearing = []
    for round_number in (1, 2, 3):
        assert (table.state.phase, table.state.round) == (Phase.TURNS, round_number)
        all_wearing.append(dict(table.state.wearing))
        seats = []
        while table.state.phase is Phase.TURNS:
            seats.append(table.hot_seat)
            move = len(seats) % 3
            if move == 0:
                table.tick_out()
            else:
                table.do(PassTurn(table.hot_seat if move == 1 else "p1"), at=table.now + 5)
        assert sorted(seats) == players
        assert table.kinds() == ["vote_opened"]
        for voter in players:
            abstains = voter == last and round_number == 2
            table.do(Vote(voter, {} if abstains else table.correct_ballot(voter), True), at=table.now + 2)
        assert table.state.phase is Phase.REVEAL
        table.tick_out()
    assert table.state.phase is Phase.FINAL
    # Per round everyone else earns (n - 1) x 100 x round; the abstainer misses round 2's 2 x 100 x (n - 1).
    best, abstainer = 600 * (n - 1), 600 * (n - 1) - 200 * (n - 1)
    scores = {p.id: p.score for p in table.state.players.values()}
    assert scores == {p: best for p in players[:-1]} | {last: abstainer}
    ranks = table.event("final").payload["ranks"]
    assert [(r["player_id"], r["rank"]) for r in ranks] == [(p, 1) for p in players[:-1]] + [(last, n)]
    for before, after in zip(all_wearing, all_wearing[1:]):
        assert all(before[p] != after[p] for p in players)
    table.do(PlayAgain("p1"))
    assert table.state.phase is Phase.LOBBY and all(p.score == 0 for p in table.state.players.values())
