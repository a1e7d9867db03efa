"""The Bodyswap game rules: a pure, deterministic state machine.

`apply(state, action, now, rng)` returns a new state and the events to send. It never mutates its
input, does no I/O, and reads time and randomness only from `now` and `rng`: the same inputs give
the same outputs. A refused action raises GameError and changes nothing (validation happens before
any randomness is drawn). Repeating an action that already took effect (join, enrollment, ready,
settings, the same ballot or lock, and leave or kick after the start) returns the very same state
and no events.

Phases
  lobby   Players join (the first becomes host; names are unique, ignoring case), enroll and mark
          themselves ready. The host changes settings, kicks, and starts: Start needs min_players to
          max_players players, all enrolled, and all but the host ready (starting is the host's ready).
  turns   At Start every player gets one opaque body for the whole game. Each round, every present
          player wears another present player's body (a uniformly random derangement; each is told
          privately) and takes one hot-seat turn in a random order, with a prompt from the deck (no
          repeats until the deck is exhausted) and a turn timer. The hot-seat player or the host may
          pass. Publicly the hot seat is a BODY, never a player: naming the driver would give the
          game away. The hot-seat player learns privately that it is their turn.
  vote    Each player sends their whole ballot: who is inside each in-play body other than the one
          they wear, never themselves, each player named at most once. They may change it until they
          lock in. The vote closes at its deadline, or as soon as everyone present has locked in;
          a missing guess is an abstention.
  reveal  Who was inside each body, who guessed right, the points (rules in scoring.py); a timer,
          then the next round reshuffles the bodies of present players (nobody in the same body as
          last round when that is possible) or, after the last round, the game ends.
  final   Ranks (scoring.py). The host may play again: back to the lobby with the players still
          present, their enrollment and the settings; scores, readiness and bodies reset.

Calling a game off: while a game is under way (turns, vote, reveal) the host may cancel it (for
instance when no media server is free to run the bodies): back to the lobby as with play again,
but nothing is scored and nobody needs to enroll again. The room service may restart the running
timer from now (RestartClock), so a turn whose bodies arrived late still gets its full time.

Leaving (Leave, or Kick by the host)
  In the lobby the player is simply removed. After the start they stay on the scoreboard, marked
  not present, and cannot rejoin until the host plays again. The body they wore has no driver for
  the rest of the round: their turn is skipped (ended at once if they were in the hot seat), and the
  body is left out of the vote (guesses on it, and guesses naming them, are dropped; if everyone
  still present has locked in, the vote closes). The next reshuffle uses present players only. If
  fewer than 2 players remain, the game ends at once; an unfinished round is not scored. A departing
  host hands over to the earliest joiner still present.

Time: a Tick at or after the deadline advances exactly one step, and the next deadline counts from
that Tick's `now`, so a room service that was down for a while resumes instead of skipping ahead.
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass, field

from room_service.game.actions import (
    Action,
    CancelGame,
    Join,
    Kick,
    Leave,
    PassTurn,
    PlayAgain,
    RestartClock,
    SetEnrolled,
    SetReady,
    Start,
    Tick,
    UpdateSettings,
    Vote,
    check_payload,
)
from room_service.game.assignment import assign_bodies
from room_service.game.deck import draw_prompt
from room_service.game.model import Ballot, Event, GameError, GameSettings, GameState, Outcome, Phase, Player
from room_service.game.scoring import multiplier, rank_players, score_round

MAX_NAME = 32
IN_ROUND = (Phase.TURNS, Phase.VOTE, Phase.REVEAL)


def new_game(room_id: str, settings: GameSettings | None = None) -> GameState:
    return GameState(room_id=room_id, settings=settings or GameSettings())


def next_deadline(state: GameState) -> float | None:
    """When a Tick will next change something; None in the lobby and after the game."""
    return state.deadline


def apply(state: GameState, action: Action, now: float, rng: random.Random) -> Outcome:
    handler = _HANDLERS.get(type(action))
    if handler is None:
        raise GameError("unknown_action", "That is not something you can do in this game.")
    check_payload(action)
    step = _Step(state.copy(), now, rng)
    handler(step, action)
    if step.state == state:  # a repeat of something already done: same state, nothing to announce
        return Outcome(state, [])
    return Outcome(step.state, step.events)


@dataclass
class _Step:
    """One action being applied: the working copy of the state, and what to tell whom."""

    state: GameState
    now: float
    rng: random.Random
    events: list[Event] = field(default_factory=list)

    def tell(self, to: str | None, kind: str, **payload: object) -> None:
        self.events.append(Event(to, kind, payload))


# --- who may act --------------------------------------------------------------------------------


def _player(state: GameState, player_id: str) -> Player:
    """A player still in the game."""
    player = state.players.get(player_id)
    if player is None:
        raise GameError("unknown_player", "That player is not in this room.")
    if not player.present:
        raise GameError("player_left", "That player has left this game.")
    return player


def _require_host(state: GameState, by: str, to_do: str) -> None:
    _player(state, by)
    if by != state.host_id:
        raise GameError("not_host", f"Only the host can {to_do}.")


def _require_phase(state: GameState, phase: Phase, message: str) -> None:
    if state.phase is not phase:
        raise GameError("wrong_phase", message)


# --- lobby --------------------------------------------------------------------------------------


def _join(step: _Step, action: Join) -> None:
    state = step.state
    name = action.name.strip()
    existing = state.players.get(action.player_id)
    if existing is not None:
        if not existing.present:
            raise GameError("player_left", "You left this game; you can join the next one.")
        if existing.name != name:
            raise GameError("already_joined", "You are already in this room under another name.")
        return
    if state.phase is not Phase.LOBBY:
        raise GameError("game_in_progress", "A game is under way in this room; join the next one.")
    if not name or len(name) > MAX_NAME:
        raise GameError("bad_name", f"Choose a name of 1 to {MAX_NAME} characters.")
    if len(state.players) >= state.settings.max_players:
        raise GameError("room_full", f"The room is full ({state.settings.max_players} players).")
    if any(p.name.casefold() == name.casefold() for p in state.players.values()):
        raise GameError("name_taken", f"Someone here is already called {name}; choose another name.")
    state.players[action.player_id] = Player(action.player_id, name)
    if state.host_id is None:
        state.host_id = action.player_id
    step.tell(None, "player_joined", player_id=action.player_id, name=name)


def _set_enrolled(step: _Step, action: SetEnrolled) -> None:
    state = step.state
    _require_phase(state, Phase.LOBBY, "Enrollment can only change in the lobby.")
    player = _player(state, action.player_id)
    player.enrolled = action.enrolled
    player.ready = player.ready and action.enrolled  # readiness needs an enrollment behind it


def _set_ready(step: _Step, action: SetReady) -> None:
    state = step.state
    _require_phase(state, Phase.LOBBY, "You can only mark yourself ready in the lobby.")
    player = _player(state, action.by)
    if action.ready and not player.enrolled:
        raise GameError("not_enrolled", "Finish enrolling (a photo and your voice) before you are ready.")
    player.ready = action.ready


def _update_settings(step: _Step, action: UpdateSettings) -> None:
    state = step.state
    _require_phase(state, Phase.LOBBY, "Settings can only change in the lobby.")
    _require_host(state, action.by, "change the settings")
    settings = state.settings.changed(action.settings)
    if len(state.players) > settings.max_players:
        raise GameError(
            "too_many_players",
            f"There are already {len(state.players)} players; the maximum cannot be lower than that.",
        )
    state.settings = settings


def _start(step: _Step, action: Start) -> None:
    state = step.state
    _require_phase(state, Phase.LOBBY, "The game has already started.")
    _require_host(state, action.by, "start the game")
    players = list(state.players.values())
    if len(players) < state.settings.min_players:
        raise GameError(
            "too_few_players",
            f"At least {state.settings.min_players} players are needed to start; there are {len(players)}.",
        )
    not_enrolled = [p.name for p in players if not p.enrolled]
    if not_enrolled:
        raise GameError("players_not_enrolled", f"Waiting for {_listing(not_enrolled)} to finish enrolling.")
    not_ready = [p.name for p in players if not p.ready and p.id != state.host_id]
    if not_ready:
        raise GameError("players_not_ready", f"Waiting for {_listing(not_ready)} to be ready.")
    for player in players:
        body = f"body-{step.rng.getrandbits(64):016x}"
        while body in state.bodies:  # all but impossible with 64 bits, but two players must never share one
            body = f"body-{step.rng.getrandbits(64):016x}"
        state.bodies[body] = player.id
    _start_round(step)


def _listing(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


# --- leaving ------------------------------------------------------------------------------------


def _leave(step: _Step, action: Leave) -> None:
    player = step.state.players.get(action.player_id)
    if player is None:
        raise GameError("unknown_player", "That player is not in this room.")
    if player.present:
        _depart(step, player, "left")


def _kick(step: _Step, action: Kick) -> None:
    state = step.state
    _require_host(state, action.by, "remove a player")
    if action.player_id == action.by:
        raise GameError("cannot_kick_self", "You cannot remove yourself; leave the room instead.")
    player = state.players.get(action.player_id)
    if player is None:
        raise GameError("unknown_player", "That player is not in this room.")
    if player.present:
        _depart(step, player, "kicked")


def _depart(step: _Step, player: Player, reason: str) -> None:
    state = step.state
    if state.phase is Phase.LOBBY:
        del state.players[player.id]
    else:
        player.present = False
        player.ready = False
    if state.host_id == player.id:
        state.host_id = next(iter(state.present_ids), None)
    step.tell(
        None, "player_left", player_id=player.id, name=player.name, reason=reason, host_id=state.host_id
    )
    if state.phase in IN_ROUND:
        _drop_from_round(step, player.id)


def _drop_from_round(step: _Step, player_id: str) -> None:
    state = step.state
    body = state.wearing.pop(player_id)
    state.ballots.pop(player_id, None)
    for ballot in state.ballots.values():
        ballot.guesses = {b: guess for b, guess in ballot.guesses.items() if b != body and guess != player_id}
    if len(state.wearing) < 2:
        _finish(step, "not_enough_players")
    elif state.hot_seat_id == player_id:
        _start_turn(step, state.turn_index + 1)
    elif state.phase is Phase.VOTE and _everyone_locked(state):
        _close_vote(step)


# --- rounds and turns ---------------------------------------------------------------------------


def _start_round(step: _Step) -> None:
    state = step.state
    present = state.present_ids
    own_body = {owner: body for body, owner in state.bodies.items()}
    state.round += 1
    state.wearing = assign_bodies(present, own_body, state.wearing, step.rng)
    state.ballots = {}
    state.turn_order = step.rng.sample(present, len(present))
    step.tell(
        None,
        "round_started",
        round=state.round,
        rounds=state.settings.rounds,
        multiplier=multiplier(state.round),
    )
    for player_id, body in state.wearing.items():
        step.tell(player_id, "your_body", round=state.round, body_id=body, body_name=state.body_name(body))
    _start_turn(step, 0)


def _start_turn(step: _Step, index: int) -> None:
    """Start turn `index`, or the next one whose player is still here, or the vote after the last."""
    state = step.state
    while index < len(state.turn_order) and state.turn_order[index] not in state.wearing:
        index += 1
    if index == len(state.turn_order):
        _open_vote(step)
        return
    state.phase = Phase.TURNS
    state.turn_index = index
    state.prompt, state.used_prompts = draw_prompt(state.used_prompts, step.rng)
    state.deadline = float(step.now + state.settings.turn_seconds)
    hot_seat = state.turn_order[index]
    body = state.wearing[hot_seat]
    step.tell(
        None,
        "turn_started",
        round=state.round,
        turn=index + 1,
        turns=len(state.turn_order),
        body_id=body,
        body_name=state.body_name(body),
        prompt=state.prompt,
        deadline=state.deadline,
    )
    step.tell(hot_seat, "your_turn", round=state.round, prompt=state.prompt, deadline=state.deadline)


def _pass_turn(step: _Step, action: PassTurn) -> None:
    state = step.state
    _require_phase(state, Phase.TURNS, "There is no turn to pass right now.")
    _player(state, action.by)
    if action.by not in (state.hot_seat_id, state.host_id):
        raise GameError("not_your_turn", "Only the player in the hot seat or the host can pass this turn.")
    _start_turn(step, state.turn_index + 1)


# --- vote and reveal ----------------------------------------------------------------------------


def _open_vote(step: _Step) -> None:
    state = step.state
    state.phase = Phase.VOTE
    state.prompt = None
    state.deadline = float(step.now + state.settings.vote_seconds)
    in_play = set(state.wearing.values())
    step.tell(
        None,
        "vote_opened",
        round=state.round,
        deadline=state.deadline,
        bodies=[body for body in state.bodies if body in in_play],
    )


def _vote(step: _Step, action: Vote) -> None:
    state = step.state
    if state.phase in (Phase.REVEAL, Phase.FINAL):
        raise GameError("vote_closed", "The vote has closed.")
    _require_phase(state, Phase.VOTE, "Voting opens once every player has had their turn.")
    _player(state, action.by)
    _check_ballot(state, action.by, action.guesses)
    ballot = state.ballots.get(action.by)
    if ballot is not None and ballot.locked:
        if action.lock and ballot.guesses == action.guesses:
            return
        raise GameError("already_locked", "You have locked in your vote; it can no longer change.")
    state.ballots[action.by] = Ballot(dict(action.guesses), action.lock)
    if action.lock:
        step.tell(None, "vote_locked", round=state.round, player_id=action.by)
        if _everyone_locked(state):
            _close_vote(step)


def _check_ballot(state: GameState, voter: str, guesses: dict[str, str]) -> None:
    in_play = set(state.wearing.values())
    named: set[str] = set()
    for body, guess in guesses.items():
        if body not in state.bodies:
            raise GameError("unknown_body", "There is no such body in this game.")
        if body == state.wearing[voter]:
            raise GameError("own_body", "You are wearing that body, so you already know who is inside it.")
        if body not in in_play:
            raise GameError("body_not_in_play", "Nobody is inside that body any more; it is out of the vote.")
        if guess == voter:
            raise GameError("self_guess", "You cannot name yourself: you know which body you are in.")
        if guess not in state.players:
            raise GameError("unknown_player", "You named someone who is not in this room.")
        if guess not in state.wearing:
            raise GameError("player_left", "You named a player who has left this game.")
        if guess in named:
            raise GameError("duplicate_guess", "You named one player for two bodies; each is in only one.")
        named.add(guess)


def _everyone_locked(state: GameState) -> bool:
    return all(state.ballots.get(player, Ballot()).locked for player in state.wearing)


def _close_vote(step: _Step) -> None:
    state = step.state
    result = score_round(
        state.round,
        state.wearing,
        {voter: ballot.guesses for voter, ballot in state.ballots.items()},
        state.bodies,
        {p.id: p.name for p in state.players.values()},
    )
    for player_id, points in result["points"].items():
        state.players[player_id].score += points["points"]
        state.players[player_id].correct += points["correct"]
    state.reveals.append(result)
    state.phase = Phase.REVEAL
    state.deadline = float(step.now + state.settings.reveal_seconds)
    step.tell(None, "reveal", **copy.deepcopy(result))
    step.tell(None, "scores", round=state.round, scores={p.id: p.score for p in state.players.values()})


def _finish(step: _Step, reason: str) -> None:
    state = step.state
    state.phase = Phase.FINAL
    state.prompt = None
    state.deadline = None
    state.ballots = {}
    step.tell(None, "final", reason=reason, ranks=rank_players(state.players.values()))


# --- time and the next game ---------------------------------------------------------------------


def _tick(step: _Step, action: Tick) -> None:
    state = step.state
    if state.deadline is None or step.now < state.deadline:
        return
    if state.phase is Phase.TURNS:
        _start_turn(step, state.turn_index + 1)
    elif state.phase is Phase.VOTE:
        _close_vote(step)
    elif state.round < state.settings.rounds:  # the reveal is over
        _start_round(step)
    else:
        _finish(step, "completed")


def _play_again(step: _Step, action: PlayAgain) -> None:
    state = step.state
    _require_phase(state, Phase.FINAL, "You can play again once the game is over.")
    _require_host(state, action.by, "start another game")
    _back_to_lobby(step)
    step.tell(None, "back_to_lobby")


def _cancel_game(step: _Step, action: CancelGame) -> None:
    state = step.state
    if state.phase not in IN_ROUND:
        raise GameError("no_game", "There is no game under way to call off.")
    _require_host(state, action.by, "call the game off")
    _back_to_lobby(step)
    step.tell(None, "back_to_lobby", reason="cancelled")


def _restart_clock(step: _Step, action: RestartClock) -> None:
    state = step.state
    seconds = {
        Phase.TURNS: state.settings.turn_seconds,
        Phase.VOTE: state.settings.vote_seconds,
        Phase.REVEAL: state.settings.reveal_seconds,
    }.get(state.phase)
    if seconds is not None:
        state.deadline = float(step.now + seconds)


def _back_to_lobby(step: _Step) -> None:
    """The players still present, their enrollment and the settings; the game itself is gone."""
    state = step.state
    step.state = GameState(
        room_id=state.room_id,
        settings=state.settings,
        players={
            p.id: Player(p.id, p.name, enrolled=p.enrolled) for p in state.players.values() if p.present
        },
        host_id=state.host_id,
        used_prompts=state.used_prompts,
    )


_HANDLERS = {
    Join: _join,
    Leave: _leave,
    Kick: _kick,
    SetEnrolled: _set_enrolled,
    SetReady: _set_ready,
    UpdateSettings: _update_settings,
    Start: _start,
    PassTurn: _pass_turn,
    Vote: _vote,
    Tick: _tick,
    PlayAgain: _play_again,
    CancelGame: _cancel_game,
    RestartClock: _restart_clock,
}
