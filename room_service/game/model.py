"""The game's data: phases, settings, players, ballots, the whole state, events, and the refusal error.

The state is plain data with an exact JSON round trip (`to_dict` / `from_dict`), so the room service
can persist it after every action and lose nothing on a restart.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from enum import StrEnum

STATE_VERSION = 1


class Phase(StrEnum):
    LOBBY = "lobby"
    TURNS = "turns"
    VOTE = "vote"
    REVEAL = "reveal"
    FINAL = "final"


class GameError(Exception):
    """An action the rules refuse. `code` is short snake_case for programs; `message` is for players."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __repr__(self) -> str:
        return f"GameError({self.code!r}, {self.message!r})"


# Inclusive bounds of every setting, and how a player reads its name.
SETTING_BOUNDS: dict[str, tuple[int, int]] = {
    "min_players": (2, 8),  # two is a trial run (each wears the other's body); the fun starts at 4
    "max_players": (2, 8),
    "rounds": (1, 10),
    "turn_seconds": (10, 300),
    "vote_seconds": (15, 600),
    "reveal_seconds": (5, 120),
}
SETTING_LABELS = {
    "min_players": "The minimum number of players",
    "max_players": "The maximum number of players",
    "rounds": "The number of rounds",
    "turn_seconds": "The turn time (seconds)",
    "vote_seconds": "The vote time (seconds)",
    "reveal_seconds": "The reveal time (seconds)",
}


@dataclass(frozen=True)
class GameSettings:
    # The defaults make a 10-15 minute game for 4-6 players. One round is one turn per player plus the
    # vote and the reveal: n x 30 s + 45 s + 20 s = 185 s (4 players), 215 s (5), 245 s (6). Three
    # rounds: 9.3, 10.8 and 12.3 minutes, plus about 3 minutes of lobby and enrollment: 12.3, 13.8 and
    # 15.3 minutes if every timer runs out; passes and votes that close early make it shorter.
    # Two may start, so one person can try the whole game in two browser windows.
    min_players: int = 2
    max_players: int = 8
    rounds: int = 3
    turn_seconds: int = 30
    vote_seconds: int = 45
    reveal_seconds: int = 20

    def __post_init__(self) -> None:
        for name, (low, high) in SETTING_BOUNDS.items():
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise GameError("invalid_setting", f"{SETTING_LABELS[name]} must be a whole number.")
            if not low <= value <= high:
                raise GameError("invalid_setting", f"{SETTING_LABELS[name]} must be from {low} to {high}.")
        if self.min_players > self.max_players:
            raise GameError(
                "invalid_setting", "The minimum number of players cannot be more than the maximum."
            )

    @classmethod
    def validated(cls, **values: object) -> GameSettings:
        """Settings from loose values (e.g. a JSON body), refusing names that are not settings."""
        unknown = sorted(set(values) - set(SETTING_BOUNDS))
        if unknown:
            raise GameError("unknown_setting", f"There is no setting called {unknown[0]!r}.")
        return cls(**values)  # type: ignore[arg-type]  # __post_init__ checks every type

    def changed(self, changes: dict[str, object]) -> GameSettings:
        return GameSettings.validated(**{**self.to_dict(), **changes})

    def to_dict(self) -> dict:
        return dict(vars(self))


@dataclass
class Player:
    id: str
    name: str
    enrolled: bool = False
    ready: bool = False
    present: bool = True  # False once they left or were kicked after the start
    score: int = 0
    correct: int = 0  # correct identifications this game: the first tie-break


@dataclass
class Ballot:
    guesses: dict[str, str] = field(default_factory=dict)  # body_id -> player_id guessed inside it
    locked: bool = False


@dataclass
class GameState:
    room_id: str
    settings: GameSettings = field(default_factory=GameSettings)
    phase: Phase = Phase.LOBBY
    players: dict[str, Player] = field(default_factory=dict)  # in join order
    host_id: str | None = None
    round: int = 0
    bodies: dict[str, str] = field(default_factory=dict)  # body_id -> owner player id, whole game
    # SECRET until the round's reveal: driver player id -> body_id, for present players this round.
    wearing: dict[str, str] = field(default_factory=dict)
    turn_order: list[str] = field(default_factory=list)  # player ids; departed ones are skipped
    turn_index: int = 0
    prompt: str | None = None
    used_prompts: list[str] = field(default_factory=list)  # kept across games: fresh prompts next time
    deadline: float | None = None
    ballots: dict[str, Ballot] = field(default_factory=dict)  # SECRET until the reveal
    reveals: list[dict] = field(default_factory=list)  # results of the rounds revealed so far

    @property
    def present_ids(self) -> list[str]:
        return [p.id for p in self.players.values() if p.present]

    @property
    def hot_seat_id(self) -> str | None:
        return self.turn_order[self.turn_index] if self.phase is Phase.TURNS else None

    def own_body(self, player_id: str) -> str:
        return next(body for body, owner in self.bodies.items() if owner == player_id)

    def body_name(self, body_id: str) -> str:
        return self.players[self.bodies[body_id]].name

    def copy(self) -> GameState:
        """A copy the engine may change freely. Reveal entries are shared: they never change once made."""
        return replace(
            self,
            players={pid: replace(p) for pid, p in self.players.items()},
            bodies=dict(self.bodies),
            wearing=dict(self.wearing),
            turn_order=list(self.turn_order),
            used_prompts=list(self.used_prompts),
            ballots={pid: Ballot(dict(b.guesses), b.locked) for pid, b in self.ballots.items()},
            reveals=list(self.reveals),
        )

    def to_dict(self) -> dict:
        return {
            "version": STATE_VERSION,
            "room_id": self.room_id,
            "settings": self.settings.to_dict(),
            "phase": self.phase.value,
            "players": [dict(vars(p)) for p in self.players.values()],
            "host_id": self.host_id,
            "round": self.round,
            "bodies": dict(self.bodies),
            "wearing": dict(self.wearing),
            "turn_order": list(self.turn_order),
            "turn_index": self.turn_index,
            "prompt": self.prompt,
            "used_prompts": list(self.used_prompts),
            "deadline": self.deadline,
            "ballots": {
                pid: {"guesses": dict(b.guesses), "locked": b.locked} for pid, b in self.ballots.items()
            },
            "reveals": copy.deepcopy(self.reveals),
        }

    @classmethod
    def from_dict(cls, d: dict) -> GameState:
        if d.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported game state version {d.get('version')!r}")
        return cls(
            room_id=d["room_id"],
            settings=GameSettings(**d["settings"]),
            phase=Phase(d["phase"]),
            players={p["id"]: Player(**p) for p in d["players"]},
            host_id=d["host_id"],
            round=d["round"],
            bodies=dict(d["bodies"]),
            wearing=dict(d["wearing"]),
            turn_order=list(d["turn_order"]),
            turn_index=d["turn_index"],
            prompt=d["prompt"],
            used_prompts=list(d["used_prompts"]),
            deadline=d["deadline"],
            ballots={pid: Ballot(dict(b["guesses"]), b["locked"]) for pid, b in d["ballots"].items()},
            reveals=copy.deepcopy(d["reveals"]),
        )


@dataclass(frozen=True)
class Event:
    to: str | None  # None: everyone; else the one player id it is for
    kind: str
    payload: dict  # JSON-serialisable

    def to_dict(self) -> dict:
        return {"to": self.to, "kind": self.kind, "payload": self.payload}


@dataclass
class Outcome:
    state: GameState
    events: list[Event]

