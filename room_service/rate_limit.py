"""Per-client token buckets for the endpoints that create things (rooms, players)."""

from __future__ import annotations

from collections.abc import Callable


class RateLimiter:
    def __init__(self, per_minute: int, clock: Callable[[], float], max_clients: int = 10_000) -> None:
        self._capacity = float(per_minute)
        self._refill_per_s = per_minute / 60.0
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, last update)
        self._max_clients = max_clients

    def allow(self, client: str) -> float:
        """0 if the request may go ahead, else the seconds to wait before retrying."""
        now = self._clock()
        tokens, last = self._buckets.get(client, (self._capacity, now))
        tokens = min(self._capacity, tokens + (now - last) * self._refill_per_s)
        if tokens < 1.0:
            self._buckets[client] = (tokens, now)
            return (1.0 - tokens) / self._refill_per_s
        if len(self._buckets) >= self._max_clients and client not in self._buckets:
            self._buckets.clear()  # bounded memory; a reset only ever lets requests through
        self._buckets[client] = (tokens - 1.0, now)
        return 0.0
