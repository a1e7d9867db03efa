"""The Bodyswap game: a pure, deterministic rules engine (see engine.py for the rules, scoring.py
for points and ranks) and the views that decide who may see what."""

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
)
from room_service.game.deck import load_deck
from room_service.game.engine import apply, new_game, next_deadline
from room_service.game.model import Ballot, Event, GameError, GameSettings, GameState, Outcome, Phase, Player
from room_service.game.views import media_assignment, private_view, public_view

__all__ = [
    "Action",
    "Ballot",
    "CancelGame",
    "Event",
    "GameError",
    "GameSettings",
    "GameState",
    "Join",
    "Kick",
    "Leave",
    "Outcome",
    "PassTurn",
    "Phase",
    "PlayAgain",
    "Player",
    "RestartClock",
    "SetEnrolled",
    "SetReady",
    "Start",
    "Tick",
    "UpdateSettings",
    "Vote",
    "apply",
    "load_deck",
    "media_assignment",
    "new_game",
    "next_deadline",
    "private_view",
    "public_view",
]
