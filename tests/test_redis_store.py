"""Rooms in Redis (BODYSWAP_REDIS_URL): the RoomStore contract against a real redis-server on loopback."""

from __future__ import annotations

import ssl

import pytest

from room_service.redis_store import RedisClient, RedisError, RedisRoomStore
from tests.support.cluster import self_signed_certificate, start_redis
from tests.test_storage import record

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture(scope="module")
def redis(tmp_path_factory):
    server = start_redis(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


async def test_a_room_saved_by_one_store_is_read_by_another(redis):
    url = f"redis://{redis.address}/3"
    first, second = RedisRoomStore(url), RedisRoomStore(url)
    await first.save(record("r1"))
    await first.save(record("r2"))
    assert await second.load("r1") == record("r1")
    assert await second.room_ids() == ["r1", "r2"]  # in order of last update
    await first.save(record("r1"))
    assert await second.room_ids() == ["r2", "r1"]
    await second.delete("r1")
    assert await first.load("r1") is None and await first.room_ids() == ["r2"]
    await second.delete("r2")
    await first.aclose()
    await second.aclose()


async def test_the_client_reconnects_and_reports_errors(redis):
    client = RedisClient(f"redis://{redis.address}/4")
    assert await client.execute("SET", "k", "v") == "OK"
    client._writer.close()  # the connection drops under it
    assert await client.execute("GET", "k") == b"v"
    with pytest.raises(RedisError):
        await client.execute("NO-SUCH-COMMAND")
    assert await client.execute("DEL", "k") == 1
    await client.aclose()


async def test_a_room_has_one_owner_until_it_lets_go_or_its_lease_lapses(redis):
    from room_service.leases import RoomLeases

    url = f"redis://{redis.address}/5"
    a, b = RoomLeases(url, "http://a", ttl_s=0.5), RoomLeases(url, "http://b", ttl_s=0.5)
    assert await a.claim("r1") and not await b.claim("r1")
    assert await a.renew() == set() and await b.owner("r1") == "http://a"
    await a.release_all()
    assert await b.owner("r1") is None and await b.claim("r1")
    # b stops renewing (its process stalls or dies): the lease lapses and a takes the room; b learns it lost it.
    import asyncio

    await asyncio.sleep(0.7)
    assert await a.claim("r1") and await b.renew() == {"r1"} and b.owned == set()
    await a.release("r1")
    await b.release("r1")  # not b's any more: nothing happens
    assert await a.owner("r1") is None
    await a.aclose()
    await b.aclose()


async def test_rediss_urls_speak_tls_and_verify_the_server(tmp_path):
    cert, key = self_signed_certificate(tmp_path)
    server = start_redis(tmp_path, tls=(cert, key))
    try:
        trusted = RedisRoomStore(f"rediss://{server.address}/2?ssl_ca_certs={cert}")
        await trusted.save(record("r1"))
        assert await trusted.load("r1") == record("r1")
        await trusted.delete("r1")
        await trusted.aclose()

        untrusted = RedisClient(f"rediss://{server.address}/2")  # the system's CAs do not know it
        with pytest.raises(ssl.SSLCertVerificationError):
            await untrusted.execute("PING")
        await untrusted.aclose()
        plain = RedisClient(f"redis://{server.address}/2", timeout_s=2)  # no TLS to a TLS-only port
        with pytest.raises((OSError, TimeoutError, EOFError)):
            await plain.execute("PING")
        await plain.aclose()
    finally:
        server.stop()


async def test_a_redis_url_of_another_scheme_is_refused():
    with pytest.raises(ValueError, match="rediss://"):
        RedisClient("http://127.0.0.1:6379")
