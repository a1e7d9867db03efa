"""A worker's capacity, counted in player slots.

A body costs about the same whatever room it is in, so the unit is the player, not the room: a
machine is configured with the bodies it can run at once (for example per GPU), reports the share in
use as its load (LiveKit sends no job to a worker at load 1.0), and refuses a room whose players do
not fit in what is left (LiveKit then offers the job to another worker).
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from pydantic import ValidationError

from .plan import MediaPlan

RESERVATION_TTL_S = 30.0  # an accepted job not running by then has failed to start


def seats_of(metadata: str) -> int:
    """Players a job will run, from its dispatch metadata; an unreadable plan counts as none
    (the job fails on it at once, so it never holds slots)."""
    try:
        return len(MediaPlan.model_validate_json(metadata).seats)
    except ValidationError:
        return 0


class PlayerSlots:
    def __init__(self, total: int, clock=time.monotonic) -> None:
        self.total = total
        self._clock = clock
        # Jobs accepted but not yet running: they count, or two rooms could race into one slot.
        self._reserved: dict[str, tuple[int, float]] = {}

    def used(self, running: Iterable[tuple[str, str]]) -> int:
        """Slots taken by running jobs, given as (job id, metadata), and by fresh reservations."""
        now = self._clock()
        running_ids: set[str] = set()
        used = 0
        for job_id, metadata in running:
            running_ids.add(job_id)
            used += seats_of(metadata)
        for job_id, (seats, at) in list(self._reserved.items()):
            if job_id in running_ids or now - at > RESERVATION_TTL_S:
                del self._reserved[job_id]
            else:
                used += seats
        return used

    def load(self, running: Iterable[tuple[str, str]]) -> float:
        return min(1.0, self.used(running) / self.total)

    def reserve(self, job_id: str, metadata: str, running: Iterable[tuple[str, str]]) -> bool:
        """Take the slots a new room needs; False when it does not fit."""
        seats = seats_of(metadata)
        if self.used(running) + seats > self.total:
            return False
        self._reserved[job_id] = (seats, self._clock())
        return True
