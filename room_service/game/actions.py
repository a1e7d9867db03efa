"""What players (and the room service) ask the engine to do: small frozen dataclasses.

Actions usually arrive from JSON, so `check_payload` verifies every field's type before any rule runs.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, fields
from typing import get_args, get_origin, get_type_hints

from room_service.game.model import GameError

MAX_TEXT = 200  # longest id or name accepted; display names have a tighter rule of their own
MAX_ENTRIES = 64  # longest dict accepted in a payload


@dataclass(frozen=True)
class Join:
    player_id: str
    name: str


@dataclass(frozen=True)
class Leave:
    player_id: str


@dataclass(frozen=True)
class Kick:
    by: str
    player_id: str


@dataclass(frozen=True)
class SetEnrolled:
    player_id: str
    enrolled: bool


@dataclass(frozen=True)
class SetReady:
    by: str
    ready: bool


@dataclass(frozen=True)
class UpdateSettings:
    by: str
    settings: dict[str, object]  # setting name -> new value; names left out keep their value


@dataclass(frozen=True)
class Start:
    by: str


@dataclass(frozen=True)
class PassTurn:
    by: str


@dataclass(frozen=True)
class Vote:
    by: str
    guesses: dict[str, str]  # the whole ballot: body_id -> player_id guessed inside it
    lock: bool = False


@dataclass(frozen=True)
class Tick:
    pass


@dataclass(frozen=True)
class PlayAgain:
    by: str


@dataclass(frozen=True)
class CancelGame:
    """The host calls a game under way off: back to the lobby, enrollments kept, nothing scored."""

    by: str


@dataclass(frozen=True)
class RestartClock:
    """The room service restarts the running timer from now (the bodies were late to arrive)."""


Action = (
    Join | Leave | Kick | SetEnrolled | SetReady | UpdateSettings | Start | PassTurn | Vote | Tick | PlayAgain
    | CancelGame | RestartClock
)


def check_payload(action: Action) -> None:
    """Refuse an action whose fields do not have the declared types (a malformed request)."""
    for name, hint in _field_types(type(action)):
        if not _fits(getattr(action, name), hint):
            raise GameError("bad_payload", f"The request has a missing or malformed {name!r}.")


@functools.cache
def _field_types(cls: type) -> tuple[tuple[str, object], ...]:
    hints = get_type_hints(cls)
    return tuple((f.name, hints[f.name]) for f in fields(cls))


def _fits(value: object, hint: object) -> bool:
    if hint is object:
        return True
    if hint is str:
        return isinstance(value, str) and 0 < len(value) <= MAX_TEXT
    if hint is bool:
        return isinstance(value, bool)
    if get_origin(hint) is dict:
        key_type, value_type = get_args(hint)
        return (
            isinstance(value, dict)
            and len(value) <= MAX_ENTRIES
            and all(_fits(k, key_type) and _fits(v, value_type) for k, v in value.items())
        )
    raise TypeError(f"no payload check for {hint!r}")
