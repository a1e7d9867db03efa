"""Points and ranks.

Scoring, per round. The round multiplier is the round number (round 1 x1, round 2 x2, ...): later
rounds are played knowing everyone's imitations better, and they let a trailing player catch up.
The vote covers the in-play bodies: those with a driver when it closes. For every voter and every
in-play body other than the one the voter wears:
  - naming the body's driver is a correct identification: the voter earns 100 x multiplier;
  - naming anyone else fools the body's driver, who earns 50 x multiplier for that opponent;
  - no guess is an abstention: it earns nobody anything (it fools nobody).
So with n players a round is worth at most (n - 1) x 150 x multiplier to one player.

Ranks, at the end: more points ranks higher; equal points -> more correct identifications over the
game ranks higher; still equal -> the players share the rank, and the next rank skips (1, 1, 3).
Players who left keep their points and are ranked too.
"""

from __future__ import annotations

from collections.abc import Iterable

from room_service.game.model import Player

CORRECT_POINTS = 100
FOOLED_POINTS = 50


def multiplier(round_number: int) -> int:
    return round_number


def score_round(
    round_number: int,
    wearing: dict[str, str],
    guesses: dict[str, dict[str, str]],
    owners: dict[str, str],
    names: dict[str, str],
) -> dict:
    """The reveal of one round, JSON-ready: per in-play body (in `owners` order) who was inside, who
    guessed right and who was fooled; per driver their correct guesses, opponents fooled and points.

    `wearing` is driver -> body, `guesses` voter -> {body -> guessed driver}, `owners` body -> owner,
    `names` player id -> display name."""
    factor = multiplier(round_number)
    driver_of = {body: driver for driver, body in wearing.items()}
    correct = dict.fromkeys(wearing, 0)
    fooled = dict.fromkeys(wearing, 0)
    bodies = []
    for body, owner in owners.items():
        if body not in driver_of:
            continue
        driver = driver_of[body]
        named = {voter: ballot[body] for voter, ballot in guesses.items() if body in ballot}
        right = [voter for voter, guess in named.items() if guess == driver]
        wrong = [voter for voter, guess in named.items() if guess != driver]
        for voter in right:
            correct[voter] += 1
        fooled[driver] += len(wrong)
        bodies.append(
            {
                "body_id": body,
                "body_name": names[owner],
                "driver_id": driver,
                "driver_name": names[driver],
                "guessed_right": right,
                "fooled": wrong,
            }
        )
    points = {
        player: {
            "correct": correct[player],
            "fooled": fooled[player],
            "points": factor * (CORRECT_POINTS * correct[player] + FOOLED_POINTS * fooled[player]),
        }
        for player in wearing
    }
    return {"round": round_number, "multiplier": factor, "bodies": bodies, "points": points}


def rank_players(players: Iterable[Player]) -> list[dict]:
    """Every player, best first (join order among equals), with their shared-on-ties rank."""
    ordered = sorted(players, key=lambda p: (-p.score, -p.correct))  # stable: keeps join order
    ranks = []
    for place, player in enumerate(ordered):
        before = ordered[place - 1] if place else None
        tied = before is not None and (before.score, before.correct) == (player.score, player.correct)
        rank = ranks[-1]["rank"] if tied else place + 1
        ranks.append(
            {
                "rank": rank,
                "player_id": player.id,
                "name": player.name,
                "score": player.score,
                "correct": player.correct,
                "present": player.present,
            }
        )
    return ranks
