"""What each audience may see of a game: every player, one player, and the media agent.

The public view must never tie a body to its driver before that round's reveal, nor show what
anyone voted: it names the hot seat by body, and the vote only by who has locked in.
"""

from __future__ import annotations

import copy
import math

from room_service.game.model import GameError, GameState, Phase
from room_service.game.scoring import multiplier, rank_players


def public_view(state: GameState, now: float) -> dict:
    in_play = set(state.wearing.values())
    hot_seat = state.hot_seat_id
    return {
        "room_id": state.room_id,
        "phase": state.phase.value,
        "round": state.round,
        "rounds": state.settings.rounds,
        "multiplier": multiplier(state.round),
        "host_id": state.host_id,
        "settings": state.settings.to_dict(),
        "players": [
            {
                "player_id": p.id,
                "name": p.name,
                "enrolled": p.enrolled,
                "ready": p.ready,
                "present": p.present,
                "score": p.score,
                "is_host": p.id == state.host_id,
            }
            for p in state.players.values()
        ],
        "bodies": [
            {"body_id": body, "body_name": state.body_name(body), "in_play": body in in_play}
            for body in state.bodies
        ],
        "hot_seat": None
        if hot_seat is None
        else {
            "body_id": state.wearing[hot_seat],
            "body_name": state.body_name(state.wearing[hot_seat]),
            "turn": state.turn_index + 1,
            "turns": len(state.turn_order),
        },
        "prompt": state.prompt,
        "deadline": state.deadline,
        "seconds_left": None if state.deadline is None else max(0, math.ceil(state.deadline - now)),
        "locked": [p for p in state.present_ids if p in state.ballots and state.ballots[p].locked]
        if state.phase is Phase.VOTE
        else [],
        "reveals": copy.deepcopy(state.reveals),
        "ranks": rank_players(state.players.values()) if state.phase is Phase.FINAL else None,
    }


def private_view(state: GameState, player_id: str) -> dict:
    """What only `player_id` may see: the body they wear this round and their own ballot."""
    player = state.players.get(player_id)
    if player is None:
        raise GameError("unknown_player", "That player is not in this room.")
    body = state.wearing.get(player_id)
    ballot = state.ballots.get(player_id)
    return {
        "player_id": player_id,
        "name": player.name,
        "is_host": player_id == state.host_id,
        "present": player.present,
        "body": None if body is None else {"body_id": body, "body_name": state.body_name(body)},
        "in_hot_seat": state.hot_seat_id == player_id,
        "guesses": {} if ballot is None else dict(ballot.guesses),
        "locked": ballot is not None and ballot.locked,
    }


def media_assignment(state: GameState) -> dict[str, str]:
    """Driver player id -> body id this round, for the media agent only (never for players)."""
    return dict(state.wearing)
