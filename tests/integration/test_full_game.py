"""Whole games on a real livekit-server, with the real agent worker: players as Python rtc clients
doing what the frontend does. They join and enroll over HTTP (photo, voice, and the consent check
against their own live camera), then play only over LiveKit: state and events on data topics,
actions as RPCs to the game master. Every round is played, votes are cast, and the final scores
must match the stated scoring rules computed here from what each player was privately told."""

from __future__ import annotations

import json

import pytest
from livekit import rtc

from tests.support.game_client import GamePlayer
from tests.support.rooms import enrolled_players, post

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

NAMES = ["Ann", "Bo", "Cy", "Di", "Ed", "Flo"]
FAST = {"rounds": 2, "turn_seconds": 10, "vote_seconds": 15, "reveal_seconds": 5}


async def rpc_error(player: GamePlayer, method: str, payload: dict | None = None) -> str:
    with pytest.raises(rtc.RpcError) as info:
        await player.rpc(method, payload)
    return json.loads(info.value.data)["code"]


def leaks(message, body_to_driver: dict[str, str]) -> list:
    """Places in a public message where a body id and its driver's id sit side by side."""
    found = []
    if isinstance(message, dict):
        values = {v for v in message.values() if isinstance(v, str)}
        found += [(b, d) for b, d in body_to_driver.items() if b in values and d in values]
        for value in message.values():
            found += leaks(value, body_to_driver)
    elif isinstance(message, list):
        for value in message:
            found += leaks(value, body_to_driver)
    return found


async def play(players: list[GamePlayer]) -> dict:
    """Play a whole game; returns what the test expects each player to have scored."""
    host, guest = players[0], players[1]
    assert await rpc_error(guest, "bodyswap.settings", {"settings": {"rounds": 1}}) == "not_host"
    assert await rpc_error(host, "bodyswap.settings", {"settings": "fast"}) == "bad_payload"
    await host.rpc("bodyswap.settings", {"settings": FAST})
    for player in players:
        await player.rpc("bodyswap.ready", {"ready": True})
    await player.rpc("bodyswap.ready", {"ready": True})  # again: idempotent, no error
    assert await rpc_error(guest, "bodyswap.start") == "not_host"
    await host.rpc("bodyswap.start")

    expected = {p.id: 0 for p in players}
    for round_number in (1, 2):
        round_start = {p.id: len(p.received_raw) for p in players}
        views = {p.id: await p.rpc("bodyswap.sync") for p in players}
        wearing = {pid: v["private"]["body"]["body_id"] for pid, v in views.items()}
        assert views[host.id]["public"]["round"] == round_number
        owners = {b["body_id"]: b["body_name"] for b in views[host.id]["public"]["bodies"]}
        for player in players:  # nobody wears their own body
            assert owners[wearing[player.id]] != player.name

        # Hot seat: only the player in it (or the host) may pass.
        for _ in players:
            views = {p.id: await p.rpc("bodyswap.sync") for p in players}
            if views[host.id]["public"]["phase"] != "turns":
                break
            hot = next(p for p in players if views[p.id]["private"]["in_hot_seat"])
            bystander = next(p for p in players if p is not hot and p is not host)
            assert await rpc_error(bystander, "bodyswap.pass") == "not_your_turn"
            await hot.rpc("bodyswap.pass")
        assert (await host.rpc("bodyswap.sync"))["public"]["phase"] == "vote"

        # Vote: even seats name every driver right, odd seats rotate the answers (all wrong).
        driver_of = {body: pid for pid, body in wearing.items()}
        multiplier = round_number
        for index, voter in enumerate(players):
            others = [body for body in wearing.values() if body != wearing[voter.id]]
            truth = [driver_of[body] for body in others]
            guesses = truth if index % 2 == 0 else truth[1:] + truth[:1]
            if len(others) == 2 and index % 2 == 1:  # rotating two answers may name yourself
                guesses = truth
            ballot = dict(zip(others, guesses))
            if index == 0:
                assert await rpc_error(voter, "bodyswap.vote", {"guesses": {others[0]: voter.id}}) == "self_guess"
                assert await rpc_error(voter, "bodyswap.vote", {"guesses": {wearing[voter.id]: truth[0]}}) == "own_body"
            for body, guess in ballot.items():
                if guess == driver_of[body]:
                    expected[voter.id] += 100 * multiplier
                else:
                    expected[driver_of[body]] += 50 * multiplier
            first = await voter.rpc("bodyswap.vote", {"guesses": ballot, "lock": True})
            if index == 0:  # the same call again changes nothing and is not an error
                assert await voter.rpc("bodyswap.vote", {"guesses": ballot, "lock": True}) == first
        # Everyone locked: the vote closes at once, and late ballots are refused.
        await host.wait_for(lambda: host.state.get("phase") in ("reveal", "turns", "final"), 10, "the reveal")
        assert await rpc_error(guest, "bodyswap.vote", {"guesses": {}, "lock": True}) in ("wrong_phase", "vote_closed")
        # Until this round's reveal, nothing public tied a body to its driver.
        for player in players:
            before_reveal = []
            for topic, _sender, text in player.received_raw[round_start[player.id] :]:
                message = json.loads(text)
                if message.get("kind") == "reveal":
                    break
                if topic != "bodyswap.private":
                    before_reveal.append(message)
            assert before_reveal and not leaks(before_reveal, driver_of)
        await host.wait_for(
            lambda: host.state.get("phase") in ("turns", "final") and host.state.get("round") != round_number
            or host.state.get("phase") == "final",
            30,
            "the next round",
        )
    await host.wait_for(lambda: any(e["kind"] == "final" for e in host.events), 30, "final results")
    return expected


@pytest.mark.parametrize("count", [3, 6])
async def test_a_whole_game_over_livekit(http, room_service, agent_worker, count):
    players = await enrolled_players(http, room_service.url, NAMES[:count])
    host = players[0]
    body_drops: list[str] = []
    host.game.on(
        "participant_disconnected",
        lambda p: body_drops.append(p.identity) if p.identity.startswith("body-") else None,
    )
    try:
        expected = await play(players)
        final = next(e for e in host.events if e["kind"] == "final")
        scores = {rank["player_id"]: rank["score"] for rank in final["ranks"]}
        assert scores == expected
        ranks = [r["rank"] for r in final["ranks"]]
        assert ranks == sorted(ranks) and ranks[0] == 1
        for player in players:  # everyone saw the end
            await player.wait_for(lambda p=player: any(e["kind"] == "final" for e in p.events), 10, "final")
        # The agent was dispatched: one body per player in the game room, kept across the
        # reshuffle without dropping anyone's call.
        bodies = [p for p in host.game.remote_participants.values() if p.identity.startswith("body-")]
        assert len(bodies) == count
        assert body_drops == []
        # Biometric data is gone the moment the game ended.
        room_id = host.grant["room_id"]
        assert room_service.biometric_files(room_id) == []
    finally:
        for player in players:
            await player.leave()
        await post(http, f"{room_service.url}/api/rooms/{host.grant['room_id']}/end", key=host.grant["player_key"])
