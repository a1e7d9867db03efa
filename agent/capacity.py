"""A worker's capacity, counted in player slots.

A body costs about the same whatever room it is in, so the unit is the player, not the room: a
machine is configured with the bodies it can run at once (for example per GPU), reports the share in
use as its load (LiveKit sends no job to a worker at load 1.0), and refuses a room whose players do
not fit in what is left (LiveKit then offers the job to another worker).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pydantic import ValidationError

from .plan import MediaPlan

# The agent participant attribute naming a room's GPU: set when the worker accepts the room, read
# by the room's job process (it carries a device number, nothing about players).
GPU_ATTRIBUTE = "bodyswap.gpu"
RESERVATION_TTL_S = 30.0  # an accepted job not running by then has failed to start


def seats_of(metadata: str) -> int:
    """Players a job will run, from its dispatch metadata; an unreadable plan counts as none
    (the job fails on it at once, so it never holds slots)."""
    try:
        return len(MediaPlan.model_validate_json(metadata).seats)
    except ValidationError:
        return 0


@dataclass(frozen=True)
class RunningJob:
    id: str
    metadata: str  # the dispatch's media plan
    device: str | None = None  # the GPU it was placed on, if the worker has several


class PlayerSlots:
    """Player slots in pools: one for the worker, or one per GPU (`devices`), each of `slots`.

    A room goes whole into one pool, so its players' frames can be batched on one device; it takes
    the pool with the most free slots. Jobs accepted but not running yet count, or two rooms could
    race into the same slots.
    """

    def __init__(self, slots: int, clock=time.monotonic, devices: Sequence[str] = ()) -> None:
        self.pools: dict[str | None, int] = {device: slots for device in devices} if devices else {None: slots}
        self.total = sum(self.pools.values())
        self._clock = clock
        self._reserved: dict[str, tuple[int, str | None, float]] = {}

    def used_by_pool(self, running: Iterable[RunningJob]) -> dict[str | None, int]:
        now = self._clock()
        used = dict.fromkeys(self.pools, 0)
        running_ids: set[str] = set()
        for job in running:
            running_ids.add(job.id)
            pool = job.device if job.device in used else next(iter(used))
            used[pool] += seats_of(job.metadata)
        for job_id, (seats, pool, at) in list(self._reserved.items()):
            if job_id in running_ids or now - at > RESERVATION_TTL_S:
                del self._reserved[job_id]
            else:
                used[pool] += seats
        return used

    def used(self, running: Iterable[RunningJob]) -> int:
        """Slots taken by running jobs and by fresh reservations."""
        return sum(self.used_by_pool(running).values())

    def load(self, running: Iterable[RunningJob]) -> float:
        return min(1.0, self.used(running) / self.total)

    def free_by_pool(self, running: Iterable[RunningJob]) -> dict[str | None, int]:
        used = self.used_by_pool(running)
        return {pool: self.pools[pool] - used[pool] for pool in self.pools}

    def reserve(self, job_id: str, metadata: str, running: Iterable[RunningJob]) -> bool:
        """Take the slots a new room needs in one pool; False when no pool has them."""
        seats = seats_of(metadata)
        free = self.free_by_pool(running)
        pool = max(free, key=lambda p: free[p])  # the emptiest GPU: rooms spread over devices
        if free[pool] < seats:
            return False
        self._reserved[job_id] = (seats, pool, self._clock())
        return True

    def device_of(self, job_id: str) -> str | None:
        """The GPU a reserved job was placed on (None without per-GPU pools)."""
        reserved = self._reserved.get(job_id)
        return reserved[1] if reserved else None
