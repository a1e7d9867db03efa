"""Enrolled profiles, fetched from the room service for the room this job serves.

The room service prepared every player's target profile at enrollment. The job asks for the ones
its seats need (the body's owner as target, the driver as source) with a token it signs itself:
identity `bodyswap-agent`, an agent grant for this game room only. Profiles are biometric data: they
stay in this job's memory, are never logged, and go when the job ends with the game.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import aiohttp
from bodyswap_api import Enrollment, SwapPlugin
from livekit import api

from .plan import AGENT_IDENTITY, MediaPlan

logger = logging.getLogger("bodyswap.agent.profiles")

FETCH_TIMEOUT_S = 10.0


def agent_token(api_key: str, api_secret: str, game_room: str) -> str:
    grants = api.VideoGrants(room=game_room, agent=True, can_publish=False, can_subscribe=False)
    return (
        api.AccessToken(api_key, api_secret)
        .with_identity(AGENT_IDENTITY)
        .with_grants(grants)
        .with_ttl(timedelta(minutes=5))
        .to_jwt()
    )


class ProfileCache:
    """The profiles of one room, fetched once each and kept for the game."""

    def __init__(self, plugin: SwapPlugin, api_key: str, api_secret: str) -> None:
        self._plugin = plugin
        self._api_key = api_key
        self._api_secret = api_secret
        self._profiles: dict[str, bytes | None] = {}
        self._unenrolled: bytes | None = None
        self._http: aiohttp.ClientSession | None = None

    def unenrolled(self) -> bytes:
        """The plugin's profile of nobody in particular: for a room without enrollments."""
        if self._unenrolled is None:
            self._unenrolled = self._plugin.prepare(Enrollment())
        return self._unenrolled

    async def get(self, plan: MediaPlan, player_id: str | None) -> bytes | None:
        """The player's enrolled profile; None when the plan has none or the player has none."""
        if plan.profiles_url is None or player_id is None:
            return None
        if player_id not in self._profiles:
            self._profiles[player_id] = await self._fetch(plan, player_id)
        return self._profiles[player_id]

    async def _fetch(self, plan: MediaPlan, player_id: str) -> bytes | None:
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=FETCH_TIMEOUT_S))
        token = agent_token(self._api_key, self._api_secret, plan.game_room)
        url = f"{plan.profiles_url}/{player_id}"
        async with self._http.get(url, headers={"Authorization": f"Bearer {token}"}) as response:
            if response.status == 404:
                logger.warning("no enrolled profile for a player of room %s", plan.game_room)
                return None
            response.raise_for_status()
            return await response.read()

    def forget(self) -> None:
        self._profiles.clear()

    async def aclose(self) -> None:
        self.forget()
        if self._http is not None:
            await self._http.close()
