"""Several room service instances on one Redis: every room has one owner at a time.

The owner runs the room's game master (its LiveKit participant, timers and media) and applies all
of its actions, so the single-instance rules (one action at a time per room, persisted before
anyone is told) hold as they are. The owner holds a lease in Redis (`bodyswap:owner:<room>` = the
owner's internal URL, with a time to live) and renews it; an instance that gets a request for a
room it does not own forwards it to the owner; a room whose lease lapsed (its owner died) is
claimed by the next instance that looks, which rejoins it from the store as after a restart.

Kept in Redis because the rooms are (`BODYSWAP_REDIS_URL`); off without it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import aiohttp
from aiohttp import web

from .redis_store import RedisClient

logger = logging.getLogger("bodyswap.room_service.leases")

OWNER_KEY = "bodyswap:owner:{}"
# Renew or release only a lease that is still ours (another instance may hold it by now).
RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"
RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"
# Request headers passed on to the owner (credentials included: the owner checks them itself).
FORWARDED_HEADERS = ("Authorization", "Content-Type", "Content-Length", "Accept")


class RoomLeases:
    def __init__(self, redis_url: str, me: str, ttl_s: float) -> None:
        self._redis = RedisClient(redis_url)
        self.me = me  # this instance's internal base URL: where the others forward requests
        self.ttl_ms = int(ttl_s * 1000)
        self.owned: set[str] = set()

    async def owner(self, room_id: str) -> str | None:
        raw = await self._redis.execute("GET", OWNER_KEY.format(room_id))
        return None if raw is None else raw.decode()

    async def claim(self, room_id: str) -> bool:
        claimed = await self._redis.execute("SET", OWNER_KEY.format(room_id), self.me, "NX", "PX", self.ttl_ms)
        if claimed == "OK":
            self.owned.add(room_id)
            return True
        return await self.owner(room_id) == self.me

    async def renew(self) -> set[str]:
        """Extend every lease held; returns the rooms whose lease another instance took meanwhile."""
        lost = set()
        for room_id in list(self.owned):
            if not await self._redis.execute("EVAL", RENEW, 1, OWNER_KEY.format(room_id), self.me, self.ttl_ms):
                lost.add(room_id)
        self.owned -= lost
        return lost

    async def release(self, room_id: str) -> None:
        self.owned.discard(room_id)
        await self._redis.execute("EVAL", RELEASE, 1, OWNER_KEY.format(room_id), self.me)

    async def release_all(self) -> None:
        for room_id in list(self.owned):
            await self.release(room_id)

    async def aclose(self) -> None:
        await self._redis.aclose()


async def forward(request: web.Request, owner: str, http: aiohttp.ClientSession) -> web.Response:
    """Pass a request on to the room's owner and its answer back, body streamed both ways."""
    headers = {name: request.headers[name] for name in FORWARDED_HEADERS if name in request.headers}
    headers["X-Bodyswap-Forwarded"] = "1"
    async with http.request(
        request.method,
        owner.rstrip("/") + request.path_qs,
        headers=headers,
        data=request.content if request.body_exists else None,
        timeout=aiohttp.ClientTimeout(total=120),
    ) as response:
        body = await response.read()
        passed = {k: v for k, v in response.headers.items() if k in ("Content-Type", "Retry-After")}
        return web.Response(body=body, status=response.status, headers=passed)


def ownership_middleware(
    leases: RoomLeases, adopt: Callable[[str], Awaitable[None]], http: Callable[[], aiohttp.ClientSession]
):
    """Requests about one room run on its owner: claimed here if nobody holds it, else forwarded."""

    @web.middleware
    async def route(request: web.Request, handler):
        room_id = request.match_info.get("room_id")
        if room_id is None or request.headers.get("X-Bodyswap-Forwarded"):
            return await handler(request)  # not about a room, or already forwarded once: here
        owner = await leases.owner(room_id)
        if owner is None:
            if await leases.claim(room_id):
                await adopt(room_id)
                return await handler(request)
            owner = await leases.owner(room_id)
        if owner is None or owner == leases.me:
            return await handler(request)
        return await forward(request, owner, http())

    return route


async def keep_leases(
    leases: RoomLeases,
    room_ids: Callable[[], Awaitable[list[str]]],
    adopt: Callable[[str], Awaitable[None]],
    drop: Callable[[str], Awaitable[None]],
    every_s: float,
) -> None:
    """Renew what this instance owns, let go of rooms it lost, and take over rooms nobody holds.

    A room is taken over only when it was without an owner at two looks in a row: a room just
    created is in the store a moment before its creator holds its lease.
    """
    ownerless: set[str] = set()
    while True:
        try:
            for room_id in await leases.renew():
                logger.warning("lease lost to another instance", extra={"room_id": room_id})
                await drop(room_id)
            stored = await room_ids()
            for room_id in leases.owned - set(stored):  # ended (by any instance): let it go here too
                await leases.release(room_id)
                await drop(room_id)
            seen = set()
            for room_id in stored:
                if room_id in leases.owned or await leases.owner(room_id) is not None:
                    continue
                seen.add(room_id)
                if room_id in ownerless and await leases.claim(room_id):
                    logger.info("room taken over", extra={"room_id": room_id})
                    await adopt(room_id)
            ownerless = seen - leases.owned
        except Exception:
            logger.exception("lease upkeep failed")
        await asyncio.sleep(every_s)
