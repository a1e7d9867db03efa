"""Faults operators meet, each checked for what players keep: a plugin that hangs (the body shows its
holding frame, its voice goes on, it comes back when the plugin does), and a player whose connection
drops and comes back to the same seat with the same grant (nothing of the game is lost)."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest

from tests.integration.test_body_faults import FlakySession, live, media, received, running_body, wait_until  # noqa: F401
from tests.support.analysis import rms
from tests.support.game_client import GamePlayer
from tests.support.rooms import enrolled_players

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


class HangingSession(FlakySession):
    """Passes media through until told to hang: then every video call blocks until released."""

    def __init__(self) -> None:
        super().__init__(every=0)
        self.hang = threading.Event()
        self.release = threading.Event()

    def convert_video(self, frame):
        if self.hang.is_set():
            self.release.wait()
        return super().convert_video(frame)


def live_count(driver, start: int) -> int:
    recording = received(driver)
    return sum(live(t, r) for t, r in zip(recording.thumbnails[start:], recording.resolutions[start:]))


async def test_a_hung_plugin_shows_the_holding_frame_while_the_voice_goes_on(livekit_server, media):  # noqa: F811
    session = HangingSession()
    body, driver = await running_body(livekit_server, media, session)
    try:
        await wait_until(lambda: received(driver) and live_count(driver, 0) > 10, 30, "body video")
        recording = received(driver)
        session.hang.set()
        hung_at, mark = time.monotonic(), len(recording.thumbnails)
        audio_mark = len(recording.audio_samples())
        await wait_until(
            lambda: any(not live(t, r) for t, r in zip(recording.thumbnails[mark:], recording.resolutions[mark:])),
            15,
            "the holding frame while the plugin hangs",
        )
        print(f"holding frame {time.monotonic() - hung_at:.2f} s after the plugin hung")
        await asyncio.sleep(3)
        # Only the video thread is stuck: the voice still came through, the body is still in the call,
        # and what viewers see is the holding frame, never a frozen face.
        assert rms(recording.audio_samples()[audio_mark:]) > 300
        assert len(driver.bodies) == 1
        tail = list(zip(recording.thumbnails, recording.resolutions))[-4:]
        assert tail and not any(live(t, r) for t, r in tail)

        session.hang.clear()
        session.release.set()  # the plugin returns: the face comes back in the same body
        released_at, mark = time.monotonic(), len(recording.thumbnails)
        await wait_until(lambda: live_count(driver, mark) > 10, 20, "the face after the plugin came back")
        print(f"live again {time.monotonic() - released_at:.2f} s after the plugin returned")
        assert len(driver.bodies) == 1
    finally:
        session.release.set()  # a still-hung call would hold the body's shutdown (it joins its threads)
        await driver.leave()
        await body.aclose()


def bodies(player: GamePlayer) -> set[str]:
    return {p.identity for p in player.game.remote_participants.values() if p.identity.startswith("body-")}


async def test_a_player_who_drops_comes_back_to_the_same_seat(http, room_service, agent_worker):
    players = await enrolled_players(http, room_service.url, ["Ann", "Bo", "Cy"])
    ann, bo, cy = players
    try:
        for player in players:
            await player.rpc("bodyswap.ready", {"ready": True})
        await ann.rpc("bodyswap.settings", {"settings": {"turn_seconds": 10, "vote_seconds": 120}})
        await ann.rpc("bodyswap.start")
        await bo.wait_for(lambda: bo.state.get("phase") == "vote", 120, "the vote")
        mine = await bo.rpc("bodyswap.sync")
        body = mine["private"]["body"]["body_id"]
        others = [b["body_id"] for b in mine["public"]["bodies"] if b["body_id"] != body]
        ballot = dict(zip(others, [ann.id, cy.id]))
        await bo.rpc("bodyswap.vote", {"guesses": ballot, "lock": False})

        # Bo's network drops: both rooms go; the game goes on without a word to him.
        await bo.leave()
        dropped_at = time.monotonic()
        await ann.rpc("bodyswap.vote", {"guesses": {}, "lock": False})

        # Bo comes back with the grant he was given (as a reload does) to the same seat.
        back = GamePlayer(http, room_service.url, bo.grant, "Bo")
        players[1] = back
        await back.connect()
        synced = await back.rpc("bodyswap.sync")
        print(f"back in his seat {time.monotonic() - dropped_at:.2f} s after the drop")
        assert synced["private"]["player_id"] == bo.id and synced["private"]["present"]
        assert synced["private"]["body"]["body_id"] == body  # the same body
        assert synced["private"]["guesses"] == ballot and not synced["private"]["locked"]  # his ballot kept
        assert synced["public"]["phase"] == "vote"
        assert [p["score"] for p in synced["public"]["players"]] == [0, 0, 0]
        assert next(p for p in synced["public"]["players"] if p["player_id"] == bo.id)["present"]
        # He can act again as himself, and he sees the bodies again.
        await back.rpc("bodyswap.vote", {"guesses": ballot, "lock": True})
        await back.wait_for(lambda: len(bodies(back)) >= 2, 30, "the other bodies")
        assert (await back.rpc("bodyswap.sync"))["private"]["locked"]
    finally:
        for player in players:
            try:
                await player.leave()
            except Exception:
                pass


def restart_livekit(server, kill: bool = True) -> float:
    """Crash the LiveKit node and start it again on the same ports and config; returns when healthy."""
    import subprocess
    import urllib.request

    from tests.support.livekit_server import LIVEKIT_SERVER_BIN

    if kill:
        server.process.kill()
    server.process.wait()
    config = server.log_path.parent / "livekit-test.yaml"
    log = server.log_path.open("ab")
    server.process = subprocess.Popen(
        [str(LIVEKIT_SERVER_BIN), "--config", str(config)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(server.http_url, timeout=1):
                return time.monotonic()
        except OSError:
            time.sleep(0.1)
    raise TimeoutError("livekit-server did not come back")


async def test_a_livekit_node_restart_mid_vote_loses_no_ballot(http, tmp_path):
    from tests.conftest import room_service_settings, serve
    from tests.support.agent_worker import start_agent_worker
    from tests.support.livekit_server import free_port, start_livekit_server, stop_process

    server = start_livekit_server(tmp_path)
    settings = room_service_settings(server, free_port(), tmp_path / "data")
    settings.agent_name = "bodyswap-lk-restart"
    settings.agent_join_timeout_s = 5.0
    runner = await serve(settings)
    base = f"http://127.0.0.1:{settings.port}"
    worker = start_agent_worker(server, tmp_path, settings.agent_name)
    players: list[GamePlayer] = []
    try:
        players = await enrolled_players(http, base, ["Ann", "Bo", "Cy"])
        ann = players[0]
        for player in players:
            await player.rpc("bodyswap.ready", {"ready": True})
        await ann.rpc("bodyswap.settings", {"settings": {"turn_seconds": 10, "vote_seconds": 300}})
        await ann.rpc("bodyswap.start")
        await ann.wait_for(lambda: len(bodies(ann)) == 3, 60, "three bodies")
        await ann.wait_for(lambda: ann.state.get("phase") == "vote", 120, "the vote")
        ballots = {}
        for player in players:
            mine = await player.rpc("bodyswap.sync")
            own = mine["private"]["body"]["body_id"]
            others = [b["body_id"] for b in mine["public"]["bodies"] if b["body_id"] != own]
            named = [p.id for p in players if p.id != player.id]
            ballots[player.id] = dict(zip(others, named))
            await player.rpc("bodyswap.vote", {"guesses": ballots[player.id], "lock": player is ann})

        down_at = time.monotonic()
        up_at = restart_livekit(server)
        # Players' apps reconnect with the grant they hold, as the web app does after a drop.
        for i, player in enumerate(players):
            await player.leave()
            players[i] = GamePlayer(http, base, player.grant, player.name)
        deadline = time.monotonic() + 60
        while True:
            try:
                await players[0].connect()
                await players[0].rpc("bodyswap.sync", timeout=5)
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await players[0].leave()
                players[0] = GamePlayer(http, base, players[0].grant, players[0].name)
                await asyncio.sleep(1)
        gm_back = time.monotonic()
        for player in players[1:]:
            await player.connect()
        ann = players[0]
        await ann.wait_for(lambda: len(bodies(ann)) == 3, 90, "the bodies back after the restart")
        bodies_back = time.monotonic()
        print(
            f"LiveKit restarted in {up_at - down_at:.1f} s; game master answering {gm_back - down_at:.1f} s "
            f"and all bodies back {bodies_back - down_at:.1f} s after the crash"
        )
        for player in players:  # nothing lost: phase, ballots, locks
            synced = await player.rpc("bodyswap.sync")
            assert synced["public"]["phase"] == "vote"
            assert synced["private"]["guesses"] == ballots[player.id]
            assert synced["private"]["locked"] == (player.id == ann.id)
        for player in players[1:]:
            await player.rpc("bodyswap.vote", {"guesses": ballots[player.id], "lock": True})
        await ann.wait_for(lambda: ann.state.get("phase") == "reveal", 30, "the reveal")
    finally:
        for player in players:
            try:
                await player.leave()
            except Exception:
                pass
        stop_process(worker.process)
        await runner.cleanup()
        stop_process(server.process)
