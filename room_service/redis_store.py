"""Rooms in Redis: the RoomStore protocol (store.py) over a small RESP2 client of our own.

Chosen with `BODYSWAP_REDIS_URL` (`redis://host:port/db`, or `rediss://` for TLS, with
`?ssl_ca_certs=/path/ca.pem` for a private CA). A room is one JSON value under
`bodyswap:room:<id>`, and the ids are a sorted set `bodyswap:rooms` ordered by last update (as
SQLite orders them), so any process that reaches the Redis server sees every room: a room service
restarted on another machine, with an empty disk, picks its rooms up from there. Written with
MULTI/EXEC, so the value and the index never disagree.

The client speaks only what this needs (strings, integers, bulk strings, arrays, errors), one
command at a time on one connection, and reconnects after a connection error.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from urllib.parse import parse_qs, urlparse

from .records import RoomRecord

ROOM_KEY = "bodyswap:room:{}"
INDEX_KEY = "bodyswap:rooms"


class RedisError(Exception):
    pass


def tls_context(url: str) -> ssl.SSLContext | None:
    """For rediss:// URLs: verify the server against the system's CAs, or the file named by
    `?ssl_ca_certs=` (as redis-py spells it), hostname included."""
    parsed = urlparse(url)
    if parsed.scheme != "rediss":
        return None
    ca_file = parse_qs(parsed.query).get("ssl_ca_certs", [None])[0]
    return ssl.create_default_context(cafile=ca_file)


class RedisClient:
    def __init__(self, url: str, timeout_s: float = 5.0) -> None:
        parsed = urlparse(url)
        if parsed.scheme not in ("redis", "rediss"):
            raise ValueError(
                "BODYSWAP_REDIS_URL must look like redis://host:port/db, or rediss://... for TLS"
            )
        self.host, self.port = parsed.hostname or "127.0.0.1", parsed.port or 6379
        self.db = int(parsed.path.lstrip("/") or 0)
        self.password = parsed.password
        self.tls = tls_context(url)
        self.timeout_s = timeout_s
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._lock = asyncio.Lock()

    async def _connect(self) -> None:
        self._reader, self._writer = await asyncio.wait_for(
            asyncio.open_connection(self.host, self.port, ssl=self.tls), self.timeout_s
        )
        if self.password:
            await self._roundtrip(("AUTH", self.password))
        if self.db:
            await self._roundtrip(("SELECT", str(self.db)))

    async def execute(self, *args: str | bytes | int | float):
        async with self._lock:
            for attempt in (1, 2):  # one reconnect: a server restart or an idle connection dropped
                try:
                    if self._writer is None:
                        await self._connect()
                    return await asyncio.wait_for(self._roundtrip(args), self.timeout_s)
                except (OSError, asyncio.IncompleteReadError, TimeoutError):
                    await self._drop()
                    if attempt == 2:
                        raise

    async def pipeline(self, *commands: tuple) -> list:
        """MULTI ... EXEC: the commands apply together or not at all; returns EXEC's replies."""
        async with self._lock:
            if self._writer is None:
                await self._connect()
            try:
                await self._roundtrip(("MULTI",))
                for command in commands:
                    await self._roundtrip(command)
                return await asyncio.wait_for(self._roundtrip(("EXEC",)), self.timeout_s)
            except (OSError, asyncio.IncompleteReadError, TimeoutError):
                await self._drop()  # a transaction cut short is discarded by the server
                raise

    async def _roundtrip(self, args: tuple):
        assert self._writer is not None and self._reader is not None
        out = [b"*%d\r\n" % len(args)]
        for arg in args:
            data = arg if isinstance(arg, bytes) else str(arg).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(data), data))
        self._writer.write(b"".join(out))
        await self._writer.drain()
        return await self._reply()

    async def _reply(self):
        assert self._reader is not None
        line = await self._reader.readuntil(b"\r\n")
        kind, body = line[:1], line[1:-2]
        if kind == b"+":
            return body.decode()
        if kind == b"-":
            raise RedisError(body.decode())
        if kind == b":":
            return int(body)
        if kind == b"$":
            size = int(body)
            if size < 0:
                return None
            data = await self._reader.readexactly(size + 2)
            return data[:-2]
        if kind == b"*":
            count = int(body)
            return None if count < 0 else [await self._reply() for _ in range(count)]
        raise RedisError(f"unexpected reply {line[:40]!r}")

    async def _drop(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None

    async def aclose(self) -> None:
        async with self._lock:
            await self._drop()


class RedisRoomStore:
    def __init__(self, url: str) -> None:
        self._redis = RedisClient(url)

    async def load(self, room_id: str) -> RoomRecord | None:
        raw = await self._redis.execute("GET", ROOM_KEY.format(room_id))
        return RoomRecord.model_validate_json(raw) if raw is not None else None

    async def save(self, record: RoomRecord) -> None:
        await self._redis.pipeline(
            ("SET", ROOM_KEY.format(record.id), record.model_dump_json()),
            ("ZADD", INDEX_KEY, repr(time.time()), record.id),
        )

    async def delete(self, room_id: str) -> None:
        await self._redis.pipeline(("DEL", ROOM_KEY.format(room_id)), ("ZREM", INDEX_KEY, room_id))

    async def room_ids(self) -> list[str]:
        return [raw.decode() for raw in await self._redis.execute("ZRANGE", INDEX_KEY, 0, -1)]

    async def aclose(self) -> None:
        await self._redis.aclose()
