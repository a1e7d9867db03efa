"""Enrollment through the service: the consent check against the player's own live camera, and
the deletion of everything recorded, whichever way a player goes."""

from __future__ import annotations

import stat

import pytest

from tests.support.game_client import GamePlayer
from tests.support.media import enrollment_upload, load_clip, media_players
from tests.support.rooms import open_room, post_status

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


@pytest.fixture(scope="module")
def faces():
    """Two people: (clip, upload) for each."""
    result = []
    for source in media_players()[:2]:
        clip = load_clip(source.video, 2.0)
        result.append((clip, enrollment_upload(source, clip)))
    return result


async def room_with(http, base, names) -> list[GamePlayer]:
    return [GamePlayer(http, base, g, n) for g, n in zip(await open_room(http, base, names), names)]


def enrolled(player_view: dict, player_id: str) -> bool:
    return next(p["enrolled"] for p in player_view["public"]["players"] if p["player_id"] == player_id)


async def test_a_photo_of_someone_else_is_refused_and_nothing_is_kept(http, room_service, faces):
    (my_clip, _), (_, their_upload) = faces
    ann, bo = await room_with(http, room_service.url, ["Ann", "Bo"])
    await ann.connect(camera=my_clip)
    try:
        status, body = await ann.enroll(*their_upload)  # their photo, my camera
        assert (status, body["error"]["code"]) == (422, "not_you"), body
        assert "photo" in body["error"]["message"]
        assert room_service.biometric_files(ann.grant["room_id"]) == []
    finally:
        await ann.leave()


async def test_every_way_out_deletes_what_was_recorded(http, room_service, faces):
    (ann_clip, ann_upload), (bo_clip, bo_upload) = faces
    ann, bo, cy = await room_with(http, room_service.url, ["Ann", "Bo", "Cy"])
    room_id = ann.grant["room_id"]
    try:
        await ann.connect(camera=ann_clip)
        status, body = await ann.enroll(*ann_upload)
        assert status == 200 and body["speech_seconds"] >= 20 and enrolled(body, ann.id)
        files = room_service.biometric_files(room_id)
        assert {f.name for f in files} == {"photo", "voice", "profile-passthrough"}
        assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)

        # On request: the files go and the player is no longer enrolled.
        async with http.delete(f"{ann.base}/enrollment", headers=ann.auth()) as response:
            assert response.status == 200
        assert room_service.biometric_files(room_id) == []
        assert not enrolled(await ann.rpc("bodyswap.sync"), ann.id)

        # Leaving: enrolled again, then gone, and the key with it.
        assert (await ann.enroll(*ann_upload))[0] == 200
        assert (await post_status(http, f"{ann.base}/leave", key=ann.grant["player_key"]))[0] == 200
        assert room_service.biometric_files(room_id) == []
        assert (await post_status(http, f"{ann.base}/ready", {"ready": True}, key=ann.grant["player_key"]))[0] == 403

        # Kicked by the host (Bo became host when Ann left): Cy's data goes too.
        await cy.connect(camera=bo_clip)
        assert (await cy.enroll(*bo_upload))[0] == 200
        assert room_service.biometric_files(room_id)
        status, body = await post_status(http, f"{bo.base}/kick", {"player_id": cy.id}, key=bo.grant["player_key"])
        assert status == 200, body
        assert room_service.biometric_files(room_id) == []
    finally:
        for player in (ann, cy):
            await player.leave()
