"""Who wears which body: uniformly random derangements, avoiding last round's bodies when possible."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable

# Rejection sampling tries before enumerating. With 3-8 players a fresh assignment, when one exists,
# comes up at least once in 12 shuffles (the worst case is 4 players: 2 of 24 orders), so the
# enumeration (at most 8! = 40320 orders) runs in practice only when none exists: two players, or
# three after a departure.
SAMPLING_TRIES = 200


def assign_bodies(
    players: list[str], own_body: dict[str, str], previous: dict[str, str], rng: random.Random
) -> dict[str, str]:
    """Driver -> body over `players` and their own bodies, uniformly random among those where nobody
    wears their own body and, when such an assignment exists, nobody wears the body `previous` gave
    them. Needs at least two players."""
    if len(players) < 2:
        raise ValueError("a derangement needs at least two players")
    bodies = [own_body[p] for p in players]

    def not_own(player: str, body: str) -> bool:
        return body != own_body[player]

    def fresh(player: str, body: str) -> bool:
        return not_own(player, body) and body != previous.get(player)

    def satisfies(rule: Callable[[str, str], bool], order: list[str] | tuple[str, ...]) -> bool:
        return all(rule(p, b) for p, b in zip(players, order))

    for _ in range(SAMPLING_TRIES):
        order = bodies[:]
        rng.shuffle(order)
        if satisfies(fresh, order):
            return dict(zip(players, order))
    orders = list(itertools.permutations(bodies))
    candidates = [o for o in orders if satisfies(fresh, o)] or [o for o in orders if satisfies(not_own, o)]
    return dict(zip(players, rng.choice(candidates)))
